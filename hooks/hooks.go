// Package hooks owns the programs and web endpoints a policy calls when a
// rotation reaches a point: after_delivery (every sink holds the new key),
// before_delete (the grace period is over; a failure keeps the old key,
// which makes a hook the consumer check) and on_failure. A hook is told
// the policy, the name, the key ids and the sink targets, and an
// idempotency key; never a secret: a hook that needs the new secret reads
// it from a sink, as a consumer does.
package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rotatord/rotatord/internal/pathwalk"
	"github.com/rotatord/rotatord/internal/redact"
	"github.com/rotatord/rotatord/secret"
)

// Events a hook runs at.
const (
	AfterDelivery = "after_delivery"
	BeforeDelete  = "before_delete"
	OnFailure     = "on_failure"
)

// OnFailureTimeout bounds the on_failure hooks of one failure, retries
// included: they run in the background, and a stop does not wait for them.
const OnFailureTimeout = 5 * time.Minute

// WebhookBackoff is the first wait between a webhook's retries, doubling.
const WebhookBackoff = time.Second

// Event is what a hook is told. It holds no secret.
type Event struct {
	Event     string   `json:"event"`
	Policy    string   `json:"policy"`
	Name      string   `json:"name"`
	NewKeyID  string   `json:"new_key_id,omitempty"`
	OldKeyIDs []string `json:"old_key_ids,omitempty"`
	Sinks     []string `json:"sinks,omitempty"`
	Error     string   `json:"error,omitempty"`
	// IdempotencyKey is the same for every call of one event of one
	// rotation (a hook may run more than once across crashes).
	IdempotencyKey string `json:"idempotency_key"`
}

// Key returns the idempotency key of an event: policy, name, new key id
// and event.
func Key(event, policy, name, newKeyID string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{policy, name, newKeyID, event}, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// Exec runs a program (no shell) with the event in its environment.
type Exec struct {
	Command []string
	Timeout time.Duration
}

// Kind implements rotation.Hook.
func (x Exec) Kind() string { return "exec" }

// Run runs the command; a non-zero exit, a timeout or a start failure is
// an error. Its output is not logged (it may print what it read from a
// sink); the error carries the exit status only.
func (x Exec) Run(ctx context.Context, ev Event) error {
	if len(x.Command) == 0 {
		return errors.New("exec hook: no command")
	}
	// Checked at each run, not only by validate: run starts without it,
	// and a program made writable since would run as rotatord.
	if err := CheckProgram(x.Command[0]); err != nil {
		return fmt.Errorf("exec hook: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, x.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, x.Command[0], x.Command[1:]...)
	cmd.Env = append(minimalEnv(),
		"ROTATORD_EVENT="+ev.Event,
		"ROTATORD_POLICY="+ev.Policy,
		"ROTATORD_NAME="+ev.Name,
		"ROTATORD_NEW_KEY_ID="+ev.NewKeyID,
		"ROTATORD_OLD_KEY_IDS="+strings.Join(ev.OldKeyIDs, ","),
		"ROTATORD_SINKS="+strings.Join(ev.Sinks, "\n"),
		"ROTATORD_IDEMPOTENCY_KEY="+ev.IdempotencyKey,
	)
	// No pipes (nil is /dev/null): a child the hook leaves running then
	// cannot hold Run past the timeout; WaitDelay bounds it anyway.
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.WaitDelay = time.Second
	// Its own process group, killed whole at the timeout: a script's
	// children must not keep running a check already counted as failed.
	killGroupOnCancel(cmd)
	unlock := lockThread()
	err := cmd.Run()
	unlock()
	if cmd.Process != nil {
		// The hook's work ends with it: what it left running in its group
		// (`check & exit 0`) would run on as rotatord, and under PID 1
		// end as a zombie nobody waits for. Kill the rest of the group
		// and wait for it to be gone.
		killGroup(cmd.Process.Pid)
		reapGroup(cmd.Process.Pid, time.Second)
	}
	if parent.Err() != nil {
		// rotatord stops, or the caller gave up: not the hook's timeout.
		return fmt.Errorf("exec hook %s: cancelled before it ended: %w", x.Command[0], parent.Err())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("exec hook %s: timed out after %s", x.Command[0], x.timeout())
	}
	if err != nil {
		return fmt.Errorf("exec hook %s: %w", x.Command[0], err)
	}
	return nil
}

// CheckProgram refuses a hook program that is not an executable file, or
// that someone other than its owner could replace: writable by its group
// or others, or in a directory everyone may write without the sticky bit
// (for a symlink: its directory, and each link's on the way to the file),
// or reached through a link another user owns in a sticky directory
// everyone may write (/tmp): that user may repoint it before the exec.
// The program and every directory above it must also belong to root or
// rotatord's user, and no directory may be writable by its group.
// Such a program would run as rotatord, which holds the API secret, and
// could pass any consumer check.
func CheckProgram(prog string) error {
	fi, err := os.Stat(prog)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file", prog)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by others (mode %04o): anyone could replace the consumer check, or run code as rotatord", prog, fi.Mode().Perm())
	}
	if err := checkStickyLinks(prog); err != nil {
		return err
	}
	// The program's directory, and for a symlink each link's and the
	// target's: whoever may write one could replace what runs.
	p := prog
	for hops := 0; ; hops++ {
		if di, err := os.Stat(filepath.Dir(p)); err == nil && othersMayWrite(filepath.Dir(p), di, 0o002) {
			if p == prog {
				return fmt.Errorf("%s is in %s, which everyone may write: anyone could replace it", prog, filepath.Dir(p))
			}
			return fmt.Errorf("%s links to %s, in %s, which everyone may write: anyone could replace it", prog, p, filepath.Dir(p))
		}
		li, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if li.Mode()&os.ModeSymlink == 0 {
			break
		}
		if hops == 40 {
			return fmt.Errorf("%s: too many levels of symbolic links", prog)
		}
		to, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(p), to)
		}
		p = to
	}
	// A relative link's ".." climbs from where a linked directory really
	// is, not from the path as written: the directory the kernel resolves
	// the program into is checked too.
	real, err := filepath.EvalSymlinks(prog)
	if err != nil {
		return err
	}
	if di, err := os.Stat(filepath.Dir(real)); err == nil && othersMayWrite(filepath.Dir(real), di, 0o002) {
		return fmt.Errorf("%s resolves to %s, in %s, which everyone may write: anyone could replace it", prog, real, filepath.Dir(real))
	}
	return checkOwners(prog, real)
}

