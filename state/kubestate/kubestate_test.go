package kubestate_test

// The journal in ConfigMaps against a real kube-apiserver and etcd
// (internal/kubetest): the tests skip without the binaries, unless
// ROTATORD_REQUIRE_KUBE=1.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/kubetest"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

const (
	user    = "rotatord"
	account = "default"
)

// journalRules are the rights the journal needs in rotatord's namespace.
var journalRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "create", "update", "delete"}},
}

type world struct {
	t     *testing.T
	c     *kubetest.Cluster
	ns    string
	admin kubernetes.Interface
}

var nsSeq atomic.Int32

func newWorld(t *testing.T, c *kubetest.Cluster) *world {
	t.Helper()
	ns := fmt.Sprintf("journal-%d", nsSeq.Add(1))
	c.CreateNamespace(t, ns)
	c.Grant(t, user, ns, journalRules)
	return &world{t: t, c: c, ns: ns, admin: c.Client(t, kubetest.Admin)}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens account's journal as the plain user.
func (w *world) open(account string, readOnly bool) *kubestate.Store {
	w.t.Helper()
	s, err := kubestate.Open(ctxT(w.t), w.c.Client(w.t, user), w.ns, account, readOnly)
	if err != nil {
		w.t.Fatalf("Open(%s): %v", account, err)
	}
	return s
}

// configMaps lists the journal's objects of account, by name.
func (w *world) configMaps(account string) map[string]corev1.ConfigMap {
	w.t.Helper()
	list, err := w.admin.CoreV1().ConfigMaps(w.ns).List(ctxT(w.t), metav1.ListOptions{LabelSelector: kubestate.ManagedByLabel + "=" + kubestate.ManagedByValue})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]corev1.ConfigMap{}
	for _, cm := range list.Items {
		var r state.Record
		if err := json.Unmarshal([]byte(cm.Data[kubestate.DataKey]), &r); err != nil {
			w.t.Fatalf("ConfigMap %s: %v", cm.Name, err)
		}
		if cm.Name == kubestate.ObjectName(account, r.Policy, r.Name) {
			out[cm.Name] = cm
		}
	}
	return out
}

