package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rotatord/rotatord/sinks/vault"
)

// accounts checks the exoscale block and every entry of accounts.
func (v *validator) accounts(c *Config) {
	top := v.keys("")
	c.defaultUsed = top["exoscale"] || len(c.Accounts) == 0
	for _, p := range c.Policies {
		if p.AccountOf() == DefaultAccount {
			c.defaultUsed = true
		}
	}
	if c.defaultUsed {
		v.account("exoscale", &c.Exoscale)
	}
	seen := map[string]string{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		at := fmt.Sprintf("accounts[%d]", i)
		switch first, dup := seen[a.Name]; {
		case a.Name == "":
			v.addf(at+".name", "required")
		case a.Name == DefaultAccount:
			v.addf(at+".name", "%q is the exoscale block's account: name this one otherwise", DefaultAccount)
		case !policyNameRE.MatchString(a.Name):
			v.addf(at+".name", "%q: want lower-case letters, digits, _ and - (up to 63, starting with a letter or digit), as it labels metrics and names a state directory", a.Name)
		case dup:
			v.addf(at+".name", "duplicate account name %q (first used at %s)", a.Name, first)
		default:
			seen[a.Name] = at
		}
		// The environment (EXOSCALE_API_KEY) is the default account's:
		// another account names its credential.
		e := &a.Exoscale
		if e.CredentialFrom == "" && e.CredentialFile == "" &&
			(e.APIKey == "" && e.APIKeyFile == "" || e.APISecret.IsZero() && e.APISecretFile == "") {
			v.addf(at, "no credential: set api_key (or api_key_file) and api_secret (or api_secret_file), or credential_from; the environment is the exoscale block's")
		}
		v.account(at, e)
	}
}

// credentialsApart refuses two accounts that share a credential (one file,
// or one key: one organization under two names, two journals on its keys),
// a sink that would overwrite a credential file, and own_key written with
// nothing after it (null, which would silently mean "off").
func (v *validator) credentialsApart(c *Config) {
	files := map[string]string{}
	type sameFile struct {
		fi       os.FileInfo
		path, at string
	}
	var sameFiles []sameFile // with host checks: the files, to compare by device and inode
	vaults := map[string]string{}
	keys := map[string]string{}
	own := map[string]string{} // rotatord's other files → what they are
	if v.file != "" {
		own[filepath.Join(v.base, filepath.Base(v.file))] = "the policy file"
	}
	for _, a := range c.AccountsInUse() {
		at := "exoscale"
		for i := range c.Accounts {
			if c.Accounts[i].Name == a.Name {
				at = fmt.Sprintf("accounts[%d]", i)
			}
		}
		if n, _ := locate(v.root, at+".own_key"); n != nil && deref(n).Tag == "!!null" {
			v.addf(at+".own_key", "empty: write own_key: {} for the defaults (schedule @every 1h, max_age 30d, grace_period 1h), or remove it")
		}
		if cv := a.CredentialVault; a.CredentialFrom == CredentialFromVault && cv != nil {
			k := v.vaultTarget(cv.Address, cv.Namespace, cv.Mount, cv.Path)
			if first, dup := vaults[k]; dup {
				v.addf(at+".credential_vault", "the same Vault secret as the credential of %s: each account needs its own", first)
			}
			vaults[k] = at
		}
		if f := a.CredentialFile; f != "" {
			f = filepath.Clean(f)
			if first, dup := files[f]; dup {
				v.addf(at+".credential_file", "%s is also the credential file of %s: each account needs its own", f, first)
			} else if v.host {
				// Another spelling of one file (a symlinked directory, a
				// hard link): as one path, one credential for two
				// accounts, which run refuses at each pass.
				if fi, err := os.Stat(f); err == nil {
					for _, s := range sameFiles {
						if os.SameFile(fi, s.fi) {
							v.addf(at+".credential_file", "%s is the same file as %s, the credential file of %s (a symlink or a hard link): each account needs its own", f, s.path, s.at)
							break
						}
					}
					sameFiles = append(sameFiles, sameFile{fi: fi, path: f, at: at})
				}
			}
			files[f] = at
		}
		// The files a sink must not write either (the daemon refuses).
		for _, f := range []struct{ path, field string }{{a.APIKeyFile, "api_key_file"}, {a.APISecretFile, "api_secret_file"}} {
			if f.path != "" {
				if _, taken := own[filepath.Clean(f.path)]; !taken {
					own[filepath.Clean(f.path)] = "the " + f.field + " of " + at
				}
			}
		}
		if k := a.APIKey; k != "" {
			if first, dup := keys[k]; dup {
				v.addf(at+".api_key", "the same key as %s: one organization as two accounts would rotate its keys from two journals", first)
			}
			keys[k] = at
		}
	}
	for i, p := range c.Policies {
		for j, sk := range p.Sinks {
			if strings.Contains(sk.Path, "{{") {
				continue
			}
			at := fmt.Sprintf("policies[%d].sinks[%d].path", i, j)
			switch sk.Type {
			case SinkFile:
				path := filepath.Clean(sk.Path)
				if owner, ok := files[path]; ok {
					v.addf(at, "%s is the credential file of %s: a sink must not overwrite the key rotatord signs with", sk.Path, owner)
				} else if what, ok := own[path]; ok {
					v.addf(at, "%s is %s: a file sink never writes it", sk.Path, what)
				} else if dir := filepath.Clean(c.StateDir); !c.State.Kubernetes() && c.StateDir != "" && strings.HasPrefix(path, dir+string(filepath.Separator)) {
					v.addf(at, "%s is inside state_dir %s: a file sink never writes there", sk.Path, dir)
				}
			case SinkVault:
				if owner, ok := vaults[v.vaultTarget(sk.Address, sk.Namespace, sk.Mount, sk.Path)]; ok {
					v.addf(at, "%s is the Vault credential of %s: a sink must not overwrite the key rotatord signs with", sk.Path, owner)
				}
			}
		}
	}
}

// vaultTarget names a Vault secret: the same path on another mount,
// namespace or server is another secret; two spellings of one server's
// address are one server. An address or namespace left out is
// VAULT_ADDR's or VAULT_NAMESPACE's, as the Vault client takes it.
func (v *validator) vaultTarget(address, namespace, mount, path string) string {
	if address == "" && v.getenv != nil {
		address = v.getenv("VAULT_ADDR")
	}
	if namespace == "" && v.getenv != nil {
		namespace = v.getenv("VAULT_NAMESPACE")
	}
	if mount == "" {
		mount = vault.DefaultMount
	}
	return strings.Join([]string{vault.CanonicalAddress(address), strings.Trim(namespace, "/"), strings.Trim(mount, "/"), strings.Trim(path, "/")}, "\x00")
}

// policyAccounts checks that every policy names an account of the file.
func (v *validator) policyAccounts(c *Config) {
	known := []string{}
	if c.defaultUsed {
		known = append(known, DefaultAccount)
	}
	for _, a := range c.Accounts {
		known = append(known, a.Name)
	}
	for i, p := range c.Policies {
		if p.Account == "" || p.Account == DefaultAccount {
			continue
		}
		ok := false
		for _, a := range c.Accounts {
			ok = ok || a.Name == p.Account
		}
		if !ok {
			v.addf(fmt.Sprintf("policies[%d].account", i), "no account named %q (known: %s)", p.Account, strings.Join(known, ", "))
		}
	}
}
