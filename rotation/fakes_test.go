package rotation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
)

// fakeAPI is an in-memory organization for unit tests. It checks the
// no-outage invariant on every delete: no sink of the test may hold the
// key being deleted.
type fakeAPI struct {
	t     *testing.T
	mu    sync.Mutex
	keys  map[string]apiclient.Key
	n     int
	sinks []*memSink

	issued   []string // every secret handed out
	deleted  []string
	failList error
	// createHook runs after the key is made; a non-nil error is returned
	// instead of the key (e.g. ErrAmbiguousCreate: "response lost").
	createHook func(k apiclient.Key) error
	deleteErr  error

	// hidden keys exist but the API does not show them yet: a create
	// applied late, or a listing and GET that lag. Each ListKeys counts one
	// down; the key shows when it reaches zero.
	hidden   map[string]int
	unlisted map[string]bool // known to GetKey, never listed
	// getLag keys answer ErrNotFound to GET while they exist.
	getLag map[string]bool
	// zombies answer "deleted" to DELETE but stay listed.
	zombies map[string]bool
	// serverNow, when set, is the API's own clock: each listing's answer
	// carries it, as the client reads it from the Date header.
	serverNow func() time.Time
	// maxLive is the most live keys any one name ever had.
	maxLive int
	// gets counts GetKey calls.
	gets int
	// roleSpelling, when set, is how the API spells the role id of a key
	// it creates (its own spelling, not the request's).
	roleSpelling func(string) string
}

// countLive notes the live keys of a name after a create. Called locked.
func (f *fakeAPI) countLive(name string) {
	n := 0
	for id, k := range f.keys {
		if k.Name == name && !f.zombies[id] {
			n++
		}
	}
	f.maxLive = max(f.maxLive, n)
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, keys: map[string]apiclient.Key{}}
}

func (f *fakeAPI) add(name, role string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("EXO%024x", f.n)
	f.keys[id] = apiclient.Key{ID: id, Name: name, RoleID: role}
	return id
}

