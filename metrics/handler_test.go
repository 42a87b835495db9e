package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/rotatord/rotatord/state"
)

// newHandlerTest has two accounts, three policies, and names the text
// format must escape, sorted by account first: the order and the escaping
// of the cached lines must be the registry's.
func newHandlerTest(t *testing.T) (*Metrics, *prometheus.Registry, *state.Store) {
	t.Helper()
	m, reg, store := newStoreMetrics(t,
		PolicyInfo{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}},
		PolicyInfo{Name: "web", Account: "prod", MaxAge: time.Hour, Sinks: []string{"file#0"}},
		PolicyInfo{Name: "zz", Account: "a-first", MaxAge: time.Hour, Sinks: []string{"file#0"}},
	)
	m.RotationDone("ci", true, time.Second)
	since := time.Unix(1_793_491_200, 123_456_789)
	for _, r := range []state.Record{
		{Policy: "ci", Name: "ci-b", CurrentKeyID: "k1", CurrentSince: since},
		{Policy: "ci", Name: "ci-a", CurrentKeyID: "k2", CurrentSince: since.Add(time.Hour)},
		{Policy: "ci", Name: "ci-no-age", CurrentKeyID: "k3"},
		{Policy: "web", Name: `we"b\` + "\nname", CurrentKeyID: "k4", CurrentSince: since},
		{Policy: "web", Name: "ci-a", CurrentKeyID: "k5", CurrentSince: since},
		{Policy: "zz", Name: "zz-ü", CurrentKeyID: "k6", CurrentSince: time.Unix(1, 0)},
		{Policy: "gone", Name: "gone-1", CurrentKeyID: "k7", CurrentSince: since},
	} {
		if err := store.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	return m, reg, store
}

func get(t *testing.T, h http.Handler, target string, header http.Header) (*httptest.ResponseRecorder, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return rec, string(body)
}

// TestHandlerWritesWhatPromhttpWould: the text the handler writes from its
// cache is byte for byte promhttp's over the whole gatherer, with the same
// content type, with and without gzip.
func TestHandlerWritesWhatPromhttpWould(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	fast := m.Handler(reg, nil)
	slow := promhttp.HandlerFor(m.Gatherer(reg), promhttp.HandlerOpts{})
	for _, h := range []http.Header{
		{},
		{"Accept-Encoding": {"gzip"}},
		{"Accept-Encoding": {"br;q=1.0, gzip;q=0.8, *;q=0.1"}},
		{"Accept-Encoding": {"gzip;q=0"}},
		{"Accept": {"text/plain;version=0.0.4;q=0.4,*/*;q=0.1"}},
	} {
		fr, fb := get(t, fast, "/metrics", h)
		sr, sb := get(t, slow, "/metrics", h)
		if fr.Code != 200 || sr.Code != 200 {
			t.Fatalf("%v: status %d and %d", h, fr.Code, sr.Code)
		}
		if got, want := fr.Header().Get("Content-Type"), sr.Header().Get("Content-Type"); got != want {
			t.Errorf("%v: Content-Type %q, promhttp %q", h, got, want)
		}
		if got, want := fr.Header().Get("Content-Encoding"), sr.Header().Get("Content-Encoding"); got != want && !(got == "" && want == "identity") {
			t.Errorf("%v: Content-Encoding %q, promhttp %q", h, got, want)
		}
		// Go's runtime series change between two gathers; compare the rest.
		if got, want := withoutRuntime(fb), withoutRuntime(sb); got != want {
			t.Errorf("%v: the handler wrote\n%s\npromhttp wrote\n%s", h, got, want)
		}
		for _, want := range []string{
			`rotatord_key_created_timestamp_seconds{account="prod",name="we\"b\\\nname",policy="web"} 1.7934912001234567e+09`,
			`rotatord_key_created_timestamp_seconds{account="a-first",name="zz-ü",policy="zz"} 1` + "\n",
		} {
			if !strings.Contains(fb, want) {
				t.Errorf("%v: no line %q in\n%s", h, want, fb)
			}
		}
		if strings.Contains(fb, "ci-no-age") || strings.Contains(fb, "gone-1") {
			t.Errorf("%v: a series for a name without a key time or policy:\n%s", h, fb)
		}
	}
}

// withoutRuntime drops the go_ and process_ families, whose values move
// between two scrapes.
func withoutRuntime(body string) string {
	var keep []string
	for _, l := range strings.Split(body, "\n") {
		f := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE ")
		if strings.HasPrefix(f, "go_") || strings.HasPrefix(f, "process_") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// TestHandlerOtherFormats: protobuf and a name[] filter go through promhttp
// and still have the per-name series.
func TestHandlerOtherFormats(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	h := m.Handler(reg, nil)
	rec, body := get(t, h, "/metrics", http.Header{"Accept": {`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`}})
	if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Fatalf("Content-Type %q", ct)
	}
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	found := 0
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		if mf.GetName() == keyCreatedName {
			found = len(mf.GetMetric())
		}
	}
	if found != 5 {
		t.Errorf("protobuf: %d key series, want 5", found)
	}
	_, body = get(t, h, "/metrics?name[]="+keyCreatedName, nil)
	if n := strings.Count(body, keyCreatedName+"{"); n != 5 || strings.Contains(body, "rotatord_rotations_total") {
		t.Errorf("name[] filter: %d key series, want 5 and nothing else:\n%s", n, body)
	}
}

// TestHandlerFollowsTheRecords: the cached lines change with a rotation,
// leave with a name, come with a new one, and a record that gains a key
// time gains its series.
func TestHandlerFollowsTheRecords(t *testing.T) {
	m, reg, store := newHandlerTest(t)
	h := m.Handler(reg, nil)
	_, body := get(t, h, "/metrics", nil)
	if !strings.Contains(body, `name="ci-b",policy="ci"} 1.7934912001234567e+09`) {
		t.Fatalf("ci-b missing:\n%s", body)
	}
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-b", CurrentKeyID: "k9", CurrentSince: time.Unix(1_800_000_000, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete("ci", "ci-a"); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-no-age", CurrentKeyID: "k3", CurrentSince: time.Unix(1_700_000_000, 0)}); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, h, "/metrics", nil)
	for _, want := range []string{`name="ci-b",policy="ci"} 1.8e+09`, `name="ci-no-age",policy="ci"} 1.7e+09`, `{account="prod",name="ci-a",policy="web"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, `name="ci-a",policy="ci"`) || strings.Contains(body, "1.7934912001234567e+09\n"+keyCreatedName+`{account="default",name="ci-b"`) {
		t.Errorf("a stale series:\n%s", body)
	}
	// A policy removed takes its series with it.
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}}})
	_, body = get(t, h, "/metrics", nil)
	if strings.Contains(body, `policy="web"`) || strings.Contains(body, `policy="zz"`) {
		t.Errorf("series of removed policies:\n%s", body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.0": false,
		"*": false, "identity": false, "x-gzip": false, " gzip ;q=1": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
