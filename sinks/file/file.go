// Package file owns the file sink: it writes each new credential to a local
// file, as JSON, an env file, an exo CLI config or a user template, and
// replaces the previous file atomically.
//
// A write renders everything in memory first, then creates a temp file next
// to the target (so the rename stays on one file system), sets its mode and
// owner, writes, fsyncs, renames it over the target and fsyncs the
// directory. A reader therefore sees the old file or the new one, never a
// partial one, and the new one survives a crash once Write returns.
//
// On Linux the temp file is created without a name (O_TMPFILE) and only
// named (linkat) once complete, just before the rename: a crash leaves a
// temp file holding the secret only in that short window, and the next
// write of the target removes it. Elsewhere, or where the file system lacks
// O_TMPFILE, the temp file is named from the start.
//
// rotatord usually runs as root, and the directories on a sink's path may
// belong to others. Every operation therefore opens the sink's directory
// without following symlinks others could have planted, refuses a
// directory others can write, and works relative to the open directory
// (dir.go); it never replaces a file rotatord did not write unless the sink
// says take_over (marker.go); and it opens a target for reading with
// O_NOFOLLOW|O_NONBLOCK and reads it only once the open file is known to be
// a regular one. The package needs a Unix system.
package file

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/keylock"
	"github.com/rotatord/rotatord/internal/nametmpl"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// DefaultMode is the file mode used when Options.Mode is zero.
const DefaultMode os.FileMode = 0o600

// maxFileSize bounds what Verify and Read load: a credential file is a few
// hundred bytes, and the target may have been replaced by anything.
const maxFileSize = 1 << 20

var (
	// ErrUnreadable means Read cannot tell which credential the file holds:
	// always for the "template" format, whose output rotatord cannot parse
	// back, and for a file of another format that does not parse. Verify
	// with a known credential still works for a template file.
	ErrUnreadable = fmt.Errorf("file content cannot be read back as a credential: %w", sinks.ErrUnreadable)
	// ErrPermissions means the file holds the right credential but its mode
	// or owner is not the configured one, e.g. someone made it
	// world-readable. The next Write sets them again.
	ErrPermissions = errors.New("file mode or owner differs from the configured one")
)

// Options configures a file sink.
type Options struct {
	// Path renders the target path from .Name, the API key's name. The
	// rendered path must be absolute and clean, and its directory must exist.
	Path *template.Template
	// Format is one of FormatJSON, FormatEnv, FormatExoscaleTOML and
	// FormatTemplate.
	Format string
	// Template is executed for FormatTemplate, with .Name, .APIKey,
	// .APISecret, .RoleID and .CreatedAt (a time.Time in UTC). It must be
	// nil for the other formats.
	Template *template.Template
	// Mode is the file's permission bits, DefaultMode when zero. It must
	// let the owner read the file and must not let others write it.
	Mode os.FileMode
	// UID and GID own the file when >= 0; -1 leaves them to the process.
	// Note that the zero value means root. They may also own or
	// group-write the sink's directory.
	UID, GID int
	// AllowWorldReadable lets Mode grant read to all users (0644), which
	// New refuses otherwise: group-readable (0640) is the way to share.
	AllowWorldReadable bool
	// TakeOver lets Probe and Write replace a regular file at the target
	// that rotatord did not write (see marker.go), instead of refusing.
	TakeOver bool
	// Policy names the policy the sink belongs to. Its files carry it in
	// their marker, so another policy's sink never replaces them.
	Policy string
	// Protect lists rotatord's own files (its credential files, its
	// state directory), which the sink refuses to write whatever a key's
	// name renders to (protect.go). validate compares literal paths; a
	// path template is only known for a name at write time.
	Protect []Protected
	// OwnKeys returns the key ids rotatord signs with (every account's):
	// with take_over, a file holding one is refused (ownKeyIn), whatever
	// path reached it.
	OwnKeys func() []string
	// Fence, when set (leader election), is asked right before the new
	// file takes the target's place: a replica that lost the Lease while
	// it wrote and synced the file (or was paused meanwhile) leaves the
	// target as it was. The engine asks too, before the write starts.
	Fence fence.Func
}

