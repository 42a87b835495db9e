package daemon

// Review 13b: tries to break the fixes of commit 8d1ae04 on the daemon
// side. A failing test here is a defect.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/rotation"
)

// keepWorkingAccounts keeps an account whose credential a reload cannot
// read with its previous setup, policies included, whatever the new file
// says of them. The operator moves green-ci from account green to the
// default account (and gives green another policy) while green's secret
// file is being replaced: the reload succeeds, and green-ci is now built
// in both accounts. The two engines write one sink path
// (out/green-{{.Name}}.json) with keys of two organizations, each pass
// overwriting the other's, and s.accountOf sends `rotate green-ci` to
// the kept account only. A kept account must not keep a policy the new
// file gives to another account (or drops): refuse the reload, or keep
// only what the new file still gives it.
func TestKeptAccountKeepsAPolicyTheFileMoved(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(b), "  - name: green-ci\n    account: green\n", "  - name: green-ci\n", 1)
	moved += `  - name: green-deploy
    account: green
    match: {name: "deploy-*"}
    grace_period: 0s
    sinks: [{type: file, path: "out/deploy-{{.Name}}.json"}]
`
	if moved == string(b) {
		t.Fatal("setup: config not rewritten")
	}
	if err := os.WriteFile(e.config, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.dir, "green-secret")); err != nil {
		t.Fatal(err)
	}
	rerr := d.Reload()
	if rerr != nil {
		t.Logf("reload refused: %v (held)", rerr)
		return
	}
	s := d.setup()
	var in []string
	for _, as := range s.accounts {
		for _, p := range as.policies {
			if p.Name == "green-ci" {
				in = append(in, as.name)
			}
		}
	}
	if len(in) != 1 || in[0] != "default" || s.accountOf["green-ci"] != "default" {
		t.Errorf("after a reload moving green-ci to the default account while green's credential was unreadable, green-ci is built in accounts %v and routed to %q", in, s.accountOf["green-ci"])
	}
}
