package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/plainhttp"
	"github.com/rotatord/rotatord/internal/redact"
	"github.com/rotatord/rotatord/sinks/file"
)

// policyNameRE keeps policy names usable as metric label values and file
// names in the state directory.
var policyNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// The fields of each sink type besides type, in struct order.
var (
	fileOnlyFields  = []string{"format", "template", "mode", "owner", "group", "allow_world_readable"}
	vaultOnlyFields = []string{"address", "namespace", "mount", "auth", "tls", "ca_cert", "tls_server_name", "insecure_skip_verify", "insecure_http"}
	sinkFields      = map[SinkType][]string{
		SinkFile:       {"path", "format", "template", "mode", "owner", "group", "allow_world_readable", "take_over"},
		SinkVault:      {"path", "address", "namespace", "mount", "auth", "tls", "ca_cert", "tls_server_name", "insecure_skip_verify", "insecure_http", "take_over"},
		SinkKubernetes: {"namespace", "name", "keys", "key", "format", "labels", "annotations", "kubeconfig", "context", "restart", "take_over"},
	}
	sinkTypes = []SinkType{SinkFile, SinkVault, SinkKubernetes}
)

// sinkFieldsNotFor returns the fields of other sink types that type t
// does not have, in a stable order.
func sinkFieldsNotFor(t SinkType) []string {
	var out []string
	for _, other := range sinkTypes {
		for _, f := range sinkFields[other] {
			if !slices.Contains(sinkFields[t], f) && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// typesWith lists the sink types that have field f, for an error.
func typesWith(f string) string {
	var ts []string
	for _, t := range sinkTypes {
		if slices.Contains(sinkFields[t], f) {
			ts = append(ts, string(t))
		}
	}
	return strings.Join(ts, " or ")
}

// Two key names that differ at both ends, so a path template that renders
// them alike ignores the name (or keeps too little of it).
const probeNameA, probeNameB = "a-probe-key-1", "bb-probe-key-22"

// validator checks a decoded Config, resolves its relative paths and fills
// its parsed artefacts, collecting every problem.
type validator struct {
	file   string
	root   *yaml.Node
	base   string              // absolute directory relative paths resolve against
	host   bool                // also check what depends on this machine
	getenv func(string) string // the environment; os.Getenv in Load
	errs   Errors
	warns  []Problem
}

func (v *validator) problem(fieldPath, format string, args ...any) Problem {
	_, line := locate(v.root, fieldPath)
	return Problem{File: v.file, Line: line, Path: fieldPath, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) addf(fieldPath, format string, args ...any) {
	v.errs = append(v.errs, v.problem(fieldPath, format, args...))
}

func (v *validator) warnf(fieldPath, format string, args ...any) {
	v.warns = append(v.warns, v.problem(fieldPath, format, args...))
}

// written returns a scalar as the file spells it ("-1h", not "-1h0m0s"),
// or fallback when the field is not in the file (a default).
func (v *validator) written(fieldPath string, fallback fmt.Stringer) string {
	if n, _ := locate(v.root, fieldPath); n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return fallback.String()
}

// abs resolves a relative path against the config directory; an empty path
// stays empty.
func (v *validator) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.base, p)
}

// absTemplate is abs for a path template. It cleans only the directories
// written before the first action, with the base ("./out/{{.Name}}" and
// "../out/{{.Name}}" are common spellings), because cleaning could rewrite
// text inside actions; what follows is left for the file sink to judge.
func (v *validator) absTemplate(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	base := v.base
	if strings.Contains(base, "{{") {
		// Keep a directory name that looks like an action literal.
		base = "{{" + strconv.Quote(base) + "}}"
		return base + string(filepath.Separator) + p
	}
	literal := p
	if i := strings.Index(p, "{{"); i >= 0 {
		literal = p[:i]
	}
	j := strings.LastIndexByte(literal, filepath.Separator)
	if j < 0 {
		return base + string(filepath.Separator) + p
	}
	dir := filepath.Join(base, p[:j])
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return dir + p[j+1:]
}

func (v *validator) config(c *Config) {
	v.accounts(c)

	v.state(c)
	if c.StateDir == "" {
		v.addf("state_dir", "required")
	}
	c.StateDir = v.abs(c.StateDir)
	if v.host && c.StateDir != "" && !c.State.Kubernetes() {
		if err := CheckStateDir(c.StateDir); err != nil {
			v.addf("state_dir", "%v", err)
		}
	}

	if host, port, err := net.SplitHostPort(c.Listen); err != nil {
		v.addf("listen", "%v (want host:port, such as 127.0.0.1:9108 or :9108)", err)
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.addf("listen", "port %q of %q: want a number from 0 to 65535", port, net.JoinHostPort(host, port))
	} else if v.host {
		// Whether this host can serve on that address (it resolves, one
		// of its interfaces has it), without the port: a reload's
		// validate runs beside the daemon that holds it.
		if host != "" {
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
				v.addf("listen", "%q: this host cannot listen there: %v", c.Listen, unwrapOpError(err))
			} else {
				ln.Close()
			}
		}
		// Whether this user may bind the port, told by the sysctl and
		// the capability rather than by binding it (the daemon may hold
		// it): run stops with "bind: permission denied".
		if start, ok := unprivilegedPortStart(); ok && n > 0 && n < uint64(start) && !canBindPrivilegedPorts() {
			v.addf("listen", "%q: port %d is below %d (net.ipv4.ip_unprivileged_port_start) and this user (uid %d) lacks CAP_NET_BIND_SERVICE: run cannot listen there; pick a port from %d, or give rotatord the capability (CAP_NET_BIND_SERVICE in both CapabilityBoundingSet= and AmbientCapabilities= of its unit)",
				c.Listen, n, start, os.Getuid(), start)
		}
	}

	if len(c.Policies) == 0 && !ownKeyAnywhere(c) {
		v.addf("policies", "at least one policy is required (or an own_key)")
	}
	names := make(map[string]string)   // policy name → path of the first policy with it
	targets := make(map[string]string) // sink target → path of the first sink with it
	for i := range c.Policies {
		v.policy(fmt.Sprintf("policies[%d]", i), &c.Policies[i], names, targets)
	}
	v.policyAccounts(c)
	v.credentialsApart(c)
	v.secretElsewhere(c)
}

// account checks one account: the exoscale block (at "exoscale") or an
// entry of accounts (at "accounts[i]").
func (v *validator) account(at string, e *Exoscale) {
	zoneOK := slices.Contains(apiclient.Zones, e.Zone)
	if !zoneOK {
		v.addf(at+".zone", "unknown zone %q (known: %s)", echo(e.Zone), strings.Join(apiclient.Zones, ", "))
	}
	endpointOK := true
	if e.Endpoint != "" {
		if _, err := apiclient.ResolveEndpoint("", e.Endpoint); err != nil {
			endpointOK = false
			// Each long word of the URL is cut, in its path too (a
			// secret pasted after the host).
			v.addf(at+".endpoint", "%s", longWordRE.ReplaceAllStringFunc(err.Error(), echo[string]))
		}
	}
	if zoneOK && endpointOK {
		e.endpoint, _ = apiclient.ResolveEndpoint(e.Zone, e.Endpoint)
		if err := CheckTransport(e.endpoint, e.InsecureHTTP); err != nil {
			v.addf(at+".endpoint", "%v", err)
		}
	}

	if e.APIKey != "" && e.APIKeyFile != "" {
		v.addf(at+".api_key_file", "api_key and api_key_file are both set: choose one")
	}
	if !e.APISecret.IsZero() && e.APISecretFile != "" {
		v.addf(at+".api_secret_file", "api_secret and api_secret_file are both set: choose one")
	}
	if e.APIKey != "" {
		// The check the client makes, on the value alone.
		if _, err := (apiclient.CredentialSource{Key: e.APIKey, Secret: "-"}).Resolve(noEnv); err != nil {
			v.addf(at+".api_key", "%s", strings.TrimPrefix(err.Error(), "api_key: "))
		}
	}
	e.APIKeyFile = v.abs(e.APIKeyFile)
	e.APISecretFile = v.abs(e.APISecretFile)
	if v.host && e.CredentialFrom == "" && e.CredentialFile == "" {
		v.credentials(at, e)
	}
	v.ownCredential(at, e)

	if e.Timeout <= 0 {
		v.addf(at+".timeout", "must be > 0, got %s", v.written(at+".timeout", e.Timeout))
	}
	if !(e.RateLimit > 0) || math.IsInf(e.RateLimit, 0) {
		v.addf(at+".rate_limit", "must be a finite number > 0, got %s", v.written(at+".rate_limit", stringer(fmt.Sprint(e.RateLimit))))
	} else if e.RateLimit < 1.0/60 {
		// The ceiling of the rate: a pass makes a few requests per key
		// name, so below one a minute a pass takes hours or days.
		every := "more than 100 years"
		if secs := 1 / e.RateLimit; secs < 100*365*24*3600 {
			every = (time.Duration(secs * float64(time.Second))).Round(time.Second).String()
		}
		v.warnf(at+".rate_limit", "%s lets one API request through every %s (after the first few): a pass makes several requests per key name, so it would take that long per name",
			v.written(at+".rate_limit", stringer(fmt.Sprint(e.RateLimit))), every)
	}
	if e.Concurrency < 1 || e.Concurrency > MaxConcurrency {
		v.addf(at+".concurrency", "must be from 1 to %d, got %d", MaxConcurrency, e.Concurrency)
	}
	if e.MaxRetries < 0 || e.MaxRetries > MaxMaxRetries {
		v.addf(at+".max_retries", "must be from 0 to %d, got %d", MaxMaxRetries, e.MaxRetries)
	}
}

func (v *validator) policy(at string, p *Policy, names, targets map[string]string) {
	switch first, dup := names[p.Name]; {
	case p.Name == "":
		v.addf(at+".name", "required")
	case !policyNameRE.MatchString(p.Name):
		v.addf(at+".name", "%q: want lower-case letters, digits, _ and - (up to 63, starting with a letter or digit), as it labels metrics and names state", p.Name)
	case dup:
		v.addf(at+".name", "duplicate policy name %q (first used at %s)", p.Name, first)
	default:
		names[p.Name] = at
	}

	glob := false
	switch {
	case p.Match.Name == "":
		v.addf(at+".match.name", "required")
	case !validGlob(p.Match.Name):
		v.addf(at+".match.name", "bad glob %q: %v", p.Match.Name, path.ErrBadPattern)
	default:
		glob = strings.ContainsAny(p.Match.Name, "*?[")
	}
	if p.Match.RoleID != "" && !isUUID(p.Match.RoleID) {
		v.addf(at+".match.role_id", "%q is not a UUID (want the form 22222222-2222-2222-2222-222222222222)", p.Match.RoleID)
	}
	for k, ex := range p.Match.Exclude {
		if !validGlob(ex) {
			v.addf(fmt.Sprintf("%s.match.exclude[%d]", at, k), "bad glob %q: %v", ex, path.ErrBadPattern)
		}
	}

	if s, err := parseSchedule(p.Schedule); err != nil {
		v.addf(at+".schedule", "bad schedule %q: %v", p.Schedule, err)
	} else {
		p.schedule = s
	}
	if p.MaxAge <= 0 {
		v.addf(at+".max_age", "must be > 0, got %s", v.written(at+".max_age", p.MaxAge))
	}
	if p.schedule != nil {
		v.schedule(at, p)
	}
	if p.GracePeriod < 0 {
		v.addf(at+".grace_period", "must not be negative, got %s", v.written(at+".grace_period", p.GracePeriod))
	}
	v.windows(at, p)
	v.hooks(at, p)
	if p.SinkCheck < 0 {
		v.addf(at+".sink_check", "must not be negative, got %s", v.written(at+".sink_check", p.SinkCheck))
	}
	if p.Jitter < 0 {
		v.addf(at+".jitter", "must not be negative, got %s", v.written(at+".jitter", p.Jitter))
	} else if p.MaxAge > 0 && p.Jitter > p.MaxAge {
		v.addf(at+".jitter", "%s is more than max_age %s: a key would live up to twice max_age", v.written(at+".jitter", p.Jitter), v.written(at+".max_age", p.MaxAge))
	}
	if p.Adopt != AdoptWait && p.Adopt != AdoptRotate {
		v.addf(at+".adopt", "unknown value %q (want %s or %s)", echo(p.Adopt), AdoptWait, AdoptRotate)
	}

	if len(p.Sinks) == 0 {
		v.addf(at+".sinks", "at least one sink is required")
	}
	for j := range p.Sinks {
		v.sink(fmt.Sprintf("%s.sinks[%d]", at, j), &p.Sinks[j], p.Match.Name, glob, targets)
	}
	v.vaultPathsApart(at, p)
	if len(p.Sinks) > 1 && !slices.ContainsFunc(p.Sinks, readBack) {
		// rotatord writes the sinks it can read back first, so that a
		// delivery interrupted half way can be resumed from one of them.
		// With none, a crash between two writes would leave two keys that
		// both have consumers and no secret to finish with.
		v.addf(at+".sinks", "%d sinks and none that rotatord can read back (every one is format %s): add a sink of another format or type, so an interrupted delivery can be resumed", len(p.Sinks), FormatTemplate)
	}
}

// readBack reports whether rotatord can read a sink's credential back.
func readBack(s Sink) bool { return !(s.Type == SinkFile && s.Format == FormatTemplate) }

func (v *validator) sink(at string, s *Sink, match string, glob bool, targets map[string]string) {
	switch s.Type {
	case SinkFile, SinkVault, SinkKubernetes:
	case "":
		v.addf(at+".type", "required (%s, %s or %s)", SinkFile, SinkVault, SinkKubernetes)
		return
	default:
		v.addf(at+".type", "unknown sink type %q (want %s, %s or %s)", echo(s.Type), SinkFile, SinkVault, SinkKubernetes)
		return
	}
	// Presence, not value: `take_over: false` on a file sink is as much a
	// misunderstanding as `take_over: true`.
	keys := v.keys(at)
	for _, f := range sinkFieldsNotFor(s.Type) {
		if keys[f] {
			v.addf(at+"."+f, "only for type %s", typesWith(f))
		}
	}

	switch s.Type {
	case SinkFile:
		v.fileSink(at, s, match, glob, targets)
	case SinkVault:
		v.vaultSink(at, s, match, glob, targets)
	case SinkKubernetes:
		v.kubernetesSink(at, s, match, glob, targets)
	}
}

// keys returns the keys set in the mapping at a field path, with merge keys
// resolved by the decoder.
func (v *validator) keys(at string) map[string]bool {
	n, _ := locate(v.root, at)
	set := make(map[string]bool)
	if n == nil {
		return set
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return set
	}
	for k := range m {
		set[k] = true
	}
	return set
}

func (v *validator) fileSink(at string, s *Sink, match string, glob bool, targets map[string]string) {
	before := len(v.errs)
	if s.Path == "" {
		v.addf(at+".path", "required")
	} else if v.pathTemplate(at, s, match, glob, "file") {
		s.Path = v.absTemplate(s.Path)
		// The error was checked above on the text as written; only a base
		// directory could break it, and absTemplate quotes that.
		s.pathTmpl, _ = template.New("path").Parse(s.Path)
		v.unique(at, s.Path, targets)
	}

	switch s.Format {
	case FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate:
	default:
		v.addf(at+".format", "unknown format %q (want %s, %s, %s or %s)", echo(s.Format), FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate)
	}
	switch {
	case s.Format == FormatTemplate && s.Template == "":
		v.addf(at+".template", "required when format is %s", FormatTemplate)
	case s.Format != FormatTemplate && s.Template != "":
		v.addf(at+".template", "only for format %s, but format is %s", FormatTemplate, s.Format)
	case s.Template != "":
		// With the escaping functions (shquote, json, toml) the file
		// sink's renderer documents.
		t, err := file.ParseTemplate("template", s.Template)
		if err != nil {
			v.addf(at+".template", "%v", err)
			break
		}
		if err := t.Execute(io.Discard, sampleContent); err != nil {
			v.addf(at+".template", "%s", templateError(err, contentFields, "a content template sees"))
			break
		}
		s.contentTmpl = t
	}

	switch {
	case s.Mode > 0o777:
		v.addf(at+".mode", "%s: want permission bits only, at most 0777", s.Mode)
	case s.Mode&0o444 == 0:
		v.addf(at+".mode", "%s lets nobody read the credential", s.Mode)
	case s.Mode&0o400 == 0:
		v.addf(at+".mode", "%s does not let the file's owner read it: rotatord reads every file back after writing it", s.Mode)
	case s.Mode&0o002 != 0:
		v.addf(at+".mode", "%s is world-writable: anyone could replace the credential", s.Mode)
	case s.Mode&0o004 != 0 && !s.AllowWorldReadable:
		v.addf(at+".mode", "%s lets every user read the credential: use 0640 and a group to share it, or set allow_world_readable: true", s.Mode)
	}
	if v.host {
		v.fileSinkHost(at, s, match, glob, len(v.errs) == before)
	} else if s.pathTmpl != nil {
		// The sink's own checks of what its path renders to, as run
		// builds it, leaving the owner and group to the host.
		opts := file.Options{Path: s.pathTmpl, Format: string(FormatJSON), UID: -1, GID: -1}
		if len(v.errs) == before {
			opts = file.Options{
				Path: s.pathTmpl, Format: string(s.Format), Template: s.contentTmpl, Mode: s.Mode.Perm(),
				UID: -1, GID: -1, AllowWorldReadable: s.AllowWorldReadable, TakeOver: s.TakeOver,
			}
		}
		if _, err := file.New(opts); err != nil {
			v.addf(at, "%v", err)
		}
	}
}

func (v *validator) vaultSink(at string, s *Sink, match string, glob bool, targets map[string]string) {
	if s.Path == "" {
		v.addf(at+".path", "required")
	} else if v.pathTemplate(at, s, match, glob, "secret") {
		s.pathTmpl, _ = template.New("path").Parse(s.Path)
		// Address, namespace and mount join the key: the same path on two
		// mounts is two secrets, two spellings of one are one.
		v.unique(at, "vault\x00"+v.vaultTarget(s.Address, s.Namespace, s.Mount, s.Path), targets)
	}
	if s.Mount == "" {
		v.addf(at+".mount", "required (the KV v2 mount, default %s)", DefaultVaultMount)
	}
	v.vaultFlatTLS(at, s)
	authOK := v.vaultAuth(at+".auth", s.Auth)
	s.Auth.TokenFile = v.abs(s.Auth.TokenFile)
	s.Auth.SecretIDFile = v.abs(s.Auth.SecretIDFile)
	s.Auth.ServiceAccountTokenFile = v.abs(s.Auth.ServiceAccountTokenFile)
	s.TLS.CACert = v.abs(s.TLS.CACert)
	addressOK := true
	if s.Address != "" {
		if err := CheckTransport(s.Address, s.InsecureHTTP); err != nil {
			addressOK = false
			v.addf(at+".address", "%v", err)
		}
	}
	if v.host {
		v.vaultSinkHost(at, s, authOK && addressOK && s.pathTmpl != nil && s.Mount != "")
	}
}

// vaultFlatTLS moves the TLS fields written beside a vault sink's other
// fields (ca_cert, tls_server_name, insecure_skip_verify) into its tls
// block; one given both ways is an error.
func (v *validator) vaultFlatTLS(at string, s *Sink) {
	keys, tlsKeys := v.keys(at), v.keys(at+".tls")
	for _, f := range []struct {
		name string
		move func()
	}{
		{"ca_cert", func() { s.TLS.CACert = s.CACert }},
		{"tls_server_name", func() { s.TLS.ServerName = s.TLSServerName }},
		{"insecure_skip_verify", func() { s.TLS.InsecureSkipVerify = s.InsecureSkipVerify }},
	} {
		switch {
		case !keys[f.name]:
		case tlsKeys[f.name]:
			v.addf(at+"."+f.name, "given twice, here and as tls.%s: keep one", f.name)
		default:
			f.move()
		}
	}
	s.CACert, s.TLSServerName, s.InsecureSkipVerify = "", "", false
}

// Fields of each Vault auth method, in struct order, and those a method
// must have. The vault sink enforces the same rules when it is built.
var (
	vaultAuthFields = []string{"token_file", "role_id", "secret_id_file", "role", "service_account_token_file", "mount_path"}
	vaultAuthUses   = map[AuthMethod][]string{
		AuthToken:      {"token_file"},
		AuthAppRole:    {"role_id", "secret_id_file", "mount_path"},
		AuthKubernetes: {"role", "service_account_token_file", "mount_path"},
	}
	vaultAuthNeeds = map[AuthMethod][]string{
		AuthAppRole:    {"role_id", "secret_id_file"},
		AuthKubernetes: {"role"},
	}
)

// vaultAuth checks the method and which fields it uses, and reports
// whether the auth block is good.
func (v *validator) vaultAuth(at string, a VaultAuth) bool {
	method := a.Method
	if method == "" {
		method = AuthToken
	}
	uses, ok := vaultAuthUses[method]
	if !ok {
		v.addf(at+".method", "unknown method %q (want %s, %s or %s)", echo(a.Method), AuthToken, AuthAppRole, AuthKubernetes)
		return false
	}
	good := true
	values := map[string]string{
		"token_file": a.TokenFile, "role_id": a.RoleID, "secret_id_file": a.SecretIDFile,
		"role": a.Role, "service_account_token_file": a.ServiceAccountTokenFile, "mount_path": a.MountPath,
	}
	for _, f := range vaultAuthFields {
		if values[f] != "" && !slices.Contains(uses, f) {
			v.addf(at+"."+f, "not used by method %s", method)
			good = false
		}
	}
	for _, f := range vaultAuthNeeds[method] {
		if values[f] == "" {
			v.addf(at+"."+f, "required by method %s", method)
			good = false
		}
	}
	return good
}

// CheckTransport refuses a plain http:// URL whose host is not loopback
// unless insecure says so: secrets would cross the network in clear. The
// error names the URL without its credentials.
func CheckTransport(rawURL string, insecure bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || insecure || !plainhttp.ToNetwork(u) {
		return nil // other checks report a bad URL
	}
	return fmt.Errorf("%s is plain http to a host that is not loopback: secrets would cross the network in clear (use https, or set insecure_http: true for a test setup)", redact.URL(rawURL))
}

// pathTemplate checks the path template as written: it parses, it renders
// for a key name, and it depends on the name when match.name can select more
// than one key. It reports whether the template is good.
func (v *validator) pathTemplate(at string, s *Sink, match string, glob bool, noun string) bool {
	return v.nameTemplate(at+".path", s.Path, match, glob, noun, "path") != nil
}

// nameTemplate checks a template of .Name at field at (a path, a Secret
// name) and returns it parsed, or nil after reporting why not.
func (v *validator) nameTemplate(at, text, match string, glob bool, noun, what string) *template.Template {
	t, err := template.New("path").Parse(text)
	if err != nil {
		v.addf(at, "%v", err)
		return nil
	}
	probe := Sink{pathTmpl: t}
	a, err := probe.RenderPath(probeNameA)
	if err != nil {
		v.addf(at, "%s", templateError(err, pathFields, "a "+what+" sees only"))
		return nil
	}
	b, err := probe.RenderPath(probeNameB)
	if err != nil {
		v.addf(at, "%s", templateError(err, pathFields, "a "+what+" sees only"))
		return nil
	}
	if a == "" {
		v.addf(at, "renders to an empty %s", what)
		return nil
	}
	if glob && a == b {
		v.addf(at, "does not use {{.Name}}, but match.name %q can select several keys, which would all write one %s", match, noun)
		return nil
	}
	return t
}

// vaultPathsApart reports a Vault sink of p with the namespace, mount and
// path of an earlier one on another address: two secrets, but the state
// journal knows a sink by its target, which leaves the address out, so it
// could not tell their deliveries apart (the pass refuses every name).
func (v *validator) vaultPathsApart(at string, p *Policy) {
	seen := map[string]int{}
	for j, s := range p.Sinks {
		if s.Type != SinkVault || s.Path == "" {
			continue
		}
		k := v.vaultTarget("", s.Namespace, s.Mount, s.Path)
		if i, ok := seen[k]; ok {
			if v.vaultTarget(s.Address, "", "", "") != v.vaultTarget(p.Sinks[i].Address, "", "", "") {
				v.addf(fmt.Sprintf("%s.sinks[%d].path", at, j), "same namespace, mount and path as %s.sinks[%d] on another address: rotatord's state knows a Vault sink by its mount and path and could not tell the two apart (give them different paths or mounts)", at, i)
			}
			continue
		}
		seen[k] = j
	}
}

// unique reports a sink whose target an earlier sink already writes.
func (v *validator) unique(at, target string, targets map[string]string) {
	if first, dup := targets[target]; dup {
		v.addf(at+".path", "same target as %s: the two sinks would overwrite each other", first)
		return
	}
	targets[target] = at
}

// validGlob reports whether pattern is well-formed. path.Match checks the
// whole pattern even when the name does not match.
func validGlob(pattern string) bool {
	_, err := path.Match(pattern, "")
	return err == nil
}

// isUUID accepts only the canonical 36-character form, which is what the
// API returns, so Matches can compare strings.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// parseSchedule is cron.ParseStandard without its panic: robfig/cron
// v3.0.1 slices out of range on a TZ= prefix with nothing after it.
func parseSchedule(spec string) (s cron.Schedule, err error) {
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, fmt.Errorf("time zone without a schedule after it")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("unparsable: %v", r)
		}
	}()
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		// The file's durations everywhere, days and weeks included.
		d, err := ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("@every needs a positive duration, got %s", strings.TrimSpace(rest))
		}
		return cron.Every(d.Duration()), nil
	}
	return cron.ParseStandard(sundayAsSeven(spec))
}

