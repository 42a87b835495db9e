package rotation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/state"
)

// simHarness runs the engine over exosim through the real API client, with
// file sinks: what a server that answers a create 429 after making the key
// does to a rotation is seen end to end.
type simHarness struct {
	t      *testing.T
	srv    *exosim.Server
	client *apiclient.Client
	api    apiclient.API // client, or a wrapper of it
	dir    string
	store  *state.Store
	clock  *fakeClock
	logs   *observer.ObservedLogs
	policy Policy
	engine *Engine
	out    string // the sinks' directory
}

func newSimHarness(t *testing.T, grace time.Duration, format string) *simHarness {
	t.Helper()
	srv := exosimtest.NewServer(t, exosim.DefaultSeed())
	admin := srv.Admin()
	client, err := apiclient.New(apiclient.Config{
		Endpoint: srv.Endpoint, Credentials: apiclient.Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout: 10 * time.Second, RetryBaseDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &simHarness{t: t, srv: srv, client: client, api: client, dir: t.TempDir(), out: t.TempDir(),
		clock: &fakeClock{now: time.Now().UTC()}}
	opts := file.Options{
		Path:   template.Must(template.New("p").Parse(h.out + "/{{.Name}}.conf")),
		Format: format, UID: -1, GID: -1, Policy: "ci",
	}
	if format == file.FormatTemplate {
		opts.Template = template.Must(template.New("t").Parse("id={{.APIKey}} secret={{.APISecret}}\n"))
	}
	sink, err := file.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.policy = Policy{
		Name:        "ci",
		Match:       func(name, role string) bool { return name == "ci-runner" },
		MaxAge:      24 * time.Hour,
		GracePeriod: grace,
		Sinks:       []sinks.Sink{sink},
	}
	h.restart()
	return h
}

// restart is a new process: a new engine over the same state directory.
func (h *simHarness) restart() {
	h.t.Helper()
	if h.store != nil {
		h.store.Close()
	}
	s, err := state.Open(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = s
	h.t.Cleanup(func() { s.Close() })
	core, logs := observer.New(zap.DebugLevel)
	h.logs = logs
	h.engine = New(Config{API: h.api, Store: s, Logger: zap.New(core), Now: h.clock.Now, Sleep: h.clock.Sleep,
		OwnKeyID: h.srv.Admin().Key, CreateSettle: 10 * time.Second})
	if err := h.engine.SetPolicies([]Policy{h.policy}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *simHarness) pass(opts Options) []Outcome {
	h.t.Helper()
	out, err := h.engine.Pass(context.Background(), nil, opts)
	if err != nil {
		h.t.Fatalf("pass: %v", err)
	}
	return out
}

// live returns the live keys named name of role (any role when "").
func (h *simHarness) live(name, role string) map[string]exosim.KeyRecord {
	out := map[string]exosim.KeyRecord{}
	for _, k := range h.srv.Keys() {
		if k.Alive && k.Name == name && (role == "" || k.RoleID == role) {
			out[k.Key] = k
		}
	}
	return out
}

// sinkKeyID is the key id the sink file holds.
func (h *simHarness) sinkKeyID() string {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.out, "ci-runner.conf"))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, k := range h.srv.Keys() {
		if strings.Contains(string(data), k.Key) {
			return k.Key
		}
	}
	h.t.Fatalf("the sink holds no key exosim knows: %q", data)
	return ""
}

// noSecretLogged fails when any key's secret is in a log entry.
func (h *simHarness) noSecretLogged() {
	h.t.Helper()
	for _, entry := range h.logs.All() {
		text := entry.Message + fmt.Sprint(entry.ContextMap())
		for _, k := range h.srv.Keys() {
			if k.Secret != "" && strings.Contains(text, k.Secret) {
				h.t.Errorf("log %q quotes the secret of key %s", entry.Message, k.Key)
			}
		}
	}
}

// logged says whether a log entry names key id.
func (h *simHarness) logged(id string) bool {
	for _, entry := range h.logs.All() {
		if strings.Contains(entry.Message+fmt.Sprint(entry.ContextMap()), id) {
			return true
		}
	}
	return false
}

// rotateUnderAppliedRateLimit adopts ci-runner, then rotates it with its
// first create answered 429 after the API made the key. It returns the
// old key, the key the 429 made (A) and the key delivered (B).
func (h *simHarness) rotateUnderAppliedRateLimit() (old, lost, delivered string) {
	h.t.Helper()
	h.pass(Options{})
	before := h.live("ci-runner", exosim.CIRoleID)
	if len(before) != 1 {
		h.t.Fatalf("ci-runner has %d keys before the rotation, want 1", len(before))
	}
	for id := range before {
		old = id
	}
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1})
	h.pass(Options{Force: true})
	for _, k := range h.srv.Keys() {
		if k.Name == "ci-runner" && k.Key != old {
			if lost == "" {
				lost = k.Key // exosim lists keys in creation order
			} else {
				delivered = k.Key
			}
		}
	}
	if lost == "" || delivered == "" {
		h.t.Fatalf("the create did not make two keys: %+v", h.srv.Keys())
	}
	if got := h.sinkKeyID(); got != delivered {
		h.t.Fatalf("the sink holds %s, want the key of the answered create %s", got, delivered)
	}
	return old, lost, delivered
}

