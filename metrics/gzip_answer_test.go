package metrics

// The independent review of b40e7be (the spliced gzip answer and the
// records stamp): its tests.

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rotatord/rotatord/state"
)

// crc32Combine: len2 = 0, associativity for huge lengths (> 4 GiB), and one
// direct check against 4 GiB + 17 zero bytes.
func TestCRC32CombineEdges(t *testing.T) {
	a := crc32.ChecksumIEEE([]byte("hello"))
	if got := crc32Combine(a, 0, 0); got != a {
		t.Errorf("len2=0: %08x, want %08x", got, a)
	}
	if got := crc32Combine(0, 0, 0); got != 0 {
		t.Errorf("empty+empty: %08x", got)
	}
	// crc of "" is 0: combining with an empty A.
	b := []byte("world, and more")
	if got, want := crc32Combine(0, crc32.ChecksumIEEE(b), int64(len(b))), crc32.ChecksumIEEE(b); got != want {
		t.Errorf("empty A: %08x want %08x", got, want)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		x, y, z := r.Uint32(), r.Uint32(), r.Uint32()
		l1 := r.Int64N(1 << 40)
		l2 := r.Int64N(1 << 40)
		left := crc32Combine(crc32Combine(x, y, l1), z, l2)
		right := crc32Combine(x, crc32Combine(y, z, l2), l1+l2)
		if left != right {
			t.Fatalf("not associative at %d, %d", l1, l2)
		}
	}
	if testing.Short() {
		return
	}
	// 4 GiB + 17 zero bytes after "hello", checked directly.
	const n = 4<<30 + 17
	zeros := make([]byte, 1<<24)
	crcZ := uint32(0)
	full := crc32.ChecksumIEEE([]byte("hello"))
	for left := int64(n); left > 0; {
		c := min(left, int64(len(zeros)))
		crcZ = crc32.Update(crcZ, crc32.IEEETable, zeros[:c])
		full = crc32.Update(full, crc32.IEEETable, zeros[:c])
		left -= c
	}
	if got := crc32Combine(a, crcZ, n); got != full {
		t.Errorf("4 GiB+17: %08x, want %08x", got, full)
	}
}