// checkOwners refuses a program that another user could replace: one
// owned by someone other than root or rotatord's user (its owner may
// change its mode and rewrite it), or under a directory, up to /, that
// such a user owns or that its group may write without the sticky bit
// (either could rename the program, or a directory holding it, away and
// put their own in its place). The rule OpenSSH applies to the files it
// trusts with StrictModes.
func checkOwners(prog, real string) error {
	self := uint32(os.Geteuid())
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if owner, known := ownerOf(fi); known && owner != 0 && owner != self {
		return fmt.Errorf("%s is owned by uid %d: that user could rewrite it, and it would run as rotatord; give it to root or rotatord's user", prog, owner)
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if err := checkDir(prog, "is under", dir); err != nil {
			return err
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// checkDir refuses a directory the program is found through that another
// user owns, or that its group or everyone may write without the sticky
// bit: they could put another program, link or directory in its place.
// how says how the program relates to dir ("is under", "is reached
// through").
func checkDir(prog, how, dir string) error {
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	self := uint32(os.Geteuid())
	// The owner counts even on a read-only mount: a bind mount is
	// read-only where it is mounted, not where its owner reaches it.
	if owner, known := ownerOf(di); known && owner != 0 && owner != self {
		return fmt.Errorf("%s %s %s, owned by uid %d: that user could put another program in its place; keep hook programs, and the links to them, in directories root or rotatord's user owns", prog, how, dir, owner)
	}
	if othersMayWrite(dir, di, 0o002) {
		return fmt.Errorf("%s %s %s, which everyone may write (mode %04o): anyone could put another program in its place", prog, how, dir, di.Mode().Perm())
	}
	if othersMayWrite(dir, di, 0o020) {
		return fmt.Errorf("%s %s %s, which its group may write (mode %04o): any member could put another program in its place", prog, how, dir, di.Mode().Perm())
	}
	return nil
}

// othersMayWrite reports whether the directory dir (fi its stat) lets
// others than its owner write it: bits (0o002 everyone, 0o020 its group)
// without the sticky bit, and not on a read-only mount (Kubernetes mounts
// a ConfigMap volume read-only on a directory of mode 0777).
func othersMayWrite(dir string, fi os.FileInfo, bits os.FileMode) bool {
	return fi.Mode().Perm()&bits != 0 && fi.Mode()&os.ModeSticky == 0 && !readOnlyMount(dir)
}

// checkStickyLinks walks prog as the kernel resolves it, component by
// component and link by link, and refuses a symlink that sits in a sticky
// directory everyone may write (as /tmp) and is owned by someone other
// than rotatord's user, the directory's owner or root: its owner may
// repoint it between this check and the exec (the rule of the kernel's
// fs.protected_symlinks, which not every host sets).
func checkStickyLinks(prog string) error {
	self := uint32(os.Geteuid())
	checked := map[string]bool{}
	err := pathwalk.Walk(prog, func(s pathwalk.Step) error {
		if !s.IsLink() {
			return nil
		}
		// Whoever may write the link's directory, or one above it, may
		// repoint or replace the link (or a directory on the way) between
		// this check and the exec: /home/alice/bin/check -> /usr/bin/x.
		for d := s.Dir; ; d = filepath.Dir(d) {
			if !checked[d] {
				if err := checkDir(prog, "is reached through", d); err != nil {
					return err
				}
				checked[d] = true
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		if di, err := os.Stat(s.Dir); err == nil && di.Mode()&os.ModeSticky != 0 && di.Mode().Perm()&0o002 != 0 {
			owner, known := ownerOf(s.Info)
			dirOwner, _ := ownerOf(di)
			if known && owner != self && owner != dirOwner && owner != 0 {
				return fmt.Errorf("%s: the link %s is owned by uid %d, in %s, a sticky directory everyone may write: uid %d may repoint it between this check and the run; link from a directory only rotatord and root may write, or name the program's own path", prog, s.Path, owner, s.Dir, owner)
			}
		}
		return nil
	})
	if errors.Is(err, pathwalk.ErrTooManyLinks) {
		return fmt.Errorf("%s: %w", prog, err)
	}
	return err
}

// ReadKeyFile reads a webhook's HMAC key, trimmed, and refuses a file
// that is not a regular file, that everyone may read (anyone on the host
// could forge signed events) or that is empty. validate and each call
// check the same. Errors name the file (through secret.ShownPath), never
// its content.
func ReadKeyFile(path string) ([]byte, error) {
	const maxKeyFile = 64 << 10
	// Through secret.ReadFile: without blocking (a named pipe planted at
	// the path would hold the open, and the hook, until someone writes to
	// it), the type and mode checked on the file opened, read bounded.
	key, err := secret.ReadFile(path, secret.FileOptions{Max: maxKeyFile, Forbid: 0o004})
	var (
		notRegular *secret.NotRegularError
		badMode    *secret.ModeError
		tooLarge   *secret.TooLargeError
	)
	switch {
	case errors.As(err, &notRegular):
		return nil, fmt.Errorf("%s is not a file (%s)", secret.ShownPath(path), secret.FileType(notRegular.Type))
	case errors.As(err, &badMode):
		return nil, fmt.Errorf("%s is world-readable (mode %04o): anyone on the host could forge signed events; use 0600 or 0640", secret.ShownPath(path), badMode.Perm)
	case errors.As(err, &tooLarge):
		return nil, fmt.Errorf("%s is larger than %d bytes: not a key", secret.ShownPath(path), maxKeyFile)
	case err != nil:
		return nil, err
	}
	key = bytes.TrimSpace(key)
	if len(key) == 0 {
		return nil, fmt.Errorf("%s is empty: a signature with no key proves nothing", secret.ShownPath(path))
	}
	return key, nil
}

func (x Exec) timeout() time.Duration {
	if x.Timeout <= 0 {
		return 30 * time.Second
	}
	return x.Timeout
}

// minimalEnv is the environment a hook inherits: PATH and the locale,
// never rotatord's own (which may hold EXOSCALE_API_SECRET or VAULT_TOKEN).
func minimalEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TZ", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// SignatureHeader carries the webhook signature: "t=UNIX,v1=HEX", where
// HEX is the HMAC-SHA256, under the shared key, of "UNIX." followed by the
// body (as Stripe's webhooks are signed). A receiver recomputes it and
// refuses old timestamps (replays).
const SignatureHeader = "Rotatord-Signature"

// Webhook POSTs the event as JSON, signed.
type Webhook struct {
	URL     string
	KeyFile string // the HMAC key, read at each call (rotated by the operator)
	Timeout time.Duration
	Retries int
	Client  *http.Client
	Now     func() time.Time
	// Backoff is the first wait between retries, doubling; default 1s.
	Backoff time.Duration
}

// Kind implements rotation.Hook.
func (w Webhook) Kind() string { return "webhook" }

// Run POSTs the event until a 2xx answer or the retries are spent.
func (w Webhook) Run(ctx context.Context, ev Event) error {
	key, err := ReadKeyFile(w.KeyFile)
	if err != nil {
		return fmt.Errorf("webhook hook: key file: %w", err)
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	wait := w.Backoff
	if wait <= 0 {
		wait = WebhookBackoff
	}
	var last error
	for attempt := 0; attempt <= max(w.Retries, 0); attempt++ {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			wait *= 2
		}
		if last = w.post(ctx, key, body); last == nil {
			return nil
		}
	}
	return last
}

func (w Webhook) post(ctx context.Context, key, body []byte) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, "t="+ts+",v1="+Sign(key, ts, body))
	client := http.Client{}
	if w.Client != nil {
		client = *w.Client
	}
	// A redirect is an answer, not a success: following it would turn the
	// POST into a GET some other page answers 200 to (a consumer check
	// "passed" unasked), or resend the signed body to wherever it points.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		// The URL may carry credentials, in its user info or, for an
		// incoming webhook, in its path: say where without them.
		return fmt.Errorf("webhook hook: POST %s: %v", redactURL(w.URL), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook hook: POST %s: %s", redactURL(w.URL), resp.Status)
	}
	return nil
}

// Sign returns the hex HMAC-SHA256 of "ts.body" under key.
func Sign(key []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func redactURL(u string) string { return redact.Origin(u) }
