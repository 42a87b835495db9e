package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// secretElsewhere refuses an inline api_secret written (or aliased, *s)
// anywhere else in the file: in a field that is no secret (a Vault
// sink's mount or namespace, a glob, a data key's name, a label) it is
// shown whole as a valid value would be, by validate --online, plan,
// the log of a pass and the sink it names, none of which cut it as the
// messages of the file's problems are cut. An inline secret of more than
// maxEcho characters is looked for, by any maxEcho+1 of its characters
// in a row, in every other value, key, anchor and tag of the file.
func (v *validator) secretElsewhere(c *Config) {
	secrets := map[string]string{} // field path of an inline secret → the secret
	if s := c.Exoscale.APISecret.Reveal(); len(s) > maxEcho {
		secrets["exoscale.api_secret"] = s
	}
	for i := range c.Accounts {
		if s := c.Accounts[i].APISecret.Reveal(); len(s) > maxEcho {
			secrets[fmt.Sprintf("accounts[%d].api_secret", i)] = s
		}
	}
	if len(secrets) == 0 || v.root == nil {
		return
	}
	holds := func(s string) string {
		for at, sec := range secrets {
			for i := 0; i+maxEcho < len(sec); i++ {
				if strings.Contains(s, sec[i:i+maxEcho+1]) {
					return at
				}
			}
		}
		return ""
	}
	seen := map[string]bool{}
	report := func(p, from string) {
		if p == "" {
			p = from
		}
		if !seen[p] {
			seen[p] = true
			v.addf(p, "holds the secret written in %s (or part of it): a secret is written in api_secret only, where it is never shown", from)
		}
	}
	var walk func(n *yaml.Node, p string, depth int)
	walk = func(n *yaml.Node, p string, depth int) {
		if n == nil || depth > 100 {
			return
		}
		if secrets[p] != "" {
			// An inline secret in its own place (also through an alias or
			// a merge key: an account's <<: *exoscale).
			return
		}
		for _, w := range []string{n.Anchor, n.Tag} {
			if from := holds(w); from != "" {
				report(p, from)
			}
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, p, depth+1)
			}
		case yaml.AliasNode:
			walk(n.Alias, p, depth+1)
		case yaml.ScalarNode:
			if from := holds(n.Value); from != "" {
				report(p, from)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", p, i), depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				if from := holds(k.Value); from != "" {
					report(p, from)
					continue
				}
				if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
					// Merged into this mapping: one mapping, or a list of them.
					if m := deref(val); m != nil && m.Kind == yaml.SequenceNode {
						for _, c := range m.Content {
							walk(c, p, depth+1)
						}
						continue
					}
					walk(val, p, depth+1)
					continue
				}
				sub := k.Value
				if p != "" {
					sub = p + "." + k.Value
				}
				walk(val, sub, depth+1)
			}
		}
	}
	walk(v.root, "", 0)
}
