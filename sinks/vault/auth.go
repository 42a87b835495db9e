package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/secret"
)

// maxTokenFileSize bounds what is read from a token or secret file.
const maxTokenFileSize = 64 << 10

// authenticator owns the token of a sink: it obtains it (reads it, or logs
// in), renews it, and replaces it when Vault refuses it.
//
// Renewal: a renewable token is renewed when less than a third of the TTL
// it was granted at login is left, both by a background goroutine (so a
// token still lives when the next rotation comes, hours later) and before
// each operation (should the goroutine have failed or the process have been
// suspended). When a renewal cannot extend the token past that point any
// more (its max TTL), an AppRole or Kubernetes sink logs in again at its
// next operation; a token sink keeps the token until Vault refuses it, then
// reads the token file again.
//
// Revocation: a token the sink obtained by logging in (AppRole, Kubernetes)
// is revoked (auth/token/revoke-self) when the sink is closed, at once or,
// when operations are still running (a pass that began before a reload),
// when the last of them ends; an operation that starts after Close logs in
// again and revokes its token when it ends. A token the operator gave
// (token_file, VAULT_TOKEN) is never revoked: it is not rotatord's.
type authenticator struct {
	method    string
	mountPath string // approle, kubernetes
	client    *api.Client
	login     *api.Client // the same, without a token: for logins
	log       *zap.Logger
	now       func() time.Time

	tokenFile string       // token: read at first use and when refused
	envToken  secret.Value // token: VAULT_TOKEN when there is no file
	roleID    string       // approle
	secretID  string       // approle: the secret_id file
	role      string       // kubernetes
	saToken   string       // kubernetes: the service account token file

	mu        sync.Mutex
	token     secret.Value // "" until the first operation
	gen       uint64       // bumped at every new token
	renewable bool
	ttl       time.Duration   // granted at the last login or renewal; 0: never expires
	baseTTL   time.Duration   // granted at login: the renewal increment
	since     time.Time       // when ttl was granted
	capped    bool            // a renewal could not extend the token enough: its max TTL is near
	retryAt   time.Time       // background: no new attempt before, after a failure
	warned    map[string]bool // auth files warned of as world-readable

	inflight  int // operations running (begin)
	started   bool
	closed    bool
	closeOnce sync.Once
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

func newAuthenticator(o AuthOptions, getenv func(string) string, client, login *api.Client, log *zap.Logger) (*authenticator, error) {
	a := &authenticator{
		method: o.Method, client: client, login: login, log: log, now: time.Now,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	if a.method == "" {
		a.method = AuthToken
	}
	// Fields of the other methods are mistakes: refuse them rather than
	// leave the reader of the policy file guessing which one is used.
	foreign := func(fields map[string]string) error {
		for name, v := range fields {
			if v != "" {
				return fmt.Errorf("%s is not used by method %s", name, a.method)
			}
		}
		return nil
	}
	switch a.method {
	case AuthToken:
		if err := foreign(map[string]string{
			"role_id": o.RoleID, "secret_id_file": o.SecretIDFile, "role": o.Role,
			"service_account_token_file": o.ServiceAccountTokenFile, "mount_path": o.MountPath,
		}); err != nil {
			return nil, err
		}
		a.tokenFile = o.TokenFile
		if a.tokenFile == "" {
			a.envToken = secret.Value(strings.TrimSpace(getenv(api.EnvVaultToken)))
			if a.envToken.IsZero() {
				return nil, errors.New("method token needs token_file or VAULT_TOKEN")
			}
		}
	case AuthAppRole:
		if err := foreign(map[string]string{
			"token_file": o.TokenFile, "role": o.Role, "service_account_token_file": o.ServiceAccountTokenFile,
		}); err != nil {
			return nil, err
		}
		if o.RoleID == "" || o.SecretIDFile == "" {
			return nil, errors.New("method approle needs role_id and secret_id_file")
		}
		a.roleID, a.secretID = o.RoleID, o.SecretIDFile
		a.mountPath = o.MountPath
		if a.mountPath == "" {
			a.mountPath = DefaultAppRoleMountPath
		}
	case AuthKubernetes:
		if err := foreign(map[string]string{
			"token_file": o.TokenFile, "role_id": o.RoleID, "secret_id_file": o.SecretIDFile,
		}); err != nil {
			return nil, err
		}
		if o.Role == "" {
			return nil, errors.New("method kubernetes needs role")
		}
		a.role, a.saToken = o.Role, o.ServiceAccountTokenFile
		if a.saToken == "" {
			a.saToken = DefaultServiceAccountTokenFile
		}
		a.mountPath = o.MountPath
		if a.mountPath == "" {
			a.mountPath = DefaultKubernetesMountPath
		}
	default:
		return nil, fmt.Errorf("unknown method %q (want %s, %s or %s)", a.method, AuthToken, AuthAppRole, AuthKubernetes)
	}
	if a.mountPath != "" {
		a.mountPath = strings.Trim(a.mountPath, "/")
		if err := checkPath(a.mountPath); err != nil {
			return nil, fmt.Errorf("mount_path %q: %w", a.mountPath, err)
		}
	}
	return a, nil
}

func (a *authenticator) canLogin() bool { return a.method != AuthToken }

// fields describe the method in logs: never a token or a secret_id.
func (a *authenticator) fields() []zap.Field {
	f := []zap.Field{zap.String("method", a.method)}
	switch {
	case a.canLogin():
		f = append(f, zap.String("auth_mount", a.mountPath))
	case a.tokenFile != "":
		f = append(f, zap.String("token_file", a.tokenFile))
	default:
		f = append(f, zap.String("token_source", api.EnvVaultToken))
	}
	return f
}

// ensure returns the generation of a token fit for an operation: obtained
// at the first call, renewed (or replaced by a new login) when less than a
// third of its TTL is left. A failed renewal of a token that still lives is
// logged, not returned: Vault has the last word on the operation.
func (a *authenticator) ensure(ctx context.Context) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token.IsZero() {
		if err := a.obtainLocked(ctx); err != nil {
			return 0, err
		}
		return a.gen, nil
	}
	if a.dueLocked() {
		if err := a.refreshLocked(ctx, true); err != nil {
			a.log.Warn("vault token renewal failed; trying the operation with the current token",
				append(a.fields(), zap.Error(err))...)
		}
	}
	return a.gen, nil
}

// generation is the generation of the current token: it changes at every
// new token (and when it is revoked).
func (a *authenticator) generation() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// refused handles Vault refusing the token of generation gen: it gets a new
// token, and reports whether there is one to try the operation again with.
func (a *authenticator) refused(ctx context.Context, gen uint64) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.gen {
		return true, nil // another operation got a new token meanwhile
	}
	if a.canLogin() && a.liveLocked(ctx) {
		// Vault's 403 refused the path, not the token: a new login gets a
		// token with the same policies (an ACL policy edited since applies
		// to this token already), refused the same, and spends a use of a
		// secret_id that has a few only (secret_id_num_uses): once they
		// are spent, the sink can no longer log in when this token ends.
		// A role given other policies is picked up at the next login (the
		// token's TTL).
		return false, nil
	}
	a.log.Info("vault refused the token; getting a new one", a.fields()...)
	return a.replaceLocked(ctx, true)
}