// bigStore fills a store with n names in policy "ci" (some with label
// values to escape).
func bigStore(t testing.TB, n int) (*Metrics, *prometheus.Registry, *state.Store) {
	t.Helper()
	m, reg, store := newStoreMetrics(t, PolicyInfo{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}}, PolicyInfo{Name: "web", Account: "prod", MaxAge: time.Hour})
	for i := range n {
		name := fmt.Sprintf("ci-%05d", i)
		if i%97 == 0 {
			name += "\"\\\nx"
		}
		if err := store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "k", CurrentSince: time.Unix(1_700_000_000+int64(i)*7919, int64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	return m, reg, store
}

// The gzip answer over real HTTP, read by every client at hand: Go's
// transport (transparent), gzip -dc, curl --compressed, Python's gzip,
// and promtool check metrics on the text; for 0, 1 and 3,000 names and no
// policies at all.
func TestGzipAnswerRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	promtool, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".cache/rotatord/promtool-*/promtool"))
	for _, n := range []int{0, 1, 3000, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m, reg, _ := bigStore(t, max(n, 0))
			if n < 0 {
				m.SetPolicies(nil)
			}
			srv := httptest.NewServer(m.Handler(reg, nil))
			defer srv.Close()
			// Identity answer, the reference.
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", "identity")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Go's transport asks for gzip itself and decompresses.
			resp, err = http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			viaGo, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !resp.Uncompressed {
				t.Fatalf("Go client: %v, uncompressed %v", err, resp.Uncompressed)
			}
			if withoutRuntime(string(viaGo)) != withoutRuntime(string(plain)) {
				t.Errorf("Go client's text differs from the identity answer")
			}
			// The raw gzip bytes.
			req, _ = http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err = http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not gzip: %v", resp.Header)
			}
			want := withoutRuntime(gunzipOneMember(t, raw))
			if want != withoutRuntime(string(plain)) {
				t.Errorf("gzip text differs from identity")
			}
			if n > 0 && !strings.Contains(want, "# TYPE "+keyCreatedName) {
				t.Errorf("no per-name family")
			}
			if n <= 0 && strings.Contains(want, keyCreatedName) {
				t.Errorf("per-name family without names")
			}
			run := func(name string, stdin []byte, args ...string) []byte {
				t.Helper()
				if _, err := exec.LookPath(args[0]); err != nil {
					t.Logf("no %s", args[0])
					return nil
				}
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Stdin = bytes.NewReader(stdin)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Errorf("%s: %v: %s", name, err, stderr.String())
				}
				return out
			}
			if out := run("gzip -dc", raw, "gzip", "-dc"); out != nil && withoutRuntime(string(out)) != want {
				t.Errorf("gzip -dc differs")
			}
			if out := run("gzip -t", raw, "gzip", "-tv"); false {
				_ = out
			}
			if out := run("python", raw, "python3", "-c", "import gzip,sys,zlib\nd=sys.stdin.buffer.read()\nsys.stdout.buffer.write(gzip.decompress(d))\nassert zlib.decompress(d, 31)"); out != nil && withoutRuntime(string(out)) != want {
				t.Errorf("python differs")
			}
			if out := run("curl", nil, "curl", "-sS", "--fail", "--compressed", srv.URL); out != nil && withoutRuntime(string(out)) != want {
				t.Errorf("curl --compressed differs")
			}
			if len(promtool) > 0 {
				cmd := exec.Command(promtool[0], "check", "metrics")
				cmd.Stdin = strings.NewReader(string(viaGo))
				out, err := cmd.CombinedOutput()
				// promtool exits 3 on lint warnings only; 1 on parse errors.
				if err != nil {
					if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
						t.Errorf("promtool: %v: %s", err, out)
					} else {
						t.Logf("promtool lint: %s", firstLines(string(out), 5))
					}
				}
			}
			// Prometheus's own text parser over the decompressed text.
			p := expfmt.NewTextParser(model.UTF8Validation)
			if _, err := p.TextToMetricFamilies(strings.NewReader(string(viaGo))); err != nil {
				t.Errorf("expfmt parse: %v", err)
			}
			// HEAD: no body, no error, same headers.
			req, _ = http.NewRequest("HEAD", srv.URL, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err = http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(b) != 0 {
				t.Errorf("HEAD: %d, %d bytes", resp.StatusCode, len(b))
			}
		})
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	return strings.Join(l[:min(n, len(l))], "\n")
}

// Clients that go away mid-answer, then whole scrapes: every later answer
// is whole and valid.
func TestClientGoesAwayMidAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	m, reg, _ := bigStore(t, 10000)
	srv := httptest.NewServer(m.Handler(reg, nil))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for i := range 30 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
		buf := make([]byte, 100+i*37)
		io.ReadFull(c, buf)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	for range 5 {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := gunzipOneMember(t, raw)
		if n := strings.Count(body, keyCreatedName+"{"); n != 10000 {
			t.Errorf("%d series", n)
		}
	}
}