// Sink writes credentials to files. It is safe for concurrent use; writes to
// the same path are serialized.
type Sink struct {
	path     *template.Template
	render   *nametmpl.Renderer // path
	format   string
	tmpl     *template.Template
	mode     os.FileMode
	uid, gid int
	takeOver bool
	policy   string
	protect  []Protected
	ownKeys  func() []string
	fence    fence.Func

	locks keylock.Set // per target path: one write, verify or read at a time

	probed probeCache // the latest temp-file probe of each directory (probecache.go)

	// inject, when set by a test, runs before each named step of a write or
	// probe and fails that step with its error.
	inject func(step string) error
}

var _ sinks.Sink = (*Sink)(nil)

// New validates opts and returns a sink. It renders the path and the content
// for a sample credential, so that a template referring to an unknown field
// or rendering a relative path fails at startup, not at the first rotation.
func New(opts Options) (*Sink, error) {
	if opts.Path == nil {
		return nil, errors.New("file sink: path template missing")
	}
	switch opts.Format {
	case FormatJSON, FormatEnv, FormatExoscaleTOML:
		if opts.Template != nil {
			return nil, fmt.Errorf("file sink: a template is only used with format %q, not %q", FormatTemplate, opts.Format)
		}
	case FormatTemplate:
		if opts.Template == nil {
			return nil, fmt.Errorf("file sink: format %q needs a template", FormatTemplate)
		}
	default:
		return nil, fmt.Errorf("file sink: unknown format %q (want %s, %s, %s or %s)",
			opts.Format, FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate)
	}
	mode := opts.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	switch {
	case mode&^fs.ModePerm != 0:
		return nil, fmt.Errorf("file sink: mode %v has bits other than permissions", mode)
	case mode&0o400 == 0:
		// Verify and Read run as the owner.
		return nil, fmt.Errorf("file sink: mode %#o does not let the owner read the file", mode)
	case mode&0o002 != 0:
		return nil, fmt.Errorf("file sink: mode %#o lets anyone replace the credential", mode)
	case mode&0o004 != 0 && !opts.AllowWorldReadable:
		return nil, fmt.Errorf("file sink: mode %#o lets every user read the credential: use 0640 and a group to share it, or allow world-readable files", mode)
	}
	if opts.UID < -1 || opts.GID < -1 {
		return nil, fmt.Errorf("file sink: uid %d or gid %d below -1", opts.UID, opts.GID)
	}
	for _, p := range opts.Protect {
		if !filepath.IsAbs(p.Path) {
			return nil, fmt.Errorf("file sink: protected path %q (%s) is not absolute", p.Path, p.What)
		}
	}
	s := &Sink{
		path:     opts.Path,
		render:   nametmpl.New(opts.Path),
		format:   opts.Format,
		tmpl:     opts.Template,
		mode:     mode,
		uid:      opts.UID,
		gid:      opts.GID,
		takeOver: opts.TakeOver,
		policy:   opts.Policy,
		protect:  slices.Clone(opts.Protect),
		ownKeys:  opts.OwnKeys,
		fence:    opts.Fence,
	}
	sample := sinks.Credential{
		Name:      "example",
		KeyID:     "EXO0123456789abcdef01234567",
		RoleID:    "00000000-0000-0000-0000-000000000000",
		Secret:    "sample-secret",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if _, err := s.target(sample.Name); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	if _, err := render(s.format, s.tmpl, sample); err != nil {
		return nil, fmt.Errorf("file sink: sample credential: %w", err)
	}
	return s, nil
}

// Kind implements sinks.Sink.
func (s *Sink) Kind() string { return "file" }

// Target implements sinks.Sink: the rendered path, or a placeholder naming
// the path template when it cannot be rendered for name.
func (s *Sink) Target(name string) string {
	p, err := s.target(name)
	if err != nil {
		return fmt.Sprintf("<invalid path from template %q>", s.path.Name())
	}
	return p
}

// target renders the path for name and checks it is absolute and clean, so a
// key name such as "../x" cannot move the file elsewhere.
func (s *Sink) target(name string) (string, error) {
	p, err := s.render.Render(name)
	if err != nil {
		return "", fmt.Errorf("render path template %q for %q: %w", s.path.Name(), name, err)
	}
	switch {
	case p == "":
		return "", fmt.Errorf("path template %q renders an empty path for %q", s.path.Name(), name)
	case !filepath.IsAbs(p):
		return "", fmt.Errorf("path template %q renders relative path %q for %q", s.path.Name(), p, name)
	case filepath.Clean(p) != p || strings.Contains(p, ".."):
		// An absolute path that is clean has no ".." element; this also
		// refuses names with ".." inside, which no key name needs.
		return "", fmt.Errorf("path template %q renders unclean path %q for %q", s.path.Name(), p, name)
	case filepath.Dir(p) == p:
		return "", fmt.Errorf("path template %q renders the root directory for %q", s.path.Name(), name)
	}
	return p, nil
}

func (s *Sink) step(name string) error {
	if s.inject == nil {
		return nil
	}
	return s.inject(name)
}

// Check is Probe without its temp file, for a check that changes nothing
// (validate --online): it opens the target's directory as a write does and
// refuses what the probe refuses before its temp file (one of rotatord's
// own files, a target that is not a regular file, a file rotatord did not
// write without take_over). It writes nothing.
func (s *Sink) Check(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.target(name)
	if err != nil {
		return err
	}
	defer s.locks.Lock(path)()
	d, err := s.openDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.close()
	base := filepath.Base(path)
	if err := s.checkProtected(d, path, base); err != nil {
		return err
	}
	return s.checkTarget(d, base, name)
}

// Probe implements sinks.Sink. It opens the target's directory as a write
// does, refuses a target a write would refuse (not a regular file, or a
// file rotatord did not write without take_over), and creates and removes
// a temp file there with the configured mode, owner and marker. It never
// touches the target.
func (s *Sink) Probe(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.target(name)
	if err != nil {
		return err
	}
	if s.format == FormatTemplate {
		// A template may fail for some names only (validate runs it on a
		// sample): found now, before a key is created for nothing. The
		// key, secret and role are placeholders; the name is the real one.
		content, err := render(s.format, s.tmpl, sinks.Credential{
			Name: name, KeyID: probeKeyID, RoleID: probeRoleID, Secret: probeSecret, CreatedAt: time.Now(),
		})
		size := len(content)
		clear(content)
		if err != nil {
			return fmt.Errorf("probe %s: %w", path, err)
		}
		// The write's read-back (Verify) loads at most maxFileSize: a
		// larger file would be written, then fail, a key made for it.
		if size > maxFileSize {
			return fmt.Errorf("probe %s: template %q renders %d bytes for this name, more than the %d a written file may hold (rotatord reads each file back)",
				path, s.tmpl.Name(), size, maxFileSize)
		}
	}
	defer s.locks.Lock(path)()
	if err := s.probe(path, name); err != nil {
		return fmt.Errorf("probe %s: %w", path, err)
	}
	return nil
}

// Placeholders the probe renders a template with, shaped as the real ones
// (a key id of 27 characters, a secret of 43, a UUID).
const (
	probeKeyID  = "EXO000000000000000000000000"
	probeRoleID = "00000000-0000-0000-0000-000000000000"
	probeSecret = secret.Value("probe-secret-000000000000000000000000000000")
)

func (s *Sink) probe(path, name string) error {
	d, err := s.openDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.close()
	base := filepath.Base(path)
	if err := s.checkProtected(d, path, base); err != nil {
		return err
	}
	if err := s.checkTarget(d, base, name); err != nil {
		return err
	}
	// A test that injects failures sees every step.
	now := time.Now()
	pd, nameMax, known := probedDirOf(d)
	known = known && s.inject == nil
	if known && sharedProbeName(base, nameMax) && s.probed.fresh(pd, now) {
		return nil
	}
	err = s.probeTemp(d, base)
	s.probed.ran(pd, known, err == nil, now, time.Now())
	return err
}

// probeTemp creates a temp file in d as a write would, and removes it.
func (s *Sink) probeTemp(d *dir, base string) error {
	if err := s.step("create"); err != nil {
		return err
	}
	f, tmp, err := createNamed(d, base)
	if err != nil {
		return err
	}
	err = s.mark(f)
	switch {
	case !errors.Is(err, errNoXattr):
	case s.format != FormatTemplate || s.takeOver:
		err = nil
	default:
		err = fmt.Errorf("the file system of %s keeps no extended attribute %s, by which rotatord recognises a template file it wrote at the next rotation; set take_over: true on the sink to let rotatord replace the file anyway",
			d.path, markerAttr)
	}
	if err == nil {
		err = s.prepare(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := d.remove(tmp); err == nil {
		err = rerr
	}
	return err
}

// mark sets the marker of a file rotatord writes; errNoXattr when the file
// system cannot keep it, which a write tolerates (see marker.go).
func (s *Sink) mark(f *os.File) error {
	if err := s.step("mark"); err != nil {
		return err
	}
	return setMarker(f, s.markerValue())
}

// prepare gives the temp file its final mode and owner, and no ACL (one
// inherited from the directory's default ACL would let others read it).
func (s *Sink) prepare(f *os.File) error {
	if err := s.step("chmod"); err != nil {
		return err
	}
	if err := dropACL(f); err != nil {
		return err
	}
	if err := f.Chmod(s.mode); err != nil {
		return err
	}
	if s.uid >= 0 || s.gid >= 0 {
		if err := s.step("chown"); err != nil {
			return err
		}
		// -1 leaves that id unchanged.
		if err := f.Chown(s.uid, s.gid); err != nil {
			return err
		}
	}
	return nil
}

// Write implements sinks.Sink. It refuses a directory others can write, a
// target that is not a regular file (a symlink is not replaced) and, unless
// take_over, a file rotatord did not write; and removes temp files a
// crashed earlier write of the same target left behind.
func (s *Sink) Write(ctx context.Context, c sinks.Credential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.target(c.Name)
	if err != nil {
		return err
	}
	content, err := render(s.format, s.tmpl, c)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Best effort: do not keep a copy of the secret around longer than needed.
	defer clear(content)
	defer s.locks.Lock(path)()
	if err := s.write(path, c.Name, content); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func (s *Sink) write(path, name string, content []byte) error {
	d, err := s.openDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.close()
	base := filepath.Base(path)
	if err := s.checkProtected(d, path, base); err != nil {
		return err
	}
	if err := s.checkTarget(d, base, name); err != nil {
		return err
	}
	s.removeStaleTemps(d, base)
	return s.replace(d, base, content)
}

// replace atomically replaces base in d with content, through an unnamed
// temp file where the system allows, else through a named one.
func (s *Sink) replace(d *dir, base string, content []byte) error {
	err := s.replaceVia(d, base, content, true)
	if errors.Is(err, errNeedNamed) {
		err = s.replaceVia(d, base, content, false)
	}
	return err
}

// replaceVia writes content to a temp file in d, unnamed (O_TMPFILE) until
// it is complete when unnamed is set, and renames it over base. Before the
// rename, any failure removes the temp file and leaves the target as it
// was.
func (s *Sink) replaceVia(d *dir, base string, content []byte, unnamed bool) (err error) {
	if err := s.step("create"); err != nil {
		return err
	}
	var (
		f   *os.File
		tmp string // the temp file's name in d, once it has one
	)
	if unnamed {
		f, err = openUnnamed(d)
	} else {
		f, tmp, err = createNamed(d, base)
	}
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			f.Close() // already closed on some paths; that error is moot
			if tmp != "" {
				removeTemp(d, base, tmp)
			}
		}
	}()
	if err := s.mark(f); err != nil && !errors.Is(err, errNoXattr) {
		return err
	}
	if err := s.prepare(f); err != nil {
		return err
	}
	if err := s.step("write"); err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		return err
	}
	if err := s.step("sync"); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if unnamed {
		// Complete, with its mode and owner: only now does it get a name.
		if err := s.step("link"); err != nil {
			return err
		}
		if tmp, err = linkUnnamed(f, d, base); err != nil {
			return err
		}
	}
	if err := s.step("close"); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := s.step("rename"); err != nil {
		return err
	}
	if s.fence != nil {
		// The last moment before consumers can see the file. (A process
		// paused between this check and the rename still renames as it
		// wakes: no check in the process can close that window.)
		if err := s.fence.Check(); err != nil {
			return err
		}
	}
	if err := d.rename(tmp, base); err != nil {
		return err
	}
	renamed = true
	// The rename is only durable once the directory is synced. The file is
	// complete either way; the caller learns it may not survive a crash.
	if err := s.step("syncdir"); err != nil {
		return err
	}
	return d.sync()
}

// Verify implements sinks.Sink. The content is compared in constant time
// with what Write renders for c; then the mode and, when configured, the
// owner must match.
func (s *Sink) Verify(ctx context.Context, c sinks.Credential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.target(c.Name)
	if err != nil {
		return err
	}
	want, err := render(s.format, s.tmpl, c)
	if err != nil {
		// What cannot be rendered cannot have been written: the file holds
		// something else (or nothing).
		return fmt.Errorf("verify %s: %w: %w", path, err, sinks.ErrMismatch)
	}
	defer clear(want)
	got, st, err := s.readFile(path)
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	defer clear(got)
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("verify %s: %w", path, sinks.ErrMismatch)
	}
	if perm := os.FileMode(st.Mode) & fs.ModePerm; perm != s.mode {
		return fmt.Errorf("verify %s: mode %#o, want %#o: %w", path, perm, s.mode, ErrPermissions)
	}
	if uid, gid := int(st.Uid), int(st.Gid); s.uid >= 0 && uid != s.uid || s.gid >= 0 && gid != s.gid {
		return fmt.Errorf("verify %s: owner %d:%d, want %d:%d: %w", path, uid, gid, s.uid, s.gid, ErrPermissions)
	}
	return nil
}

