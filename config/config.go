// Package config owns rotatord's policy file: its schema, defaults, strict
// decoding and validation.
//
// Load and Parse return a *Config only when the whole file is valid;
// otherwise they return a *Errors listing every problem with its file, line
// and field path: those of decoding (unknown fields, wrong types) and of
// validation together, in the file's terms. Validate is `rotatord
// validate`: the same problems, the warnings (a schedule too rare for
// max_age), and with ValidateOptions.Host what depends on the machine
// (credentials, owners, sink directories, the state directory).
//
// Two policies whose match can select the same API key are allowed: globs
// cannot in general be checked for overlap, and a catch-all policy next to
// narrower ones is a reasonable layout; the engine decides how such a key
// is handled. Two sinks that would write the same file (or Vault secret)
// are rejected, because they would overwrite each other.
package config

//go:generate go run ./schema/gen -o rotatord.schema.json

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/internal/window"
	"github.com/rotatord/rotatord/secret"
)

// Defaults. A setting left out of the file (or set to null) takes these
// values; the Default* variables below group them per section so that they
// can be applied before decoding.
const (
	DefaultZone        = apiclient.DefaultZone
	DefaultTimeout     = Duration(30 * time.Second)
	DefaultRateLimit   = 1000.0 // requests per second: the ceiling of the adaptive rate (apiclient)
	DefaultConcurrency = 4
	DefaultMaxRetries  = 4
	DefaultStateDir    = "/var/lib/rotatord"
	DefaultListen      = "127.0.0.1:9108"
	DefaultSchedule    = "@every 1h"
	DefaultMaxAge      = Duration(720 * time.Hour)
	DefaultGracePeriod = Duration(time.Hour)
	DefaultAdopt       = AdoptWait
	DefaultFormat      = FormatJSON
	DefaultMode        = FileMode(0o600)
	DefaultVaultMount  = "secret"
)

// Limits of the numeric settings.
const (
	MaxConcurrency = 64
	MaxMaxRetries  = 10
)

var (
	// DefaultConfig is what Parse starts from before it decodes the file.
	DefaultConfig = Config{
		Exoscale: DefaultExoscale,
		StateDir: DefaultStateDir,
		Listen:   DefaultListen,
	}
	// DefaultExoscale holds the API client defaults.
	DefaultExoscale = Exoscale{
		Zone:        DefaultZone,
		Timeout:     DefaultTimeout,
		RateLimit:   DefaultRateLimit,
		Concurrency: DefaultConcurrency,
		MaxRetries:  DefaultMaxRetries,
	}
	// DefaultPolicy is what each entry of policies starts from.
	DefaultPolicy = Policy{
		Schedule:    DefaultSchedule,
		MaxAge:      DefaultMaxAge,
		GracePeriod: DefaultGracePeriod,
		Adopt:       DefaultAdopt,
	}
	// DefaultFileSink is what each sink of type file starts from.
	DefaultFileSink = Sink{Type: SinkFile, Format: DefaultFormat, Mode: DefaultMode}
	// DefaultVaultSink is what each sink of type vault starts from.
	DefaultVaultSink = Sink{Type: SinkVault, Mount: DefaultVaultMount}
	// DefaultKubernetesSink writes api_key and api_secret data keys.
	DefaultKubernetesSink = Sink{Type: SinkKubernetes}
	// DefaultOwnKey is what exoscale.own_key starts from.
	DefaultOwnKey = OwnKey{Schedule: DefaultSchedule, MaxAge: DefaultMaxAge, GracePeriod: DefaultGracePeriod}
)