// sundayAsSeven rewrites 7 in the day-of-week field of a five-field spec
// as 0: cron(8), and the crontab lines operators copy, read 7 as Sunday,
// where robfig/cron knows 0-6 only. "7" and "7-7" become "0" and a range
// "a-7" from a day 0-6 "a-6,0"; anything else (a stepped range, a range
// from 8) is left for the parser to judge.
func sundayAsSeven(spec string) string {
	prefix, rest := "", spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		zone, after, _ := strings.Cut(spec, " ")
		prefix, rest = zone+" ", after
	}
	fields := strings.Fields(rest)
	if len(fields) != 5 {
		return spec
	}
	days := strings.Split(fields[4], ",")
	for i, d := range days {
		switch {
		case d == "7" || d == "7-7":
			days[i] = "0"
		case strings.HasSuffix(d, "-7") && weekday(strings.TrimSuffix(d, "-7")):
			days[i] = strings.TrimSuffix(d, "-7") + "-6,0"
		}
	}
	fields[4] = strings.Join(days, ",")
	return prefix + strings.Join(fields, " ")
}

// weekday says whether d is a day of the week robfig/cron knows (0 to 6,
// or a name): a range from anything else to 7 is left for the parser to
// refuse in the file's own words.
func weekday(d string) bool {
	if n, err := strconv.Atoi(d); err == nil {
		return n >= 0 && n <= 6
	}
	return slices.Contains([]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, strings.ToLower(d))
}

