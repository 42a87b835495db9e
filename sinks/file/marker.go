package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// A file sink replaces only files rotatord wrote, unless the sink says
// take_over (Options.TakeOver), like the Vault sink. A regular file at the
// target is rotatord's when
//
//  1. it carries the extended attribute user.rotatord with the value
//     "file sink": every write sets it on the temp file before the file
//     gets its name, so it comes with the content (rename keeps the inode).
//     Writing a user.* attribute needs write permission on the file, so
//     whoever could set it could have written the file anyway; or, where
//     that attribute is missing,
//  2. its content is, byte for byte, what rotatord writes for the
//     credential it holds and the target's key name, in the sink's format
//     (json, env, exoscale-toml): rotatord's own layout. This covers file
//     systems without user extended attributes (tmpfs before Linux 6.6,
//     some network file systems) and files written by a rotatord older
//     than the attribute. A file someone else wrote in exactly that layout
//     is a credential file for the same key, which the sink exists to
//     replace. A free-form template has no layout rotatord can recognise:
//     there only the attribute counts, and Probe refuses a template sink
//     whose directory cannot keep it (unless take_over), rather than let
//     the second rotation fail.
//
// Anything else (an operator's hand-written file, a file rotatord's
// attribute was lost from because a consumer replaced it) is refused by
// Probe, so no key is created for it, and by Write, with an error naming
// the path and take_over.
//
// The attribute's value names the policy whose sink wrote the file
// ("policy ci"): when two policies' sink paths meet for some key name (a
// key someone created under a name another policy writes to), neither
// replaces the other's file. The value "file sink", written by earlier
// versions, belongs to any policy.
const (
	markerAttr   = "user.rotatord"
	markerValue  = "file sink" // any policy's, written before policies were named in it
	markerPolicy = "policy "
)

// markerValue is the marker this sink writes.
func (s *Sink) markerValue() string {
	if s.policy == "" {
		return markerValue
	}
	return markerPolicy + s.policy
}

// ownCredentialOfAnother reports whether a credential store (a policy
// named with "_", which no policy of the file may be: _self, _self-NAME)
// wrote the file marked mark, and this sink is not one: the file holds the
// key rotatord signs with, which no policy's sink may replace, take_over
// or not. Options.Protect names those files by path and by device and
// inode, which a spelling on another device escapes (a FUSE mirror such as
// bindfs, the same NFS export mounted twice); the marker travels with the
// file.
func (s *Sink) ownCredentialOfAnother(mark string) bool {
	return strings.HasPrefix(mark, markerPolicy+"_") && !strings.HasPrefix(s.policy, "_")
}

// MarkOwn gives the file at name's target this sink's marker when it has
// another: a credential store calls it at
// start on the credential file an operator wrote, so that every policy's
// sink refuses the file (ownCredentialOfAnother) before rotatord's first
// own rotation rewrites it. It changes nothing else; a file system without
// extended attributes answers errNoXattr, which the caller may ignore.
func (s *Sink) MarkOwn(ctx context.Context, name string) error {
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
	f, _, err := d.openRegular(filepath.Base(path))
	if err != nil {
		return err
	}
	defer f.Close()
	if mark, err := readMarker(f); err != nil || mark == s.markerValue() {
		return err
	}
	return setMarker(f, s.markerValue())
}

// IsNoXattr reports whether err says the file system keeps no extended
// attributes.
func IsNoXattr(err error) bool { return errors.Is(err, errNoXattr) }

// ErrNotManaged means the target is a file rotatord did not write and the
// sink has no take_over.
var ErrNotManaged = errors.New("the file exists and rotatord did not write it")

// errNoXattr means the file system keeps no user extended attributes.
var errNoXattr = errors.New("file system without user extended attributes")

// markedFile is an open file whose marker can be read: an *os.File or a
// *regularFile.
type markedFile interface {
	Fd() uintptr
	Name() string
}

