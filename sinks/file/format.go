package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// Formats a file sink can write. Each file ends with a newline.
const (
	// FormatJSON writes api_key, api_secret, name, role_id and created_at
	// (RFC 3339, UTC), indented.
	FormatJSON = "json"
	// FormatEnv writes EXOSCALE_API_KEY and EXOSCALE_API_SECRET lines for
	// systemd's EnvironmentFile=, docker --env-file or a shell. A value
	// outside [A-Za-z0-9_.:/+=@,-] is double-quoted the way systemd and the
	// shell read back (". file" in sh, bash or dash sets exactly the
	// value), which docker --env-file does not; a control character cannot
	// be written at all.
	FormatEnv = "env"
	// FormatExoscaleTOML writes an exo CLI config with one account, named
	// after the key and made the default. Every string is a TOML 1.0 basic
	// string, escaped.
	FormatExoscaleTOML = "exoscale-toml"
	// FormatTemplate executes Options.Template, adding the final newline
	// when it does not write one. The template should escape what it
	// writes with the functions of TemplateFuncs.
	FormatTemplate = "template"
)

// Names of the variables the env format writes; the Exoscale SDK and the exo
// CLI read them.
const (
	envKey    = "EXOSCALE_API_KEY"
	envSecret = "EXOSCALE_API_SECRET"
)

// TemplateFuncs returns the functions a "template" format template may call.
// Each turns a string into a literal of a consumer's language that reads
// back as exactly that string, whatever characters it holds:
//
//   - shquote: a POSIX sh single-quoted word, for files a shell sources. A
//     NUL byte, which no shell variable can hold, is an error.
//   - json: a JSON string literal, for JSON files.
//   - toml: a TOML basic string literal, escaped as TOML 1.0 requires.
//
// For a key named it's, these lines
//
//	export KEY_NAME={{shquote .Name}}
//	"name": {{json .Name}}
//	name = {{toml .Name}}
//
// render as
//
//	export KEY_NAME='it'\''s'
//	"name": "it's"
//	name = "it's"
//
// The template's text is the author's; a value spliced in without one of
// these functions is only as safe as the characters it happens to hold, and
// key names are chosen by whoever may create API keys. Invalid UTF-8 is an
// error for json and toml. The config package parses templates with these
// functions, and so must any other caller that hands a template to
// Options.Template. Each call returns a new map.
func TemplateFuncs() template.FuncMap {
	return template.FuncMap{
		"shquote": shQuote,
		"json":    jsonQuote,
		"toml":    tomlQuoteChecked,
	}
}

// ParseTemplate parses text as a "template" format template named name,
// with TemplateFuncs.
func ParseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(TemplateFuncs()).Parse(text)
}

// shQuote returns s as one POSIX sh word that expands to exactly s: single
// quotes, inside which the shell interprets nothing, with each single quote
// of s written as four characters: close the quotes, a backslash-escaped
// quote, reopen. The error never quotes s.
func shQuote(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("a NUL byte cannot be written for a shell")
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'", nil
}

