package rotation

import (
	"context"
	"errors"
	"fmt"
	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/sinks/file"
)

// The key the 429 made shows only after the search that follows the
// delivery (the API applied it late): with grace 0 the rotation is already
// cleared then, and the template sink cannot say which key it holds.
func TestAppliedRateLimitedCreateLateKeyTemplateGraceZero(t *testing.T) {
	h := newSimHarness(t, 0, file.FormatTemplate)
	h.pass(Options{})
	var old string
	for id := range h.live("ci-runner", exosim.CIRoleID) {
		old = id
	}
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1, LateApplyNext: 1, LateApply: 1500 * time.Millisecond})
	h.pass(Options{Force: true})
	time.Sleep(2 * time.Second) // exosim's clock: the late key shows
	var lost string
	for _, k := range h.srv.Keys() {
		if k.Name == "ci-runner" && k.Key != old && k.Key != h.sinkKeyID() {
			lost = k.Key
		}
	}
	if lost == "" {
		t.Fatalf("no second key: %+v", h.srv.Keys())
	}
	for range 4 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	if _, ok := h.live("ci-runner", "")[lost]; ok {
		t.Errorf("key %s, made by the create answered 429 and applied late, is alive", lost)
	}
	if r, _ := h.store.Get("ci", "ci-runner"); r.RetriedCreate != nil {
		t.Errorf("search still open: %+v", r.RetriedCreate)
	}
	h.noSecretLogged()
}

// Every attempt of a create is applied and answered 429 until the client
// gives up: each made a key whose secret went nowhere. The failed create's
// search ends at the first listing that shows a key of the name ("one
// create makes one key"): the keys a lagging listing did not show yet
// lived on, nobody knowing their secrets.
func TestAppliedRateLimitedFailedCreateSearchesTheSettleTime(t *testing.T) {
	h, _ := newLaggingCreateHarness(t)
	var old string
	for id := range h.live("ci-runner", exosim.CIRoleID) {
		old = id
	}
	failEveryCreateAttemptApplied(h)
	made := 0
	for _, k := range h.srv.Keys() {
		if k.Name == "ci-runner" && k.Key != old {
			made++
		}
	}
	if made != 2 {
		t.Fatalf("%d keys made, want 2: %+v", made, h.srv.Keys())
	}
	for range 4 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	for id := range h.live("ci-runner", "") {
		if id != old {
			t.Errorf("key %s, made by a create answered 429, is alive: nobody has its secret", id)
		}
	}
	h.noSecretLogged()
}

// newLaggingCreateHarness is a harness, after its first pass, whose client
// tries a create twice and whose listing lags after a failed create
// (lagsAfterFailedCreate). The client is returned for calls made by hand.
func newLaggingCreateHarness(t *testing.T) (*simHarness, *apiclient.Client) {
	t.Helper()
	h := newSimHarness(t, time.Hour, file.FormatTemplate)
	admin := h.srv.Admin()
	client, err := apiclient.New(apiclient.Config{
		Endpoint: h.srv.Endpoint, Credentials: apiclient.Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout: 10 * time.Second, RetryBaseDelay: 10 * time.Millisecond, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.client, h.api = client, &lagsAfterFailedCreate{API: client}
	h.restart()
	h.pass(Options{})
	return h, client
}

// failEveryCreateAttemptApplied has the API apply both attempts of the
// next create and answer each 429, then forces a rotation: the create
// fails having made two keys whose secrets went nowhere.
func failEveryCreateAttemptApplied(h *simHarness) {
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 2, RetryAfter: 1})
	h.pass(Options{Force: true})
}

// lagsAfterFailedCreate is a listing that lags: the first one after a
// failed create lacks the newest key of that create's name.
type lagsAfterFailedCreate struct {
	apiclient.API
	mu   sync.Mutex
	name string
}

func (l *lagsAfterFailedCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := l.API.CreateKey(ctx, name, roleID)
	if err != nil {
		l.mu.Lock()
		l.name = name
		l.mu.Unlock()
	}
	return k, err
}

func (l *lagsAfterFailedCreate) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := l.API.ListKeys(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || l.name == "" {
		return keys, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].Name == l.name {
			keys = slices.Delete(slices.Clone(keys), i, i+1)
			break
		}
	}
	l.name = ""
	return keys, nil
}

// answeredOnce tells of one answered attempt before every create's answer,
// as a create retried after a plain 429 (the adaptive rate makes them
// common at scale).
type answeredOnce struct{ apiclient.API }

func (a answeredOnce) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := a.API.CreateKey(ctx, name, roleID)
	k.EarlierAttemptsAnswered = 1
	return k, err
}

// The searches of retried creates made in an earlier pass use the pass's
// listing: each of them listing every key at every pass until it settled
// cost, at 10,000 names, a full listing per create a 429 answered, several
// times over (the search after the delivery, each follow-up pass).
func TestRetriedCreateSearchesShareThePassListing(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatJSON)
	const names = 6
	for i := range names {
		if _, err := h.srv.CreateKey(fmt.Sprintf("ci-runner-%d", i), exosim.CIRoleID); err != nil {
			t.Fatal(err)
		}
	}
	h.policy.Match = func(name, role string) bool { return strings.HasPrefix(name, "ci-runner-") }
	h.api = answeredOnce{h.client}
	h.restart()
	h.pass(Options{})
	h.pass(Options{Force: true})
	open := 0
	for _, r := range h.store.List("ci") {
		if r.RetriedCreate != nil {
			open++
		}
	}
	if open != names {
		t.Fatalf("%d searches open after the rotations, want %d", open, names)
	}
	lists := func() int { return h.srv.Calls()[exosim.OpListAPIKeys].Total }
	for _, step := range []time.Duration{5 * time.Second, time.Minute} { // before and after the settle time
		h.clock.Add(step)
		before := lists()
		h.pass(Options{})
		if n := lists() - before; n != 1 {
			t.Errorf("a pass %s later listed the keys %d times, want once for %d open searches", step, n, names)
		}
	}
	for _, r := range h.store.List("ci") {
		if r.RetriedCreate != nil {
			t.Errorf("%s: search still open after the settle time", r.Name)
		}
	}
	live := 0
	for _, k := range h.srv.Keys() {
		if k.Alive && strings.HasPrefix(k.Name, "ci-runner-") {
			live++
		}
	}
	if live != 2*names {
		t.Errorf("%d live keys of the names, want two per name (old in grace, new)", live)
	}
}