// A scrape that starts after a Put (or SetPolicies) returns must show it,
// even while other scrapes, Puts and SetPolicies run (the "stamp read,
// then records read" ordering, run with -race).
func TestScrapeAfterWriteSeesIt(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	m, reg, store := bigStore(t, 500)
	h := m.Handler(reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	// Background noise: scrapes (gzip, identity, protobuf), Puts to other
	// names, SetPolicies with the same policies.
	pols := []PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}}, {Name: "web", Account: "prod", MaxAge: time.Hour}}
	var setMu sync.Mutex // SetPolicies from one goroutine at a time vs the checker's
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdrs := []http.Header{{"Accept-Encoding": {"gzip"}}, {}, {"Accept": {`application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`}}}
			for i := 0; ctx.Err() == nil; i++ {
				switch g {
				case 0:
					store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("noise-%d", i%50), CurrentKeyID: "k", CurrentSince: time.Unix(int64(1_600_000_000+i), 0)})
				case 1:
					setMu.Lock()
					m.SetPolicies(clonePolicies(pols))
					setMu.Unlock()
					time.Sleep(time.Millisecond)
				default:
					req := httptest.NewRequest("GET", "/metrics", nil)
					for k, v := range hdrs[i%3] {
						req.Header[k] = v
					}
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		ts := int64(1_900_000_000 + i)
		if err := store.Put(state.Record{Policy: "ci", Name: "probe", CurrentKeyID: "k", CurrentSince: time.Unix(ts, 0),
			Rotation: &state.Rotation{Phase: state.PhaseIntent, OldKeyIDs: []string{"k"}}}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`%s{account="default",name="probe",policy="ci"} %s`+"\n", keyCreatedName, formatValue(float64(ts)))
		hdr := http.Header{"Accept-Encoding": {"gzip"}}
		if i%2 == 1 {
			hdr = nil
		}
		_, body := get(t, h, "/metrics", hdr)
		if !strings.Contains(body, want) {
			t.Fatalf("scrape %d after Put does not show it; want %q", i, want)
		}
		// The state gauges follow too: toggle the probe's phase.
		if !strings.Contains(body, `rotatord_state_records{account="default",phase="intent",policy="ci"} 1`+"\n") {
			t.Fatalf("scrape %d: state gauge stale", i)
		}
		if err := store.Put(state.Record{Policy: "ci", Name: "probe", CurrentKeyID: "k", CurrentSince: time.Unix(ts, 0)}); err != nil {
			t.Fatal(err)
		}
		_, body = get(t, h, "/metrics", hdr)
		if !strings.Contains(body, `rotatord_state_records{account="default",phase="intent",policy="ci"} 0`+"\n") {
			t.Fatalf("scrape %d: state gauge stale after the rotation ended", i)
		}
		// Policies: drop "ci", its series must go; put it back.
		if i%10 == 0 {
			setMu.Lock()
			m.SetPolicies([]PolicyInfo{{Name: "web", Account: "prod", MaxAge: time.Hour}})
			_, body = get(t, h, "/metrics", hdr)
			if strings.Contains(body, `policy="ci"}`) && strings.Contains(body, keyCreatedName+`{account="default"`) {
				setMu.Unlock()
				t.Fatalf("scrape %d: ci series after its policy was removed", i)
			}
			m.SetPolicies(clonePolicies(pols))
			setMu.Unlock()
			_, body = get(t, h, "/metrics", hdr)
			if !strings.Contains(body, want) {
				t.Fatalf("scrape %d: probe missing after ci came back", i)
			}
		}
	}
	cancel()
	wg.Wait()
}

func clonePolicies(p []PolicyInfo) []PolicyInfo { return append([]PolicyInfo(nil), p...) }

// Heap growth over many gzip scrapes at 10,000 names, names changing
// every few scrapes: no block or writer piles up.
func TestNoGrowthOverScrapes(t *testing.T) {
	if testing.Short() {
		t.Skip("long: runs without -short")
	}
	m, reg, store := bigStore(t, 10000)
	h := m.Handler(reg, nil)
	scrape := func() {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range 20 {
		scrape()
	}
	before := heap()
	for i := range 300 {
		if i%3 == 0 {
			store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("ci-%05d", i), CurrentKeyID: "k", CurrentSince: time.Unix(int64(1_800_000_000+i), 0)})
		}
		scrape()
	}
	after := heap()
	t.Logf("heap %d -> %d KiB", before>>10, after>>10)
	if after > before+8<<20 {
		t.Errorf("heap grew by %d KiB over 300 scrapes", (after-before)>>10)
	}
}

// Concurrent gzip scrapes while the lines change: every answer is one
// valid member, its text identical to an identity answer of the same
// generation shape (HELP/TYPE once, lines sorted, no duplicates).
func TestConcurrentGzipAnswersWellFormed(t *testing.T) {
	m, reg, store := bigStore(t, 2000)
	h := m.Handler(reg, nil)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
				if err != nil {
					errs <- err
					return
				}
				zr.Multistream(false)
				b, err := io.ReadAll(zr)
				if err != nil {
					errs <- err
					return
				}
				p := expfmt.NewTextParser(model.UTF8Validation)
				if _, err := p.TextToMetricFamilies(bytes.NewReader(b)); err != nil {
					errs <- fmt.Errorf("parse: %v", err)
					return
				}
				if c := strings.Count(string(b), "# TYPE "+keyCreatedName+" "); c != 1 {
					errs <- fmt.Errorf("%d TYPE lines", c)
					return
				}
			}
		}()
	}
	for i := range 400 {
		store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("ci-%05d", i%2000), CurrentKeyID: "k", CurrentSince: time.Unix(int64(1_800_000_000+i), 0)})
		if i%50 == 0 {
			m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour}})
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