// jsonQuote returns s as a JSON string literal. <, > and & stay as they are,
// like the json format. The error never quotes s.
func jsonQuote(s string) (string, error) {
	if !utf8.ValidString(s) {
		// encoding/json would write U+FFFD instead: not s.
		return "", errors.New("value is not valid UTF-8")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", errors.New("cannot encode value")
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// tomlQuoteChecked is tomlQuote for templates, whose values render has not
// checked. The error never quotes s.
func tomlQuoteChecked(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("value is not valid UTF-8, which TOML cannot hold")
	}
	return tomlQuote(s), nil
}

// templateData is what a "template" format template sees. APISecret is a
// plain string here, and only here, because the template exists to write it.
type templateData struct {
	Name      string
	APIKey    string
	APISecret string
	RoleID    string
	CreatedAt time.Time // UTC
}

// jsonCredential fixes the field order and names of the json format.
type jsonCredential struct {
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
	Name      string `json:"name"`
	RoleID    string `json:"role_id"`
	CreatedAt string `json:"created_at"`
}

// render returns the exact bytes Write puts in the file for c. Verify compares
// against the same bytes, so render must be deterministic. Its errors never
// contain the secret.
func render(format string, tmpl *template.Template, c sinks.Credential) ([]byte, error) {
	// Every format below is text a consumer parses; invalid UTF-8 would be
	// mangled (JSON) or rejected (TOML) and never read back as written.
	for _, f := range []struct{ name, value string }{
		{"name", c.Name},
		{"key id", c.KeyID},
		{"role id", c.RoleID},
		{"secret", c.Secret.Reveal()},
	} {
		if !utf8.ValidString(f.value) {
			return nil, fmt.Errorf("credential %s is not valid UTF-8", f.name)
		}
	}
	switch format {
	case FormatJSON:
		return renderJSON(c)
	case FormatEnv:
		return renderEnv(c)
	case FormatExoscaleTOML:
		return renderTOML(c), nil
	case FormatTemplate:
		return renderTemplate(tmpl, c)
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func renderJSON(c sinks.Credential) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep <, > and & as they are: the file is not embedded in HTML.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	// Encode ends the document with a newline.
	err := enc.Encode(jsonCredential{
		APIKey:    c.KeyID,
		APISecret: c.Secret.Reveal(),
		Name:      c.Name,
		RoleID:    c.RoleID,
		CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
	})
	if err != nil {
		// Strings always encode; this is unreachable, and the encoder's
		// errors do not quote values.
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return buf.Bytes(), nil
}

func renderEnv(c sinks.Credential) ([]byte, error) {
	key, err := envQuote(c.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envKey, err)
	}
	sec, err := envQuote(c.Secret.Reveal())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envSecret, err)
	}
	return []byte(envKey + "=" + key + "\n" + envSecret + "=" + sec + "\n"), nil
}

// envPlain reports whether r may stand unquoted in an env file. Such a value
// means the same to systemd's EnvironmentFile=, docker --env-file and a
// POSIX shell sourcing the file. Exoscale key ids and secrets only use
// [A-Za-z0-9_-].
func envPlain(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("_-.:/+=@,", r)
}

// envQuote returns v as an env file value. A value with other characters is
// double-quoted, with \ before each of " \ ` $: systemd's EnvironmentFile=
// and a POSIX shell both read that back as v. docker --env-file does not
// unquote at all and would see the quotes; no quoting works there, which is
// why the plain set is used whenever it suffices. Control characters (a
// newline would end the line) cannot be written and are an error.
func envQuote(v string) (string, error) {
	plain := v != ""
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("value contains a control character")
		}
		if !envPlain(r) {
			plain = false
		}
	}
	if plain {
		return v, nil
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		if strings.ContainsRune("\"\\`$", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String(), nil
}

// envUnquote reverses envQuote, following systemd's EnvironmentFile= rules
// for the quoting forms a person editing the file might use.
func envUnquote(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, `"`):
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", errors.New("unterminated double quote")
		}
		in := v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(in); i++ {
			if in[i] == '\\' && i+1 < len(in) {
				i++
				if !strings.ContainsRune("\"\\`$", rune(in[i])) {
					// Like the shell, keep the backslash of an unknown escape.
					b.WriteByte('\\')
				}
			} else if in[i] == '"' {
				return "", errors.New("unescaped double quote")
			}
			b.WriteByte(in[i])
		}
		return b.String(), nil
	case strings.HasPrefix(v, "'"):
		if len(v) < 2 || !strings.HasSuffix(v, "'") || strings.Contains(v[1:len(v)-1], "'") {
			return "", errors.New("malformed single quotes")
		}
		return v[1 : len(v)-1], nil
	}
	// Unquoted: a backslash keeps the character after it.
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

// parseEnv finds the key id and secret in an env file. Its errors name the
// line number, never the line.
func parseEnv(data []byte) (keyID, sec string, err error) {
	var haveKey, haveSecret bool
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if k != envKey && k != envSecret {
			continue
		}
		val, err := envUnquote(strings.TrimSpace(v))
		if err != nil {
			return "", "", fmt.Errorf("line %d: %w", i+1, err)
		}
		// Later assignments win, as in systemd and the shell.
		if k == envKey {
			keyID, haveKey = val, true
		} else {
			sec, haveSecret = val, true
		}
	}
	if !haveKey || !haveSecret {
		return "", "", fmt.Errorf("%s or %s missing", envKey, envSecret)
	}
	return keyID, sec, nil
}