// Read implements sinks.Sink. For the "template" format it returns
// ErrUnreadable once the file exists: free-form output cannot be parsed back
// reliably.
func (s *Sink) Read(ctx context.Context, name string) (sinks.Held, error) {
	if err := ctx.Err(); err != nil {
		return sinks.Held{}, err
	}
	path, err := s.target(name)
	if err != nil {
		return sinks.Held{}, err
	}
	data, _, err := s.readFile(path)
	if err != nil {
		return sinks.Held{}, fmt.Errorf("read %s: %w", path, err)
	}
	defer clear(data)
	var keyID, sec string
	switch s.format {
	case FormatJSON:
		keyID, sec, err = parseJSON(data)
	case FormatEnv:
		keyID, sec, err = parseEnv(data)
	case FormatExoscaleTOML:
		keyID, sec, err = parseTOML(data)
	default:
		return sinks.Held{}, fmt.Errorf("read %s: format %q: %w", path, s.format, ErrUnreadable)
	}
	if err != nil {
		return sinks.Held{}, fmt.Errorf("read %s: %w: %w", path, err, ErrUnreadable)
	}
	return sinks.Held{KeyID: keyID, Secret: secret.Value(sec)}, nil
}

// readFile reads the regular file at path under its lock, so it never sees
// a write half done, and refuses anything else: the directory is opened as
// a write opens it, the file with O_NOFOLLOW|O_NONBLOCK (a symlink is not
// followed, a FIFO or device swapped in is not waited on) and read only
// once the open file is known to be regular. A missing file is
// sinks.ErrNotHeld.
func (s *Sink) readFile(path string) ([]byte, *unix.Stat_t, error) {
	defer s.locks.Lock(path)()
	d, err := s.openDir(filepath.Dir(path))
	if err != nil {
		return nil, nil, err
	}
	defer d.close()
	f, st, err := d.openRegular(filepath.Base(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, sinks.ErrNotHeld
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxFileSize {
		clear(data)
		return nil, nil, fmt.Errorf("target larger than %d bytes", maxFileSize)
	}
	return data, st, nil
}
