package exosim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
)

// Role ids of DefaultSeed, fixed so that demos and tests can refer to them.
const (
	AdminRoleID    = "7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e01"
	CIRoleID       = "7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02"
	ReadonlyRoleID = "7c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e03"
)

// Defaults applied to an empty Seed.Admin.
const (
	DefaultAdminName = "rotatord-admin"
	DefaultAdminRole = "admin"
)

// ErrInvalidSeed is wrapped by every seed validation error.
var ErrInvalidSeed = errors.New("invalid seed")

// Role is an IAM role of the simulated organization.
type Role struct {
	ID          string `yaml:"id" json:"id"`
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
}

// SeedKey is a key present when the simulator starts. Role is a role id or
// name. Key and Secret are generated when empty.
type SeedKey struct {
	Key    string `yaml:"key" json:"key"`
	Name   string `yaml:"name" json:"name"`
	Role   string `yaml:"role" json:"role"`
	Secret string `yaml:"secret" json:"secret"`
}

// DefaultOrg names the organization that Seed's top-level fields describe.
// It is reserved: no entry of Seed.Organizations may take it.
const DefaultOrg = "default"

// Seed is the simulator's initial state: the default organization in its
// top-level fields, and optionally more organizations.
type Seed struct {
	Roles []Role    `yaml:"roles" json:"roles"`
	Keys  []SeedKey `yaml:"keys" json:"keys"`
	// Admin is the credential tests and the daemon authenticate with. It is
	// a normal key of the organization, listed like any other. Name and Role
	// default to DefaultAdminName and DefaultAdminRole; a role named "admin"
	// is added when the seed has none.
	Admin SeedKey `yaml:"admin" json:"admin"`
	// Organizations are further organizations, each with its own roles,
	// keys and admin, as Exoscale serves many. Role ids and keys must be
	// distinct across all organizations, the default one included: the
	// real API identifies both globally.
	Organizations []Organization `yaml:"organizations" json:"organizations"`
}

// Organization is one more organization of a Seed. Its fields mean what
// Seed's top-level fields mean for the default organization.
type Organization struct {
	// Name identifies the organization in errors, key records and the
	// control surface's org parameter: lowercase letters, digits, '-' and
	// '_', starting with a letter, at most 63 characters, unique.
	Name  string    `yaml:"name" json:"name"`
	Roles []Role    `yaml:"roles" json:"roles"`
	Keys  []SeedKey `yaml:"keys" json:"keys"`
	Admin SeedKey   `yaml:"admin" json:"admin"`
}

// Credential is an API key and its secret.
type Credential struct {
	Key    string `json:"api_key"`
	Secret string `json:"api_secret"`
}

var (
	keyPattern = regexp.MustCompile(`^EXO[0-9a-f]{24}$`)
	orgPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
)

// LoadSeed reads a YAML seed strictly: unknown fields are errors. Every
// error names the file.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("load seed: %w", err)
	}
	var seed Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&seed); err != nil && !errors.Is(err, io.EOF) {
		return Seed{}, fmt.Errorf("load seed %s: %w", path, err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return Seed{}, fmt.Errorf("load seed %s: more than one YAML document", path)
	}
	if err := seed.Validate(); err != nil {
		return Seed{}, fmt.Errorf("load seed %s: %w", path, err)
	}
	return seed, nil
}

// DefaultSeed returns a small organization: roles admin, ci and readonly
// (fixed ids) and four keys with generated keys and secrets.
func DefaultSeed() Seed {
	return Seed{
		Roles: []Role{
			{ID: AdminRoleID, Name: "admin", Description: "Full access, used by rotatord"},
			{ID: CIRoleID, Name: "ci", Description: "CI pipelines"},
			{ID: ReadonlyRoleID, Name: "readonly", Description: "Read-only access"},
		},
		Keys: []SeedKey{
			{Name: "ci-runner", Role: "ci"},
			{Name: "ci-deploy", Role: "ci"},
			{Name: "backup-agent", Role: "readonly"},
			{Name: "monitoring", Role: "readonly"},
		},
	}
}

// Validate checks the seed as New would use it.
func (s Seed) Validate() error {
	_, err := s.resolve()
	return err
}

// resolvedSeed is a validated seed: one entry per organization, the
// default one first.
type resolvedSeed []resolvedOrg

// resolvedOrg is a validated organization: the admin defaults applied and
// every key's role turned into a role id.
type resolvedOrg struct {
	name  string
	roles []Role
	keys  []SeedKey // Role holds the role id; the admin comes first
}

