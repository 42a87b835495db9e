package integration

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/internal/kubetest"
)

// importEnv is a namespace whose policy file keeps the journal there,
// with short leader_election settings.
func importEnv(t *testing.T, ns string) (*kubetest.Cluster, *ksEnv) {
	t.Helper()
	c := startCluster(t)
	k := newKSEnv(t, c, ns)
	kubeconfig := c.Kubeconfig(t, kubetest.Admin)
	cfg := k.policyFile(ksPolicy("0s", ksSink(ns+"-apps", "exo-{{.Name}}", kubeconfig, ""))) +
		fmt.Sprintf("state: {backend: kubernetes, namespace: %s, kubeconfig: %s}\n", k.ns, kubeconfig) +
		"leader_election: {lease_duration: 2s, renew_deadline: 1s, retry_period: 250ms}\n"
	writeFileAtomic(t, k.config, cfg)
	return c, k
}

// bigJournal is an export of n records of names exosim does not hold.
func bigJournal(n int) string {
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"policy":"ci","name":"gone-%04d","current_key_id":"EXOgone%04d"}`, i, i)
	}
	return `{"format":"rotatord-journal-v1","accounts":{"default":[` + strings.Join(recs, ",") + `]}}`
}

// journalRecords counts the journal's ConfigMaps in k's namespace.
func (k *ksEnv) journalRecords() int {
	k.t.Helper()
	cms, err := k.admin.CoreV1().ConfigMaps(k.ns).List(k.ctx(), metav1.ListOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	n := 0
	for _, cm := range cms.Items {
		if cm.Name != "kube-root-ca.crt" {
			n++
		}
	}
	return n
}

// leaseHolderNow is the holder the Lease names ("" when none, or no Lease).
func (k *ksEnv) leaseHolderNow() string {
	k.t.Helper()
	l, err := k.admin.CoordinationV1().Leases(k.ns).Get(k.ctx(), "rotatord", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// A replica started while an import of a big journal runs stands by
// until the import lets the Lease go, then leads on the whole journal.
func TestStateImportBigJournalReplicaStartedMeanwhileWaits(t *testing.T) {
	t.Parallel()
	_, k := importEnv(t, "import-big")
	const n = 400
	done := make(chan result, 1)
	go func() { done <- k.runWith(bigJournal(n), "state", "import", "--config.file", k.config) }()
	eventually(t, time.Minute, func() (bool, string) {
		got := k.journalRecords()
		return got > 5, fmt.Sprintf("%d records written", got)
	})
	d := k.startDaemon()
	r := <-done
	if r.code != 0 {
		t.Fatalf("state import: %s", r)
	}
	d.waitLog(30*time.Second, "leading: this replica holds the Lease and acts")
	pass := d.waitLog(30*time.Second, "pass done")
	d.stop()
	if l, ok := findLog(d.logs(), "leader elected"); !ok || !strings.HasPrefix(l.str("leader"), "state-import_") {
		t.Logf("the replica never stood by behind the import (started too late?):\n%s", d.stderr())
	}
	if names := fmt.Sprint(pass["names"]); names != strconv.Itoa(n+1) {
		t.Errorf("the replica's first pass saw %s names, want %d (the whole journal, and ci-runner):\n%s", names, n+1, d.stderr())
	}
}

// An import refused (the journal not empty) lets the Lease go at once.
func TestStateImportRefusedLetsTheLeaseGo(t *testing.T) {
	t.Parallel()
	_, k := importEnv(t, "import-again")
	in := `{"format":"rotatord-journal-v1","accounts":{"default":[{"policy":"ci","name":"ci-runner","current_key_id":"EXOimported"}]}}`
	if r := k.runWith(in, "state", "import", "--config.file", k.config); r.code != 0 {
		t.Fatalf("state import: %s", r)
	}
	r := k.runWith(in, "state", "import", "--config.file", k.config)
	if r.code == 0 || !strings.Contains(r.stderr, "already holds 1 records") {
		t.Fatalf("a second import into the journal did not refuse it:\n%s", r)
	}
	if h := k.leaseHolderNow(); h != "" {
		t.Errorf("after a refused import the Lease names %q: it must be let go", h)
	}
}

// The API server freezes mid-import, longer than the renew deadline: the
// import stops writing, says how many records it wrote, and that it lost
// the Lease.
func TestStateImportStopsWhenItsClaimLapses(t *testing.T) {
	t.Parallel()
	c, k := importEnv(t, "import-lapse")
	done := make(chan result, 1)
	go func() { done <- k.runWith(bigJournal(2000), "state", "import", "--config.file", k.config) }()
	eventually(t, time.Minute, func() (bool, string) {
		got := k.journalRecords()
		return got > 20, fmt.Sprintf("%d records written", got)
	})
	if err := c.SignalAPIServer(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past renew_deadline (1s) and lease_duration (2s)
	if err := c.SignalAPIServer(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code == 0 {
		t.Fatalf("state import succeeded though its claim on the Lease lapsed:\n%s", r)
	}
	last := lastLine(r.stderr)
	m := regexp.MustCompile(`\((\d+) records written\)`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("the error does not say how many records were written:\n%s", r)
	}
	said, _ := strconv.Atoi(m[1])
	// The write cut off when the claim ended may still be applied once
	// the API server runs again.
	if got := k.journalRecords(); got != said && got != said+1 {
		t.Errorf("the import says %d records written, the journal holds %d", said, got)
	}
	if !strings.Contains(last, "Lease") {
		t.Errorf("the error does not say the import lost the Lease:\n%s", r)
	}
}
