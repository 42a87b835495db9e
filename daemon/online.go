package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks"
)

// Operations rotatord needs the role of its own API key to allow. Only the
// listing can be proven without changing anything: the API has no dry run
// for create and delete.
var neededOperations = []string{
	apiclient.OpListKeys, apiclient.OpCreateKey, apiclient.OpGetKey, apiclient.OpDeleteKey, apiclient.OpGetOperation,
	// The organization check (rotation/organization.go) lists the roles
	// when a listing shares no key and no role with the journal; refused,
	// the passes stop.
	apiclient.OpListRoles,
}

// maxProbesPerSink bounds the key names probed on one sink, so that a
// policy over thousands of keys does not send thousands of Vault requests.
const maxProbesPerSink = 20

// CheckOnline is `rotatord validate --online`: with a valid cfg (from
// config.Validate or config.Load), it proves the API credential with a
// signed listing of the API keys and says what it can learn of its role,
// probes every sink for the key names the policies manage today (a Vault
// sink: login, token capabilities, the mount being KV v2, the secret being
// rotatord's or absent; a file sink: its directory opened the way a write
// opens it, the target one the write may replace, and this user allowed to
// create files there; a Kubernetes
// Secret sink: ownership, RBAC, and a missing Secret created as a dry run,
// which proves its namespace exists), and prints what
// a pass would do now, from the daemon's read-only plan (state opened
// without its lock, a dry-run pass).
//
// It creates and deletes nothing: no API key, no file, no Vault secret,
// no state record. (A Vault AppRole or Kubernetes login makes a token,
// which is revoked when the sink is closed at the end.) Everything it
// finds goes to w; the error says how many problems there were.
func CheckOnline(ctx context.Context, cfg *config.Config, getenv func(string) string, w io.Writer) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	warned := &warnings{}
	d, err := newReadOnly(cfg, getenv, warned.logger())
	if err != nil {
		fmt.Fprintf(w, "FAIL  setup: %s\n", printable.Line(err.Error()))
		return fmt.Errorf("online check: %w", err)
	}
	defer d.Close()
	s := d.setup()
	problems := 0
	// Each line holds what others chose (role names, the API's and
	// Vault's error messages, key names): escaped, so that it stays one
	// line and cannot rewrite the terminal or forge an "ok" line.
	line := func(prefix, format string, args ...any) {
		fmt.Fprintln(w, prefix+printable.Line(fmt.Sprintf(format, args...)))
	}
	fail := func(format string, args ...any) {
		problems++
		line("FAIL  ", format, args...)
	}
	ok := func(format string, args ...any) { line("ok    ", format, args...) }
	note := func(format string, args ...any) { line("      ", format, args...) }

	// Each credential: a signed request that changes nothing.
	several := len(s.accounts) > 1
	for _, as := range s.accounts {
		what := "credential"
		if several {
			what = "account " + as.name + ": credential"
		}
		if as.err != nil {
			fail("%s: %v", what, as.err)
			continue
		}
		endpoint := apiclient.RedactURL(as.exo.ResolvedEndpoint())
		keys, err := as.api.ListKeys(ctx)
		if err != nil {
			fail("%s %s: listing the API keys at %s: %v", what, as.ownKeyID, endpoint, err)
			if !several {
				return fmt.Errorf("online check: the API credential does not work: %w", err)
			}
			continue
		}
		ok("%s %s: signed a listing of %d API keys at %s", what, as.ownKeyID, len(keys), endpoint)
		d.reportRole(ctx, as, keys, ok, note)
	}

	// The plan, before the sinks: it says which names each policy manages.
	out, err := d.RunPass(ctx, nil, rotation.Options{DryRun: true})
	if err != nil {
		fail("plan: %v", err)
		if len(out) == 0 {
			return fmt.Errorf("online check: %d problems", problems)
		}
	}
	names := map[string][]string{}
	for _, o := range out {
		names[o.Policy] = append(names[o.Policy], o.Name)
	}

	// Warnings logged before the sinks' probes (the setup's, the plan's)
	// are not the probes': dropped, as before.
	warned.take()
	built := map[string]rotation.Policy{}
	for _, p := range s.allPolicies() {
		built[p.Name] = p
	}
	for i := range cfg.Policies {
		pc := &cfg.Policies[i]
		p, isBuilt := built[pc.Name]
		if !isBuilt {
			continue // its account was left out, reported above
		}
		probe := names[p.Name]
		if len(probe) == 0 {
			probe = []string{sampleName(pc)}
			note("policy %s: no API key matches today; probing its sinks for the name %q", p.Name, probe[0])
		}
		for j, sk := range p.Sinks {
			label := fmt.Sprintf("policy %s sink %s", p.Name, rotation.SinkLabel(j, sk.Kind()))
			n := probe
			if len(n) > maxProbesPerSink {
				note("%s: probing %d of %d names", label, maxProbesPerSink, len(n))
				n = n[:maxProbesPerSink]
			}
			for _, name := range n {
				target := sk.Target(name)
				if err := probeSink(ctx, sk, name); err != nil {
					fail("%s: %s: %v", label, target, err)
				} else {
					ok("%s: %s", label, target)
				}
				// What the sink warns of in run's log (a Vault that
				// ignores the namespace, an auth file others can read).
				for _, wl := range warned.take() {
					note("%s: warning: %s", label, wl)
				}
			}
		}
	}

	// The own key's credential store is its policy's one sink: a store
	// run could not write fails every own-key rotation at its probe.
	for _, p := range s.allPolicies() {
		if p.Self == nil || len(p.Sinks) == 0 {
			continue
		}
		name := ""
		if n := names[p.Name]; len(n) > 0 {
			name = n[0]
		}
		sk := p.Sinks[0]
		label := fmt.Sprintf("policy %s credential store %s", p.Name, rotation.SinkLabel(0, sk.Kind()))
		if err := probeSink(ctx, sk, name); err != nil {
			fail("%s: %s: %v", label, sk.Target(name), err)
		} else {
			ok("%s: %s", label, sk.Target(name))
		}
		for _, wl := range warned.take() {
			note("%s: warning: %s", label, wl)
		}
	}

	fmt.Fprintln(w)
	printPlan(w, out, d.Now())
	if problems > 0 {
		return fmt.Errorf("online check: %d problems", problems)
	}
	return nil
}