// Config is a loaded, valid policy file. Relative paths in it have been
// made absolute against the file's directory.
type Config struct {
	Exoscale Exoscale `yaml:"exoscale"`
	// StateDir holds rotatord's durable state.
	StateDir string `yaml:"state_dir"`
	// Listen is the host:port of the metrics and health HTTP server.
	Listen   string   `yaml:"listen"`
	Policies []Policy `yaml:"policies"`
	// Accounts are further Exoscale organizations, each with its own
	// credential; the exoscale block is the one named "default".
	Accounts []Account `yaml:"accounts,omitempty"`
	// State chooses where the journal lives: state_dir (the default), or
	// objects in the Kubernetes API.
	State State `yaml:"state,omitempty"`
	// LeaderElection runs rotatord as one of several replicas: only the
	// one holding a coordination.k8s.io Lease acts.
	LeaderElection *LeaderElection `yaml:"leader_election,omitempty"`

	// defaultUsed: the file has an exoscale block, or a policy of the
	// default account, or no accounts at all.
	defaultUsed bool
}

// DefaultAccount names the account of the exoscale block.
const DefaultAccount = "default"

// Account is one Exoscale organization rotatord works on: the settings of
// the exoscale block, under a name policies refer to.
type Account struct {
	Name     string `yaml:"name"`
	Exoscale `yaml:",inline"`
}

// NamedAccount is an account in force, with its name.
type NamedAccount struct {
	Name string
	*Exoscale
}

// AccountsInUse returns the accounts of a valid config: the default one
// (the exoscale block) first when the file uses it, then accounts in file
// order.
func (c *Config) AccountsInUse() []NamedAccount {
	var out []NamedAccount
	if c.defaultUsed || len(c.Accounts) == 0 {
		out = append(out, NamedAccount{Name: DefaultAccount, Exoscale: &c.Exoscale})
	}
	for i := range c.Accounts {
		out = append(out, NamedAccount{Name: c.Accounts[i].Name, Exoscale: &c.Accounts[i].Exoscale})
	}
	return out
}

// AccountOf returns the name of the account a policy works on.
func (p *Policy) AccountOf() string {
	if p.Account == "" {
		return DefaultAccount
	}
	return p.Account
}

// SelfPolicyName is the policy name the own key of an account rotates
// under: "_self" for the default account, "_self-NAME" for the others.
// Policy names start with a letter or digit, so no policy takes it.
func SelfPolicyName(account string) string {
	if account == DefaultAccount || account == "" {
		return SelfPolicy
	}
	return SelfPolicy + "-" + account
}

// AccountStateDir is where an account's state records live: the state
// directory itself for the default account (as before accounts existed),
// accounts/NAME under it for the others.
func (c *Config) AccountStateDir(account string) string {
	if account == DefaultAccount {
		return c.StateDir
	}
	return filepath.Join(c.StateDir, "accounts", account)
}

// Exoscale configures the API client and the credential it signs with.
type Exoscale struct {
	// Zone picks the API endpoint; API keys are global to the organization.
	Zone string `yaml:"zone"`
	// Endpoint, when set, replaces the zone's endpoint (a test server, a
	// proxy). Its path must end in /v2; a bare host means its /v2.
	Endpoint string `yaml:"endpoint,omitempty"`
	// APIKey or APIKeyFile, else EXOSCALE_API_KEY at runtime.
	APIKey     string `yaml:"api_key,omitempty"`
	APIKeyFile string `yaml:"api_key_file,omitempty"`
	// APISecret or APISecretFile, else EXOSCALE_API_SECRET at runtime.
	APISecret     secret.Value `yaml:"api_secret,omitempty"`
	APISecretFile string       `yaml:"api_secret_file,omitempty"`
	// Timeout bounds one API request.
	Timeout Duration `yaml:"timeout"`
	// RateLimit is the most API requests per second rotatord sends: the
	// ceiling of a rate that adapts to the API's 429 and 503 answers.
	RateLimit float64 `yaml:"rate_limit"`
	// Concurrency is the most requests in flight: the ceiling of a number
	// that adapts to the API's 429 and 503 answers. A pass handles twice
	// as many key names at once, so the API stays busy while rotations
	// write their state and sinks.
	Concurrency int `yaml:"concurrency"`
	// MaxRetries is how many times a failed request may be retried.
	MaxRetries int `yaml:"max_retries"`
	// InsecureHTTP allows a plain http:// endpoint on a host other than
	// loopback. Requests are signed, but answers carry new secrets in
	// clear: for tests behind a trusted proxy only, and logged loudly.
	InsecureHTTP bool `yaml:"insecure_http,omitempty"`

	endpoint string // resolved API base URL

	// CredentialFrom says that rotatord's credential lives in a store it
	// can write, instead of api_key/api_secret or the environment: "file"
	// (CredentialFile) or "vault" (CredentialVault). Own-key rotation
	// needs one: it writes each new credential of its own back there.
	// Setting credential_file alone means "file".
	CredentialFrom CredentialStore `yaml:"credential_from,omitempty"`
	// CredentialFile is one JSON file holding the key and its secret
	// together ({"api_key": "EXO...", "api_secret": "..."}), replaced
	// atomically so the pair is never torn.
	CredentialFile string `yaml:"credential_file,omitempty"`
	// CredentialVault is the Vault KV v2 secret holding the credential,
	// with the connection and auth settings of a vault sink; its path is
	// one secret, not a template.
	CredentialVault *Sink `yaml:"credential_vault,omitempty"`
	// OwnKey, when set, makes rotatord rotate the key it signs with.
	OwnKey *OwnKey `yaml:"own_key,omitempty"`
}