// resolve validates the seed. Errors about the default organization name
// fields as they always have ("roles[1]: ..."); errors about another
// organization start with its index and name ("organizations[0] (green): ").
func (s Seed) resolve() (resolvedSeed, error) {
	orgs := []Organization{{Name: DefaultOrg, Roles: s.Roles, Keys: s.Keys, Admin: s.Admin}}
	prefixes := []string{""}
	seen := map[string]bool{DefaultOrg: true}
	for i, o := range s.Organizations {
		switch {
		case o.Name == DefaultOrg:
			return nil, fmt.Errorf("%w: organizations[%d]: name %q is reserved for the top-level organization", ErrInvalidSeed, i, o.Name)
		case !orgPattern.MatchString(o.Name):
			return nil, fmt.Errorf("%w: organizations[%d]: name %q is not lowercase letters, digits, '-' and '_' starting with a letter (at most 63)", ErrInvalidSeed, i, o.Name)
		case seen[o.Name]:
			return nil, fmt.Errorf("%w: organizations[%d]: duplicate name %q", ErrInvalidSeed, i, o.Name)
		}
		seen[o.Name] = true
		orgs = append(orgs, o)
		prefixes = append(prefixes, fmt.Sprintf("organizations[%d] (%s): ", i, o.Name))
	}

	// Declared roles first, all organizations at once, so that the admin
	// roles added below never take an id some organization declares.
	roleOrg := map[string]string{} // role id -> organization
	out := make(resolvedSeed, len(orgs))
	byName := make([]map[string]string, len(orgs)) // per organization: role name -> id
	for n, o := range orgs {
		out[n].name = o.Name
		byName[n] = map[string]string{}
		for i, r := range o.Roles {
			if !isUUID(r.ID) {
				return nil, fmt.Errorf("%w: %sroles[%d]: id %q is not a UUID", ErrInvalidSeed, prefixes[n], i, r.ID)
			}
			r.ID = strings.ToLower(r.ID)
			if err := checkName(r.Name); err != nil {
				return nil, fmt.Errorf("%w: %sroles[%d]: %w", ErrInvalidSeed, prefixes[n], i, err)
			}
			if utf8.RuneCountInString(r.Description) > 255 {
				return nil, fmt.Errorf("%w: %sroles[%d]: description longer than 255 characters", ErrInvalidSeed, prefixes[n], i)
			}
			switch owner, dup := roleOrg[r.ID]; {
			case dup && owner == o.Name:
				return nil, fmt.Errorf("%w: %sroles[%d]: duplicate id %s", ErrInvalidSeed, prefixes[n], i, r.ID)
			case dup:
				return nil, fmt.Errorf("%w: %sroles[%d]: id %s is already a role of organization %s", ErrInvalidSeed, prefixes[n], i, r.ID, owner)
			}
			// Keys may name their role, so names must be unique here although
			// the real API does not say so.
			if _, dup := byName[n][r.Name]; dup {
				return nil, fmt.Errorf("%w: %sroles[%d]: duplicate name %q", ErrInvalidSeed, prefixes[n], i, r.Name)
			}
			roleOrg[r.ID] = o.Name
			byName[n][r.Name] = r.ID
			out[n].roles = append(out[n].roles, r)
		}
	}

	keyOrg := map[string]string{} // key -> organization
	for n, o := range orgs {
		admin := o.Admin
		if admin.Name == "" {
			admin.Name = DefaultAdminName
		}
		if admin.Role == "" {
			admin.Role = DefaultAdminRole
			if _, ok := byName[n][DefaultAdminRole]; !ok {
				id := AdminRoleID
				if roleOrg[id] != "" {
					id = uuid.NewString()
				}
				out[n].roles = append(out[n].roles, Role{ID: id, Name: DefaultAdminRole, Description: "Added by exosim for the admin credential"})
				roleOrg[id] = o.Name
				byName[n][DefaultAdminRole] = id
			}
		}

		for i, k := range append([]SeedKey{admin}, o.Keys...) {
			where := prefixes[n] + "admin"
			if i > 0 {
				where = fmt.Sprintf("%skeys[%d]", prefixes[n], i-1)
			}
			if err := checkName(k.Name); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalidSeed, where, err)
			}
			switch id := strings.ToLower(k.Role); {
			case k.Role == "":
				return nil, fmt.Errorf("%w: %s: role is required", ErrInvalidSeed, where)
			case roleOrg[id] == o.Name:
				k.Role = id
			case byName[n][k.Role] != "":
				k.Role = byName[n][k.Role]
			case roleOrg[id] != "":
				return nil, fmt.Errorf("%w: %s: role %s is a role of organization %s", ErrInvalidSeed, where, id, roleOrg[id])
			default:
				return nil, fmt.Errorf("%w: %s: role %q is neither a role id nor a role name", ErrInvalidSeed, where, k.Role)
			}
			if k.Key != "" {
				if !keyPattern.MatchString(k.Key) {
					return nil, fmt.Errorf("%w: %s: key %q is not EXO followed by 24 lowercase hex digits", ErrInvalidSeed, where, k.Key)
				}
				switch owner, dup := keyOrg[k.Key]; {
				case dup && owner == o.Name:
					return nil, fmt.Errorf("%w: %s: duplicate key %s", ErrInvalidSeed, where, k.Key)
				case dup:
					return nil, fmt.Errorf("%w: %s: key %s is already a key of organization %s", ErrInvalidSeed, where, k.Key, owner)
				}
				keyOrg[k.Key] = o.Name
			}
			out[n].keys = append(out[n].keys, k)
		}
	}
	return out, nil
}

func checkName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 255 {
		return fmt.Errorf("name %q must be 1 to 255 characters", name)
	}
	return nil
}

// isUUID accepts only the canonical 36-character form: uuid.Parse alone
// would also take braces, "urn:uuid:" and undashed hex, which the API's
// clients never send.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
