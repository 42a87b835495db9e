package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// sinkDef is one sink of a policy. File sinks each have a directory of
// their own, so that a fault on one directory hits one sink of a policy and
// leaves the others working.
type sinkDef struct {
	id     string // also the directory under sinks/
	format string // json, env, exoscale-toml, template or vault
	ext    string
	extra  bool // added by a reload during the campaign, kept from then on
}

// The template sinks write this layout, which only the campaign parses:
// rotatord cannot read it back.
const sinkTemplate = `key={{.APIKey}}\nsecret={{.APISecret}}\n`

func (s sinkDef) path(dir, name string) string {
	return filepath.Join(dir, "sinks", s.id, name+s.ext)
}

// where names the sink of name in reports: its file, Vault path or Secret.
func (s sinkDef) where(dir, name string) string {
	switch s.format {
	case "vault":
		return "vault:secret/chaos/" + name
	case "kubernetes":
		return "secret:" + haNamespace + "/chaos-" + name
	}
	return s.path(dir, name)
}

// cred is a credential a consumer reads from a sink.
type cred struct{ Key, Secret string }

// sinkFault is a fault on one sink directory. Every kind stops root too:
// the directory is moved aside (consumers keep reading what it held, from
// the moved copy) and its path becomes a regular file or a dangling
// symlink, so probes, writes and read-backs all fail with ENOTDIR or
// ENOENT whoever runs rotatord. "chmod" (0500) is added when the campaign
// does not run as root, where it stops writes but not reads.
type sinkFault struct {
	kind   string // dir-is-file, dangling-symlink or chmod
	moved  string // where the directory's content is meanwhile
	since  time.Time
	sinkID string
}

var sinkFaultKinds = []string{"dir-is-file", "dangling-symlink"}

// startSinkFault puts a fault on the directory of sink sd. The caller holds
// c.fmu for writing.
func (c *campaign) startSinkFault(sd sinkDef, kind string) error {
	dir := filepath.Join(c.dir, "sinks", sd.id)
	f := &sinkFault{kind: kind, sinkID: sd.id, since: time.Now(), moved: dir}
	switch kind {
	case "chmod":
		if err := os.Chmod(dir, 0o500); err != nil {
			return err
		}
	default:
		f.moved = dir + ".moved"
		if err := os.Rename(dir, f.moved); err != nil {
			return err
		}
		var err error
		if kind == "dir-is-file" {
			err = os.WriteFile(dir, []byte("a sink fault of the chaos campaign\n"), 0o600)
		} else {
			err = os.Symlink(dir+".missing", dir)
		}
		if err != nil {
			return err
		}
	}
	c.faulted[sd.id] = f
	return nil
}

// endSinkFault puts the directory back. The caller holds c.fmu for writing.
func (c *campaign) endSinkFault(id string) error {
	f := c.faulted[id]
	if f == nil {
		return nil
	}
	delete(c.faulted, id)
	dir := filepath.Join(c.dir, "sinks", id)
	if f.kind == "chmod" {
		return os.Chmod(dir, 0o700)
	}
	if err := os.Remove(dir); err != nil {
		return err
	}
	return os.Rename(f.moved, dir)
}

// consumerPath is where the consumer of sink sd finds the file of name: its
// own path, or the moved copy while the directory is faulted. The caller
// holds c.fmu.
func (c *campaign) consumerPath(sd sinkDef, name string) string {
	if f := c.faulted[sd.id]; f != nil {
		return filepath.Join(f.moved, name+sd.ext)
	}
	return sd.path(c.dir, name)
}

// readSink returns what the consumer of sink sd for name holds now; found
// is false when the sink has nothing yet. The caller holds c.fmu.
func (c *campaign) readSink(ctx context.Context, sd sinkDef, name string) (cr cred, found bool, err error) {
	switch sd.format {
	case "vault":
		return c.readVault(ctx, name)
	case "kubernetes":
		return c.readSecretSink(ctx, name)
	}
	path := c.consumerPath(sd, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cred{}, false, nil
	}
	if err != nil {
		return cred{}, false, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return cred{}, true, fmt.Errorf("mode %04o lets others read it", fi.Mode().Perm())
	}
	cr, err = parseSink(sd.format, b)
	return cr, true, err
}

// parseSink reads a credential in one of the file formats, the way its
// consumer would. Errors never quote the content: it holds a secret.
func parseSink(format string, b []byte) (cred, error) {
	var cr cred
	switch format {
	case "json":
		var v struct {
			APIKey    string `json:"api_key"`
			APISecret string `json:"api_secret"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return cred{}, errors.New("json does not parse")
		}
		cr = cred{v.APIKey, v.APISecret}
	case "env", "exoscale-toml", "template":
		fields := map[string]string{}
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			fields[k] = v
		}
		switch format {
		case "env":
			cr = cred{fields["EXOSCALE_API_KEY"], fields["EXOSCALE_API_SECRET"]}
		default: // the exo CLI's account section, and our template
			cr = cred{fields["key"], fields["secret"]}
		}
	default:
		return cred{}, fmt.Errorf("unknown format %q", format)
	}
	if cr.Key == "" || cr.Secret == "" {
		return cred{}, fmt.Errorf("%s content lacks a key or a secret", format)
	}
	return cr, nil
}

// readVault reads the KV v2 secret of name as a consumer would.
func (c *campaign) readVault(ctx context.Context, name string) (cred, bool, error) {
	if c.vault == nil {
		return cred{}, false, nil
	}
	var out struct {
		Data struct {
			Data map[string]any `json:"data"`
		} `json:"data"`
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.vault.Do(ctx, vaulttest.RootToken, "GET", "secret/data/chaos/"+name, nil, &out)
	if vaulttest.IsStatus(err, 404) {
		return cred{}, false, nil
	}
	if err != nil {
		return cred{}, false, err
	}
	k, _ := out.Data.Data["api_key"].(string)
	s, _ := out.Data.Data["api_secret"].(string)
	if k == "" || s == "" {
		return cred{}, true, errors.New("vault secret lacks api_key or api_secret")
	}
	return cred{k, s}, true, nil
}

// copyDir copies a directory tree (regular files and directories only),
// keeping modes: the state directory's backup and restore.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != src {
				return nil // removed while copying: a live backup
			}
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
}