// CredentialStore is where rotatord's own credential lives.
type CredentialStore string

// Credential stores.
const (
	CredentialFromFile  CredentialStore = "file"
	CredentialFromVault CredentialStore = "vault"
)

// SelfPolicy is the policy name own-key rotation runs under: in metrics,
// state and logs. Policy names start with a letter or digit, so no policy
// of the file can take it.
const SelfPolicy = "_self"

// OwnKey configures the rotation of the key rotatord signs with. It is
// rotated like a policy's key, last in a pass, and only when no other
// rotation is in flight.
type OwnKey struct {
	Schedule    string   `yaml:"schedule"`
	MaxAge      Duration `yaml:"max_age"`
	GracePeriod Duration `yaml:"grace_period"`

	schedule cron.Schedule
}

// CronSchedule returns the parsed schedule of a valid config.
func (o *OwnKey) CronSchedule() cron.Schedule { return o.schedule }

// Adopt says what a policy does with a matching key it did not create and
// has no state for.
type Adopt string

// Adopt values.
const (
	// AdoptWait tracks the key from now on and rotates it once it is
	// max_age old, counting from when rotatord first saw it.
	AdoptWait Adopt = "wait"
	// AdoptRotate rotates the key at the policy's next run.
	AdoptRotate Adopt = "rotate"
)

// Policy selects API keys by name (and optionally role) and says how often
// they are rotated and where the new secrets go.
type Policy struct {
	// Name identifies the policy in metrics labels and state files.
	Name string `yaml:"name"`
	// Account names the entry of accounts whose keys the policy rotates;
	// empty for the exoscale block's ("default").
	Account string `yaml:"account,omitempty"`
	Match   Match  `yaml:"match"`
	// Schedule is when the policy runs: a 5-field cron spec or a
	// descriptor such as @hourly or @every 10m.
	Schedule string `yaml:"schedule"`
	// MaxAge is the age at which a key is rotated.
	MaxAge Duration `yaml:"max_age"`
	// GracePeriod is how long the old key keeps working after its
	// replacement is delivered, so consumers can pick the new one up.
	GracePeriod Duration `yaml:"grace_period"`
	Adopt       Adopt    `yaml:"adopt"`
	Sinks       []Sink   `yaml:"sinks"`
	// Windows are when replacements may be created and old keys deleted
	// (any of them); none: at any time.
	Windows []Window `yaml:"windows,omitempty"`
	// Jitter spreads the names' due times over up to this much, by a
	// hash of each name: keys created together do not all rotate at once.
	Jitter Duration `yaml:"jitter,omitempty"`
	// SinkCheck, when set, is how often the policy's passes read every
	// sink of a name between its rotations: a sink found without the
	// current key gets it back from another sink, or the name rotates.
	SinkCheck Duration `yaml:"sink_check,omitempty"`
	// Hooks run after delivery, before the old keys are deleted (a
	// failure keeps them: the consumer check) and on failure.
	Hooks []Hook `yaml:"hooks,omitempty"`

	schedule cron.Schedule
	windows  window.Set
}