func renderTOML(c sinks.Credential) []byte {
	name := tomlQuote(c.Name)
	var b strings.Builder
	b.WriteString("defaultAccount = " + name + "\n")
	b.WriteString("\n[[accounts]]\n")
	b.WriteString("name = " + name + "\n")
	b.WriteString("key = " + tomlQuote(c.KeyID) + "\n")
	b.WriteString("secret = " + tomlQuote(c.Secret.Reveal()) + "\n")
	return []byte(b.String())
}

// tomlQuote returns s as a TOML basic string. TOML forbids raw control
// characters other than tab in one; all of them are escaped here, tab too.
// s must be valid UTF-8 (render checks).
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlUnquote parses one TOML basic or literal string at the start of s and
// returns it with the rest of s. Multi-line strings are not supported: this
// sink never writes them.
func tomlUnquote(s string) (val, rest string, err error) {
	if strings.HasPrefix(s, `"""`) || strings.HasPrefix(s, "'''") {
		return "", "", errors.New("multi-line strings are not supported")
	}
	if strings.HasPrefix(s, "'") {
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", "", errors.New("unterminated literal string")
		}
		return s[1 : 1+end], s[end+2:], nil
	}
	if !strings.HasPrefix(s, `"`) {
		return "", "", errors.New("value is not a string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", errors.New("unterminated string")
			}
			i++
			switch e := s[i]; e {
			case '"', '\\':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'u', 'U':
				n := 4
				if e == 'U' {
					n = 8
				}
				if i+n >= len(s) {
					return "", "", errors.New("short unicode escape")
				}
				code, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(code)) {
					return "", "", errors.New("invalid unicode escape")
				}
				b.WriteRune(rune(code))
				i += n
			default:
				return "", "", errors.New("invalid escape")
			}
		default:
			if ch < 0x20 && ch != '\t' || ch == 0x7f {
				return "", "", errors.New("control character in string")
			}
			b.WriteByte(ch)
		}
	}
	return "", "", errors.New("unterminated string")
}

// tomlAccount is the part of an exo CLI account this sink reads back.
type tomlAccount struct {
	name, key, secret string
}

// parseTOML reads back the subset of TOML renderTOML writes, tolerating
// comments, blank lines, other keys and other tables, and returns the
// account the exo CLI would use: the one named by defaultAccount, or the
// only one. Values of keys it does not need are not parsed. Its errors name
// the line number, never the line.
func parseTOML(data []byte) (keyID, sec string, err error) {
	var (
		defaultAccount string
		accounts       []*tomlAccount
		cur            *tomlAccount // nil outside an [[accounts]] table
		inRoot         = true
	)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inRoot = false
			cur = nil
			header := line
			if j := strings.IndexByte(header, '#'); j >= 0 {
				header = strings.TrimSpace(header[:j])
			}
			if strings.HasPrefix(header, "[[") && strings.HasSuffix(header, "]]") &&
				strings.TrimSpace(header[2:len(header)-2]) == "accounts" {
				cur = &tomlAccount{}
				accounts = append(accounts, cur)
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return "", "", fmt.Errorf("line %d: expected key = value", i+1)
		}
		k = strings.TrimSpace(k)
		var dst *string
		switch {
		case inRoot && k == "defaultAccount":
			dst = &defaultAccount
		case cur != nil && k == "name":
			dst = &cur.name
		case cur != nil && k == "key":
			dst = &cur.key
		case cur != nil && k == "secret":
			dst = &cur.secret
		default:
			continue
		}
		val, rest, err := tomlUnquote(strings.TrimSpace(v))
		if err != nil {
			return "", "", fmt.Errorf("line %d: %w", i+1, err)
		}
		if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
			return "", "", fmt.Errorf("line %d: unexpected text after the value", i+1)
		}
		*dst = val
	}
	var found *tomlAccount
	switch {
	case defaultAccount != "":
		for _, a := range accounts {
			if a.name == defaultAccount {
				found = a
				break
			}
		}
		if found == nil {
			return "", "", fmt.Errorf("no account named by defaultAccount %q", defaultAccount)
		}
	case len(accounts) == 1:
		found = accounts[0]
	default:
		return "", "", fmt.Errorf("no defaultAccount among %d accounts", len(accounts))
	}
	if found.key == "" || found.secret == "" {
		return "", "", fmt.Errorf("account %q has no key or secret", found.name)
	}
	return found.key, found.secret, nil
}