// liveLocked reports whether Vault still takes the current token (a
// lookup of itself, which Vault's default policy grants, succeeds).
func (a *authenticator) liveLocked(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	_, err := a.client.Auth().Token().LookupSelfWithContext(ctx)
	return err == nil
}

// obtainLocked gets the first token.
func (a *authenticator) obtainLocked(ctx context.Context) error {
	if a.canLogin() {
		return a.loginLocked(ctx)
	}
	tok, err := a.readToken()
	if err != nil {
		return err
	}
	return a.adoptLocked(ctx, tok)
}

// replaceLocked gets a new token: a new login, or the token file read
// again. For a token sink whose file holds the same token it reports false,
// with an error when the token was refused.
func (a *authenticator) replaceLocked(ctx context.Context, wasRefused bool) (bool, error) {
	if a.canLogin() {
		if err := a.loginLocked(ctx); err != nil {
			return false, err
		}
		return true, nil
	}
	if a.tokenFile == "" {
		if wasRefused {
			return false, fmt.Errorf("the token from %s cannot be replaced: rotatord reads it once", api.EnvVaultToken)
		}
		return false, nil
	}
	tok, err := a.readToken()
	if err != nil {
		return false, err
	}
	if tok == a.token {
		if wasRefused {
			return false, fmt.Errorf("token file %s holds the same token", a.tokenFile)
		}
		return false, nil
	}
	if err := a.adoptLocked(ctx, tok); err != nil {
		return false, err
	}
	return true, nil
}

func (a *authenticator) readToken() (secret.Value, error) {
	if a.tokenFile == "" {
		return a.envToken, nil
	}
	tok, err := readSecretFile(a.tokenFile)
	if err == nil {
		a.warnReadableLocked("token_file", a.tokenFile)
	}
	return secret.Value(tok), err
}

