package metrics

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rotatord/rotatord/state"
)

func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		a := make([]byte, r.IntN(3000))
		b := make([]byte, r.IntN(3000))
		if i%7 == 0 {
			b = b[:0]
		}
		for j := range a {
			a[j] = byte(r.Uint32())
		}
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		want := crc32.ChecksumIEEE(append(bytes.Clone(a), b...))
		if got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b))); got != want {
			t.Fatalf("len %d + %d: crc32Combine = %08x, want %08x", len(a), len(b), got, want)
		}
	}
}

// splicedGzipOf writes parts through a splicedGzip: a part starting with
// "block:" is spliced as a deflated block, the others written.
func splicedGzipOf(t *testing.T, parts []string) (gz []byte, text string) {
	t.Helper()
	var out bytes.Buffer
	z := newSplicedGzip(&out)
	for _, p := range parts {
		if rest, ok := strings.CutPrefix(p, "block:"); ok {
			b, err := deflate(1, func(w io.StringWriter) error { _, err := w.WriteString(rest); return err })
			if err != nil {
				t.Fatal(err)
			}
			if err := z.splice(b); err != nil {
				t.Fatal(err)
			}
			text += rest
			continue
		}
		if _, err := z.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		text += p
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), text
}

// gunzipOneMember reads gz as a single gzip member (the CRC and the size
// checked by the reader) and fails on anything after it.
func gunzipOneMember(t *testing.T, gz []byte) string {
	t.Helper()
	br := bytes.NewReader(gz)
	zr, err := gzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if br.Len() != 0 {
		t.Fatalf("%d bytes after the gzip member", br.Len())
	}
	return string(got)
}

// TestSplicedGzipIsOneMember: segments compressed at different times read
// back as one gzip member whose text is theirs in order, with Go's reader
// and, when the machine has it, with GNU gzip (another implementation,
// which checks the CRC and the size too).
func TestSplicedGzipIsOneMember(t *testing.T) {
	lines := func(prefix string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "rotatord_key_created_timestamp_seconds{account=\"default\",name=\"%s-%05d\",policy=\"p\"} %d\n", prefix, i, 1_700_000_000+i*7919)
		}
		return b.String()
	}
	long, other := lines("a", 3000), lines("b", 2000)
	gzipBin, _ := exec.LookPath("gzip")
	for i, parts := range [][]string{
		{},
		{"just text"},
		{"block:only a block"},
		{"# head\n", "block:" + long, "# tail\n"},
		{"block:" + long, "block:" + long, "after two blocks"},
		{"a", "block:", "b", "block:" + long[:70000], ""},
		{long, "block:" + other, long},
		{long[:100], "block:" + other, long[:100]},
	} {
		gz, want := splicedGzipOf(t, parts)
		if got := gunzipOneMember(t, gz); got != want {
			t.Errorf("case %d: read back %d bytes, want %d", i, len(got), len(want))
		}
		if gzipBin == "" {
			continue
		}
		cmd := exec.Command(gzipBin, "-dc")
		cmd.Stdin = bytes.NewReader(gz)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil || string(got) != want {
			t.Errorf("case %d: gzip -dc: %v %s (%d bytes, want %d)", i, err, stderr.String(), len(got), len(want))
		}
	}
	if gzipBin == "" {
		t.Log("no gzip binary: read back with Go's reader only")
	}
}