// Window is a weekly maintenance window: days of the week and a time of
// day range in an IANA time zone.
type Window struct {
	// Days: mon, tue, ..., ranges such as mon-fri, or "*".
	Days []string `yaml:"days"`
	// Start and End are times of day, "09:00" and "16:00"; an End before
	// Start runs past midnight, an End equal to Start is the whole day.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// TimeZone is an IANA name (Europe/Zurich); default UTC.
	TimeZone string `yaml:"time_zone,omitempty"`
}

// Hook is a policy's hook: a program or a webhook, at an event.
type Hook struct {
	// Event: after_delivery, before_delete or on_failure.
	Event   string       `yaml:"event"`
	Exec    *ExecHook    `yaml:"exec,omitempty"`
	Webhook *WebhookHook `yaml:"webhook,omitempty"`
}

// ExecHook runs a program, with no shell.
type ExecHook struct {
	Command []string `yaml:"command"`
	Timeout Duration `yaml:"timeout,omitempty"` // default 30s
}

// WebhookHook POSTs the event as JSON, signed with HMAC-SHA256.
type WebhookHook struct {
	URL     string   `yaml:"url"`
	KeyFile string   `yaml:"key_file"`
	Timeout Duration `yaml:"timeout,omitempty"` // default 10s
	Retries int      `yaml:"retries,omitempty"`
}

// WindowSet returns the parsed windows of a valid config (empty: always).
func (p *Policy) WindowSet() window.Set { return p.windows }

// Match selects API keys.
type Match struct {
	// Name is a path.Match glob over key names ("ci-*"), whose "*" and "?"
	// also match "/": key names are not paths.
	Name string `yaml:"name"`
	// RoleID, when set, also requires the key to have this IAM role.
	RoleID string `yaml:"role_id,omitempty"`
	// Exclude lists globs of key names the policy leaves alone.
	Exclude []string `yaml:"exclude,omitempty"`
}

// SinkType is the kind of a sink.
type SinkType string

// Sink types.
const (
	SinkFile       SinkType = "file"
	SinkVault      SinkType = "vault"
	SinkKubernetes SinkType = "kubernetes"
)

// Format is how a file sink lays out the credential.
type Format string

// File formats.
const (
	FormatJSON         Format = "json"
	FormatEnv          Format = "env"
	FormatExoscaleTOML Format = "exoscale-toml"
	FormatTemplate     Format = "template"
)

// AuthMethod is how a vault sink logs in to Vault.
type AuthMethod string

// Vault auth methods.
const (
	AuthToken      AuthMethod = "token"
	AuthAppRole    AuthMethod = "approle"
	AuthKubernetes AuthMethod = "kubernetes"
)