// warnReadableLocked warns, once per file, when a token or secret_id file
// rotatord reads lets every user of the host read it (validate warns too,
// but `run` does not print validate's warnings).
func (a *authenticator) warnReadableLocked(field, path string) {
	if a.warned[path] {
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		if a.warned == nil {
			a.warned = map[string]bool{}
		}
		a.warned[path] = true
		a.log.Warn("every user on this host can read this Vault auth file and use its Vault rights; chmod 0600, or 0640 and a group",
			zap.String("field", field), zap.String("file", path), zap.String("mode", fmt.Sprintf("%04o", fi.Mode().Perm())))
	}
}

// readSecretFile reads a token file, without the surrounding white space,
// through secret.ReadFile: without blocking, a regular file only (symlinks
// followed, as Kubernetes mounts tokens; a named pipe planted there would
// hold the read until someone writes to it), and no larger than
// maxTokenFileSize (refused, not cut short). Errors name the file, never
// its content.
func readSecretFile(path string) (string, error) {
	return readSecretFileAs("token file", path)
}

// readSecretFileAs is readSecretFile with what the file is for its errors
// ("token file", "secret_id_file").
func readSecretFileAs(what, path string) (string, error) {
	b, err := secret.ReadFile(path, secret.FileOptions{Max: maxTokenFileSize})
	var (
		notRegular *secret.NotRegularError
		tooLarge   *secret.TooLargeError
	)
	switch {
	case errors.As(err, &notRegular):
		return "", fmt.Errorf("read %s %s: %v", what, secret.ShownPath(path), notRegular)
	case errors.As(err, &tooLarge):
		return "", fmt.Errorf("read %s %s: larger than %d bytes", what, secret.ShownPath(path), maxTokenFileSize)
	case err != nil:
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s %s is empty", what, secret.ShownPath(path))
	}
	return tok, nil
}

// adoptLocked starts using a token given to rotatord, and looks it up to
// learn its TTL. A token whose policy forbids the lookup is used as it is,
// with no renewal.
func (a *authenticator) adoptLocked(ctx context.Context, tok secret.Value) error {
	a.client.SetToken(tok.Reveal())
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	info, err := a.client.Auth().Token().LookupSelfWithContext(ctx)
	renewable, ttl, base := false, time.Duration(0), time.Duration(0)
	switch {
	case err == nil && info != nil:
		renewable, _ = info.TokenIsRenewable()
		ttl, _ = info.TokenTTL()
		// The renewal increment: the TTL the token was created with, not
		// what is left of it.
		base = ttl
		if n, ok := info.Data["creation_ttl"].(json.Number); ok {
			if sec, err := n.Int64(); err == nil && time.Duration(sec)*time.Second > ttl {
				base = time.Duration(sec) * time.Second
			}
		}
	case isRefusal(cleanError(err)):
		// Not allowed to look itself up, or not valid: the operation tells.
		a.log.Warn("cannot look up the vault token: no renewal", append(a.fields(), zap.Error(cleanError(err, tok.Reveal())))...)
	default:
		// Back to the token in use, if any.
		if a.token.IsZero() {
			a.client.ClearToken()
		} else {
			a.client.SetToken(a.token.Reveal())
		}
		return fmt.Errorf("look up token: %w", cleanError(err, tok.Reveal()))
	}
	a.setLocked(tok, renewable, ttl, base)
	a.log.Info("using vault token", append(a.fields(), zap.Duration("ttl", ttl), zap.Bool("renewable", renewable))...)
	return nil
}