// A create the API applies and then answers 429: the client sends it
// again and the second answer's key (B) is delivered; the first key (A)
// lived on with nobody knowing its secret. It must be deleted by the pass
// (or the next one), the old key kept for its grace period.
func TestAppliedRateLimitedCreateKeyIsDeleted(t *testing.T) {
	for _, format := range []string{file.FormatJSON, file.FormatTemplate} {
		for _, grace := range []time.Duration{time.Hour, 0} {
			t.Run(fmt.Sprintf("%s grace %s", format, grace), func(t *testing.T) {
				h := newSimHarness(t, grace, format)
				old, lost, delivered := h.rotateUnderAppliedRateLimit()
				if _, ok := h.live("ci-runner", "")[lost]; ok {
					h.pass(Options{}) // at most the next pass
				}
				live := h.live("ci-runner", "")
				if _, ok := live[lost]; ok {
					t.Errorf("key %s, made by the create answered 429, is alive: nobody has its secret", lost)
				}
				if _, ok := live[delivered]; !ok {
					t.Errorf("the delivered key %s was deleted", delivered)
				}
				_, oldLive := live[old]
				if grace > 0 && (!oldLive || len(live) != 2) {
					t.Errorf("live keys %v, want the old key %s (grace running) and the new %s", keysOf(live), old, delivered)
				}
				if grace == 0 && len(live) != 1 {
					t.Errorf("live keys %v, want the new %s alone", keysOf(live), delivered)
				}
				if !h.logged(lost) {
					t.Errorf("no log names key %s, deleted as the key of a retried create", lost)
				}
				h.noSecretLogged()

				// After the grace period, the name has the delivered key
				// alone, and it rotates again (not stuck with two keys).
				h.clock.Add(grace + time.Hour)
				h.pass(Options{})
				if live := h.live("ci-runner", ""); len(live) != 1 || live[delivered].Key == "" {
					t.Errorf("after the grace period: live keys %v, want %s alone", keysOf(live), delivered)
				}
				if r, _ := h.store.Get("ci", "ci-runner"); r.RetriedCreate != nil {
					t.Errorf("the search of the retried create is still open after the settle time: %+v", r.RetriedCreate)
				}
				h.pass(Options{Force: true})
				if got := h.sinkKeyID(); got == delivered {
					t.Errorf("the name did not rotate again: live %v, the sink holds %s still", keysOf(h.live("ci-runner", "")), got)
				}
			})
		}
	}
}

