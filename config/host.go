package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/sinks/vault"
	"github.com/rotatord/rotatord/state"
)

// ValidateOptions say what Validate checks beyond the file itself.
type ValidateOptions struct {
	// Host also checks what depends on this machine, as the user running
	// the check: the API credential resolves (files readable, environment
	// variables set, a well-formed key), Vault credential files are
	// readable and a sink without an address has VAULT_ADDR, file sink
	// owners and groups exist, file sink directories exist and pass the
	// sink's checks, state_dir is one `run` accepts, and listen's host
	// is an address this host can serve on. Run it as the user rotatord
	// runs as.
	Host bool
	// Getenv reads the environment (EXOSCALE_API_KEY, VAULT_ADDR,
	// ROTATORD_TEST_MIN_SCHEDULE, ...); default os.Getenv.
	Getenv func(string) string
}

// Validate loads the policy file at path and returns every problem it can
// find in one run, each with its file and line: the errors (a *Errors, as
// the error) and the warnings, which do not stop `run` (a schedule too
// rare for max_age). The config is nil when there is any error. A file
// that cannot be read is a *Errors too, with one problem wrapping the
// cause (errors.Is(err, fs.ErrNotExist) works).
//
// Without opts.Host, it reports what Load refuses, plus the warnings.
func Validate(path string, opts ValidateOptions) (*Config, []Problem, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	data, err := ReadPolicyFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		return nil, nil, &Errors{{File: path, Msg: "cannot read the policy file: " + msg, Err: err}}
	}
	cfg, errs, warns, err := check(data, path, filepath.Dir(path), opts.Host, opts.Getenv)
	if err != nil {
		return nil, nil, &Errors{{File: path, Msg: err.Error(), Err: err}}
	}
	if len(errs) > 0 {
		return nil, warns, &errs
	}
	return cfg, warns, nil
}

// credentials resolves the API credential the way the client does, the
// key and the secret apart so that a problem with one does not hide the
// other, and reports each on the line of the field it comes from.
func (v *validator) credentials(at string, e *Exoscale) {
	if e.APIKey != "" && e.APIKeyFile != "" || !e.APISecret.IsZero() && e.APISecretFile != "" {
		return // reported already
	}
	// The environment is the exoscale block's only: another account
	// without a key or a secret is refused already ("no credential"), and
	// the environment would not fill it in.
	getenv, account := v.getenv, at != "exoscale"
	if account {
		getenv = noEnv
	}
	// A placeholder stands for the other half, so each check sees one.
	keySrc := apiclient.CredentialSource{Key: e.APIKey, KeyFile: e.APIKeyFile, Secret: "-"}
	if _, err := keySrc.Resolve(getenv); err != nil && e.APIKey == "" && !(account && e.APIKeyFile == "") {
		field := at + ".api_key_file"
		msg := strings.TrimPrefix(err.Error(), "api_key_file: ")
		if e.APIKeyFile == "" {
			field = at
			msg = strings.TrimPrefix(err.Error(), "api_key: ")
			if strings.HasPrefix(msg, "not an Exoscale") {
				msg = apiclient.EnvAPIKey + ": " + msg
			} else {
				msg = "no API key: set api_key, api_key_file or " + apiclient.EnvAPIKey
			}
		}
		v.addf(field, "%s", msg)
	}
	secSrc := apiclient.CredentialSource{Key: "EXO0", Secret: e.APISecret, SecretFile: e.APISecretFile}
	_, err := secSrc.Resolve(getenv)
	switch {
	case err != nil && account && e.APISecret.IsZero() && e.APISecretFile == "":
		// Told as "no credential".
	case err != nil:
		field := at + ".api_secret_file"
		msg := strings.TrimPrefix(err.Error(), "api_secret_file: ")
		if e.APISecretFile == "" {
			field = at
			msg = "no API secret: set api_secret, api_secret_file or " + apiclient.EnvAPISecret
		}
		v.addf(field, "%s", msg)
	default:
		if msg := WorldReadableSecretFile(e.APISecretFile); msg != "" {
			v.warnf(at+".api_secret_file", "%s", msg)
		}
		if msg := ReplaceableCredentialFile(e.APISecretFile); msg != "" {
			v.warnf(at+".api_secret_file", "%s", msg)
		}
	}
	if msg := ReplaceableCredentialFile(e.APIKeyFile); msg != "" {
		v.warnf(at+".api_key_file", "%s", msg)
	}
}

