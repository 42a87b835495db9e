package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// Templates that use the escaping functions the way the README tells users
// to, one per consumer language.
var (
	shTemplate = mustParseTemplate("sh", `# a file for ". ./file"
export KEY_NAME={{shquote .Name}}
export EXOSCALE_API_KEY={{shquote .APIKey}} EXOSCALE_API_SECRET={{shquote .APISecret}}
ROLE_ID={{shquote .RoleID}}
set -- {{shquote .Name}} {{.RoleID | shquote}}
`)
	tomlTemplate = mustParseTemplate("toml", `defaultAccount = {{toml .Name}}

[[accounts]]
name = {{toml .Name}}
key = {{toml .APIKey}}
secret = {{toml .APISecret}}
role = {{toml .RoleID}}

[names]
{{toml .Name}} = {{toml .RoleID}}
`)
	jsonTemplate = mustParseTemplate("json", `{"name": {{json .Name}}, "key": {{json .APIKey}}, "secret": {{json .APISecret}}, "role": {{.RoleID | json}}}`)
)

func mustParseTemplate(name, text string) *template.Template {
	return template.Must(ParseTemplate(name, text))
}

// fuzzCreatedAt is not UTC on purpose: the json format converts.
var fuzzCreatedAt = time.Date(2026, 11, 29, 11, 0, 0, 0, time.FixedZone("CET", 3600))

// seedValues are the seed corpus: names and values a hostile key creator
// (or a broken API) could use against each consumer's parser.
var seedValues = [][4]string{
	// name, key id, secret, role id
	{"ci-runner", "EXOabc123", "Zx9-sEcReT_value-0123456789abcdefghijklmnop", "7c2a1e40-0000-4000-8000-000000000001"},
	{"ci-x;id>pwned", "EXO1", "s", "r"},
	{"ci-$(touch pwned)", "EXO$(id)", "`touch pwned`", "${HOME}"},
	{"ci-x'; touch pwned; '", "it's", `a"b\c`, `'\''`},
	{"ci-x\ntouch pwned", "EXO1", "se\ncret", "r\r\n"},
	{"ci-\x1b[2K\rspoof", "EXO\t1", "\x7f\x01\x1f", "\u0085\u2028\u2029"},
	{"", "", "", ""},
	{"~root", "~", "*", "-n"},
	{"a=b", "=", "a b  c", " lead and trail "},
	{"back\\", "\\", "\\\n", "x\\"},
	{"!!", "!$", "$'\\x41'", "${x:-y}"},
	{"\"\"\"", "'''", "\"", "'"},
	{"é🙂\ufeff", "\u00a0", "\u200b\u202e", "ﬀ"},
	{"nul\x00byte", "EXO\x00", "s\x00", "\x00"},
	{"bad\xffutf8", "EXO1", "s", "r"},
	{"ci", "EXO1", "\xc3", "r"},
	{"🙂", "\xf0\x9f", "\x99", "\x82"}, // valid only when joined
	{"[accounts]", "#comment", "x # y", "]]"},
	{"\\u0041", "\\U00000041", "\\n", "\\"},
	{"ci\u007f", "EXO1", "sec\tret", "\u0000x"},
	{"a\r", "EXO1", "\r", "r"},
}

// FuzzFormats feeds names and values through every format, and through
// templates that use shquote, toml and json, and reads each file back with
// the consumer's own parser: POSIX shells (sourcing the file), a TOML 1.0
// parser, encoding/json; and rotatord's own readers for the built-in
// formats. Every file must read back as exactly the values written, or
// rendering must refuse for a documented reason:
//
//   - invalid UTF-8 anywhere: every format refuses (JSON would mangle it,
//     TOML cannot hold it);
//   - a control character in the key id or secret: the env format refuses
//     (systemd's and docker's line-based readers);
//   - a NUL byte anywhere: shquote refuses, since no shell variable can
//     hold one. NUL is only tested for sh this way; TOML and JSON carry it.
//
// `go test` runs the seed corpus; `go test -fuzz FuzzFormats` explores.
func FuzzFormats(f *testing.F) {
	for _, v := range seedValues {
		f.Add(v[0], v[1], v[2], v[3])
	}
	shells := startShells(f)
	f.Fuzz(func(t *testing.T, name, keyID, sec, roleID string) {
		checkFormats(t, shells, name, keyID, sec, roleID)
	})
}