// stored is the record a ConfigMap holds now.
func (w *world) stored(account, policy, name string) (state.Record, bool) {
	w.t.Helper()
	cm, err := w.admin.CoreV1().ConfigMaps(w.ns).Get(ctxT(w.t), kubestate.ObjectName(account, policy, name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return state.Record{}, false
	}
	if err != nil {
		w.t.Fatal(err)
	}
	var r state.Record
	if err := json.Unmarshal([]byte(cm.Data[kubestate.DataKey]), &r); err != nil {
		w.t.Fatal(err)
	}
	return r, true
}

var base = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func rec(policy, name, current string) state.Record {
	return state.Record{
		Policy: policy, Name: name, RoleID: "role-1",
		CurrentKeyID: current, CurrentSince: base, CreatedByUs: true,
		FirstSeen: state.KeyTimesOf(map[string]time.Time{current: base}),
		Delivered: state.DeliveriesOf(map[string]state.Delivery{"file:/x": {KeyID: current, Fingerprint: "sha256:00"}}),
	}
}

func inFlight(r state.Record, newKey string) state.Record {
	r.Rotation = &state.Rotation{
		Phase: state.PhaseCreated, StartedAt: base.Add(time.Minute),
		OldKeyIDs: []string{r.CurrentKeyID}, KnownKeyIDs: []string{r.CurrentKeyID},
		RoleID: "role-1", NewKeyID: newKey, NewCreatedAt: base.Add(time.Minute),
		Sinks:        map[string]state.SinkMark{"file:/x": {Before: "sha256:00", New: "sha256:01"}},
		HooksPending: []string{"after_delivery"},
	}
	return r
}

func mustPut(t *testing.T, s *kubestate.Store, r state.Record) {
	t.Helper()
	if err := s.Put(r); err != nil {
		t.Fatalf("Put(%s/%s): %v", r.Policy, r.Name, err)
	}
}

func same(a, b state.Record) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestJournal(t *testing.T) {
	t.Parallel()
	c := kubetest.Start(t)

	t.Run("round-trip", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s := w.open(account, false)
		if got := s.List(""); len(got) != 0 {
			t.Fatalf("new journal lists %d records", len(got))
		}
		r1 := rec("ci", "ci-runner", "EXO1")
		r2 := inFlight(rec("ci", "ci-deploy", "EXO2"), "EXO3")
		r3 := rec("backup", "backup-agent", "EXO4")
		// A key name with characters no object name may hold.
		r4 := rec("ci", "CI Runner/../ключ", "EXO5")
		for _, r := range []state.Record{r1, r2, r3, r4} {
			mustPut(t, s, r)
		}
		if got, ok := s.Get("ci", "ci-deploy"); !ok || !same(got, r2) {
			t.Errorf("Get = %+v, %v; want %+v", got, ok, r2)
		}
		if !s.Has("ci", "ci-runner") || s.Has("ci", "nope") || s.Has("backup", "ci-runner") {
			t.Errorf("Has is wrong")
		}
		var names []string
		for _, r := range s.List("") {
			names = append(names, r.Policy+"/"+r.Name)
		}
		if got := strings.Join(names, ","); got != "backup/backup-agent,ci/CI Runner/../ключ,ci/ci-deploy,ci/ci-runner" {
			t.Errorf("List(\"\") = %s", got)
		}
		if got := s.List("ci"); len(got) != 3 {
			t.Errorf("List(ci) has %d records", len(got))
		}

		// A copy, not the store's own maps.
		got, _ := s.Get("ci", "ci-deploy")
		got.Rotation.OldKeyIDs[0] = "changed"
		got.FirstSeen.Set("x", base)
		if again, _ := s.Get("ci", "ci-deploy"); !same(again, r2) {
			t.Errorf("Get shares memory with the store")
		}

		// One ConfigMap per record, named by a digest, labelled and
		// annotated for people, holding the record.
		cms := w.configMaps(account)
		if len(cms) != 4 {
			t.Fatalf("%d ConfigMaps, want 4", len(cms))
		}
		cm, ok := cms[kubestate.ObjectName(account, r4.Policy, r4.Name)]
		if !ok {
			t.Fatalf("no ConfigMap %s", kubestate.ObjectName(account, r4.Policy, r4.Name))
		}
		if cm.Labels[kubestate.AccountLabel] != account || cm.Annotations[kubestate.PolicyAnnotation] != "ci" || cm.Annotations[kubestate.NameAnnotation] != r4.Name {
			t.Errorf("ConfigMap marks: %v %v", cm.Labels, cm.Annotations)
		}
		if r, _ := w.stored(account, "ci", "ci-deploy"); !same(r, r2) {
			t.Errorf("stored %+v, want %+v", r, r2)
		}

		// Another Store (a restarted process) reads the same records.
		s2 := w.open(account, false)
		for _, r := range []state.Record{r1, r2, r3, r4} {
			if got, ok := s2.Get(r.Policy, r.Name); !ok || !same(got, r) {
				t.Errorf("reopened: Get(%s/%s) = %+v, %v", r.Policy, r.Name, got, ok)
			}
		}

		// Update, then delete.
		r2b := r2
		r2b.Rotation = nil
		r2b.CurrentKeyID = "EXO3"
		mustPut(t, s, r2b)
		if r, _ := w.stored(account, "ci", "ci-deploy"); !same(r, r2b) {
			t.Errorf("after update stored %+v", r)
		}
		if err := s.Delete("ci", "ci-runner"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if s.Has("ci", "ci-runner") {
			t.Errorf("deleted record still there")
		}
		if _, ok := w.stored(account, "ci", "ci-runner"); ok {
			t.Errorf("deleted record's ConfigMap still there")
		}
		if err := s.Delete("ci", "ci-runner"); err != nil {
			t.Errorf("second Delete: %v", err)
		}
		if err := s.Delete("ci", "never-was"); err != nil {
			t.Errorf("Delete of an unknown record: %v", err)
		}
		// Put after Delete creates it again.
		mustPut(t, s, r1)
		if r, ok := w.stored(account, "ci", "ci-runner"); !ok || !same(r, r1) {
			t.Errorf("re-created record: %+v, %v", r, ok)
		}
		if err := s.Put(state.Record{Policy: "ci"}); err == nil {
			t.Errorf("Put of a record without a name: nil error")
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	t.Run("accounts-apart", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		// Account names the config accepts, some of them no valid label
		// value ("ci-" ends with a dash).
		accounts := []string{"default", "staging", "ci-", "ci_", "x_1"}
		stores := map[string]*kubestate.Store{}
		for _, a := range accounts {
			stores[a] = w.open(a, false)
		}
		for _, a := range accounts {
			if err := stores[a].Put(rec("ci", "ci-runner", "EXO-"+a)); err != nil {
				t.Errorf("account %q: Put: %v", a, err)
			}
		}
		for _, a := range accounts {
			s, err := kubestate.Open(ctxT(t), c.Client(t, user), w.ns, a, true)
			if err != nil {
				t.Errorf("account %q: Open: %v", a, err)
				continue
			}
			got := s.List("")
			if len(got) != 1 || got[0].CurrentKeyID != "EXO-"+a {
				t.Errorf("account %q lists %+v, want only its own record", a, got)
			}
		}
	})

	t.Run("reload", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		a := w.open(account, false)
		b := w.open(account, false)
		mustPut(t, a, rec("ci", "ci-runner", "EXO1"))
		mustPut(t, a, rec("ci", "ci-deploy", "EXO2"))
		if b.Has("ci", "ci-runner") {
			t.Fatalf("b sees a's write before a reload")
		}
		if err := b.Reload(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got, ok := b.Get("ci", "ci-runner"); !ok || got.CurrentKeyID != "EXO1" {
			t.Fatalf("b after reload: %+v, %v", got, ok)
		}
		// b, now in charge, writes; a reloads and sees it, and a deletion.
		mustPut(t, b, inFlight(rec("ci", "ci-runner", "EXO1"), "EXO9"))
		if err := b.Delete("ci", "ci-deploy"); err != nil {
			t.Fatal(err)
		}
		if err := a.Reload(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got, _ := a.Get("ci", "ci-runner"); got.Rotation == nil || got.Rotation.NewKeyID != "EXO9" {
			t.Errorf("a after reload: %+v", got)
		}
		if a.Has("ci", "ci-deploy") {
			t.Errorf("a still has the record b deleted")
		}
		// After its reload a writes again.
		mustPut(t, a, rec("ci", "ci-runner", "EXO9"))
		mustPut(t, a, rec("ci", "ci-deploy", "EXO10"))
	})

	t.Run("fenced-by-another-writer", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		old := w.open(account, false) // the leader that lost the Lease
		mustPut(t, old, rec("ci", "ci-runner", "EXO1"))
		mustPut(t, old, rec("ci", "ci-deploy", "EXO2"))
		mustPut(t, old, rec("ci", "backup", "EXO3"))
		leader := w.open(account, false) // the new leader
		byLeader := inFlight(rec("ci", "ci-runner", "EXO1"), "EXO7")
		mustPut(t, leader, byLeader)
		if err := leader.Delete("ci", "ci-deploy"); err != nil {
			t.Fatal(err)
		}
		mustPut(t, leader, rec("ci", "created-by-leader", "EXO8"))

		// The old leader's next writes fail and overwrite nothing.
		err := old.Put(rec("ci", "ci-runner", "EXO-stale"))
		if !errors.Is(err, kubestate.ErrChanged) {
			t.Errorf("Put over the new leader's update: %v, want ErrChanged", err)
		}
		if r, _ := w.stored(account, "ci", "ci-runner"); !same(r, byLeader) {
			t.Errorf("the new leader's record was overwritten: %+v", r)
		}
		if err := old.Delete("ci", "ci-runner"); !errors.Is(err, kubestate.ErrChanged) {
			t.Errorf("Delete of the new leader's update: %v, want ErrChanged", err)
		}
		if _, ok := w.stored(account, "ci", "ci-runner"); !ok {
			t.Errorf("the new leader's record was deleted")
		}
		err = old.Put(rec("ci", "ci-deploy", "EXO-stale"))
		if !errors.Is(err, kubestate.ErrChanged) {
			t.Errorf("Put of a record the new leader deleted: %v, want ErrChanged", err)
		}
		if _, ok := w.stored(account, "ci", "ci-deploy"); ok {
			t.Errorf("the record the new leader deleted was re-created")
		}
		err = old.Put(rec("ci", "created-by-leader", "EXO-stale"))
		if !errors.Is(err, kubestate.ErrChanged) {
			t.Errorf("Put of a record the new leader created: %v, want ErrChanged", err)
		}
		if r, _ := w.stored(account, "ci", "created-by-leader"); r.CurrentKeyID != "EXO8" {
			t.Errorf("the new leader's created record was overwritten: %+v", r)
		}
		// The old leader's view keeps what it had: a failed write changes
		// nothing in memory.
		if got, _ := old.Get("ci", "ci-runner"); got.CurrentKeyID != "EXO1" || got.Rotation != nil {
			t.Errorf("old view after a failed Put: %+v", got)
		}
		// A record nobody else touched is still the old leader's to write.
		mustPut(t, old, rec("ci", "backup", "EXO33"))
		// The new leader is not fenced by the old one's failed attempts.
		mustPut(t, leader, inFlight(rec("ci", "ci-runner", "EXO1"), "EXO77"))
	})

	t.Run("fence", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s := w.open(account, false)
		r := rec("ci", "ci-runner", "EXO1")
		mustPut(t, s, r)
		lost := errors.New("lease lost")
		var fenced atomic.Bool
		s.Fence = func() error {
			if fenced.Load() {
				return lost
			}
			return nil
		}
		mustPut(t, s, r)
		fenced.Store(true)
		if err := s.Put(rec("ci", "ci-runner", "EXO2")); !errors.Is(err, lost) {
			t.Errorf("fenced Put: %v, want the fence's error", err)
		}
		if err := s.Put(rec("ci", "new-name", "EXO2")); !errors.Is(err, lost) {
			t.Errorf("fenced Put of a new record: %v, want the fence's error", err)
		}
		if err := s.Delete("ci", "ci-runner"); !errors.Is(err, lost) {
			t.Errorf("fenced Delete: %v, want the fence's error", err)
		}
		if got, _ := w.stored(account, "ci", "ci-runner"); !same(got, r) {
			t.Errorf("a fenced write changed the record: %+v", got)
		}
		if _, ok := w.stored(account, "ci", "new-name"); ok {
			t.Errorf("a fenced Put created a record")
		}
		if got, _ := s.Get("ci", "ci-runner"); !same(got, r) {
			t.Errorf("a fenced write changed the view")
		}
		fenced.Store(false)
		mustPut(t, s, rec("ci", "ci-runner", "EXO2"))
	})

	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		mustPut(t, w.open(account, false), rec("ci", "ci-runner", "EXO1"))
		ro := w.open(account, true)
		if got, ok := ro.Get("ci", "ci-runner"); !ok || got.CurrentKeyID != "EXO1" {
			t.Errorf("read-only Get: %+v, %v", got, ok)
		}
		if err := ro.Put(rec("ci", "ci-runner", "EXO2")); !errors.Is(err, state.ErrReadOnly) {
			t.Errorf("read-only Put: %v, want ErrReadOnly", err)
		}
		if err := ro.Delete("ci", "ci-runner"); !errors.Is(err, state.ErrReadOnly) {
			t.Errorf("read-only Delete: %v, want ErrReadOnly", err)
		}
		if got, _ := w.stored(account, "ci", "ci-runner"); got.CurrentKeyID != "EXO1" {
			t.Errorf("read-only store wrote: %+v", got)
		}
		// A user who may only read opens it read-only.
		c.Grant(t, "rotatord-2", w.ns, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "get"}}})
		if _, err := kubestate.Open(ctxT(t), c.Client(t, "rotatord-2"), w.ns, account, true); err != nil {
			t.Errorf("read-only Open as a reader: %v", err)
		}
		// No right at all: Open fails, naming the namespace.
		_, err := kubestate.Open(ctxT(t), c.Client(t, "outsider"), w.ns, account, true)
		if err == nil || !strings.Contains(err.Error(), w.ns) {
			t.Errorf("Open without rights: %v", err)
		}
	})

	t.Run("damaged-object", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s := w.open(account, false)
		mustPut(t, s, rec("ci", "ci-runner", "EXO1"))
		// An object claiming to be another record than its name says.
		cm, err := w.admin.CoreV1().ConfigMaps(w.ns).Get(ctxT(t), kubestate.ObjectName(account, "ci", "ci-runner"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rec("ci", "other", "EXO2"))
		cm.Data[kubestate.DataKey] = string(b)
		if _, err := w.admin.CoreV1().ConfigMaps(w.ns).Update(ctxT(t), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Reload(ctxT(t)); err == nil {
			t.Errorf("Reload accepts a record under another record's object name")
		}
		cm, _ = w.admin.CoreV1().ConfigMaps(w.ns).Get(ctxT(t), cm.Name, metav1.GetOptions{})
		cm.Data[kubestate.DataKey] = "{not json"
		if _, err := w.admin.CoreV1().ConfigMaps(w.ns).Update(ctxT(t), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kubestate.Open(ctxT(t), c.Client(t, user), w.ns, account, false); err == nil {
			t.Errorf("Open accepts a damaged record")
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		s := w.open(account, false)
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Go(func() {
				name := fmt.Sprintf("key-%d", i%8)
				r := rec("ci", name, fmt.Sprintf("EXO%d", i))
				if i >= 8 {
					// The second write of a name waits for the first one.
					for !s.Has("ci", name) {
						time.Sleep(10 * time.Millisecond)
					}
				}
				errs[i] = s.Put(r)
				_ = s.List("")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
		}
		if got := len(s.List("ci")); got != 8 {
			t.Errorf("%d records, want 8", got)
		}
	})

	// A write whose answer is lost (the API server went away after etcd
	// had it, a timeout): the object holds the new version, the view the
	// previous one. As with the directory, the next write must succeed:
	// nobody else wrote, so it is no reason to stop forever.
	t.Run("lost-answer", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, c)
		lose := &atomic.Bool{}
		cfg := c.RestConfig(user)
		cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				resp, err := rt.RoundTrip(req)
				if err == nil && req.Method != http.MethodGet && lose.CompareAndSwap(true, false) {
					resp.Body.Close()
					return nil, errors.New("connection reset by peer (test: answer lost)")
				}
				return resp, err
			})
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := kubestate.Open(ctxT(t), client, w.ns, account, false)
		if err != nil {
			t.Fatal(err)
		}
		// A create whose answer is lost, then the next step of the record.
		lose.Store(true)
		if err := s.Put(rec("ci", "ci-runner", "EXO1")); err == nil {
			t.Fatalf("Put with a lost answer: nil error")
		}
		if _, ok := w.stored(account, "ci", "ci-runner"); !ok {
			t.Fatalf("test setup: the create did not reach the server")
		}
		next := inFlight(rec("ci", "ci-runner", "EXO1"), "EXO2")
		if err := s.Put(next); err != nil {
			t.Errorf("Put after a create whose answer was lost: %v", err)
		}
		// An update whose answer is lost, then the next step.
		lose.Store(true)
		if err := s.Put(rec("ci", "ci-runner", "EXO2")); err == nil {
			t.Fatalf("Put with a lost answer: nil error")
		}
		if got, _ := w.stored(account, "ci", "ci-runner"); got.CurrentKeyID != "EXO2" {
			t.Fatalf("test setup: the update did not reach the server")
		}
		final := rec("ci", "ci-runner", "EXO2")
		final.FirstSeen.Set("EXO9", base)
		if err := s.Put(final); err != nil {
			t.Errorf("Put after an update whose answer was lost: %v", err)
		}
		if got, _ := w.stored(account, "ci", "ci-runner"); !same(got, final) {
			t.Errorf("stored %+v, want %+v", got, final)
		}
		// A delete whose answer is lost, then the name's next record.
		lose.Store(true)
		if err := s.Delete("ci", "ci-runner"); err == nil {
			t.Fatalf("Delete with a lost answer: nil error")
		}
		if err := s.Put(rec("ci", "ci-runner", "EXO3")); err != nil {
			t.Errorf("Put after a delete whose answer was lost: %v", err)
		}

		// A create whose answer is lost, then a Delete of the record: the
		// object goes too, or a later Reload would bring the record back.
		lose.Store(true)
		if err := s.Put(rec("ci", "fresh", "EXO6")); err == nil {
			t.Fatalf("Put with a lost answer: nil error")
		}
		if err := s.Delete("ci", "fresh"); err != nil {
			t.Errorf("Delete after a create whose answer was lost: %v", err)
		}
		if _, ok := w.stored(account, "ci", "fresh"); ok {
			t.Errorf("the object of a create whose answer was lost survived the record's Delete")
		}

		// But another writer is still detected after a lost answer.
		lose.Store(true)
		_ = s.Put(rec("ci", "ci-runner", "EXO4"))
		other := w.open(account, false)
		mustPut(t, other, rec("ci", "ci-runner", "EXO-other"))
		if err := s.Put(rec("ci", "ci-runner", "EXO5")); !errors.Is(err, kubestate.ErrChanged) {
			t.Errorf("Put after another writer's change: %v, want ErrChanged", err)
		}
		if got, _ := w.stored(account, "ci", "ci-runner"); got.CurrentKeyID != "EXO-other" {
			t.Errorf("another writer's record overwritten: %+v", got)
		}
	})

	// Alone on the cluster (it runs before the parallel subtests resume):
	// the API server restarts under a Store.
	t.Run("api-server-restart", func(t *testing.T) {
		w := newWorld(t, c)
		s := w.open(account, false)
		mustPut(t, s, rec("ci", "ci-runner", "EXO1"))
		mustPut(t, s, rec("ci", "ci-deploy", "EXO2"))
		c.RestartAPIServer(t)
		mustPut(t, s, inFlight(rec("ci", "ci-runner", "EXO1"), "EXO3"))
		if err := s.Delete("ci", "ci-deploy"); err != nil {
			t.Errorf("Delete after the restart: %v", err)
		}
		s2 := w.open(account, false)
		if got, ok := s2.Get("ci", "ci-runner"); !ok || got.Rotation == nil || got.Rotation.NewKeyID != "EXO3" {
			t.Errorf("after the restart a new Store reads %+v, %v", got, ok)
		}
		if s2.Has("ci", "ci-deploy") {
			t.Errorf("the record deleted after the restart is back")
		}
		if err := s.Reload(ctxT(t)); err != nil {
			t.Errorf("Reload after the restart: %v", err)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
