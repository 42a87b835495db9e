package config

import (
	"fmt"
	"strings"
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
