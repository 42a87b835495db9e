package daemon

// Review tests for b40e7be: the metrics follow reloads that remove and add
// accounts, journals reopened, and writes to any account's journal, with
// scrapes running concurrently (run with -race).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

func TestMetricsFollowAccountsThroughReloads(t *testing.T) {
	e := newAccountsEnv(t)
	d := e.open()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	scrapeGz := func() string {
		t.Helper()
		resp, err := http.Get(srv.URL + "/metrics") // Go asks for gzip and checks the CRC
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if _, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	const green = `{account="green",name="ci-runner",policy="green-ci"}`
	const greenManaged = `rotatord_managed_names{account="green",policy="green-ci"} 1`
	body := scrapeGz()
	kc := keyCreated(body)
	if kc[green] == "" || !strings.Contains(body, greenManaged) {
		t.Fatalf("no green series: %v", kc)
	}
	greenSince := kc[green]

	// Background: scrapes and Puts to the default account all along.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if g == 0 {
					if a := d.account("default"); a != nil {
						a.store.Put(state.Record{Policy: "ci", Name: fmt.Sprintf("ci-noise-%d", i%20), CurrentKeyID: "EXO0", CurrentSince: time.Unix(int64(1_700_000_000+i), 0)})
					}
					time.Sleep(time.Millisecond)
					continue
				}
				resp, err := http.Get(srv.URL + "/metrics")
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadAll(resp.Body); err != nil {
					t.Errorf("scrape body: %v", err)
				}
				resp.Body.Close()
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()

	// Reload without green: its series go.
	full, _ := os.ReadFile(e.config)
	e.dropGreen()
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	body = scrapeGz()
	if kc := keyCreated(body); kc[green] != "" || strings.Contains(body, `account="green",policy="green-ci"`) {
		t.Fatalf("green series after its account was removed: %v", kc)
	}
	// Meanwhile the green directory changes on disk (another tool, an
	// import): the reopened journal must show it.
	gs, err := state.Open(e.dir + "/state/accounts/green")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := gs.Get("green-ci", "ci-runner")
	if !ok {
		t.Fatal("no green record on disk")
	}
	r.CurrentSince = time.Unix(1_234_567_890, 0)
	if err := gs.Put(r); err != nil {
		t.Fatal(err)
	}
	gs.Close()
	// Reload with green back: a new journal, reopened.
	if err := os.WriteFile(e.config, full, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	body = scrapeGz()
	if kc := keyCreated(body); kc[green] != "1.23456789e+09" || !strings.Contains(body, greenManaged) {
		t.Fatalf("green after it came back: %q (was %q), want 1.23456789e+09; managed present %v", kc[green], greenSince, strings.Contains(body, greenManaged))
	}
	// A write to the reopened journal shows at the next scrape.
	r.CurrentSince = time.Unix(1_300_000_000, 0)
	if err := d.account("green").store.Put(r); err != nil {
		t.Fatal(err)
	}
	if kc := keyCreated(scrapeGz()); kc[green] != "1.3e+09" {
		t.Fatalf("green after a Put to the reopened journal: %q", kc[green])
	}
	// A reload that changes nothing for the records still works out the
	// same answer.
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if kc := keyCreated(scrapeGz()); kc[green] != "1.3e+09" {
		t.Fatalf("green after a no-op reload: %q", kc[green])
	}
	// Put to green then scrape, many times, with the noise above running:
	// every scrape started after the Put shows it.
	h := d.Handler()
	for i := range 300 {
		r.CurrentSince = time.Unix(int64(1_400_000_000+i), 0)
		if err := d.account("green").store.Put(r); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/metrics", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := strconv.FormatFloat(float64(1_400_000_000+i), 'g', -1, 64)
		if got := keyCreated(rec.Body.String())[green]; got != want {
			t.Fatalf("iteration %d: green shows %q, want %q", i, got, want)
		}
	}
}
