package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/sinks/file"
)

// ownCredential checks where rotatord's credential lives (credential_from)
// and the own_key block that rotates it. It runs after the api_key and
// api_secret checks, in exoscale's validation.
func (v *validator) ownCredential(at string, e *Exoscale) {
	if e.CredentialFrom == "" && e.CredentialFile != "" {
		e.CredentialFrom = CredentialFromFile
	}
	switch e.CredentialFrom {
	case "":
		if e.CredentialVault != nil {
			v.addf(at+".credential_vault", "set credential_from: %s to read the credential from Vault", CredentialFromVault)
		}
	case CredentialFromFile:
		if e.CredentialFile == "" {
			v.addf(at+".credential_file", "required with credential_from: %s (a JSON file holding api_key and api_secret)", CredentialFromFile)
		}
		if e.CredentialVault != nil {
			v.addf(at+".credential_vault", "only with credential_from: %s", CredentialFromVault)
		}
		if strings.Contains(e.CredentialFile, "{{") {
			v.addf(at+".credential_file", "%q: one file, not a template", e.CredentialFile)
		}
		e.CredentialFile = v.abs(e.CredentialFile)
		if v.host && e.CredentialFile != "" && !strings.Contains(e.CredentialFile, "{{") {
			_, resolveErr := (apiclient.CredentialSource{PairFile: e.CredentialFile}).Resolve(noEnv)
			if resolveErr != nil {
				v.addf(at+".credential_file", "%s", strings.TrimPrefix(resolveErr.Error(), "credential_file: "))
			}
			if e.OwnKey != nil {
				if err := checkWritable(filepath.Dir(e.CredentialFile)); err != nil {
					v.addf(at+".credential_file", "own_key writes the new credential next to it: %v", err)
				}
				if fi, err := os.Lstat(e.CredentialFile); err == nil && fi.Mode()&os.ModeSymlink != 0 {
					v.addf(at+".credential_file", "%s is a symlink: own_key replaces the file, and rotatord refuses to write through a symlink (point credential_file at the file itself)", e.CredentialFile)
				} else if resolveErr == nil {
					if err := readAsStore(e.CredentialFile); err != nil {
						v.addf(at+".credential_file", "%v", err)
					}
				}
			}
			if fi, err := os.Stat(e.CredentialFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
				v.warnf(at+".credential_file", "mode %04o: others may read or write the credential; chmod 0600 it", fi.Mode().Perm())
			}
		}
	case CredentialFromVault:
		if e.CredentialFile != "" {
			v.addf(at+".credential_file", "only with credential_from: %s", CredentialFromFile)
		}
		if e.CredentialVault == nil {
			v.addf(at+".credential_vault", "required with credential_from: %s (address, mount, path and auth, as a vault sink has)", CredentialFromVault)
			break
		}
		s := e.CredentialVault
		keys := v.keys(at + ".credential_vault")
		for _, f := range append(slices.Clone(fileOnlyFields), "take_over") {
			if keys[f] {
				v.addf(at+".credential_vault."+f, "not a setting of the credential's Vault secret")
			}
		}
		if keys["type"] && s.Type != SinkVault {
			v.addf(at+".credential_vault.type", "must be %s (or left out)", SinkVault)
		}
		if strings.Contains(s.Path, "{{") {
			v.addf(at+".credential_vault.path", "%q: one secret, not a template", s.Path)
		}
		v.vaultSink(at+".credential_vault", s, "rotatord", false, map[string]string{})
		s.Type = SinkVault
	default:
		v.addf(at+".credential_from", "unknown value %q (want %s or %s)", echo(e.CredentialFrom), CredentialFromFile, CredentialFromVault)
	}
	if e.CredentialFrom != "" {
		for field, set := range map[string]bool{
			"api_key": e.APIKey != "", "api_key_file": e.APIKeyFile != "",
			"api_secret": !e.APISecret.IsZero(), "api_secret_file": e.APISecretFile != "",
		} {
			if set {
				v.addf(at+"."+field, "conflicts with credential_from: %s, which holds the key and its secret", e.CredentialFrom)
			}
		}
	}

	o := e.OwnKey
	if o == nil {
		return
	}
	if e.CredentialFrom == "" {
		v.addf(at+".own_key", "needs credential_from (%s or %s): rotatord writes its new credential there; api_key, api_secret and the environment are read-only to it", CredentialFromFile, CredentialFromVault)
	}
	at += ".own_key"
	if sched, err := parseSchedule(o.Schedule); err != nil {
		v.addf(at+".schedule", "bad schedule %q: %v", o.Schedule, err)
	} else {
		o.schedule = sched
		p := Policy{Schedule: o.Schedule, MaxAge: o.MaxAge, schedule: sched}
		v.schedule(at, &p)
	}
	if o.MaxAge <= 0 {
		v.addf(at+".max_age", "must be > 0, got %s", v.written(at+".max_age", o.MaxAge))
	}
	if o.GracePeriod < 0 {
		v.addf(at+".grace_period", "must not be negative, got %s", v.written(at+".grace_period", o.GracePeriod))
	}
}

// checkWritable reports a directory rotatord cannot create files in.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".rotatord-probe-*")
	if err != nil {
		return fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// readAsStore reads the credential file as run reads it with own_key: through
// the file sink that replaces it, whose rules (no symlink, a directory only
// root and rotatord's user may write) the plain read above does not apply.
func readAsStore(path string) error {
	t, err := template.New("path").Parse(path)
	if err != nil {
		return nil // a path that is not a literal is reported elsewhere
	}
	sk, err := file.New(file.Options{Path: t, Format: file.FormatJSON, Mode: 0o600, UID: -1, GID: -1, TakeOver: true})
	if err != nil {
		return err
	}
	_, err = sk.Read(context.Background(), "")
	return err
}
