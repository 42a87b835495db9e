package kubeclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeconfigContextProblemsNameWhatIsMissing: client-go answered a
// context whose cluster the file does not define, and a file without a
// current-context, with "no configuration has been provided, try setting
// KUBERNETES_MASTER environment variable" (a variable rotatord never
// reads), and a GKE context's name was cut to its first 24 characters
// ("gke_my-project-123456_eu…"), which no longer said which context.
func TestKubeconfigContextProblemsNameWhatIsMissing(t *testing.T) {
	const (
		prod    = "gke_my-project-123456_europe-west1_production-cluster"
		staging = "gke_my-project-123456_europe-west1_staging-cluster"
	)
	doc := func(ctxCluster, ctxUser, current string) string {
		return "apiVersion: v1\nkind: Config\n" +
			"clusters: [{name: " + prod + ", cluster: {server: \"https://127.0.0.1:1\"}}]\n" +
			"users: [{name: " + prod + ", user: {token: abc}}]\n" +
			"contexts: [{name: " + prod + ", context: {cluster: " + ctxCluster + ", user: " + ctxUser + "}}]\n" +
			"current-context: \"" + current + "\"\n"
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name, body, context string
		want                []string
	}{
		{"context missing", doc(prod, prod, prod), staging,
			[]string{`context "` + staging + `" is not defined in the file`, `it defines ["` + prod + `"]`}},
		{"current-context missing", doc(prod, prod, staging), "",
			[]string{`context "` + staging + `" is not defined in the file`}},
		{"no current-context", doc(prod, prod, ""), "",
			[]string{"the file sets no current-context", `it defines ["` + prod + `"]`}},
		{"cluster missing", doc(staging, prod, prod), "",
			[]string{`context "` + prod + `" names cluster "` + staging + `", which the file does not define`}},
		{"user missing", doc(prod, staging, prod), prod,
			[]string{`context "` + prod + `" names user "` + staging + `", which the file does not define`}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yml")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := FromKubeconfig(path, c.context)
		if err == nil {
			t.Errorf("%s: loaded, want an error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %s: %v", c.name, w, err)
			}
		}
		if strings.Contains(err.Error(), "KUBERNETES_MASTER") {
			t.Errorf("%s: the error points at KUBERNETES_MASTER: %v", c.name, err)
		}
	}
	// The file as it should be loads.
	path := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(path, []byte(doc(prod, prod, prod)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromKubeconfig(path, ""); err != nil {
		t.Errorf("a good kubeconfig: %v", err)
	}
}

// TestKubeconfigPrefixedHexTokenIsCut: a bearer token of a word and hex
// (DigitalOcean's dop_v1_ + 64 hex) moved into current-context is one
// case with a letter beyond f, and secret.WordsName took it for a name:
// "context "dop_v1_<the whole token>" is not defined in the file" (seen
// with the real binary's validate).
func TestKubeconfigPrefixedHexTokenIsCut(t *testing.T) {
	const tok = "dop_v1_33aa5e97606b32d83da4ab076fdbef87d7a4c6a785f1092c3ce8616065a0b9b9"
	body := "apiVersion: v1\nkind: Config\n" +
		"clusters: [{name: doks, cluster: {server: \"https://127.0.0.1:1\"}}]\n" +
		"users: [{name: admin, user: {}}]\n" +
		"contexts: [{name: doks, context: {cluster: doks, user: admin}}]\n" +
		"current-context: " + tok + "\n"
	path := filepath.Join(t.TempDir(), "kc.yml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := FromKubeconfig(path, "")
	if err == nil || !strings.Contains(err.Error(), "is not defined in the file") {
		t.Fatalf("want the context refused: %v", err)
	}
	if strings.Contains(err.Error(), tok[30:]) {
		t.Errorf("the error quotes the token: %v", err)
	}
}
