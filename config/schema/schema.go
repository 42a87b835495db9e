// Package schema generates the JSON Schema of rotatord's policy file from
// the Go types of package config (github.com/invopop/jsonschema), with the
// rules that reflection cannot see: enums, patterns, defaults, required
// fields, and which sink and Vault auth fields go with which type and
// method. The result is checked in as config/rotatord.schema.json (go
// generate ./config); a test regenerates it and fails when it differs, and
// validates every example policy file against it.
//
// It is a package of its own so that the rotatord binary does not link
// the generator.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
	orderedmap "github.com/pb33f/ordered-map/v2"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/secret"
)

// ID is where the schema is published; editors fetch it from there.
const ID = "https://raw.githubusercontent.com/rotatord/rotatord/main/config/rotatord.schema.json"

// DurationPattern matches what config.ParseDuration accepts: Prometheus's
// syntax, Go's, or a day count and a Go duration, with an optional sign.
const DurationPattern = `^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?|([0-9]+d)?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// ModePattern matches what config.ParseFileMode accepts.
const ModePattern = `^(0[oO]?)?[0-7]{1,3}$`

// Generate returns the schema, indented, with a final newline. dir is the
// directory of package config's sources (for the field descriptions, taken
// from their Go comments) and importPath the import path that dir joined
// to it gives package config's (github.com/rotatord/rotatord/config when
// dir is ".").
func Generate(dir, importPath string) ([]byte, error) {
	r := &jsonschema.Reflector{
		FieldNameTag: "yaml",
		// Nothing is required because it lacks omitempty: defaults fill
		// what is left out. The required fields are added below.
		RequiredFromJSONSchemaTags: true,
		Mapper:                     mapType,
	}
	if err := r.AddGoComments(importPath, dir); err != nil {
		return nil, fmt.Errorf("read the comments of package config: %w", err)
	}
	s := r.Reflect(&config.Config{})
	s.ID = ID
	s.Title = "rotatord policy file"
	s.Description = "The policy file of rotatord, which rotates Exoscale IAM API keys. Durations are written as in Prometheus (90m, 12h, 30d, 1w, 1d12h) or Go (1h30m). See README.md, \"Policy file\"."
	if err := refine(s); err != nil {
		return nil, err
	}
	for _, d := range s.Definitions {
		d.Description = fileTerms(d.Description)
		for p := d.Properties.Oldest(); p != nil; p = p.Next() {
			p.Value.Description = fileTerms(p.Value.Description)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mapType gives the schema of the types whose YAML form is not their Go
// kind.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeOf(config.Duration(0)):
		return &jsonschema.Schema{
			Description: "A duration: 90m, 12h, 30d, 1w, 1y, 1d12h (Prometheus), 1h30m or 1.5h (Go); 0 alone needs no unit.",
			AnyOf: []*jsonschema.Schema{
				{Type: "string", Pattern: DurationPattern, MinLength: ptr(uint64(1))},
				{Type: "integer", Enum: []any{0}},
				{Type: "null"}, // the default
			},
		}
	case reflect.TypeOf(config.FileMode(0)):
		return &jsonschema.Schema{
			Description: `Octal permission bits: "0600", "600" or "0o600" (quote it: YAML reads 0600 as a number).`,
			AnyOf: []*jsonschema.Schema{
				{Type: "string", Pattern: ModePattern},
				{Type: "integer", Minimum: "0", Maximum: "777"},
				{Type: "null"}, // the default
			},
		}
	case reflect.TypeOf(secret.Value("")):
		return &jsonschema.Schema{Type: "string"}
	case reflect.TypeOf(config.Adopt("")):
		return enum(config.AdoptWait, config.AdoptRotate)
	case reflect.TypeOf(config.SinkType("")):
		return enum(config.SinkTypes()...)
	case reflect.TypeOf(config.Format("")):
		return enum(config.FormatJSON, config.FormatEnv, config.FormatExoscaleTOML, config.FormatTemplate)
	case reflect.TypeOf(config.AuthMethod("")):
		return enum(config.AuthToken, config.AuthAppRole, config.AuthKubernetes)
	case reflect.TypeOf(config.CredentialStore("")):
		return enum(config.CredentialFromFile, config.CredentialFromVault)
	}
	return nil
}

func enum[T ~string](values ...T) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range values {
		s.Enum = append(s.Enum, string(v))
	}
	return s
}

// goNames maps the Go names of the policy file's fields to their YAML
// names (StateDir to state_dir), and goWord finds them in a comment.
var (
	goNames = func() map[string]string {
		m := map[string]string{}
		for _, v := range []any{config.Config{}, config.Exoscale{}, config.Policy{}, config.Match{}, config.Sink{}, config.VaultAuth{}, config.VaultTLS{}, config.SecretKeys{}, config.Workload{}} {
			t := reflect.TypeOf(v)
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if f.IsExported() && name != "" {
					m[f.Name] = name
				}
			}
		}
		return m
	}()
	goWord = regexp.MustCompile(`\b[A-Z][A-Za-z]+\b`)
)

// fileTerms rewrites a Go comment for the reader of the YAML file: field
// names as the file spells them, lines joined.
func fileTerms(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	idx := goWord.FindAllStringIndex(s, -1)
	var b strings.Builder
	last := 0
	for _, m := range idx {
		w := s[m[0]:m[1]]
		n, ok := goNames[w]
		// .Name in a template and path.Match stay Go; so do acronyms.
		if !ok || m[0] > 0 && s[m[0]-1] == '.' || strings.ToUpper(w) == w {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(n)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// refine adds what the Go types do not say.
func refine(root *jsonschema.Schema) error {
	def := func(name string) (*jsonschema.Schema, error) {
		d := root.Definitions[name]
		if d == nil {
			return nil, fmt.Errorf("no definition %s in the schema", name)
		}
		return d, nil
	}
	prop := func(d *jsonschema.Schema, name string) *jsonschema.Schema {
		p, ok := d.Properties.Get(name)
		if !ok {
			panic("schema: no property " + name)
		}
		return p
	}

	cfg, err := def("Config")
	if err != nil {
		return err
	}
	// At least one policy, or an own_key (in the exoscale block or an
	// account): a file may only rotate rotatord's own key.
	withOwnKey := &jsonschema.Schema{Required: []string{"own_key"}}
	cfg.AnyOf = []*jsonschema.Schema{
		{Required: []string{"policies"}, Properties: props("policies", &jsonschema.Schema{MinItems: ptr(uint64(1))})},
		{Required: []string{"exoscale"}, Properties: props("exoscale", withOwnKey)},
		{Required: []string{"accounts"}, Properties: props("accounts", &jsonschema.Schema{Contains: withOwnKey})},
	}
	prop(cfg, "state_dir").Default = config.DefaultStateDir
	prop(cfg, "listen").Default = config.DefaultListen
	prop(cfg, "listen").Pattern = `^.*:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`

	exo, err := def("Exoscale")
	if err != nil {
		return err
	}
	zone := prop(exo, "zone")
	zone.Default = config.DefaultZone
	for _, z := range apiclient.Zones {
		zone.Enum = append(zone.Enum, z)
	}
	// A bare host (with or without its final slash) means its /v2
	// (apiclient.ResolveEndpoint); any other path ends in /v2.
	prop(exo, "endpoint").Pattern = endpointPattern
	prop(exo, "api_key").Pattern = `^EXO[0-9a-fA-F]+$`
	setDefault(prop(exo, "timeout"), human(config.DefaultTimeout))
	rate := prop(exo, "rate_limit")
	rate.Default = config.DefaultRateLimit
	rate.ExclusiveMinimum = "0"
	conc := prop(exo, "concurrency")
	conc.Default, conc.Minimum, conc.Maximum = config.DefaultConcurrency, "1", json.Number(fmt.Sprint(config.MaxConcurrency))
	retries := prop(exo, "max_retries")
	retries.Default, retries.Minimum, retries.Maximum = config.DefaultMaxRetries, "0", json.Number(fmt.Sprint(config.MaxMaxRetries))
	exo.Not = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
		{Required: []string{"api_key", "api_key_file"}},
		{Required: []string{"api_secret", "api_secret_file"}},
	}}

	acct, err := def("Account")
	if err != nil {
		return err
	}
	acct.Required = []string{"name"}
	prop(acct, "name").Pattern = config.PolicyNamePattern()
	prop(acct, "name").Not = &jsonschema.Schema{Const: config.DefaultAccount}
	prop(acct, "endpoint").Pattern = endpointPattern

	own, err := def("OwnKey")
	if err != nil {
		return err
	}
	prop(own, "schedule").Default = config.DefaultOwnKey.Schedule
	setDefault(prop(own, "max_age"), human(config.DefaultOwnKey.MaxAge))
	setDefault(prop(own, "grace_period"), human(config.DefaultOwnKey.GracePeriod))

	pol, err := def("Policy")
	if err != nil {
		return err
	}
	pol.Required = []string{"name", "match", "sinks"}
	prop(pol, "name").Pattern = config.PolicyNamePattern()
	prop(pol, "schedule").Default = config.DefaultSchedule
	setDefault(prop(pol, "max_age"), human(config.DefaultMaxAge))
	setDefault(prop(pol, "grace_period"), human(config.DefaultGracePeriod))
	prop(pol, "adopt").Default = string(config.DefaultAdopt)
	prop(pol, "sinks").MinItems = ptr(uint64(1))

	match, err := def("Match")
	if err != nil {
		return err
	}
	match.Required = []string{"name"}
	prop(match, "name").MinLength = ptr(uint64(1))
	prop(match, "role_id").Format = "uuid"

	sink, err := def("Sink")
	if err != nil {
		return err
	}
	prop(sink, "format").Default = string(config.DefaultFormat)
	prop(sink, "mode").Default = config.DefaultMode.String()
	for _, f := range []string{"owner", "group"} {
		// A name or a number, as the loader takes it.
		o := prop(sink, f)
		o.Type = ""
		o.AnyOf = []*jsonschema.Schema{{Type: "string"}, {Type: "integer", Minimum: "0"}}
	}
	prop(sink, "mount").Default = config.DefaultVaultMount
	sink.Required = []string{"type"}
	for _, t := range config.SinkTypes() {
		forbid := &jsonschema.Schema{Properties: jsonschema.NewProperties()}
		for _, f := range config.SinkFieldsNotFor(t) {
			forbid.Properties.Set(f, jsonschema.FalseSchema)
		}
		forbid.Required = []string{"path"}
		if t == config.SinkKubernetes {
			forbid.Required = []string{"namespace", "name"}
		}
		sink.AllOf = append(sink.AllOf, ifThen("type", string(t), forbid))
	}
	sink.AllOf = append(sink.AllOf, ifThen("format", string(config.FormatTemplate), &jsonschema.Schema{Required: []string{"template"}}))

	auth, err := def("VaultAuth")
	if err != nil {
		return err
	}
	prop(auth, "method").Default = string(config.AuthToken)
	all := []string{"token_file", "role_id", "secret_id_file", "role", "service_account_token_file", "mount_path"}
	for _, m := range []config.AuthMethod{config.AuthToken, config.AuthAppRole, config.AuthKubernetes} {
		uses, needs := config.VaultAuthFields(m)
		then := &jsonschema.Schema{Properties: jsonschema.NewProperties(), Required: needs}
		for _, f := range all {
			if !contains(uses, f) {
				then.Properties.Set(f, jsonschema.FalseSchema)
			}
		}
		cond := ifThen("method", string(m), then)
		if m == config.AuthToken {
			// method left out is token.
			cond.If = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
				{Not: &jsonschema.Schema{Required: []string{"method"}}},
				cond.If,
			}}
		}
		auth.AllOf = append(auth.AllOf, cond)
	}
	for def, fields := range descriptions {
		d, err := def0(root, def)
		if err != nil {
			return err
		}
		for f, text := range fields {
			prop(d, f).Description = text
		}
	}
	return nil
}

func def0(root *jsonschema.Schema, name string) (*jsonschema.Schema, error) {
	if d := root.Definitions[name]; d != nil {
		return d, nil
	}
	return nil, fmt.Errorf("no definition %s in the schema", name)
}

// descriptions of the fields whose Go comment is missing or is about a
// group of fields.
var descriptions = map[string]map[string]string{
	"Config": {"policies": "At least one policy (unless an own_key is set); each selects API keys by name and rotates them."},
	"Exoscale": {
		"api_key_file":    "A file holding the API key id (instead of api_key).",
		"api_secret_file": "A file holding the API secret (instead of api_secret).",
	},
	"Policy": {
		"match": "Which API keys the policy manages.",
		"adopt": "A matching key rotatord did not create: wait (rotate it once it is max_age old, counting from when rotatord first saw it) or rotate (at the next run).",
		"sinks": "Where new credentials go; at least one.",
	},
	"Sink": {
		"type":                 "file or vault.",
		"format":               "File sink: json (default), env, exoscale-toml or template.",
		"template":             "File sink with format template: a Go text/template that sees .Name, .APIKey, .APISecret, .RoleID and .CreatedAt; write values through shquote, json or toml.",
		"mode":                 "File sink: octal permissions (default 0600); world-writable is refused.",
		"owner":                "File sink: owner of the file, a user name or uid (default: rotatord's).",
		"group":                "File sink: group of the file, a group name or gid (default: rotatord's).",
		"take_over":            "Replace a credential rotatord did not write (a file it did not create, a Vault secret without its marker) instead of refusing.",
		"address":              "Vault sink: Vault's URL (default VAULT_ADDR).",
		"namespace":            "Vault sink: Vault Enterprise namespace (default VAULT_NAMESPACE).",
		"mount":                "Vault sink: the KV version 2 mount (default secret).",
		"auth":                 "Vault sink: how rotatord logs in to Vault.",
		"tls":                  "Vault sink: TLS to Vault.",
		"ca_cert":              "Vault sink: tls.ca_cert written beside the other fields (one of the two).",
		"tls_server_name":      "Vault sink: tls.tls_server_name written beside the other fields (one of the two).",
		"insecure_skip_verify": "Vault sink: tls.insecure_skip_verify written beside the other fields (one of the two); tests only.",
	},
	"VaultAuth": {
		"method":                     "token (default), approle or kubernetes.",
		"token_file":                 "token method: a file holding the token, read again when it stops working (default VAULT_TOKEN).",
		"role_id":                    "approle method: the role id.",
		"secret_id_file":             "approle method: a file holding the secret id.",
		"role":                       "kubernetes method: the Vault role.",
		"service_account_token_file": "kubernetes method: the service account token (default: the pod's).",
		"mount_path":                 "Where the auth method is mounted (default: its name).",
	},
}

// ifThen is {"if": {"properties": {field: {"const": value}}, "required": [field]}, "then": then}.
func ifThen(field, value string, then *jsonschema.Schema) *jsonschema.Schema {
	cond := &jsonschema.Schema{Properties: jsonschema.NewProperties(), Required: []string{field}}
	cond.Properties.Set(field, &jsonschema.Schema{Const: value})
	return &jsonschema.Schema{If: cond, Then: then}
}

// setDefault sets the default of a property that is a $ref or an anyOf.
func setDefault(s *jsonschema.Schema, v any) { s.Default = v }

func human(d config.Duration) string {
	return modelDuration(d.Duration())
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// props is a properties map of one entry.
func props(name string, s *jsonschema.Schema) *orderedmap.OrderedMap[string, *jsonschema.Schema] {
	m := orderedmap.New[string, *jsonschema.Schema]()
	m.Set(name, s)
	return m
}

// endpointPattern is what apiclient.ResolveEndpoint takes of an endpoint's
// shape: http or https, a host, then nothing, "/", or a path ending in /v2
// (with or without its final slash).
const endpointPattern = `^https?://[^/?#]+(/|/.*/v2/?|/v2/?)?$`