// newReadOnly is New with ReadOnly for a config already loaded: the state
// opened without its lock, the engine read-only, the client and sinks
// built by build as for a start.
func newReadOnly(cfg *config.Config, getenv func(string) string, log *zap.Logger) (*Daemon, error) {
	opts := Options{
		Logger: log, Registry: prometheus.NewRegistry(), Getenv: getenv,
		ShutdownTimeout: 30 * time.Second, DeleteCheckInterval: 15 * time.Second,
		Now: time.Now, ReadOnly: true, CallerReports: true,
	}
	return newWithConfig(opts, cfg)
}

// reportRole says what can be learnt of the credential's role without
// changing anything: its id from the listing, its name when the role may
// list IAM roles. The operations a role allows are in its IAM policy,
// which this client does not read; so it says which ones rotatord needs
// and which one was proven.
func (d *Daemon) reportRole(ctx context.Context, s *accountSetup, keys []apiclient.Key, ok, note func(string, ...any)) {
	i := slices.IndexFunc(keys, func(k apiclient.Key) bool { return k.ID == s.ownKeyID })
	switch {
	case i < 0:
		note("the credential's own key is not in the listing: its role is unknown")
	case keys[i].RoleID == "":
		note("the credential's key %q has no IAM role", keys[i].Name)
	default:
		roleID := keys[i].RoleID
		roles, err := s.api.ListRoles(ctx)
		if err != nil {
			note("the credential's key %q has IAM role %s (listing the roles to name it was refused: %v)", keys[i].Name, roleID, err)
			break
		}
		name := ""
		for _, r := range roles {
			if strings.EqualFold(r.ID, roleID) {
				name = r.Name
			}
		}
		ok("the credential's key %q has IAM role %s (%s)", keys[i].Name, roleID, name)
	}
	note("rotatord needs the role to allow %s; only %s is proven here (create and delete have no dry run)",
		strings.Join(neededOperations, ", "), apiclient.OpListKeys)
}

// probeSink checks that a write for name would work, changing nothing. A
// Vault sink's Probe writes nothing. A file sink's Probe creates and
// removes a temp file, so here its directory is opened the way a write
// opens it (Read: the symlink and writer rules), the target is checked as
// the probe checks it (Check), and this user must be allowed to create
// files there.
func probeSink(ctx context.Context, sk sinks.Sink, name string) error {
	if sk.Kind() != "file" {
		return sk.Probe(ctx, name)
	}
	target := sk.Target(name)
	_, err := sk.Read(ctx, name)
	switch {
	case err == nil, errors.Is(err, sinks.ErrNotHeld), errors.Is(err, sinks.ErrUnreadable):
	default:
		// The caller names the target already.
		return errors.New(strings.TrimPrefix(err.Error(), "read "+target+": "))
	}
	// What the rotation's probe refuses before its temp file: one of
	// rotatord's own files, a file rotatord did not write (take_over).
	if c, ok := sk.(interface {
		Check(context.Context, string) error
	}); ok {
		if err := c.Check(ctx, name); err != nil {
			return err
		}
	}
	dir := filepath.Dir(target)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("directory %s: this user (uid %d) cannot create files in it: %w", dir, os.Geteuid(), err)
	}
	return nil
}

// sampleName is a name the policy could manage, for probing its sinks when
// no key matches yet: match.name itself when it is no glob.
func sampleName(p *config.Policy) string {
	if !strings.ContainsAny(p.Match.Name, "*?[") {
		return p.Match.Name
	}
	r := strings.NewReplacer("*", "example", "?", "x")
	if n := r.Replace(p.Match.Name); !strings.Contains(n, "[") {
		return n
	}
	return "example"
}

// printPlan prints what a pass would do now, one line per key name.
func printPlan(w io.Writer, out []rotation.Outcome, now time.Time) {
	if len(out) == 0 {
		fmt.Fprintln(w, "plan: no API key matches a policy")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tNAME\tACTION\tREASON\tDUE")
	for _, o := range out {
		due := "-"
		if !o.Decision.Due.IsZero() {
			due = o.Decision.Due.Sub(now).Round(time.Second).String()
			if o.Decision.Due.Before(now) {
				due = "now"
			}
		}
		reason := string(o.Decision.Reason)
		if o.Err != nil {
			reason = "error: " + o.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Policy, printable.Line(o.Name), o.Decision.Action, printable.Line(reason), due)
	}
	tw.Flush()
}

// warnings collects what is logged at warning level or above during an
// online check, one line each (message and fields), for the check to
// print next to the sink that logged it.
type warnings struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

func (w *warnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.buf.Next(i + 1)[:i]))
	}
	return len(p), nil
}

func (w *warnings) Sync() error { return nil }

func (w *warnings) logger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		MessageKey:       "msg",
		ConsoleSeparator: " ",
		EncodeDuration:   zapcore.StringDurationEncoder,
		EncodeTime:       zapcore.RFC3339TimeEncoder,
	})
	return zap.New(zapcore.NewCore(enc, w, zapcore.WarnLevel))
}

// take returns the lines collected since the last take.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.lines
	w.lines = nil
	return l
}