// loginLocked logs in with the AppRole or Kubernetes method. The secret_id
// and the service account token are read from their files at each login,
// so that their rotation is picked up.
func (a *authenticator) loginLocked(ctx context.Context) error {
	var (
		m    api.AuthMethod
		err  error
		sent string // the secret the login sends, never shown in its error
	)
	switch a.method {
	case AuthAppRole:
		// Read here, not by the library (FromFile): its open blocks, and a
		// named pipe planted at the path would hold the login.
		var id string
		if id, err = readSecretFileAs("secret_id_file", a.secretID); err == nil {
			a.warnReadableLocked("secret_id_file", a.secretID)
			sent = id
			m, err = approle.NewAppRoleAuth(a.roleID, &approle.SecretID{FromString: id}, approle.WithMountPath(a.mountPath))
		}
	case AuthKubernetes:
		var jwt string
		if jwt, err = readSecretFile(a.saToken); err == nil {
			sent = jwt
			m, err = kubernetes.NewKubernetesAuth(a.role,
				kubernetes.WithServiceAccountToken(jwt), kubernetes.WithMountPath(a.mountPath))
		}
	}
	if err != nil {
		return fmt.Errorf("login (%s at auth/%s): %w", a.method, a.mountPath, err)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	sec, err := m.Login(ctx, a.login)
	if err != nil {
		// Nor a message naming client_token: a gateway that could not
		// pass Vault's answer on may quote it, and the token it issued
		// is not known here to compare with.
		return fmt.Errorf("login (%s at auth/%s): %w", a.method, a.mountPath, cleanError(err, sent, "client_token"))
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return fmt.Errorf("login (%s at auth/%s): no token in the answer", a.method, a.mountPath)
	}
	ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
	old := a.token
	a.setLocked(secret.Value(sec.Auth.ClientToken), sec.Auth.Renewable, ttl, ttl)
	a.log.Info("logged in to vault", append(a.fields(), zap.Duration("ttl", ttl), zap.Bool("renewable", sec.Auth.Renewable))...)
	if !old.IsZero() && old != a.token {
		// The token this login replaces may still be valid: Vault's 403
		// refuses a path to a live token too (a policy that misses it),
		// and a token near its max TTL lives on. Left alone, each such
		// login left one more token alive until its TTL.
		a.revokeReplacedLocked(ctx, old)
	}
	return nil
}

// revokeReplacedLocked revokes a token a new login replaced, through the
// login client (it carries no token otherwise). Failing is logged: an
// invalid token has nothing left to revoke, and an operation still
// running with it is refused and tries again with the new one.
func (a *authenticator) revokeReplacedLocked(ctx context.Context, old secret.Value) {
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	a.login.SetToken(old.Reveal())
	defer a.login.ClearToken()
	err := a.login.Auth().Token().RevokeSelfWithContext(ctx, "")
	switch cerr := cleanError(err, old.Reveal()); {
	case err == nil, invalidToken(cerr):
	case isRefusal(cerr):
		a.log.Warn(refusedRevoke+"; the token a new login replaced lives until its TTL ends",
			append(a.fields(), zap.Error(cerr))...)
	default:
		a.log.Warn("could not revoke the vault token a new login replaced; it lives until its TTL ends",
			append(a.fields(), zap.Error(cerr))...)
	}
}

// refusedRevoke: Vault answered revoke-self with 403 for a token it still
// takes (no "invalid token" in the answer).
const refusedRevoke = "vault refused to revoke the token rotatord logged in with (its policies lack auth/token/revoke-self, which Vault's default policy grants: token_no_default_policy on the role?)"

// invalidToken reports whether Vault refused a token because it is not
// valid (expired, revoked): Vault's 403 then says "invalid token", which
// a token refused by its policies does not.
func invalidToken(err error) bool {
	return isRefusal(err) && strings.Contains(err.Error(), "invalid token")
}

func (a *authenticator) setLocked(tok secret.Value, renewable bool, ttl, base time.Duration) {
	a.client.SetToken(tok.Reveal())
	a.token = tok
	a.gen++
	a.renewable = renewable
	a.ttl, a.baseTTL = ttl, base
	a.since = a.now()
	a.capped = false
	a.retryAt = time.Time{}
	if !a.started && !a.closed {
		a.started = true
		go a.loop()
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// remainingLocked is how long the token lives, by the TTL Vault gave.
func (a *authenticator) remainingLocked() time.Duration {
	return a.ttl - a.now().Sub(a.since)
}

// dueLocked reports whether the token needs renewal (or replacing) before
// an operation: less than a third of its TTL left.
func (a *authenticator) dueLocked() bool {
	if a.ttl <= 0 {
		return false
	}
	return a.remainingLocked() < a.baseTTL/3
}

// refreshLocked renews the token, or, when it cannot be renewed (any more)
// and replace allows it, replaces it.
func (a *authenticator) refreshLocked(ctx context.Context, replace bool) error {
	if a.renewable && !a.capped {
		err := a.renewLocked(ctx)
		if err == nil {
			if !a.capped || !replace || !a.canLogin() {
				return nil
			}
		} else if !isRefusal(err) {
			return err // Vault unreachable: the token may still be good
		} else {
			a.renewable = false // refused: renewing again is pointless
		}
	}
	if !replace {
		return nil
	}
	_, err := a.replaceLocked(ctx, false)
	return err
}

func (a *authenticator) renewLocked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	sec, err := a.client.Auth().Token().RenewSelfWithContext(ctx, int(a.baseTTL/time.Second))
	if err != nil {
		return fmt.Errorf("renew token: %w", cleanError(err, a.token.Reveal()))
	}
	if sec == nil || sec.Auth == nil {
		return errors.New("renew token: no auth in the answer")
	}
	a.ttl = time.Duration(sec.Auth.LeaseDuration) * time.Second
	a.renewable = sec.Auth.Renewable
	a.since = a.now()
	if a.ttl < a.baseTTL/3 || a.ttl <= 0 {
		// The max TTL caps the renewal: renewing again gains nothing.
		a.capped = true
		a.log.Info("vault token reaches its max TTL", append(a.fields(), zap.Duration("ttl", a.ttl))...)
	} else {
		a.log.Debug("renewed vault token", append(a.fields(), zap.Duration("ttl", a.ttl))...)
	}
	return nil
}

// nextLocked is when the background goroutine should renew, or zero when
// it has nothing to do until a new token comes.
func (a *authenticator) nextLocked() time.Time {
	if a.token.IsZero() || a.ttl <= 0 || !a.renewable || a.capped {
		return time.Time{}
	}
	t := a.since.Add(a.ttl - a.baseTTL/3)
	if a.retryAt.After(t) {
		t = a.retryAt
	}
	return t
}

// loop renews the token in the background until close.
func (a *authenticator) loop() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.mu.Lock()
		next := a.nextLocked()
		a.mu.Unlock()
		var fire <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(0, next.Sub(a.now())))
			fire = timer.C
		}
		select {
		case <-a.stop:
			return
		case <-a.wake:
			continue
		case <-fire:
		}
		a.background()
	}
}

