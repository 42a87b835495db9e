package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/secret"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sleeps records the backoff the client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

type observed struct {
	mu    sync.Mutex
	codes map[string][]string
}

func (o *observed) observe(op, code string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.codes == nil {
		o.codes = map[string][]string{}
	}
	o.codes[op] = append(o.codes[op], code)
}

func (o *observed) get(op string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.codes[op]...)
}

type fixture struct {
	srv    *exosim.Server
	client *Client
	sleeps *sleeps
	obs    *observed
}

func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	srv := exosimtest.NewServer(t, exosim.DefaultSeed(), exosim.WithRand(1))
	admin := srv.Admin()
	obs := &observed{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	cfg := Config{
		Endpoint:    srv.Endpoint,
		Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
		Timeout:     5 * time.Second,
		Observe:     obs.observe,
		Transport:   tr,
		RateLimit:   1000,
		Burst:       1000,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	c.sleep = sl.sleep
	c.jitter = func() float64 { return 1 } // the top of the jitter range
	return &fixture{srv: srv, client: c, sleeps: sl, obs: obs}
}

func (f *fixture) liveNamed(name string) []exosim.KeyRecord {
	var out []exosim.KeyRecord
	for _, k := range f.srv.Keys() {
		if k.Name == name && k.Alive {
			out = append(out, k)
		}
	}
	return out
}

func TestEveryOperationAgainstTheSimulator(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	roles, err := f.client.ListRoles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != 3 {
		t.Fatalf("roles = %+v", roles)
	}
	keys, err := f.client.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 { // admin + 4 seeded
		t.Fatalf("keys = %+v", keys)
	}
	created, err := f.client.CreateKey(ctx, "ci-new", exosim.CIRoleID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.ID, "EXO") || len(created.ID) != 27 || len(created.Secret.Reveal()) != 43 {
		t.Errorf("created = %+v (secret length %d)", created.Key, len(created.Secret.Reveal()))
	}
	if created.Name != "ci-new" || created.RoleID != exosim.CIRoleID {
		t.Errorf("created = %+v", created.Key)
	}
	if !f.srv.Authenticate(created.ID, created.Secret.Reveal()) {
		t.Error("the new credential does not authenticate")
	}
	got, err := f.client.GetKey(ctx, created.ID)
	if err != nil || got != created.Key {
		t.Fatalf("GetKey = %+v, %v", got, err)
	}
	if err := f.client.DeleteKey(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.GetKey(ctx, created.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetKey after delete: %v, want ErrNotFound", err)
	}
	// Deleting again is not an error: the key is gone either way.
	if err := f.client.DeleteKey(ctx, created.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if codes := f.obs.get(OpCreateKey); len(codes) != 1 || codes[0] != "200" {
		t.Errorf("observed create codes = %v", codes)
	}
	if codes := f.obs.get(OpGetKey); len(codes) != 2 || codes[1] != "404" {
		t.Errorf("observed get codes = %v", codes)
	}
}

func TestUserAgentNamesRotatord(t *testing.T) {
	var ua string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		ua = r.Header.Get("User-Agent")
		return nil, errors.New("stop here")
	})
	c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	c.ListKeys(context.Background())
	if !strings.HasPrefix(ua, "rotatord/") {
		t.Errorf("User-Agent = %q, want rotatord/...", ua)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRetriesIdempotentCallsWithBackoff(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 3, ErrorStatus: 502})
	keys, err := f.client.ListKeys(context.Background())
	if err != nil {
		t.Fatalf("ListKeys after 3 errors: %v", err)
	}
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if got := f.sleeps.all(); !equalDurations(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	if codes := f.obs.get(OpListKeys); strings.Join(codes, ",") != "502,502,502,200" {
		t.Errorf("attempts = %v", codes)
	}
}

// TestOnRetryHearsEveryRetry: the hook rotatord logs retries with (at
// debug) hears each one, with the attempt, the wait and the reason.
func TestOnRetryHearsEveryRetry(t *testing.T) {
	var got []string
	f := newFixture(t, func(c *Config) {
		c.OnRetry = func(op string, attempt int, wait time.Duration, err error) {
			got = append(got, fmt.Sprintf("%s#%d %s %v", op, attempt, wait, err))
		}
	})
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 2, ErrorStatus: 502})
	if _, err := f.client.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		OpListKeys + "#1 1s " + OpListKeys + ": unavailable (HTTP 502): Bad Gateway (injected by exosim)",
		OpListKeys + "#2 2s " + OpListKeys + ": unavailable (HTTP 502): Bad Gateway (injected by exosim) after 2 attempts",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("OnRetry heard\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 10})
	_, err := f.client.ListKeys(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 5 || e.Status != 500 {
		t.Errorf("error = %+v, want 5 attempts ending in 500", e)
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(exosim.OpGetAPIKey, exosim.Fault{RateLimitNext: 2, RetryAfter: 7})
	admin := f.srv.Admin()
	if _, err := f.client.GetKey(context.Background(), admin.Key); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{7 * time.Second, 7 * time.Second}
	if got := f.sleeps.all(); !equalDurations(got, want) {
		t.Errorf("sleeps = %v, want %v (Retry-After)", got, want)
	}
}

func TestRetryAfterTooLongGivesUp(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRetryAfter = 5 * time.Second })
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{RateLimitNext: 1, RetryAfter: 60})
	_, err := f.client.ListKeys(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindRateLimited || e.RetryAfter != time.Minute {
		t.Fatalf("err = %v, want rate limited with Retry-After 1m", err)
	}
	if len(f.sleeps.all()) != 0 {
		t.Errorf("slept %v despite a Retry-After over the limit", f.sleeps.all())
	}
}

func TestCreateIsNeverRetriedBlindly(t *testing.T) {
	tests := []struct {
		name  string
		fault exosim.Fault
	}{
		{"response lost", exosim.Fault{LoseResponseNext: 1}},
		{"server error", exosim.Fault{ErrorNext: 1, ErrorStatus: 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.SetFault(exosim.OpCreateAPIKey, tt.fault)
			_, err := f.client.CreateKey(context.Background(), "ci-lost", exosim.CIRoleID)
			if !errors.Is(err, ErrAmbiguousCreate) {
				t.Fatalf("err = %v, want ErrAmbiguousCreate", err)
			}
			if n := f.srv.Calls()[exosim.OpCreateAPIKey].Total; n != 1 {
				t.Errorf("create sent %d times, want once", n)
			}
			if len(f.sleeps.all()) != 0 {
				t.Errorf("create was retried after %v", f.sleeps.all())
			}
		})
	}
	// The lost-response case really did create a key: the caller must look.
	f := newFixture(t)
	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1})
	f.client.CreateKey(context.Background(), "ci-lost", exosim.CIRoleID)
	if n := len(f.liveNamed("ci-lost")); n != 1 {
		t.Errorf("live keys named ci-lost = %d, want 1 (created, secret lost)", n)
	}
}

