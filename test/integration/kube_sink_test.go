package integration

// The Kubernetes Secret sink and the Kubernetes journal end to end: the
// real `rotatord once` (and `state export` / `state import`) against the
// real exosim and a real kube-apiserver and etcd (internal/kubetest),
// reaching the API server as a plain user with the least RBAC rights, from
// a kubeconfig file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// ksSinkRules are the rights the Secret sink needs: deploy/'s Role.
var ksSinkRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"patch"}},
}

// ksJournalRules are the rights the Kubernetes journal needs.
var ksJournalRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
	// The Lease: the Kubernetes journal needs leader_election.
	{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
}

// ksEnv is an env plus a namespace of a shared cluster.
type ksEnv struct {
	*env
	c     *kubetest.Cluster
	ns    string
	admin kubernetes.Interface
}

func newKSEnv(t *testing.T, c *kubetest.Cluster, ns string) *ksEnv {
	t.Helper()
	e := newEnv(t)
	c.CreateNamespace(t, ns)
	return &ksEnv{env: e, c: c, ns: ns, admin: c.Client(t, kubetest.Admin)}
}

// newKSEnvAsRotatord is newKSEnv with user rotatord allowed what the
// sink needs in the namespace, and its kubeconfig.
func newKSEnvAsRotatord(t *testing.T, c *kubetest.Cluster, ns string) (*ksEnv, string) {
	t.Helper()
	k := newKSEnv(t, c, ns)
	c.Grant(t, "rotatord", k.ns, ksSinkRules)
	return k, c.Kubeconfig(t, "rotatord")
}

func (k *ksEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	k.t.Cleanup(cancel)
	return ctx
}

// ksSink is a kubernetes sink of the policy, in YAML at the sinks: level.
func ksSink(ns, name, kubeconfig, extra string) string {
	s := fmt.Sprintf("      - type: kubernetes\n        namespace: %s\n        name: %q\n        kubeconfig: %s\n", ns, name, kubeconfig)
	if extra != "" {
		s += indent(extra, 8)
	}
	return s
}

// ksPolicy rotates ci-runner into sinks.
func ksPolicy(grace string, sinks ...string) string {
	return fmt.Sprintf(`  - name: ci
    match: {name: ci-runner}
    max_age: 1h
    grace_period: %s
    sinks:
%s`, grace, strings.Join(sinks, ""))
}

func (k *ksEnv) secret(name string) (*corev1.Secret, bool) {
	k.t.Helper()
	s, err := k.admin.CoreV1().Secrets(k.ns).Get(k.ctx(), name, metav1.GetOptions{})
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return nil, false
		}
		k.t.Fatalf("get Secret %s/%s: %v", k.ns, name, err)
	}
	return s, true
}

// holds returns the key id a Secret holds, checking that its secret signs
// requests exosim accepts.
func (k *ksEnv) holds(name string) string {
	k.t.Helper()
	s, ok := k.secret(name)
	if !ok {
		k.t.Fatalf("no Secret %s/%s", k.ns, name)
	}
	id, sv := string(s.Data["api_key"]), string(s.Data["api_secret"])
	if id == "" || sv == "" {
		k.t.Fatalf("Secret %s/%s: data keys api_key/api_secret empty or missing", k.ns, name)
	}
	if !k.sim.authenticates(id, sv) {
		k.t.Fatalf("Secret %s/%s: key %s with its secret does not authenticate", k.ns, name, id)
	}
	if s.Labels["app.kubernetes.io/managed-by"] != "rotatord" || s.Annotations["rotatord.io/policy"] != "ci" {
		k.t.Errorf("Secret %s/%s lacks rotatord's marks: %v %v", k.ns, name, s.Labels, s.Annotations)
	}
	return id
}