// TestFormatsRandomValues runs a few hundred random values, biased towards
// characters that mean something to sh, TOML or JSON, through the same
// checks on every `go test`.
func TestFormatsRandomValues(t *testing.T) {
	shells := startShells(t)
	n := 300
	if testing.Short() {
		n = 50
	}
	rng := rand.New(rand.NewPCG(11, uint64(n)))
	for range n {
		var v [4]string
		for i := range v {
			v[i] = randomValue(rng)
		}
		checkFormats(t, shells, v[0], v[1], v[2], v[3])
		if t.Failed() {
			return
		}
	}
}

func randomValue(rng *rand.Rand) string {
	pieces := []string{
		"\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x7f", "'", "\"", "\\", "$", "`",
		"!", "*", "?", "~", "#", "&", ";", "|", "<", ">", "(", ")", "{", "}", "[",
		"]", " ", "=", "-", "_", ".", ":", "/", "+", "@", ",", "%", "^", "a", "Z",
		"9", "é", "\u2028", "\u0085", "\ufeff", "🙂", "\\n", "\\u0000", "'\\''",
		"$(", "${", "EXO", "\"\"\"", "'''",
	}
	var b strings.Builder
	for range rng.IntN(12) {
		if rng.IntN(200) == 0 {
			b.WriteByte(0xff) // invalid UTF-8, now and then
			continue
		}
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// checkFormats renders one credential in every format and reads each result
// back; see FuzzFormats.
func checkFormats(t *testing.T, shells []*shell, name, keyID, sec, roleID string) {
	t.Helper()
	c := sinks.Credential{
		Name:      name,
		KeyID:     keyID,
		RoleID:    roleID,
		Secret:    secret.Value(sec),
		CreatedAt: fuzzCreatedAt,
	}
	all := name + keyID + sec + roleID
	// Each on its own: invalid pieces can join into valid UTF-8.
	valid := utf8.ValidString(name) && utf8.ValidString(keyID) && utf8.ValidString(sec) && utf8.ValidString(roleID)
	what := fmt.Sprintf("name %q, key %q, secret %q, role %q", name, keyID, sec, roleID)

	type renderCase struct {
		format  string
		tmpl    *template.Template
		refused bool // rendering must fail
	}
	cases := []renderCase{
		{FormatJSON, nil, !valid},
		{FormatEnv, nil, !valid || hasControl(keyID) || hasControl(sec)},
		{FormatExoscaleTOML, nil, !valid},
		{FormatTemplate, shTemplate, !valid || strings.Contains(all, "\x00")},
		{FormatTemplate, tomlTemplate, !valid},
		{FormatTemplate, jsonTemplate, !valid},
	}
	for _, rc := range cases {
		label := rc.format
		if rc.tmpl != nil {
			label += " " + rc.tmpl.Name()
		}
		out, err := render(rc.format, rc.tmpl, c)
		if rc.refused {
			if err == nil {
				t.Errorf("%s: rendered %s as %q, want a refusal", label, what, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %s: %v", label, what, err)
			continue
		}
		switch label {
		case FormatJSON:
			checkJSONFormat(t, what, out, c)
		case FormatEnv:
			checkEnvFormat(t, shells, what, out, c)
		case FormatExoscaleTOML:
			checkTOMLFormat(t, what, out, c)
		case FormatTemplate + " sh":
			checkSourced(t, shells, "sh template with "+what, out,
				[]string{`"$KEY_NAME"`, `"$EXOSCALE_API_KEY"`, `"$EXOSCALE_API_SECRET"`, `"$ROLE_ID"`, `"$#"`, `"$1"`, `"$2"`},
				[]string{name, keyID, sec, roleID, "2", name, roleID})
		case FormatTemplate + " toml":
			checkTOMLTemplate(t, what, out, c)
		case FormatTemplate + " json":
			checkJSONTemplate(t, what, out, c)
		}
	}
}

func checkJSONFormat(t *testing.T, what string, out []byte, c sinks.Credential) {
	t.Helper()
	var got jsonCredential
	if err := decodeJSONStrict(out, &got); err != nil {
		t.Errorf("json format with %s: %v\nfile: %q", what, err, out)
		return
	}
	want := jsonCredential{
		APIKey:    c.KeyID,
		APISecret: c.Secret.Reveal(),
		Name:      c.Name,
		RoleID:    c.RoleID,
		CreatedAt: "2026-11-29T10:00:00Z",
	}
	if got != want {
		t.Errorf("json format with %s reads back as %+v", what, got)
	}
	if c.KeyID != "" && c.Secret.Reveal() != "" {
		if k, s, err := parseJSON(out); err != nil || k != c.KeyID || s != c.Secret.Reveal() {
			t.Errorf("json format with %s: parseJSON = %q, %q, %v", what, k, s, err)
		}
	}
}

func checkJSONTemplate(t *testing.T, what string, out []byte, c sinks.Credential) {
	t.Helper()
	var got struct{ Name, Key, Secret, Role string }
	if err := decodeJSONStrict(out, &got); err != nil {
		t.Errorf("json template with %s: %v\nfile: %q", what, err, out)
		return
	}
	if got.Name != c.Name || got.Key != c.KeyID || got.Secret != c.Secret.Reveal() || got.Role != c.RoleID {
		t.Errorf("json template with %s reads back as %+v", what, got)
	}
}

// decodeJSONStrict decodes exactly one JSON value with only known fields.
func decodeJSONStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the value (%v)", err)
	}
	return nil
}

func checkEnvFormat(t *testing.T, shells []*shell, what string, out []byte, c sinks.Credential) {
	t.Helper()
	key, sec := c.KeyID, c.Secret.Reveal()
	checkSourced(t, shells, "env format with "+what, out,
		[]string{`"$EXOSCALE_API_KEY"`, `"$EXOSCALE_API_SECRET"`, `"${EXOSCALE_API_KEY+set}${EXOSCALE_API_SECRET+set}"`},
		[]string{key, sec, "setset"})
	if k, s, err := parseEnv(out); err != nil || k != key || s != sec {
		t.Errorf("env format with %s: parseEnv = %q, %q, %v\nfile: %q", what, k, s, err, out)
	}
}

// exoConfig is the exo CLI's configuration, as much of it as the formats
// write; role and names only appear in the test's template.
type exoConfig struct {
	DefaultAccount string `toml:"defaultAccount"`
	Accounts       []struct {
		Name   string `toml:"name"`
		Key    string `toml:"key"`
		Secret string `toml:"secret"`
		Role   string `toml:"role"`
	} `toml:"accounts"`
	Names map[string]string `toml:"names"`
}

func decodeTOML(data []byte) (exoConfig, error) {
	var cfg exoConfig
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&cfg)
	return cfg, err
}

func checkTOMLFormat(t *testing.T, what string, out []byte, c sinks.Credential) {
	t.Helper()
	cfg, err := decodeTOML(out)
	if err != nil {
		t.Errorf("exoscale-toml format with %s: %v\nfile: %q", what, err, out)
		return
	}
	if cfg.DefaultAccount != c.Name || len(cfg.Accounts) != 1 || cfg.Names != nil ||
		cfg.Accounts[0].Name != c.Name || cfg.Accounts[0].Key != c.KeyID ||
		cfg.Accounts[0].Secret != c.Secret.Reveal() || cfg.Accounts[0].Role != "" {
		t.Errorf("exoscale-toml format with %s reads back as %+v", what, cfg)
	}
	if c.KeyID != "" && c.Secret.Reveal() != "" {
		if k, s, err := parseTOML(out); err != nil || k != c.KeyID || s != c.Secret.Reveal() {
			t.Errorf("exoscale-toml format with %s: parseTOML = %q, %q, %v", what, k, s, err)
		}
	}
}

func checkTOMLTemplate(t *testing.T, what string, out []byte, c sinks.Credential) {
	t.Helper()
	cfg, err := decodeTOML(out)
	if err != nil {
		t.Errorf("toml template with %s: %v\nfile: %q", what, err, out)
		return
	}
	if cfg.DefaultAccount != c.Name || len(cfg.Accounts) != 1 ||
		cfg.Accounts[0].Name != c.Name || cfg.Accounts[0].Key != c.KeyID ||
		cfg.Accounts[0].Secret != c.Secret.Reveal() || cfg.Accounts[0].Role != c.RoleID ||
		len(cfg.Names) != 1 || cfg.Names[c.Name] != c.RoleID {
		t.Errorf("toml template with %s reads back as %+v", what, cfg)
	}
}