// TestGzipScrapeFollowsTheRecords: the compressed per-name family is made
// again when the records or the policies change, and only then; each
// answer is one gzip member with the identity answer's text.
func TestGzipScrapeFollowsTheRecords(t *testing.T) {
	m, reg, store := newHandlerTest(t)
	h := m.Handler(reg, nil)
	gzipped := http.Header{"Accept-Encoding": {"gzip"}}
	scrapeBoth := func() string {
		t.Helper()
		rec, _ := get(t, h, "/metrics", gzipped)
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q", rec.Header().Get("Content-Encoding"))
		}
		body := gunzipOneMember(t, rec.Body.Bytes())
		_, plain := get(t, h, "/metrics", nil)
		if got, want := withoutRuntime(body), withoutRuntime(plain); got != want {
			t.Fatalf("gzip answer\n%s\nidentity answer\n%s", got, want)
		}
		return body
	}
	body := scrapeBoth()
	first := m.keys.block
	if first == nil || !strings.Contains(body, `name="ci-b",policy="ci"} 1.7934912001234567e+09`) {
		t.Fatalf("block %v, body:\n%s", first, body)
	}
	scrapeBoth()
	if m.keys.block != first {
		t.Error("the block was compressed again with nothing changed")
	}
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-b", CurrentKeyID: "k9", CurrentSince: time.Unix(1_800_000_000, 0)}); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(state.Record{Policy: "ci", Name: "ci-new", CurrentKeyID: "k10", CurrentSince: time.Unix(1_700_000_000, 0),
		Rotation: &state.Rotation{Phase: state.PhaseIntent, OldKeyIDs: []string{"k10"}}}); err != nil {
		t.Fatal(err)
	}
	body = scrapeBoth()
	if m.keys.block == first {
		t.Error("the block was not made again after the records changed")
	}
	for _, want := range []string{
		`name="ci-b",policy="ci"} 1.8e+09`, `name="ci-new",policy="ci"} 1.7e+09`,
		`rotatord_managed_names{account="default",policy="ci"} 4`,
		`rotatord_state_records{account="default",phase="intent",policy="ci"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q after the Puts:\n%s", want, body)
		}
	}
	m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour, Sinks: []string{"file#0"}}})
	body = scrapeBoth()
	if strings.Contains(body, `policy="web"`) || strings.Contains(body, `policy="zz"`) {
		t.Errorf("series of removed policies:\n%s", body)
	}
}

// countingSource is a store that counts how often it is read.
type countingSource struct {
	*state.Store
	mu    sync.Mutex
	reads int
}

func (c *countingSource) Each(policy string, fn func(r *state.Record)) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	c.Store.Each(policy, fn)
}

func (c *countingSource) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// unversioned hides the store's Version.
type unversioned struct{ src *countingSource }

func (u unversioned) Each(policy string, fn func(r *state.Record)) { u.src.Each(policy, fn) }

// TestUnchangedRecordsAreReadOnce: a versioned source is read again only
// after its version or the policies moved; one without a version at every
// scrape.
func TestUnchangedRecordsAreReadOnce(t *testing.T) {
	for _, versioned := range []bool{true, false} {
		t.Run(fmt.Sprintf("versioned=%v", versioned), func(t *testing.T) {
			store, err := state.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			src := &countingSource{Store: store}
			var rs RecordSource = src
			if !versioned {
				rs = unversioned{src}
			}
			reg := prometheus.NewRegistry()
			m := New(reg, rs)
			m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour}})
			h := m.Handler(reg, nil)
			put := func(name string) {
				if err := store.Put(state.Record{Policy: "ci", Name: name, CurrentKeyID: "k-" + name, CurrentSince: time.Unix(1_800_000_000, 0)}); err != nil {
					t.Fatal(err)
				}
			}
			put("ci-a")
			_, body := get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
			after1 := src.count()
			_, body2 := get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
			after2 := src.count()
			if !strings.Contains(body, `name="ci-a"`) || !strings.Contains(body2, `name="ci-a"`) {
				t.Fatalf("ci-a missing:\n%s", body2)
			}
			if versioned && after2 != after1 {
				t.Errorf("read %d more times with nothing changed", after2-after1)
			}
			if !versioned && after2 == after1 {
				t.Error("an unversioned source was not read again")
			}
			put("ci-b")
			_, body = get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
			if src.count() == after2 || !strings.Contains(body, `name="ci-b"`) || !strings.Contains(body, `rotatord_managed_names{account="default",policy="ci"} 2`) {
				t.Errorf("after a Put: %d reads (were %d), body:\n%s", src.count(), after2, body)
			}
			before := src.count()
			m.SetPolicies([]PolicyInfo{{Name: "ci", MaxAge: time.Hour}, {Name: "other", MaxAge: time.Hour}})
			get(t, h, "/metrics", nil)
			if src.count() == before {
				t.Error("not read again after SetPolicies")
			}
		})
	}
}

// TestConcurrentScrapesWhileRecordsChange: scrapes in parallel with Puts
// each get a whole, well-formed answer (run with -race).
func TestConcurrentScrapesWhileRecordsChange(t *testing.T) {
	m, reg, store := newHandlerTest(t)
	h := m.Handler(reg, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec, _ := get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
				zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
				if err == nil {
					var body []byte
					if body, err = io.ReadAll(zr); err == nil && !strings.Contains(string(body), "# TYPE "+keyCreatedName+" gauge\n") {
						err = fmt.Errorf("no per-name family in\n%s", body)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 200 {
		if err := store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("ci-%03d", i), CurrentKeyID: "k", CurrentSince: time.Unix(int64(1_700_000_000+i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, body := get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	if n := strings.Count(body, keyCreatedName+`{account="default",name="ci-`); n != 202 {
		t.Errorf("%d series of policy ci after the Puts, want 202", n)
	}
}

// TestBlockDroppedWithTheNames: once no name has a series, the last
// compressed block is not kept.
func TestBlockDroppedWithTheNames(t *testing.T) {
	m, reg, _ := newHandlerTest(t)
	h := m.Handler(reg, nil)
	get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	if m.keys.block == nil {
		t.Fatal("no block after a gzip scrape")
	}
	m.SetPolicies(nil)
	_, body := get(t, h, "/metrics", http.Header{"Accept-Encoding": {"gzip"}})
	if strings.Contains(body, keyCreatedName) {
		t.Errorf("per-name series without policies:\n%s", body)
	}
	if m.keys.block != nil {
		t.Errorf("a block of %d bytes kept with no names", len(m.keys.block.data))
	}
}