// checkNoSecretInOutput fails if any secret exosim ever issued (or the
// admin secret) appears in any output of any rotatord run of the env.
func (e *env) checkNoSecretInOutput() {
	e.t.Helper()
	secrets := []string{e.sim.Admin.Secret}
	for _, k := range e.sim.keys() {
		if k.Secret != "" {
			secrets = append(secrets, k.Secret)
		}
	}
	entries, err := os.ReadDir(e.logs)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(entries) == 0 {
		e.t.Fatalf("no rotatord output to check")
	}
	for _, ent := range entries {
		text := readFile(e.t, filepath.Join(e.logs, ent.Name()))
		for _, s := range secrets {
			if strings.Contains(text, s) {
				e.t.Errorf("%s shows a secret", ent.Name())
			}
		}
	}
}

// runWith runs `rotatord ARGS...` to completion with stdin.
func (e *env) runWith(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	stdoutPath, stderrPath := e.logPaths(strings.Join(args[:2], "-"))
	stdout, stderr := createFile(e.t, stdoutPath), createFile(e.t, stderrPath)
	c := exec.CommandContext(ctx, rotatordBin, args...)
	c.Stdin = strings.NewReader(stdin)
	c.Stdout, c.Stderr = stdout, stderr
	err := c.Run()
	stdout.Close()
	stderr.Close()
	r := result{args: args, stdout: readFile(e.t, stdoutPath), stderr: readFile(e.t, stderrPath)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		r.code = exit.ExitCode()
	default:
		e.t.Fatalf("rotatord %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	checkNoRace(e.t, r.stderr)
	return r
}

func TestKubeSink(t *testing.T) {
	t.Parallel()
	if testing.Short() || rotatordBin == "" {
		t.Skip("integration test: runs the real binaries; skipped with -short")
	}
	c := kubetest.Start(t)

	// Create, read back, restart, delete the old key after the grace
	// period, then a second rotation updates the Secret.
	t.Run("deliver-update-restart", func(t *testing.T) {
		t.Parallel()
		k, kubeconfig := newKSEnvAsRotatord(t, c, "apps")
		labels := map[string]string{"app": "web"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: k.ns},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.invalid/web:1"}}},
				},
			},
		}
		if _, err := k.admin.AppsV1().Deployments(k.ns).Create(k.ctx(), dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		restartedAt := func() string {
			d, err := k.admin.AppsV1().Deployments(k.ns).Get(k.ctx(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
		}
		k.writePolicy(ksPolicy("2s",
			ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "labels: {team: ci}\nrestart:\n  - {kind: Deployment, name: web}\n"),
			ksSink(k.ns, "exo-{{.Name}}-json", kubeconfig, "key: credentials.json\nformat: json\n"),
		))
		before := k.sim.keys()
		old := k.sim.only("ci-runner")

		began := time.Now()
		r := k.mustRun("once", "--force")
		if got := row(t, parseTable(t, r.stdout), "ci-runner"); got["ACTION"] != "rotate" || got["ERROR"] != "-" {
			t.Errorf("outcome %v, want rotate without error", got)
		}
		first := k.holds("exo-ci-runner")
		if first == old.Key {
			t.Fatalf("the Secret holds the old key")
		}
		sec, _ := k.secret("exo-ci-runner")
		if sec.Labels["team"] != "ci" || sec.Annotations["rotatord.io/key-name"] != "ci-runner" || sec.Annotations["rotatord.io/key-id"] != first {
			t.Errorf("Secret marks: %v %v", sec.Labels, sec.Annotations)
		}
		js, ok := k.secret("exo-ci-runner-json")
		if !ok {
			t.Fatalf("no Secret exo-ci-runner-json")
		}
		var doc struct {
			Key    string `json:"api_key"`
			Secret string `json:"api_secret"`
		}
		if err := json.Unmarshal(js.Data["credentials.json"], &doc); err != nil || doc.Key != first || !k.sim.authenticates(doc.Key, doc.Secret) {
			t.Errorf("JSON Secret holds %q (%v), want %s with its secret", doc.Key, err, first)
		}
		at, err := time.Parse(time.RFC3339, restartedAt())
		if err != nil || at.Before(began.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("Deployment restartedAt %q (%v), want the time of the delivery", restartedAt(), err)
		}
		if rec := k.records()["ci-runner"]; rec.CurrentKeyID != first {
			t.Errorf("journal: current %s, want %s", rec.CurrentKeyID, first)
		}
		// The grace period runs: the old key lives until it ends.
		if kk, _ := k.sim.key(old.Key); !kk.Alive {
			t.Fatalf("old key deleted before the grace period ended")
		}
		otherKeysUntouched(k.env, before, "ci-deploy", "backup-agent", adminName)

		// A consumer adds its own data to the Secret; rotatord keeps it.
		sec.Data["ca.crt"] = []byte("consumer data")
		if _, err := k.admin.CoreV1().Secrets(k.ns).Update(k.ctx(), sec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}

		deleteAfter := k.records()["ci-runner"].Rotation.DeleteAfter
		time.Sleep(time.Until(deleteAfter) + 200*time.Millisecond)
		r = k.mustRun("once")
		if kk, _ := k.sim.key(old.Key); kk.Alive {
			t.Fatalf("old key %s alive after the grace period and a pass\n%s", old.Key, r)
		}
		if got := k.sim.only("ci-runner").Key; got != first {
			t.Fatalf("live key %s, want the delivered %s", got, first)
		}
		firstRestart := restartedAt()
		rv := func() string { s, _ := k.secret("exo-ci-runner"); return s.ResourceVersion }()

		// A second rotation updates the Secret in place.
		time.Sleep(time.Second) // restartedAt has a resolution of a second
		k.mustRun("once", "--force")
		second := k.holds("exo-ci-runner")
		if second == first {
			t.Fatalf("the second rotation left the Secret on %s", first)
		}
		sec, _ = k.secret("exo-ci-runner")
		if sec.ResourceVersion == rv {
			t.Errorf("Secret not updated")
		}
		if string(sec.Data["ca.crt"]) != "consumer data" {
			t.Errorf("the consumer's data key was dropped by the update")
		}
		if got := restartedAt(); got == firstRestart || got == "" {
			t.Errorf("restartedAt %q after the second delivery, was %q", got, firstRestart)
		}
		time.Sleep(time.Until(k.records()["ci-runner"].Rotation.DeleteAfter) + 200*time.Millisecond)
		k.mustRun("once")
		if got := k.sim.only("ci-runner").Key; got != second {
			t.Errorf("live key %s, want %s", got, second)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 3 {
			t.Errorf("%d keys named ci-runner ever existed, want 3", n)
		}
		k.sim.checkMaxLive(2, "ci-runner")
		k.checkNoSecretInOutput()
	})

	// A Secret rotatord did not write: once refuses at the probe, before
	// creating a key.
	t.Run("unmanaged-secret", func(t *testing.T) {
		t.Parallel()
		k, kubeconfig := newKSEnvAsRotatord(t, c, "unmanaged")
		pre, err := k.admin.CoreV1().Secrets(k.ns).Create(k.ctx(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: k.ns},
			Data:       map[string][]byte{"api_key": []byte("EXOhandmade"), "api_secret": []byte("handmade")},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "")))
		before := k.sim.keys()
		old := k.sim.only("ci-runner")
		r := k.rotatord("once", "--force")
		if r.code == 0 {
			t.Fatalf("once over an unmanaged Secret succeeded\n%s", r)
		}
		if !strings.Contains(r.stdout+r.stderr, "not managed by rotatord") || !strings.Contains(r.stdout+r.stderr, "take_over") {
			t.Errorf("the output does not say the Secret is not rotatord's\n%s", r)
		}
		if got := k.sim.only("ci-runner").Key; got != old.Key {
			t.Errorf("live key %s, want the old %s", got, old.Key)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 1 {
			t.Errorf("%d keys named ci-runner ever existed, want 1: a key was created for a refused sink", n)
		}
		otherKeysUntouched(k.env, before, "ci-runner", "ci-deploy", "backup-agent", adminName)
		if s, _ := k.secret("exo-ci-runner"); s.ResourceVersion != pre.ResourceVersion {
			t.Errorf("the unmanaged Secret was changed")
		}
		k.checkNoSecretInOutput()
	})

	// The user may create Secrets but not update them: the first rotation
	// creates the Secret; the second fails at the probe, before creating
	// a key, and the delivered key stays.
	t.Run("rbac-denied", func(t *testing.T) {
		t.Parallel()
		k := newKSEnv(t, c, "rbac")
		c.Grant(t, "rotatord-2", k.ns, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create"}},
		})
		kubeconfig := c.Kubeconfig(t, "rotatord-2")
		k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "")))
		k.mustRun("once", "--force")
		first := k.holds("exo-ci-runner")
		if got := k.sim.only("ci-runner").Key; got != first {
			t.Fatalf("live key %s, Secret holds %s", got, first)
		}
		before := k.sim.keys()
		r := k.rotatord("once", "--force")
		if r.code == 0 {
			t.Fatalf("once without the right to update the Secret succeeded\n%s", r)
		}
		if !strings.Contains(r.stdout+r.stderr, "RBAC does not allow update on secrets/exo-ci-runner") {
			t.Errorf("the output does not name the missing right\n%s", r)
		}
		if got := k.sim.only("ci-runner").Key; got != first {
			t.Errorf("live key %s after the refused rotation, want %s", got, first)
		}
		otherKeysUntouched(k.env, before, "ci-deploy", "backup-agent", adminName)
		if n := createdNamed(k.env, "ci-runner"); n != 2 {
			t.Errorf("%d keys named ci-runner ever existed, want 2: the refused probe cost a key", n)
		}
		if got := k.holds("exo-ci-runner"); got != first {
			t.Errorf("the Secret holds %s, want %s", got, first)
		}

		// Without the right to patch the Deployment to restart: refused
		// the same way.
		c.Grant(t, "rotatord-2", k.ns, []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "update"}},
		})
		k.writePolicy(ksPolicy("0s", ksSink(k.ns, "exo-{{.Name}}", kubeconfig, "restart:\n  - {kind: Deployment, name: web}\n")))
		r = k.rotatord("once", "--force")
		if r.code == 0 {
			t.Fatalf("once without the right to restart the Deployment succeeded\n%s", r)
		}
		if !strings.Contains(r.stdout+r.stderr, "RBAC does not allow patch on deployments/web") {
			t.Errorf("the output does not name the missing right\n%s", r)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 2 {
			t.Errorf("%d keys named ci-runner ever existed, want 2: the refused probe cost a key", n)
		}
		k.checkNoSecretInOutput()
	})

	// The journal in ConfigMaps: once writes it there (not in state_dir);
	// state export / import move it to a directory and back.
	t.Run("journal", func(t *testing.T) {
		t.Parallel()
		k := newKSEnv(t, c, "rotatord-system")
		c.CreateNamespace(t, "journal-sink")
		c.CreateNamespace(t, "journal-copy")
		c.Grant(t, "rotatord-3", k.ns, ksJournalRules)
		c.Grant(t, "rotatord-3", "journal-copy", ksJournalRules)
		c.Grant(t, "rotatord-3", "journal-sink", ksSinkRules)
		kubeconfig := c.Kubeconfig(t, "rotatord-3")
		policies := ksPolicy("0s", ksSink("journal-sink", "exo-{{.Name}}", kubeconfig, ""))
		stateBlock := func(ns string) string {
			return fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\nleader_election: {lease_duration: 3s, renew_deadline: 2s, retry_period: 500ms}\n", ns, kubeconfig)
		}
		kubeCfg := k.config
		writeFileAtomic(t, kubeCfg, k.policyFile(policies)+stateBlock(k.ns))
		copyCfg := filepath.Join(k.dir, "copy.yml")
		writeFileAtomic(t, copyCfg, k.policyFile(policies)+stateBlock("journal-copy"))
		dirCfg := filepath.Join(k.dir, "dir.yml")
		dirState := filepath.Join(k.dir, "state-imported")
		writeFileAtomic(t, dirCfg, strings.Replace(k.policyFile(policies), "state_dir: "+k.stateDir, "state_dir: "+dirState, 1))

		old := k.sim.only("ci-runner")
		k.mustRun("once", "--force")
		k.mustRun("once", "--force")
		cur := k.sim.only("ci-runner").Key
		if cur == old.Key {
			t.Fatalf("not rotated")
		}
		if n := len(k.records()); n != 0 {
			t.Errorf("%d records in state_dir with the kubernetes backend", n)
		}
		cms, err := k.admin.CoreV1().ConfigMaps(k.ns).List(k.ctx(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=rotatord"})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, cm := range cms.Items {
			var r record
			if err := json.Unmarshal([]byte(cm.Data["record.json"]), &r); err != nil {
				t.Fatalf("ConfigMap %s: %v", cm.Name, err)
			}
			if r.Name == "ci-runner" {
				found = true
				if r.CurrentKeyID != cur || r.Rotation != nil || cm.Labels["rotatord.io/journal"] != "default" {
					t.Errorf("journal ConfigMap %s: %+v, labels %v; want current %s, no rotation", cm.Name, r, cm.Labels, cur)
				}
			}
		}
		if !found {
			t.Fatalf("no journal ConfigMap for ci-runner among %d", len(cms.Items))
		}

		// state export and import with their default flags.
		if r := k.runWith("", "state", "export", "--config.file", kubeCfg); r.code != 0 {
			t.Errorf("state export with the default flags fails (its default --log.format is not one it accepts):\n%s", r)
		}
		if r := k.runWith("{}", "state", "import", "--config.file", dirCfg); strings.Contains(r.stderr, "--log.format") {
			t.Errorf("state import with the default flags fails (its default --log.format is not one it accepts):\n%s", r)
		}
		// The rest names a log format, to test what follows.
		logFlag := []string{"--log.format", "console"}

		export := func(cfg string) (string, map[string]any) {
			t.Helper()
			r := k.runWith("", append([]string{"state", "export", "--config.file", cfg}, logFlag...)...)
			if r.code != 0 {
				t.Fatalf("state export: %s", r)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("state export: %v\n%s", err, r)
			}
			return r.stdout, v
		}
		text, fromKube := export(kubeCfg)
		if !strings.Contains(text, cur) {
			t.Fatalf("the export lacks the current key %s:\n%s", cur, text)
		}

		// Into a directory, and back out of it the same.
		r := k.runWith(text, append([]string{"state", "import", "--config.file", dirCfg}, logFlag...)...)
		if r.code != 0 {
			t.Fatalf("state import into a directory: %s", r)
		}
		if files, _ := readDirNames(filepath.Join(dirState, "records")); len(files) == 0 {
			t.Errorf("no record files in %s after the import", dirState)
		}
		_, fromDir := export(dirCfg)
		if !jsonEqual(fromKube, fromDir) {
			t.Errorf("export of the imported directory differs:\nkube: %v\ndir:  %v", fromKube, fromDir)
		}
		// The imported journal knows the key: once rotates nothing.
		before := createdNamed(k.env, "ci-runner")
		r = k.runWith("", "once", "--config.file", dirCfg)
		if r.code != 0 || createdNamed(k.env, "ci-runner") != before {
			t.Errorf("once on the imported journal rotated or failed:\n%s", r)
		}

		// Import refuses a journal that holds records: the directory, and
		// the Kubernetes namespace.
		r = k.runWith(text, append([]string{"state", "import", "--config.file", dirCfg}, logFlag...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "already holds") {
			t.Errorf("second import into the directory: want a refusal\n%s", r)
		}
		r = k.runWith(text, append([]string{"state", "import", "--config.file", kubeCfg}, logFlag...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "already holds") {
			t.Errorf("import into the non-empty namespace: want a refusal\n%s", r)
		}
		if _, again := export(kubeCfg); !jsonEqual(fromKube, again) {
			t.Errorf("the refused import changed the journal")
		}

		// From the directory into an empty namespace.
		dirText, _ := export(dirCfg)
		r = k.runWith(dirText, append([]string{"state", "import", "--config.file", copyCfg}, logFlag...)...)
		if r.code != 0 {
			t.Fatalf("state import into an empty namespace: %s", r)
		}
		if _, fromCopy := export(copyCfg); !jsonEqual(fromKube, fromCopy) {
			t.Errorf("export of the imported namespace differs:\nkube: %v\ncopy: %v", fromKube, fromCopy)
		}
		k.checkNoSecretInOutput()
	})

	// sink_check: a Secret deleted by hand (a GitOps prune) gets the
	// current key back from the other Secret at the next once, with no
	// new key; with both deleted the name rotates.
	t.Run("sink-check-pruned-secret", func(t *testing.T) {
		t.Parallel()
		k, key := sinkCheckedSecrets(t, c, "pruned")
		prune := func(name string) {
			t.Helper()
			if err := k.admin.CoreV1().Secrets(k.ns).Delete(k.ctx(), name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		prune("exo-ci-runner")
		time.Sleep(1100 * time.Millisecond) // past sink_check since the delivery
		k.mustRun("once")
		if got := k.holds("exo-ci-runner"); got != key {
			t.Errorf("pruned Secret holds %s after once, want the current key %s given back", got, key)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 2 {
			t.Errorf("%d keys named ci-runner ever existed, want 2: the Secret was refilled from the other", n)
		}
		prune("exo-ci-runner")
		prune("exo-ci-runner-json")
		k.mustRun("once")
		fresh := k.sim.only("ci-runner").Key
		if fresh == key || k.holds("exo-ci-runner") != fresh {
			t.Errorf("both Secrets pruned: live key %s, Secret holds %s; want a new key delivered (old %s)", fresh, k.holds("exo-ci-runner"), key)
		}
		k.checkNoSecretInOutput()
	})

	// sink_check: a Secret replaced by one rotatord does not own (another
	// tool took the name over) has lost the key, but rotatord may not
	// write there: once says so and makes no key, fails nothing, and
	// leaves the other tool's Secret as it is.
	t.Run("sink-check-secret-taken-by-another", func(t *testing.T) {
		t.Parallel()
		k, key := sinkCheckedSecrets(t, c, "taken")
		if err := k.admin.CoreV1().Secrets(k.ns).Delete(k.ctx(), "exo-ci-runner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		theirs := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "exo-ci-runner", Namespace: k.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "argocd"}},
			Data:       map[string][]byte{"api_key": []byte("EXOtheirs"), "api_secret": []byte("theirs")},
		}
		if _, err := k.admin.CoreV1().Secrets(k.ns).Create(k.ctx(), theirs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // past sink_check since the delivery
		r := k.mustRun("once")
		if !strings.Contains(r.stderr, "rotatord may not write there") {
			t.Errorf("once said nothing of the Secret it may not repair:\n%s", r)
		}
		if n := createdNamed(k.env, "ci-runner"); n != 2 {
			t.Errorf("%d keys named ci-runner ever existed, want 2: a new key cannot reach a Secret rotatord may not write", n)
		}
		if live := k.sim.only("ci-runner").Key; live != key {
			t.Errorf("live key %s, want %s kept", live, key)
		}
		if s, _ := k.secret("exo-ci-runner-json"); !strings.Contains(string(s.Data["credentials.json"]), key) {
			t.Errorf("the other Secret no longer holds %s", key)
		}
		if s, _ := k.secret("exo-ci-runner"); string(s.Data["api_key"]) != "EXOtheirs" {
			t.Errorf("the other tool's Secret was changed: api_key %q", s.Data["api_key"])
		}
		k.checkNoSecretInOutput()
	})
}

// sinkCheckedSecrets: in namespace ns, ci-runner rotated once into two
// Secret sinks (exo-ci-runner and exo-ci-runner-json) of a policy that
// checks its sinks every second; key is the key they hold.
func sinkCheckedSecrets(t *testing.T, c *kubetest.Cluster, ns string) (*ksEnv, string) {
	t.Helper()
	k, kubeconfig := newKSEnvAsRotatord(t, c, ns)
	k.writePolicy(ksPolicy("0s",
		ksSink(k.ns, "exo-{{.Name}}", kubeconfig, ""),
		ksSink(k.ns, "exo-{{.Name}}-json", kubeconfig, "key: credentials.json\nformat: json\n"),
	) + "    sink_check: 1s\n")
	k.mustRun("once", "--force")
	return k, k.holds("exo-ci-runner")
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