// ReplaceableCredentialFile says, when a user other than root and
// rotatord's could replace what an api_key_file or api_secret_file holds,
// why ("" when nobody could, or when path is empty or cannot be read): the
// file's owner, its directory's owner, or every user when the file, or its
// directory without the sticky bit, is writable by all. With the secret
// they could stop rotatord; with the key as well, point it at another
// organization, whose keys it would deliver to the consumers. Symlinks
// are followed (a Kubernetes Secret volume's files are links): the file
// reached, its directory and the link's directory are judged.
func ReplaceableCredentialFile(path string) string {
	if path == "" {
		return ""
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	euid := os.Geteuid()
	for _, p := range []string{real, filepath.Dir(real), filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			return ""
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return ""
		}
		switch {
		case st.Uid != 0 && int(st.Uid) != euid:
			return fmt.Sprintf("%s belongs to uid %d: that user can replace the credential rotatord signs with; chown it to root or rotatord's user",
				secret.ShownPath(p), st.Uid)
		case fi.Mode().Perm()&0o002 != 0 && (p == real || fi.Mode()&fs.ModeSticky == 0):
			return fmt.Sprintf("every user may write %s (mode %04o): anyone can replace the credential rotatord signs with",
				secret.ShownPath(p), fi.Mode().Perm())
		}
	}
	return ""
}

// WorldReadableSecretFile says, when the api_secret_file path exists and
// every user of the host may read it, what that gives them ("" when not,
// or when path is empty): the organization key rotatord signs with,
// usually its most powerful. validate warns with it, and run logs it, as
// for a credential_file readable by others.
func WorldReadableSecretFile(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("%s has mode %04o: every user on this host can read it and sign with rotatord's API key; chmod 0600, or 0640 and a group",
		secret.ShownPath(path), fi.Mode().Perm())
}

