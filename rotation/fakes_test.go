package rotation

import (
	"context"
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
	var out []apiclient.Key
	for _, k := range f.keys {
		out = append(out, k)
	}
	return out, nil
}

func (f *fakeAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return apiclient.Key{}, apiclient.ErrNotFound
	}
	return k, nil
}

func (f *fakeAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("EXO%024x", f.n)
	k := apiclient.Key{ID: id, Name: name, RoleID: roleID}
	f.keys[id] = k
	sec := fmt.Sprintf("SECRET-%040d", f.n)
	f.issued = append(f.issued, sec)
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
	delete(f.keys, id)
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeAPI) ListRoles(ctx context.Context) ([]apiclient.Role, error) { return nil, nil }

// memSink is an in-memory sink with switchable failures.
type memSink struct {
	label     string
	mu        sync.Mutex
	held      map[string]sinks.Credential
	failWrite error
	failProbe error
	opaque    bool // like a free-form template: Read cannot give the secret back
	writes    int
}

func newMemSink(label string) *memSink {
	return &memSink{label: label, held: map[string]sinks.Credential{}}
}

func (s *memSink) Kind() string              { return "mem" }
func (s *memSink) Target(name string) string { return s.label + "/" + name }

func (s *memSink) Probe(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failProbe
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
	h, ok := s.held[name]
	if !ok {
		return sinks.Held{}, sinks.ErrNotHeld
	}
	if s.opaque {
		return sinks.Held{}, fmt.Errorf("template: %w", sinks.ErrUnreadable)
	}
	return sinks.Held{KeyID: h.KeyID, Secret: h.Secret}, nil
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