func TestCreateRetriesA429(t *testing.T) {
	f := newFixture(t)
	rate0, _ := f.client.Limits()
	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{RateLimitNext: 1, RetryAfter: 2})
	k, err := f.client.CreateKey(context.Background(), "ci-x", exosim.CIRoleID)
	// What the metrics show: the refusal lowered the rate.
	if rate, _ := f.client.Limits(); rate >= rate0 {
		t.Errorf("rate after a 429: %g, want below the %g before", rate, rate0)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := f.sleeps.all(); !equalDurations(got, []time.Duration{2 * time.Second}) {
		t.Errorf("sleeps = %v", got)
	}
	if n := len(f.liveNamed("ci-x")); n != 1 || k.ID == "" {
		t.Errorf("keys named ci-x = %d", n)
	}
}

func TestCreateRetriesWhenNothingWasSent(t *testing.T) {
	// A refused connection never reached the API: retrying is safe.
	calls := 0
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls++
		return nil, &netOpError{}
	})
	c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	c.sleep = sl.sleep
	_, err = c.CreateKey(context.Background(), "n", exosim.CIRoleID)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable (not ambiguous)", err)
	}
	if calls != 3 {
		t.Errorf("attempts = %d, want 3", calls)
	}
}

type netOpError struct{}

