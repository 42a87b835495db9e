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

// Seed is the simulator's initial organization.
type Seed struct {
	Roles []Role    `yaml:"roles" json:"roles"`
	Keys  []SeedKey `yaml:"keys" json:"keys"`
	// Admin is the credential tests and the daemon authenticate with. It is
	// a normal key of the organization, listed like any other. Name and Role
	// default to DefaultAdminName and DefaultAdminRole; a role named "admin"
	// is added when the seed has none.
	Admin SeedKey `yaml:"admin" json:"admin"`
}

// Credential is an API key and its secret.
type Credential struct {
	Key    string `json:"api_key"`
	Secret string `json:"api_secret"`
}

var keyPattern = regexp.MustCompile(`^EXO[0-9a-f]{24}$`)

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

// resolvedSeed is a validated seed: the admin defaults applied and every
// key's role turned into a role id.
type resolvedSeed struct {
	roles []Role
	keys  []SeedKey // Role holds the role id; the admin comes first
}

func (s Seed) resolve() (resolvedSeed, error) {
	var out resolvedSeed
	byID := map[string]bool{}
	byName := map[string]string{}
	for i, r := range s.Roles {
		if !isUUID(r.ID) {
			return out, fmt.Errorf("%w: roles[%d]: id %q is not a UUID", ErrInvalidSeed, i, r.ID)
		}
		r.ID = strings.ToLower(r.ID)
		if err := checkName(r.Name); err != nil {
			return out, fmt.Errorf("%w: roles[%d]: %w", ErrInvalidSeed, i, err)
		}
		if utf8.RuneCountInString(r.Description) > 255 {
			return out, fmt.Errorf("%w: roles[%d]: description longer than 255 characters", ErrInvalidSeed, i)
		}
		if byID[r.ID] {
			return out, fmt.Errorf("%w: roles[%d]: duplicate id %s", ErrInvalidSeed, i, r.ID)
		}
		// Keys may name their role, so names must be unique here although
		// the real API does not say so.
		if _, dup := byName[r.Name]; dup {
			return out, fmt.Errorf("%w: roles[%d]: duplicate name %q", ErrInvalidSeed, i, r.Name)
		}
		byID[r.ID] = true
		byName[r.Name] = r.ID
		out.roles = append(out.roles, r)
	}

	admin := s.Admin
	if admin.Name == "" {
		admin.Name = DefaultAdminName
	}
	if admin.Role == "" {
		admin.Role = DefaultAdminRole
		if _, ok := byName[DefaultAdminRole]; !ok {
			id := AdminRoleID
			if byID[id] {
				id = uuid.NewString()
			}
			out.roles = append(out.roles, Role{ID: id, Name: DefaultAdminRole, Description: "Added by exosim for the admin credential"})
			byID[id] = true
			byName[DefaultAdminRole] = id
		}
	}

	keys := map[string]bool{}
	for i, k := range append([]SeedKey{admin}, s.Keys...) {
		where := "admin"
		if i > 0 {
			where = fmt.Sprintf("keys[%d]", i-1)
		}
		if err := checkName(k.Name); err != nil {
			return out, fmt.Errorf("%w: %s: %w", ErrInvalidSeed, where, err)
		}
		switch id := strings.ToLower(k.Role); {
		case k.Role == "":
			return out, fmt.Errorf("%w: %s: role is required", ErrInvalidSeed, where)
		case byID[id]:
			k.Role = id
		case byName[k.Role] != "":
			k.Role = byName[k.Role]
		default:
			return out, fmt.Errorf("%w: %s: role %q is neither a role id nor a role name", ErrInvalidSeed, where, k.Role)
		}
		if k.Key != "" {
			if !keyPattern.MatchString(k.Key) {
				return out, fmt.Errorf("%w: %s: key %q is not EXO followed by 24 lowercase hex digits", ErrInvalidSeed, where, k.Key)
			}
			if keys[k.Key] {
				return out, fmt.Errorf("%w: %s: duplicate key %s", ErrInvalidSeed, where, k.Key)
			}
			keys[k.Key] = true
		}
		out.keys = append(out.keys, k)
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