func (a *authenticator) background() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.nextLocked().IsZero() || a.now().Before(a.nextLocked()) {
		return
	}
	err := a.refreshLocked(ctx, false)
	if next := a.nextLocked(); err != nil || (!next.IsZero() && !next.After(a.now())) {
		left := a.remainingLocked()
		wait := min(30*time.Second, max(time.Second, left/4))
		a.retryAt = a.now().Add(wait)
		if err != nil {
			a.log.Warn("vault token renewal failed; retrying", append(a.fields(),
				zap.Duration("ttl_left", left.Round(time.Second)), zap.Duration("retry_in", wait), zap.Error(err))...)
		}
	}
}

// close stops the background goroutine and waits for it, then revokes a
// token obtained by login unless an operation still runs (its end does).
func (a *authenticator) close() {
	// Closing stop first cancels a renewal in flight, which holds mu.
	a.closeOnce.Do(func() { close(a.stop) })
	a.mu.Lock()
	a.closed = true
	started := a.started
	a.mu.Unlock()
	if started {
		<-a.done
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight == 0 {
		a.revokeLocked()
	}
}

// begin marks an operation of the sink as running; the function it returns
// ends it, and revokes the login token when the sink was closed meanwhile
// and no other operation runs.
func (a *authenticator) begin() (end func()) {
	a.mu.Lock()
	a.inflight++
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.inflight--
		if a.closed && a.inflight == 0 {
			a.revokeLocked()
		}
	}
}

// revokeTimeout bounds the revocation at Close: a reload or a stop does not
// wait longer for a Vault that does not answer.
const revokeTimeout = 5 * time.Second

// revokeLocked revokes a token the sink obtained by logging in, and forgets
// it. A token the operator gave is left alone. A revocation that fails is
// logged: the token then lives until its TTL ends.
func (a *authenticator) revokeLocked() {
	if !a.canLogin() || a.token.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	err := a.client.Auth().Token().RevokeSelfWithContext(ctx, "")
	revoked := a.token.Reveal()
	left := a.remainingLocked()
	a.token = ""
	a.client.ClearToken()
	a.gen++
	switch {
	case err == nil:
		a.log.Info("revoked the vault token rotatord logged in with", a.fields()...)
	case invalidToken(cleanError(err, revoked)):
		// Expired or revoked already: nothing left to revoke.
		a.log.Info("vault token already invalid at revocation", append(a.fields(), zap.Error(cleanError(err, revoked)))...)
	case isRefusal(cleanError(err)):
		f := append(a.fields(), zap.Error(cleanError(err, revoked)))
		if a.ttl > 0 {
			f = append(f, zap.Duration("expires_in", left.Round(time.Second)))
		}
		a.log.Warn(refusedRevoke+"; it lives until its TTL ends", f...)
	default:
		f := append(a.fields(), zap.Error(cleanError(err, revoked)))
		if a.ttl > 0 {
			f = append(f, zap.Duration("expires_in", left.Round(time.Second)))
		}
		a.log.Warn("could not revoke the vault token rotatord logged in with; it lives until its TTL ends", f...)
	}
}