// Sink is one place a policy delivers new secrets to. One struct carries
// the fields of every type so the YAML stays flat; a field of the other
// type is rejected at load.
type Sink struct {
	Type SinkType `yaml:"type"`
	// Path is a text/template with .Name (the key name): for a file sink
	// the file (relative paths resolve against the config directory), for a
	// vault sink the secret path under Mount.
	Path string `yaml:"path"`

	// File sink.
	Format   Format   `yaml:"format,omitempty"`
	Template string   `yaml:"template,omitempty"` // text/template, only for format template
	Mode     FileMode `yaml:"mode,omitempty"`
	Owner    string   `yaml:"owner,omitempty"` // user name or uid
	Group    string   `yaml:"group,omitempty"` // group name or gid
	// AllowWorldReadable lets mode grant read to all users. Refused by
	// default: group-readable (0640) is the way to share a credential.
	AllowWorldReadable bool `yaml:"allow_world_readable,omitempty"`

	// Both: replace a credential rotatord did not write (a file it did not
	// create, a Vault secret without its marker) instead of refusing.
	TakeOver bool `yaml:"take_over,omitempty"`

	// Vault sink (KV v2).
	Address   string    `yaml:"address,omitempty"` // empty: VAULT_ADDR
	Namespace string    `yaml:"namespace,omitempty"`
	Mount     string    `yaml:"mount,omitempty"`
	Auth      VaultAuth `yaml:"auth,omitempty"`
	TLS       VaultTLS  `yaml:"tls,omitempty"`
	// CACert, TLSServerName and InsecureSkipVerify are the fields of TLS
	// written beside the sink's other fields, as the issue that specified
	// the Vault sink lists them; validation moves them into TLS. Each
	// setting may be given one way only.
	CACert             string `yaml:"ca_cert,omitempty"`
	TLSServerName      string `yaml:"tls_server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	// InsecureHTTP allows a plain http:// Vault address on a host other
	// than loopback: secrets would cross the network in clear. Logged loudly.
	InsecureHTTP bool `yaml:"insecure_http,omitempty"`

	// Kubernetes sink (a Secret). Namespace is the Secret's namespace.
	// Name is a text/template with .Name: the Secret's name.
	Name string `yaml:"name,omitempty"`
	// Keys names the data keys of the key id and the secret; Key (with
	// Format) puts the credential as one rendered document in one data key.
	Keys        *SecretKeys       `yaml:"keys,omitempty"`
	Key         string            `yaml:"key,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
	// Kubeconfig and Context select the cluster when rotatord runs outside
	// it; empty is the in-cluster configuration.
	Kubeconfig string `yaml:"kubeconfig,omitempty"`
	Context    string `yaml:"context,omitempty"`
	// Restart lists workloads whose pods are restarted after a delivery.
	Restart []Workload `yaml:"restart,omitempty"`

	pathTmpl    *template.Template
	contentTmpl *template.Template
	nameTmpl    *template.Template
}

// SecretKeys are the data keys of a Kubernetes Secret sink.
type SecretKeys struct {
	APIKey    string `yaml:"api_key,omitempty"`
	APISecret string `yaml:"api_secret,omitempty"`
}

// Workload is a Deployment, StatefulSet or DaemonSet in the sink's
// namespace to restart after a delivery.
type Workload struct {
	Kind string `yaml:"kind"`
	Name string `yaml:"name"`
}

// VaultAuth configures how a vault sink logs in. The vault sink owns the
// rules between these fields; config only checks the method's name.
type VaultAuth struct {
	Method                  AuthMethod `yaml:"method,omitempty"`
	TokenFile               string     `yaml:"token_file,omitempty"`
	RoleID                  string     `yaml:"role_id,omitempty"`
	SecretIDFile            string     `yaml:"secret_id_file,omitempty"`
	Role                    string     `yaml:"role,omitempty"`
	ServiceAccountTokenFile string     `yaml:"service_account_token_file,omitempty"`
	MountPath               string     `yaml:"mount_path,omitempty"`
}