// stringer lets a plain string stand where written wants a fallback.
type stringer string

func (s stringer) String() string { return string(s) }

func noEnv(string) string { return "" }

// Fields a template can use: a sink path sees PathData, a content template
// what the file sink gives it (sinks/file templateData), with a sample of
// each so that executing the template finds a field that does not exist.
var (
	pathFields    = []string{"Name"}
	contentFields = []string{"Name", "APIKey", "APISecret", "RoleID", "CreatedAt"}
	sampleContent = struct {
		Name, APIKey, APISecret, RoleID string
		CreatedAt                       time.Time
	}{"example", "EXO0123456789abcdef01234567", "sample-secret", "00000000-0000-0000-0000-000000000000", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cantEvaluateRE = regexp.MustCompile(`can't evaluate field (\w+) in type (\S+)`)
	// Go's words for a template's whole data: its type, and its value as
	// range prints it.
	goDataRE = regexp.MustCompile(`config\.PathData|struct \{[^{}]*\}|(range can't iterate over )\{[^{}]*\}`)
)

// templateError says what went wrong executing a template in the file's
// terms: a field the data does not have is named as the template writes it
// (.Nmae), with the nearest field suggested.
func templateError(err error, fields []string, sees string) string {
	dotted := make([]string, len(fields))
	for i, f := range fields {
		dotted[i] = "." + f
	}
	m := cantEvaluateRE.FindStringSubmatch(err.Error())
	if m == nil {
		// The template used its whole data (len ., range .): named by
		// its fields, not by Go's type nor by the sample values.
		return goDataRE.ReplaceAllString(err.Error(), "${1}the template's data ("+strings.Join(dotted, ", ")+")")
	}
	if !strings.HasPrefix(m[2], "config.") && !strings.HasPrefix(m[2], "struct") {
		// A field of a field (.CreatedAt.Yaer): name the type by what it is.
		return fmt.Sprintf("unknown template field .%s of a %s value", m[1], m[2])
	}
	if s := nearest(m[1], fields); s != "" {
		return fmt.Sprintf("unknown template field .%s (did you mean .%s?)", m[1], s)
	}
	return fmt.Sprintf("unknown template field .%s (%s %s)", m[1], sees, strings.Join(dotted, ", "))
}

// SinkFieldsNotFor returns the fields of other sink types that a sink of
// type t must not set, for the JSON Schema.
func SinkFieldsNotFor(t SinkType) []string { return sinkFieldsNotFor(t) }

// SinkTypes lists the sink types.
func SinkTypes() []SinkType { return slices.Clone(sinkTypes) }

// VaultAuthFields returns the auth fields a Vault auth method uses and
// those it requires (besides method), for the JSON Schema.
func VaultAuthFields(m AuthMethod) (uses, needs []string) {
	return slices.Clone(vaultAuthUses[m]), slices.Clone(vaultAuthNeeds[m])
}

// PolicyNamePattern is the regular expression a policy name must match.
func PolicyNamePattern() string { return policyNameRE.String() }

// ownKeyAnywhere says whether some account rotates rotatord's own key: a
// file with nothing else to do is still one with work.
func ownKeyAnywhere(c *Config) bool {
	if c.Exoscale.OwnKey != nil {
		return true
	}
	for i := range c.Accounts {
		if c.Accounts[i].OwnKey != nil {
			return true
		}
	}
	return false
}

// unwrapOpError drops net.OpError's "listen tcp ADDR:" prefix, which would
// show the probe's port 0 rather than the address as written.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