// checkTarget refuses a target that exists and is not a regular file, and,
// unless take_over, a regular file rotatord did not write. A symlink is
// refused rather than followed or silently replaced: whoever made it meant
// the credential to go somewhere else. name is the key name the target
// belongs to.
func (s *Sink) checkTarget(d *dir, base, name string) error {
	st, err := d.stat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if t := fileType(st.Mode); t != "" {
		return fmt.Errorf("target is not a regular file (%s)", t)
	}
	f, _, err := d.openRegular(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // removed meanwhile
	case s.takeOver && errors.Is(err, fs.ErrPermission):
		// A file rotatord cannot read is not one of its credential
		// files (it reads them), and take_over replaces it unread.
		return nil
	case err != nil:
		return err
	}
	defer f.Close()
	mark, err := readMarker(f)
	switch {
	case err != nil:
		return err
	case s.ownCredentialOfAnother(mark):
		return fmt.Errorf("the target is a credential file rotatord signs with (marked %q): %w", mark, ErrProtected)
	case s.takeOver:
		return s.ownKeyIn(f)
	case mark == markerValue || mark == s.markerValue():
		return nil
	case strings.HasPrefix(mark, markerPolicy):
		return fmt.Errorf("%w for this sink: policy %q's sink wrote it; set take_over: true on the sink to let this one replace it",
			ErrNotManaged, strings.TrimPrefix(mark, markerPolicy))
	}
	if s.format != FormatTemplate {
		data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
		if err != nil {
			return err
		}
		defer clear(data)
		if len(data) <= maxFileSize && s.ownLayout(data, name) {
			return nil
		}
		return fmt.Errorf("%w (it has no extended attribute %s and is not in rotatord's %s layout for %q); set take_over: true on the sink to let rotatord replace it",
			ErrNotManaged, markerAttr, s.format, name)
	}
	return fmt.Errorf("%w (it has no extended attribute %s); set take_over: true on the sink to let rotatord replace it",
		ErrNotManaged, markerAttr)
}

// ownKeyIn refuses a file holding a key id rotatord signs with
// (Options.OwnKeys): one of its credential files (api_key_file, which it
// never marks; a credential file on a file system without extended
// attributes), known by what it holds whatever path reached it. A file
// larger than a sink file may be is not one rotatord reads.
func (s *Sink) ownKeyIn(f io.Reader) error {
	if s.ownKeys == nil {
		return nil
	}
	ids := s.ownKeys()
	if !slices.ContainsFunc(ids, func(id string) bool { return id != "" }) {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return err
	}
	defer clear(data)
	if len(data) > maxFileSize {
		return nil
	}
	for _, id := range ids {
		if id != "" && bytes.Contains(data, []byte(id)) {
			return fmt.Errorf("the target holds the key rotatord signs with: %w", ErrProtected)
		}
	}
	return nil
}

// ownLayout reports whether data is exactly what rotatord writes, in the
// sink's format, for the credential data holds and the key name.
func (s *Sink) ownLayout(data []byte, name string) bool {
	c := sinks.Credential{Name: name}
	switch s.format {
	case FormatJSON:
		var j struct {
			APIKey    string `json:"api_key"`
			APISecret string `json:"api_secret"`
			RoleID    string `json:"role_id"`
			CreatedAt string `json:"created_at"`
		}
		if json.Unmarshal(data, &j) != nil {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, j.CreatedAt)
		if err != nil {
			return false
		}
		c.KeyID, c.Secret, c.RoleID, c.CreatedAt = j.APIKey, secret.Value(j.APISecret), j.RoleID, t
	case FormatEnv, FormatExoscaleTOML:
		var (
			keyID, sec string
			err        error
		)
		if s.format == FormatEnv {
			keyID, sec, err = parseEnv(data)
		} else {
			keyID, sec, err = parseTOML(data)
		}
		if err != nil {
			return false
		}
		c.KeyID, c.Secret = keyID, secret.Value(sec)
	default:
		return false
	}
	want, err := render(s.format, nil, c)
	if err != nil {
		return false
	}
	defer clear(want)
	return bytes.Equal(data, want)
}