func (*netOpError) Error() string   { return "dial tcp 127.0.0.1:1: connect: connection refused" }
func (*netOpError) Timeout() bool   { return false }
func (*netOpError) Temporary() bool { return false }

func TestDeleteWaitsForPendingOperation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, err := f.client.CreateKey(ctx, "ci-pending", exosim.CIRoleID)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{PendingPolls: 3})
	if err := f.client.DeleteKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.Calls()[exosim.OpGetOperation].Total; n != 4 {
		t.Errorf("operation polls = %d, want 4 (3 pending, then success)", n)
	}
	if len(f.liveNamed("ci-pending")) != 0 {
		t.Error("key still alive after DeleteKey returned")
	}
	want := []time.Duration{time.Second, 1500 * time.Millisecond, 2250 * time.Millisecond, 3375 * time.Millisecond}
	if got := f.sleeps.all(); !equalDurations(got, want) {
		t.Errorf("poll delays = %v, want %v", got, want)
	}
}

func TestDeletePendingTooLongIsAnError(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.DeleteTimeout = 3 * time.Second })
	ctx := context.Background()
	k, _ := f.client.CreateKey(ctx, "ci-stuck", exosim.CIRoleID)
	f.srv.SetFault(exosim.OpDeleteAPIKey, exosim.Fault{PendingPolls: 1000})
	// The fake sleep does not advance the clock: give it one.
	now := time.Now()
	f.client.now = func() time.Time { return now }
	f.client.sleep = func(ctx context.Context, d time.Duration) error { now = now.Add(d); return nil }
	err := f.client.DeleteKey(ctx, k.ID)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("err = %v, want still pending", err)
	}
}

func TestAuthRefused(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Credentials.Secret = "wrong-secret-wrong-secret-wrong-secret-xxxx" })
	_, err := f.client.ListKeys(context.Background())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error quotes the secret: %v", err)
	}
	if len(f.sleeps.all()) != 0 {
		t.Error("an authentication failure was retried")
	}
}

func TestDeletedCredentialIsRefusedAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	k, err := f.client.CreateKey(ctx, "ci-self", exosim.CIRoleID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Endpoint: f.srv.Endpoint, Credentials: Credentials{Key: k.ID, Secret: k.Secret}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.ListKeys(ctx); err != nil {
		t.Fatalf("new key cannot list: %v", err)
	}
	if err := f.client.DeleteKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ListKeys(ctx); !errors.Is(err, ErrAuth) {
		t.Fatalf("deleted key: err = %v, want ErrAuth", err)
	}
}

func TestNoSecretInAnyError(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var errs []error
	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1})
	_, err := f.client.CreateKey(ctx, "ci-a", exosim.CIRoleID)
	errs = append(errs, err)
	_, err = f.client.CreateKey(ctx, "", exosim.CIRoleID)
	errs = append(errs, err)
	_, err = f.client.CreateKey(ctx, "ci-b", "not-a-uuid")
	errs = append(errs, err)
	_, err = f.client.GetKey(ctx, "EXO000000000000000000000000")
	errs = append(errs, err)
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
		for _, k := range f.srv.Keys() {
			if strings.Contains(e.Error(), k.Secret) {
				t.Errorf("error %q contains a secret", e)
			}
		}
		if strings.Contains(e.Error(), f.srv.Admin().Secret) {
			t.Errorf("error %q contains the admin secret", e)
		}
	}
	if !errors.Is(errs[2], &Error{Kind: KindOther}) {
		t.Errorf("bad role id: %v, want KindOther", errs[2])
	}
}

func TestUnparseableAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		call func(*Client) error
		want error
	}{
		{"list garbage", `{"api-keys": [`, func(c *Client) error { _, err := c.ListKeys(context.Background()); return err }, ErrInvalidResponse},
		{"list entry without key", `{"api-keys": [{"name":"x"}]}`, func(c *Client) error { _, err := c.ListKeys(context.Background()); return err }, ErrInvalidResponse},
		{"create garbage", `{"key": "EXO1", "secret": `, func(c *Client) error {
			_, err := c.CreateKey(context.Background(), "n", exosim.CIRoleID)
			return err
		}, ErrAmbiguousCreate},
		{"create without secret", `{"key": "EXO1"}`, func(c *Client) error {
			_, err := c.CreateKey(context.Background(), "n", exosim.CIRoleID)
			return err
		}, ErrAmbiguousCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
					Body: ioNopCloser(tt.body), Request: r}, nil
			})
			c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.call(c); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	var (
		mu            sync.Mutex
		inFlight, max int
	)
	release := make(chan struct{})
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		inFlight++
		if inFlight > max {
			max = inFlight
		}
		mu.Unlock()
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return &http.Response{StatusCode: 200, Body: ioNopCloser(`{"api-keys":[]}`), Request: r}, nil
	})
	c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, Concurrency: 2, RateLimit: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); c.ListKeys(context.Background()) }()
	}
	// Let the first requests arrive, then release them all.
	for {
		mu.Lock()
		n := inFlight
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if max != 2 {
		t.Errorf("max in flight = %d, want 2", max)
	}
}

func TestResolveEndpoint(t *testing.T) {
	tests := []struct {
		zone, endpoint string
		want           string
		wantErr        string
	}{
		{"", "", "https://api-ch-gva-2.exoscale.com/v2", ""},
		{"de-fra-1", "", "https://api-de-fra-1.exoscale.com/v2", ""},
		{"ch-gva-2", "http://127.0.0.1:8080/v2/", "http://127.0.0.1:8080/v2", ""},
		{"mars-1", "", "", `zone "mars-1": unknown`},
		{"", "ftp://x/v2", "", "scheme must be http or https"},
		{"", "http://127.0.0.1:8080", "http://127.0.0.1:8080/v2", ""},
		{"", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v2", ""},
		{"", "http://127.0.0.1:8080/api", "", "path must end in /v2"},
		{"", "http://user:pw@host/v2", "", "must not carry credentials"},
	}
	for _, tt := range tests {
		got, err := ResolveEndpoint(tt.zone, tt.endpoint)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ResolveEndpoint(%q, %q) err = %v, want %q", tt.zone, tt.endpoint, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolveEndpoint(%q, %q) = %q, %v; want %q", tt.zone, tt.endpoint, got, err, tt.want)
		}
	}
}

func TestCredentialSources(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("from-file-secret\n"), 0o600)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("EXOabc123\n"), 0o600)
	env := map[string]string{EnvAPIKey: "EXOfeed", EnvAPISecret: "env-secret"}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name       string
		give       CredentialSource
		wantKey    string
		wantSecret string
		wantErr    string
	}{
		{"values", CredentialSource{Key: "EXO1", Secret: "s"}, "EXO1", "s", ""},
		{"files", CredentialSource{KeyFile: keyFile, SecretFile: secretFile}, "EXOabc123", "from-file-secret", ""},
		{"environment", CredentialSource{}, "EXOfeed", "env-secret", ""},
		{"both value and file", CredentialSource{Key: "EXO1", KeyFile: keyFile}, "", "", "api_key and api_key_file are both set"},
		{"missing file", CredentialSource{Key: "EXO1", SecretFile: filepath.Join(dir, "nope")}, "", "", "api_secret_file"},
		{"not a key", CredentialSource{Key: "AKIA123", Secret: "s"}, "", "", `api_key: not an Exoscale API key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.give.Resolve(getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Key != tt.wantKey || got.Secret.Reveal() != tt.wantSecret {
				t.Fatalf("got %q/%q, %v", got.Key, got.Secret.Reveal(), err)
			}
		})
	}
	// A secret where the key belongs is never quoted.
	_, err := CredentialSource{Key: "s3cr3t-not-a-key-value", Secret: "s"}.Resolve(getenv)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("err = %v: must refuse without quoting the value", err)
	}
	// Missing everywhere.
	_, err = CredentialSource{}.Resolve(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), EnvAPIKey) {
		t.Errorf("err = %v, want a hint naming %s", err, EnvAPIKey)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		give string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		// Too long for a Duration: the longest wait, not a wrapped one.
		{"9223372036", 9223372036 * time.Second},
		{"9223372037", time.Duration(math.MaxInt64)},
		{"18446744074", time.Duration(math.MaxInt64)},
		{"99999999999999999999", time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.give, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func ioNopCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
