package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// state import over several accounts, one of which already holds records:
// the import is refused with nothing written. It wrote the accounts before
// that one (in the map's random order), and a second try, after the
// operator emptied the one named, was then refused for those.
func TestImportIntoSeveralAccountsWritesNothingWhenOneIsNotEmpty(t *testing.T) {
	dir := t.TempDir()
	var accounts, policies, all, last strings.Builder
	const n = 8
	for i := range n {
		name := fmt.Sprintf("acct%d", i)
		fmt.Fprintf(&accounts, "  - name: %s\n    endpoint: http://127.0.0.1:1/v2\n    api_key: EXO%024d\n    api_secret: secret-%d\n", name, i, i)
		fmt.Fprintf(&policies, "  - name: ci-%s\n    account: %s\n    match: {name: \"ci-*\"}\n    sinks:\n      - {type: file, path: \"out/%s-{{.Name}}.json\"}\n", name, name, name)
		if i > 0 {
			all.WriteString(",")
		}
		rec := fmt.Sprintf(`"%s":[{"policy":"ci-%s","name":"ci-runner","current_key_id":"EXOimported%d"}]`, name, name, i)
		all.WriteString(rec)
		if i == n-1 {
			last.WriteString(rec)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, filepath.Join(dir, "policy.yml"), "accounts:\n"+accounts.String()+"state_dir: state\npolicies:\n"+policies.String())
	journal := func(accounts string) string {
		return `{"format":"rotatord-journal-v1","accounts":{` + accounts + `}}`
	}

	// The last account (in any order) holds a record already.
	if code, _, stderr := runCLIWithStdin(journal(last.String()), "state", "import", "--config.file", config); code != 0 {
		t.Fatalf("import into the last account: exit %d\n%s", code, stderr)
	}
	code, _, stderr := runCLIWithStdin(journal(all.String()), "state", "import", "--config.file", config)
	if code == 0 || !strings.Contains(stderr, fmt.Sprintf("account acct%d already holds 1 records", n-1)) {
		t.Fatalf("import into every account, one not empty: exit %d, want a refusal naming acct%d\n%s", code, n-1, stderr)
	}
	code, stdout, stderr := runCLI("state", "export", "--config.file", config)
	if code != 0 {
		t.Fatalf("state export: exit %d\n%s", code, stderr)
	}
	var out journalExport
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("state export: %v\n%s", err, stdout)
	}
	for name, recs := range out.Accounts {
		if want := map[bool]int{true: 1, false: 0}[name == fmt.Sprintf("acct%d", n-1)]; len(recs) != want {
			t.Errorf("after the refused import, account %s holds %d records, want %d: the refusal wrote them", name, len(recs), want)
		}
	}
}

// runCLIWithStdin is runCLI with stdin reading in (state import reads
// os.Stdin): not for parallel tests.
func runCLIWithStdin(in string, args ...string) (code int, stdout, stderr string) {
	f, err := os.CreateTemp("", "rotatord-stdin-")
	if err != nil {
		return 2, "", err.Error()
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.WriteString(in); err != nil {
		return 2, "", err.Error()
	}
	if _, err := f.Seek(0, 0); err != nil {
		return 2, "", err.Error()
	}
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	return runCLI(args...)
}