// VaultTLS configures the TLS client of a vault sink.
type VaultTLS struct {
	CACert             string `yaml:"ca_cert,omitempty"`
	ServerName         string `yaml:"tls_server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// PathData is what a sink's path template sees. It holds only the name: a
// path must stay the same across rotations of one key, or the sink could not
// find what it wrote before.
type PathData struct {
	Name string
}

// Load reads, parses, applies defaults to and validates the policy file at
// filename. Relative paths in it resolve against the file's directory.
func Load(filename string) (*Config, error) {
	data, err := ReadPolicyFile(filename)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, filename, filepath.Dir(filename))
}

// CredentialSource returns where the API credential comes from.
func (c *Config) CredentialSource() apiclient.CredentialSource { return c.Exoscale.CredentialSource() }

// CredentialSource returns where an account's API credential comes from
// (credential_from vault aside, which the daemon reads through its sink).
func (e *Exoscale) CredentialSource() apiclient.CredentialSource {
	if e.CredentialFrom == CredentialFromFile {
		return apiclient.CredentialSource{PairFile: e.CredentialFile}
	}
	return apiclient.CredentialSource{
		Key:        e.APIKey,
		KeyFile:    e.APIKeyFile,
		Secret:     e.APISecret,
		SecretFile: e.APISecretFile,
	}
}

// Endpoint returns the API base URL, resolved from exoscale.endpoint or
// exoscale.zone.
func (c *Config) Endpoint() string { return c.Exoscale.endpoint }

// ResolvedEndpoint returns the API base URL of a valid account, resolved
// from its endpoint or zone.
func (e *Exoscale) ResolvedEndpoint() string { return e.endpoint }

// Matches reports whether the policy selects the API key with this name and
// IAM role ID.
func (p *Policy) Matches(name, roleID string) bool {
	if !globMatch(p.Match.Name, name) {
		return false
	}
	if p.Match.RoleID != "" && !strings.EqualFold(p.Match.RoleID, roleID) {
		return false
	}
	for _, ex := range p.Match.Exclude {
		if globMatch(ex, name) {
			return false
		}
	}
	return true
}

// CronSchedule returns the parsed Schedule.
func (p *Policy) CronSchedule() cron.Schedule { return p.schedule }

// PathTemplate returns the parsed Path, to be executed with PathData.
func (s *Sink) PathTemplate() *template.Template { return s.pathTmpl }

// NameTemplate returns the parsed name template of a Kubernetes sink.
func (s *Sink) NameTemplate() *template.Template { return s.nameTmpl }

// ContentTemplate returns the parsed Template of a file sink with format
// template, and nil otherwise.
func (s *Sink) ContentTemplate() *template.Template { return s.contentTmpl }

// RenderPath returns the sink's path for the key with this name.
func (s *Sink) RenderPath(name string) (string, error) {
	if s.pathTmpl == nil {
		return "", errors.New("sink path template not parsed: use a Sink from Load or Parse")
	}
	var b strings.Builder
	if err := s.pathTmpl.Execute(&limitWriter{w: &b, n: maxPathLen}, PathData{Name: name}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// MaxPolicyFile is the largest policy file rotatord reads.
const MaxPolicyFile = 16 << 20

// ReadPolicyFile reads the policy file at path without blocking, a
// regular file only (secret.ReadFile): a named pipe planted there would
// hold validate, the start or a reload until someone wrote to it. A file
// every user may write is refused: it decides where secrets go and which
// programs hooks run, as the state directory decides which keys go.
//
// So is a file in a directory every user may write without the sticky
// bit (that of path, and that of the file a symlink leads to), unless on
// a read-only mount: anyone could replace the file there.
func ReadPolicyFile(path string) ([]byte, error) {
	data, err := secret.ReadFile(path, secret.FileOptions{Max: MaxPolicyFile, Forbid: 0o002})
	if err != nil {
		return nil, err
	}
	if err := CheckReplaceable(path); err != nil {
		return nil, err
	}
	return data, nil
}

// CheckReplaceable refuses a file (the policy file, the web configuration
// file) in a directory every user may write without the sticky bit (that
// of path, and that of the file a symlink leads to), unless on a
// read-only mount: anyone could replace the file there. The error is an
// *fs.PathError naming the file, the directory and its mode.
func CheckReplaceable(path string) error {
	dirs := []string{filepath.Dir(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err == nil && fi.Mode().Perm()&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 && !secret.OnReadOnlyMount(dir) {
			return &fs.PathError{Op: "open", Path: secret.ShownPath(path),
				Err: fmt.Errorf("it is in %s, which everyone may write (mode %04o): anyone could replace it", secret.ShownPath(dir), fi.Mode().Perm())}
		}
	}
	return nil
}
