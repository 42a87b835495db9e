package rotation

import (
	"context"
	"fmt"
	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
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
	h := newSimHarness(t, time.Hour, file.FormatTemplate)
	admin := h.srv.Admin()
	client, err := apiclient.New(apiclient.Config{
		Endpoint: h.srv.Endpoint, Credentials: apiclient.Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout: 10 * time.Second, RetryBaseDelay: 10 * time.Millisecond, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	lag := &lagsAfterFailedCreate{API: client}
	h.client, h.api = client, lag
	h.restart()
	h.pass(Options{})
	var old string
	for id := range h.live("ci-runner", exosim.CIRoleID) {
		old = id
	}
	h.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 2, RetryAfter: 1})
	h.pass(Options{Force: true})
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