// parseJSON reads back a json format file. The decoder's own messages can
// quote a character of the input, hence the fixed text.
func parseJSON(data []byte) (keyID, sec string, err error) {
	var jc jsonCredential
	if err := json.Unmarshal(data, &jc); err != nil {
		return "", "", errors.New("not a JSON credential object")
	}
	if jc.APIKey == "" || jc.APISecret == "" {
		return "", "", errors.New("api_key or api_secret missing")
	}
	return jc.APIKey, jc.APISecret, nil
}

func renderTemplate(tmpl *template.Template, c sinks.Credential) ([]byte, error) {
	var buf bytes.Buffer
	err := tmpl.Execute(&buf, templateData{
		Name:      c.Name,
		APIKey:    c.KeyID,
		APISecret: c.Secret.Reveal(),
		RoleID:    c.RoleID,
		CreatedAt: c.CreatedAt.UTC(),
	})
	if err != nil {
		clear(buf.Bytes())
		return nil, templateExecError(tmpl, c, err)
	}
	// Every format ends with a newline, so that tools reading lines see the
	// last one; a template may or may not write it.
	if !bytes.HasSuffix(buf.Bytes(), []byte("\n")) {
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// templateExecError is what a render of tmpl for c that failed with err
// says. Go's template errors print values ("range can't iterate over
// VALUE"), and a template may have transformed the secret first (a slice
// of it, printf "%x"): no search for the secret in the text finds that.
// So the error given is that of the same render with the probe's
// placeholder secret, which holds nothing of the real one; when that
// render passes, or fails at another place in the template (its error
// would be another action's), the failure depends on the secret's value,
// and a fixed text says so, with where the render failed.
func templateExecError(tmpl *template.Template, c sinks.Credential, err error) error {
	if c.Secret != probeSecret {
		real := err
		c.Secret = probeSecret
		err = tmpl.Execute(io.Discard, templateData{
			Name: c.Name, APIKey: c.KeyID, APISecret: c.Secret.Reveal(), RoleID: c.RoleID, CreatedAt: c.CreatedAt.UTC(),
		})
		at := execErrorPlace(tmpl, real)
		if err == nil || execErrorPlace(tmpl, err) != at {
			where := ""
			if at != "" {
				where = " at " + at
			}
			return fmt.Errorf("execute template %q: fails%s for this key's secret but not for another: the template depends on the secret's value (its error is not shown, as it may quote the secret)", tmpl.Name(), where)
		}
	}
	return fmt.Errorf("execute template %q: %w", tmpl.Name(), redact(err, c.Secret))
}

// execPlace matches the start of a text/template execution error:
// "template: NAME:LINE:COL: executing ".
var execPlace = regexp.MustCompile(`^template: (.+?):([0-9]+):([0-9]+): executing `)

// execErrorPlace returns where in tmpl a render failed with err
// (NAME:LINE:COL), "" when err does not say. Only the numbers and a name
// tmpl defines are taken from the text: what follows them may quote a
// value.
func execErrorPlace(tmpl *template.Template, err error) string {
	var ee template.ExecError
	if !errors.As(err, &ee) {
		return ""
	}
	m := execPlace.FindStringSubmatch(err.Error())
	if m == nil || tmpl.Lookup(m[1]) == nil {
		return ""
	}
	return m[1] + ":" + m[2] + ":" + m[3]
}

// redact keeps err, and so its chain, unless its text contains the secret: a
// template function may quote its arguments in an error. Then only the text,
// with the secret replaced, survives.
func redact(err error, s secret.Value) error {
	if s.IsZero() || !strings.Contains(err.Error(), s.Reveal()) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.Reveal(), secret.Redacted))
}

// Render returns the document a file of format json, env or exoscale-toml
// holds for c. Other sinks that store one rendered document (a key of a
// Kubernetes Secret) use it, so a consumer reads the same text from each.
// Its errors never contain the secret.
func Render(format string, c sinks.Credential) ([]byte, error) {
	if format == FormatTemplate {
		return nil, errors.New("format template needs a file sink")
	}
	return render(format, nil, c)
}

// Parse reads back a document Render wrote: the key id and the secret.
// Its errors never quote the document.
func Parse(format string, data []byte) (keyID, sec string, err error) {
	switch format {
	case FormatJSON:
		return parseJSON(data)
	case FormatEnv:
		return parseEnv(data)
	case FormatExoscaleTOML:
		return parseTOML(data)
	}
	return "", "", fmt.Errorf("unknown format %q", format)
}