// LookupOwner resolves the sink's owner (a user name or number) to a uid,
// -1 when it is not set.
func (s *Sink) LookupOwner() (int, error) {
	return lookupID(s.Owner, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

// LookupGroup resolves the sink's group (a group name or number) to a gid,
// -1 when it is not set.
func (s *Sink) LookupGroup() (int, error) {
	return lookupID(s.Group, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

// lookupID resolves a user or group given by name or number; "" is -1.
func lookupID(v string, byName func(string) (string, error)) (int, error) {
	if v == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative id %d", n)
		}
		return n, nil
	}
	id, err := byName(v)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(id)
}

// fileSinkHost resolves the owner and group and opens the sink's directory
// the way a write does (the symlink and writer rules of the file sink),
// then checks that this user may create files there. It writes nothing.
// The directory is checked even when the sink has other problems (valid
// false), so that one run reports them all; only a path that did not
// parse leaves nothing to check. When the sink is otherwise valid, it is
// built as `run` builds it.
func (v *validator) fileSinkHost(at string, s *Sink, match string, glob, valid bool) {
	owners := true
	uid, err := s.LookupOwner()
	if err != nil {
		v.addf(at+".owner", "%s", idError("user", s.Owner, err))
		uid, owners = -1, false
	}
	gid, err := s.LookupGroup()
	if err != nil {
		v.addf(at+".group", "%s", idError("group", s.Group, err))
		gid, owners = -1, false
	}
	if s.pathTmpl == nil {
		return // reported: no directory to check
	}
	// The directory check reads nothing of the content, so a sink whose
	// format, template or mode is wrong is probed as a plain JSON sink
	// with the default mode: those problems are reported already.
	opts := file.Options{Path: s.pathTmpl, Format: string(FormatJSON), UID: uid, GID: gid}
	if valid {
		opts = file.Options{
			Path: s.pathTmpl, Format: string(s.Format), Template: s.contentTmpl, Mode: s.Mode.Perm(),
			UID: uid, GID: gid, AllowWorldReadable: s.AllowWorldReadable, TakeOver: s.TakeOver,
		}
	}
	sk, err := file.New(opts)
	if err != nil {
		v.addf(at, "%v", err)
		return
	}
	name := match
	if glob {
		a, errA := s.RenderPath(probeNameA)
		b, errB := s.RenderPath(probeNameB)
		if errA != nil || errB != nil || filepath.Dir(a) != filepath.Dir(b) {
			// Each key name has a directory of its own: nothing to check
			// before the names are known (`validate --online` knows them).
			return
		}
		name = probeNameA
	}
	target, err := s.RenderPath(name)
	if err != nil {
		v.addf(at+".path", "%v", err)
		return
	}
	dir := filepath.Dir(target)
	if !owners {
		// The writer rules trust the sink's owner and group, which did
		// not resolve: judged without them, a directory that is right
		// once they exist could be refused. Whether it exists is known.
		switch fi, err := os.Stat(dir); {
		case errors.Is(err, fs.ErrNotExist):
			v.addf(at+".path", "directory %s does not exist", dir)
		case err != nil:
			v.addf(at+".path", "directory %s: %v", dir, pathErr(err))
		case !fi.IsDir():
			v.addf(at+".path", "%s is not a directory", dir)
		}
		return
	}
	_, err = sk.Read(context.Background(), name)
	switch {
	case err == nil, errors.Is(err, sinks.ErrNotHeld), errors.Is(err, sinks.ErrUnreadable):
		// The directory opened as a write opens it.
	default:
		// The directory's problems name it; the others are the target's
		// (not a regular file, not rotatord's): named by its path.
		msg := trimPathError(err, target)
		if !strings.Contains(msg, dir) {
			msg = target + ": " + msg
		}
		v.addf(at+".path", "%s", msg)
		return
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		v.addf(at+".path", "directory %s: this user (uid %d) cannot create files in it: %v", dir, os.Geteuid(), err)
	}
}

// pathErr drops the operation and path of an *fs.PathError, which the
// caller names already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// trimPathError drops the "read PATH: " the file sink puts in front.
func trimPathError(err error, target string) string {
	return strings.TrimPrefix(err.Error(), "read "+target+": ")
}

func idError(kind, value string, err error) string {
	var unknownUser user.UnknownUserError
	var unknownGroup user.UnknownGroupError
	if errors.As(err, &unknownUser) || errors.As(err, &unknownGroup) {
		return fmt.Sprintf("no %s %q on this host", kind, value)
	}
	return fmt.Sprintf("%s %q: %v", kind, value, err)
}

// vaultSinkHost checks the files a Vault sink reads, then, when the rest
// of the sink is good (buildable), builds it as `run` does (reading
// VAULT_ADDR, VAULT_NAMESPACE and VAULT_TOKEN where the file leaves them
// out). The files are checked whatever else is wrong with the sink, so
// that one run reports every problem; an auth file only when its method
// uses it (another is reported as not used). It makes no request:
// `validate --online` does.
func (v *validator) vaultSinkHost(at string, s *Sink, buildable bool) {
	method := s.Auth.Method
	if method == "" {
		method = AuthToken
	}
	uses := vaultAuthUses[method]
	ok := true
	// The kubernetes method reads the pod's service account token when
	// the field is left out: checked as well, or a file meant for a pod
	// passes on a host outside any cluster, where every pass then fails
	// at the sink's login.
	saToken, saDefault := s.Auth.ServiceAccountTokenFile, false
	if saToken == "" && method == AuthKubernetes {
		saToken, saDefault = podServiceAccountTokenFile, true
	}
	for _, f := range []struct{ field, path string }{
		{"auth.token_file", s.Auth.TokenFile},
		{"auth.secret_id_file", s.Auth.SecretIDFile},
		{"auth.service_account_token_file", saToken},
		{"tls.ca_cert", s.TLS.CACert},
	} {
		if f.path == "" {
			continue
		}
		// Missing, it is the host's problem; there but not to be
		// opened (a directory this user cannot search, a symlink
		// loop), the open's error says which, noting the default.
		note := ""
		if saDefault && f.field == "auth.service_account_token_file" {
			note = " (not set: the pod's service account token, the default)"
			if _, err := os.Stat(f.path); errors.Is(err, fs.ErrNotExist) {
				v.addf(at+"."+f.field, "not set, and the pod's service account token (%s, the default) is not on this host: outside a pod, name the token of a service account Vault's kubernetes auth trusts (validate --file-only checks a file meant for a pod)", f.path)
				ok = false
				continue
			}
		}
		if auth, isAuth := strings.CutPrefix(f.field, "auth."); isAuth && !slices.Contains(uses, auth) {
			continue
		}
		// Opened as the sink opens it (secret.OpenFile): without blocking,
		// and a regular file only: a named pipe planted there would hold
		// the open until someone writes to it.
		fh, fi, err := secret.OpenFile(f.path, secret.FileOptions{})
		var notRegular *secret.NotRegularError
		switch {
		case errors.As(err, &notRegular):
			v.addf(at+"."+f.field, "%s: %v%s", secret.ShownPath(f.path), notRegular, note)
			ok = false
		case err != nil:
			v.addf(at+"."+f.field, "%v%s", err, note)
			ok = false
		default:
			fh.Close()
			// The operator's token and secret_id (a service account
			// token is the kubelet's, 0644 in projected volumes).
			if (f.field == "auth.token_file" || f.field == "auth.secret_id_file") && fi.Mode().Perm()&0o004 != 0 {
				v.warnf(at+"."+f.field, "%s has mode %04o: every user on this host can read it and use its Vault rights (every secret this sink writes); chmod 0600, or 0640 and a group",
					secret.ShownPath(f.path), fi.Mode().Perm())
			}
		}
	}
	if s.Address == "" && v.getenv("VAULT_ADDR") == "" {
		// Beside the files' problems, not after them.
		v.addf(at, "no address: set address or VAULT_ADDR")
		return
	}
	if !ok || !buildable {
		return
	}
	sk, err := vault.New(VaultOptions(s, zap.NewNop(), v.getenv))
	if err != nil {
		field := at
		msg := strings.TrimPrefix(err.Error(), "vault sink: ")
		switch {
		case strings.HasPrefix(msg, "no address"):
			field, msg = at, "no address: set address or VAULT_ADDR"
		case strings.HasPrefix(msg, "auth: "):
			field, msg = at+".auth", strings.TrimPrefix(msg, "auth: ")
		case strings.HasPrefix(msg, "address"):
			field = at + ".address"
		}
		v.addf(field, "%s", msg)
		return
	}
	sk.Close()
}

// VaultOptions returns the options `run` builds a Vault sink with.
func VaultOptions(s *Sink, log *zap.Logger, getenv func(string) string) vault.Options {
	return vault.Options{
		Address:      s.Address,
		Namespace:    s.Namespace,
		Mount:        s.Mount,
		Path:         s.PathTemplate(),
		TakeOver:     s.TakeOver,
		InsecureHTTP: s.InsecureHTTP,
		Auth: vault.AuthOptions{
			Method:                  string(s.Auth.Method),
			TokenFile:               s.Auth.TokenFile,
			RoleID:                  s.Auth.RoleID,
			SecretIDFile:            s.Auth.SecretIDFile,
			Role:                    s.Auth.Role,
			ServiceAccountTokenFile: s.Auth.ServiceAccountTokenFile,
			MountPath:               s.Auth.MountPath,
		},
		TLS: vault.TLSOptions{
			CACert:             s.TLS.CACert,
			ServerName:         s.TLS.ServerName,
			InsecureSkipVerify: s.TLS.InsecureSkipVerify,
		},
		Logger: log,
		Getenv: getenv,
	}
}

// CheckStateDir reports whether `run` will accept dir as its state
// directory, without creating anything. It mirrors state.Open: the
// directory is created 0700 when missing (so its nearest existing parent
// must let this user create it), and the directory and its records
// directory must be owned by this user and writable by nobody else, and
// no symlink another user owns may lead there (state.CheckPath). The
// records already there must load (state.OpenReadOnly). The lock is not
// tried: a running rotatord holds it.
func CheckStateDir(dir string) error {
	if !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("state dir %q: %w", dir, err)
		}
		dir = abs
	}
	if err := state.CheckPath(dir); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return creatable(dir)
	case err != nil:
		return fmt.Errorf("state dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("state dir %s: not a directory", dir)
	}
	records := filepath.Join(dir, "records")
	for _, d := range []string{dir, records} {
		fi, err := os.Stat(d)
		if d == records && errors.Is(err, fs.ErrNotExist) {
			if err := creatable(records); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		// The same rules and words as state.checkPrivate.
		if fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("state dir %s: mode %04o lets others write; use 0700", d, fi.Mode().Perm())
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("state dir %s: owned by uid %d, not by rotatord's uid %d", d, st.Uid, os.Geteuid())
		}
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("state dir %s: this user (uid %d) cannot write in it: %w", dir, os.Geteuid(), err)
	}
	st, err := state.OpenReadOnly(dir)
	if err != nil {
		return err
	}
	return st.Close()
}

// creatable reports whether os.MkdirAll could create dir: its nearest
// existing ancestor is a directory this user may create entries in.
func creatable(dir string) error {
	p := dir
	for {
		parent := filepath.Dir(p)
		fi, err := os.Stat(parent)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("state dir %s: %s is not a directory", dir, parent)
			}
			if err := unix.Access(parent, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("state dir %s: does not exist, and this user (uid %d) cannot create it in %s: %w", dir, os.Geteuid(), parent, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) || parent == p {
			return fmt.Errorf("state dir %s: %w", dir, err)
		}
		p = parent
	}
}

// podServiceAccountTokenFile is the token a Vault kubernetes login reads
// when service_account_token_file is left out (a variable for tests).
var podServiceAccountTokenFile = vault.DefaultServiceAccountTokenFile