func (f *fakeAPI) live(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, k := range f.keys {
		if k.Name == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (f *fakeAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failList != nil {
		return nil, f.failList
	}
	apiclient.Answered(ctx) // as the client does when a listing's answer comes
	if f.serverNow != nil {
		apiclient.NoteServerTime(ctx, f.serverNow())
	}
	var out []apiclient.Key
	for id, k := range f.keys {
		if f.unlisted[id] {
			continue
		}
		if n, ok := f.hidden[id]; ok {
			if n > 0 {
				f.hidden[id] = n - 1
				continue
			}
			delete(f.hidden, id)
		}
		out = append(out, k)
	}
	return out, nil
}

func (f *fakeAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	k, ok := f.keys[id]
	if !ok || f.getLag[id] || f.hidden[id] > 0 {
		return apiclient.Key{}, apiclient.ErrNotFound
	}
	return k, nil
}

func (f *fakeAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("EXO%024x", f.n)
	k := apiclient.Key{ID: id, Name: name, RoleID: roleID}
	if f.roleSpelling != nil {
		k.RoleID = f.roleSpelling(roleID)
	}
	f.keys[id] = k
	sec := fmt.Sprintf("SECRET-%040d", f.n)
	f.issued = append(f.issued, sec)
	f.countLive(name)
	hook := f.createHook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(k); err != nil {
			return apiclient.CreatedKey{}, err
		}
	}
	return apiclient.CreatedKey{Key: k, Secret: secret.Value(sec)}, nil
}

func (f *fakeAPI) DeleteKey(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleteErr != nil {
		return f.deleteErr
	}
	k, ok := f.keys[id]
	if !ok {
		return nil
	}
	for _, s := range f.sinks {
		if h, err := s.Read(ctx, k.Name); err == nil && h.KeyID == id {
			f.t.Errorf("OUTAGE: deleting key %s of %q while sink %s holds it", id, k.Name, s.label)
		}
	}
	f.deleted = append(f.deleted, id)
	if f.zombies[id] {
		return nil // "API Key not in organization": counted as gone, still listed
	}
	delete(f.keys, id)
	return nil
}

// hide keeps key id out of listings and GETs for the next n listings.
func (f *fakeAPI) hide(id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hidden == nil {
		f.hidden = map[string]int{}
	}
	f.hidden[id] = n
}

func (f *fakeAPI) ListRoles(ctx context.Context) ([]apiclient.Role, error) { return nil, nil }

// memSink is an in-memory sink with switchable failures.
type memSink struct {
	label     string
	mu        sync.Mutex
	held      map[string]sinks.Credential
	failWrite error
	failProbe error
	failRead  error // Read and Verify answer it: the sink cannot be reached
	opaque    bool  // like a free-form template: Read cannot give the secret back
	writes    int
	probeHook func()
}

func newMemSink(label string) *memSink {
	return &memSink{label: label, held: map[string]sinks.Credential{}}
}

func (s *memSink) Kind() string              { return "mem" }
func (s *memSink) Target(name string) string { return s.label + "/" + name }

func (s *memSink) Probe(ctx context.Context, name string) error {
	s.mu.Lock()
	hook, err := s.probeHook, s.failProbe
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return err
}

func (s *memSink) Write(ctx context.Context, c sinks.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWrite != nil {
		return s.failWrite
	}
	s.held[c.Name] = c
	s.writes++
	return nil
}

func (s *memSink) Verify(ctx context.Context, c sinks.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.held[c.Name]
	if !ok {
		return sinks.ErrNotHeld
	}
	if h.KeyID != c.KeyID || h.Secret != c.Secret {
		return sinks.ErrMismatch
	}
	return nil
}

func (s *memSink) Read(ctx context.Context, name string) (sinks.Held, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failRead != nil {
		return sinks.Held{}, s.failRead
	}
	h, ok := s.held[name]
	if !ok {
		return sinks.Held{}, sinks.ErrNotHeld
	}
	if s.opaque {
		return sinks.Held{}, fmt.Errorf("template: %w", sinks.ErrUnreadable)
	}
	return sinks.Held{KeyID: h.KeyID, Secret: h.Secret}, nil
}

// CanReadBack implements sinks.ReadBacker.
func (s *memSink) CanReadBack() bool { return !s.opaque }

// fpSink is an opaque memSink that proves what it holds by fingerprints,
// as the file sink's template format does.
type fpSink struct{ *memSink }

var _ sinks.Fingerprinter = fpSink{}

func (s fpSink) Fingerprint(c sinks.Credential) (string, error) {
	return fmt.Sprintf("fp:%s:%x", c.KeyID, sha256.Sum256([]byte(c.Secret.Reveal()))), nil
}

func (s fpSink) CurrentFingerprint(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	h, ok := s.held[name]
	s.mu.Unlock()
	if !ok {
		return "", sinks.ErrNotHeld
	}
	return s.Fingerprint(h)
}

func (s *memSink) holds(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[name].KeyID
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep is the engine's Sleep on this clock: it moves the clock on.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingRecorder counts Recorder events.
type countingRecorder struct {
	mu                  sync.Mutex
	ok, failed, orphans int
	sinkOK, sinkFailed  int
	refused             int
	skipped             int
	hookOK, hookFailed  int
	sinkChecks          map[string]int
}

func (r *countingRecorder) SinkChecked(policy, sink, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sinkChecks == nil {
		r.sinkChecks = map[string]int{}
	}
	r.sinkChecks[result]++
}

func (r *countingRecorder) HookRun(policy, name, hook, event string, ok bool, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.hookOK++
	} else {
		r.hookFailed++
	}
}

func (r *countingRecorder) RotationDone(policy string, ok bool, elapsed time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.ok++
	} else {
		r.failed++
	}
}

func (r *countingRecorder) SinkWrite(policy, sink string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.sinkOK++
	} else {
		r.sinkFailed++
	}
}

func (r *countingRecorder) OrphanDeleted(policy string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.orphans++
}

func (r *countingRecorder) DeletionRefused(policy string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused++
}

func (r *countingRecorder) NameSkipped(policy string, reason SkipReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped++
}