// The process is killed between the delivery and the search (here: the
// search's listing fails, and the next process starts from the journal):
// the next process finds the key and deletes it.
func TestAppliedRateLimitedCreateSearchSurvivesARestart(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatTemplate)
	failing := &listFailsAfterCreate{API: h.client}
	h.api = failing
	h.restart()
	old, lost, delivered := h.rotateUnderAppliedRateLimit()
	if _, ok := h.live("ci-runner", "")[lost]; !ok {
		t.Fatalf("key %s was deleted although the search's listing failed", lost)
	}
	r, _ := h.store.Get("ci", "ci-runner")
	if r.RetriedCreate == nil {
		t.Fatal("the journal does not record the search of the retried create: a restart forgets the key")
	}
	h.api = h.client
	h.restart()
	h.pass(Options{})
	live := h.live("ci-runner", "")
	if _, ok := live[lost]; ok || len(live) != 2 || live[old].Key == "" || live[delivered].Key == "" {
		t.Errorf("after the restart: live keys %v, want %s (old) and %s (new), not %s", keysOf(live), old, delivered, lost)
	}
}

// A plain 429 (the API did not act): the retried create deletes nothing,
// and a key of the name made by someone else before the rotation (another
// role) stays.
func TestPlainRateLimitedCreateDeletesNothingElse(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatJSON)
	h.pass(Options{})
	human, err := h.srv.CreateKey("ci-runner", exosim.ReadonlyRoleID)
	if err != nil {
		t.Fatal(err)
	}
	before := h.live("ci-runner", "")
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{RateLimitNext: 1, RetryAfter: 1})
	h.pass(Options{Force: true})
	h.pass(Options{})
	live := h.live("ci-runner", "")
	for id := range before {
		if _, ok := live[id]; !ok {
			t.Errorf("key %s, alive before the rotation, was deleted", id)
		}
	}
	if len(live) != len(before)+1 {
		t.Errorf("live keys %v, want those before %v and the new one", keysOf(live), keysOf(before))
	}
	if n := h.srv.Calls()[exosim.OpDeleteAPIKey].Total; n != 0 {
		t.Errorf("%d deletes during the grace period, want none", n)
	}
	if _, ok := live[human.Key]; !ok {
		t.Errorf("the key %s someone made before the rotation was deleted", human.Key)
	}
}

// The same with the applied 429: the other role's key made before the
// rotation stays, the key the 429 made goes.
func TestAppliedRateLimitedCreateSparesKeysMadeBefore(t *testing.T) {
	h := newSimHarness(t, time.Hour, file.FormatJSON)
	h.pass(Options{})
	human, err := h.srv.CreateKey("ci-runner", exosim.ReadonlyRoleID)
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1})
	h.pass(Options{Force: true})
	h.pass(Options{})
	live := h.live("ci-runner", "")
	if _, ok := live[human.Key]; !ok {
		t.Errorf("the key %s someone made before the rotation was deleted", human.Key)
	}
	if n := len(h.live("ci-runner", exosim.CIRoleID)); n != 2 {
		t.Errorf("%d live keys of ci-runner's role, want 2 (old in grace, new): %v", n, keysOf(live))
	}
}

func keysOf(m map[string]exosim.KeyRecord) []string {
	var out []string
	for id := range m {
		out = append(out, id)
	}
	return out
}

// listFailsAfterCreate fails every listing once a create has succeeded:
// the search after the delivery cannot list, as a process killed before it.
type listFailsAfterCreate struct {
	apiclient.API
	mu      sync.Mutex
	created bool
}

func (l *listFailsAfterCreate) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	k, err := l.API.CreateKey(ctx, name, roleID)
	l.mu.Lock()
	l.created = l.created || err == nil
	l.mu.Unlock()
	return k, err
}

func (l *listFailsAfterCreate) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	l.mu.Lock()
	created := l.created
	l.mu.Unlock()
	if created {
		return nil, errors.New("killed")
	}
	return l.API.ListKeys(ctx)
}