// A journal restored from a backup taken while a retried create's search
// was open, after two more rotations: the key of the last one is current
// (the sink holds it), the key of the one before is in its grace period,
// its consumers not all switched yet. Neither may go: the search's journal
// is older than what happened.
func TestRetriedCreateSearchFromARestoredJournalDeletesNoKeyInUse(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatJSON)
	failing := &listFailsAfterCreate{API: h.client}
	h.api = failing
	h.restart()
	h.rotateUnderAppliedRateLimit()
	if r, _ := h.store.Get("ci", "ci-runner"); r.RetriedCreate == nil {
		t.Fatal("no search open")
	}
	backup := t.TempDir()
	h.store.Close()
	if err := os.CopyFS(backup, os.DirFS(h.dir)); err != nil {
		t.Fatal(err)
	}
	h.api = h.client
	h.restart()
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.pass(Options{Force: true})
	c := h.sinkKeyID()
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.pass(Options{Force: true})
	d := h.sinkKeyID()
	if live := h.live("ci-runner", ""); len(live) != 2 || live[c].Key == "" || live[d].Key == "" {
		t.Fatalf("live keys %v, want %s (in grace) and %s (current)", keysOf(live), c, d)
	}

	h.store.Close()
	if err := os.RemoveAll(h.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(h.dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	h.store = nil
	h.restart()
	h.pass(Options{})
	live := h.live("ci-runner", "")
	for _, id := range []string{c, d} {
		if _, ok := live[id]; !ok {
			t.Errorf("key %s was deleted by the search of the restored journal: its consumers lost it", id)
		}
	}
	for range 3 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	// The sink's key adopted, the adoption's grace period over.
	h.clock.Add(2 * time.Hour)
	h.pass(Options{})
	h.pass(Options{})
	r, _ := h.store.Get("ci", "ci-runner")
	if r.RetriedCreate != nil {
		t.Errorf("the restored search is still open (current %s, rotation %+v): the name is never quiet", r.CurrentKeyID, r.Rotation)
	}
	if _, ok := h.live("ci-runner", "")[d]; !ok {
		t.Errorf("the current key %s was deleted", d)
	}
}

// killedAfterCreate is a process killed right after a create answered:
// the journal is copied as it is then (to snapshot), and nothing more
// reaches the API (the create's caller gets an error, listings and
// deletes fail).
type killedAfterCreate struct {
	apiclient.API
	t        *testing.T
	dir      string
	snapshot string
	mu       sync.Mutex
	dead     bool
}

func (k *killedAfterCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	_, err := k.API.CreateKey(ctx, name, roleID)
	if err != nil {
		k.t.Fatalf("create: %v", err)
	}
	if err := os.CopyFS(k.snapshot, os.DirFS(k.dir)); err != nil {
		k.t.Fatal(err)
	}
	k.mu.Lock()
	k.dead = true
	k.mu.Unlock()
	return apiclient.CreatedKey{}, errors.New("killed")
}

func (k *killedAfterCreate) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	return k.API.ListKeys(ctx)
}

func (k *killedAfterCreate) DeleteKey(ctx context.Context, id string) error {
	return errors.New("killed")
}

// hidesNewest is listings that lag: the first n lack the newest key of
// name.
type hidesNewest struct {
	apiclient.API
	mu   sync.Mutex
	name string
	n    int
}

func (l *hidesNewest) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	keys, err := l.API.ListKeys(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || l.n == 0 {
		return keys, err
	}
	l.n--
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].Name == l.name {
			return slices.Delete(slices.Clone(keys), i, i+1), nil
		}
	}
	return keys, nil
}

// A process killed while its create waits to be sent again after a 429
// the API acted on (or right after the retried create's answer, before
// its key is recorded): the journal holds the intent, two keys exist, and
// a listing that lags shows only the first. The intent's search ended at
// the first key, and the other lived on with nobody knowing its secret.
func TestRetriedCreateKilledBeforeItsKeyIsRecorded(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatTemplate)
	h.pass(Options{})
	var old string
	for id := range h.live("ci-runner", exosim.CIRoleID) {
		old = id
	}
	snapshot := t.TempDir()
	h.api = &killedAfterCreate{API: h.client, t: t, dir: h.dir, snapshot: snapshot}
	h.restart()
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1})
	h.pass(Options{Force: true})
	if n := len(h.live("ci-runner", exosim.CIRoleID)); n != 3 {
		t.Fatalf("%d live keys, want the old one and the two of the create", n)
	}

	h.store.Close()
	h.store = nil
	if err := os.RemoveAll(h.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(h.dir, os.DirFS(snapshot)); err != nil {
		t.Fatal(err)
	}
	h.api = &hidesNewest{API: h.client, name: "ci-runner", n: 2}
	h.restart()
	for range 4 {
		h.clock.Add(time.Minute)
		h.pass(Options{})
	}
	for id := range h.live("ci-runner", "") {
		if id != old {
			t.Errorf("key %s, made by the create the process was killed in, is alive: nobody has its secret", id)
		}
	}
	h.noSecretLogged()
}
