package fence

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var errNotLeader = errors.New("not the leader")

func TestTransportRefusesCutsOffAndSpares(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)

	var until time.Time
	var refuse error
	f := Func(func() (time.Time, error) { return until, refuse })
	client := &http.Client{Transport: Transport(http.DefaultTransport, f, SpareReads)}
	post := func(path string) (string, error) {
		resp, err := client.Post(srv.URL+path, "text/plain", strings.NewReader("x"))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	// No end (no leader election): the request goes and its body reads
	// after RoundTrip returned.
	if got, err := post("/"); err != nil || got != "ok" {
		t.Fatalf("with no end: %q, %v", got, err)
	}
	// Refused: nothing is sent.
	refuse = errNotLeader
	before := hits.Load()
	if _, err := post("/"); !errors.Is(err, errNotLeader) {
		t.Fatalf("refused: err %v, want errNotLeader", err)
	}
	if hits.Load() != before {
		t.Fatal("a refused write reached the server")
	}
	// Reads are spared.
	resp, err := client.Get(srv.URL + "/")
	if err != nil {
		t.Fatalf("a read while refused: %v", err)
	}
	resp.Body.Close()
	// A claim ending in 200ms cuts off a request the server holds.
	refuse = nil
	until = time.Now().Add(200 * time.Millisecond)
	if _, err := post("/slow"); err == nil {
		t.Fatal("a request held past the end of the claim was not cut off")
	}
	// Within the claim, the body is read after RoundTrip returned.
	until = time.Now().Add(time.Minute)
	if got, err := post("/"); err != nil || got != "ok" {
		t.Fatalf("within the claim: %q, %v", got, err)
	}
}

// TestTransportFollowsRenewals: a request still running when the claim it
// left with ends goes on while the claim is renewed, and is cut off once
// it is not.
func TestTransportFollowsRenewals(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()

	var renewing atomic.Bool
	renewing.Store(true)
	var asked atomic.Int32
	f := Func(func() (time.Time, error) {
		asked.Add(1)
		if !renewing.Load() {
			return time.Time{}, errNotLeader
		}
		return time.Now().Add(50 * time.Millisecond), nil // a short claim, renewed
	})
	client := &http.Client{Transport: Transport(http.DefaultTransport, f, nil)}
	done := make(chan error, 1)
	go func() {
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	// Several claim ends pass while renewed: the request still runs.
	for asked.Load() < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("the request ended while the claim was being renewed: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("a request that finished inside a renewed claim failed: %v", err)
	}

	// Not renewed: cut off.
	release2 := make(chan struct{})
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client gone only once the body was read.
		_, _ = io.ReadAll(r.Body)
		select {
		case <-release2:
		case <-r.Context().Done():
		}
	}))
	defer srv2.Close()
	defer close(release2) // before srv2.Close, which waits for the handler
	go func() {
		time.Sleep(100 * time.Millisecond)
		renewing.Store(false)
	}()
	if _, err := client.Post(srv2.URL, "text/plain", strings.NewReader("x")); err == nil {
		t.Fatal("a request held past a claim no longer renewed was not cut off")
	}
}

// TestTransportRefusesAClaimAlreadyOver: an end of claim in the past,
// given without an error, refuses the request before it leaves.
func TestTransportRefusesAClaimAlreadyOver(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()
	f := Func(func() (time.Time, error) { return time.Now().Add(-time.Second), nil })
	client := &http.Client{Transport: Transport(http.DefaultTransport, f, nil)}
	for range 50 {
		if _, err := client.Post(srv.URL, "text/plain", strings.NewReader("x")); !errors.Is(err, ErrClaimOver) {
			t.Fatalf("a request whose claim was over: %v, want ErrClaimOver", err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the server after the claim ended", n)
	}
}

// TestWatchEndsWithTheCallersContext: a caller that gives up without
// closing the body (the Vault client drops a redirect's) does not leave a
// watch asking the fence at every claim end for the rest of the term.
func TestWatchEndsWithTheCallersContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var asked atomic.Int32
	f := Func(func() (time.Time, error) {
		asked.Add(1)
		return time.Now().Add(20 * time.Millisecond), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Transport(http.DefaultTransport, f, nil).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	cancel() // the body is never closed
	time.Sleep(50 * time.Millisecond)
	settled := asked.Load()
	time.Sleep(200 * time.Millisecond) // ten claim ends
	if n := asked.Load() - settled; n > 0 {
		t.Fatalf("the fence was asked %d more times after the caller gave up", n)
	}
}

// TestWatchLetsGoWhenTheClaimHasNoEnd: a re-ask answering "no end" (zero,
// no error) lets the request run instead of cutting it.
func TestWatchLetsGoWhenTheClaimHasNoEnd(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var asked atomic.Int32
	f := Func(func() (time.Time, error) {
		if asked.Add(1) == 1 {
			return time.Now().Add(20 * time.Millisecond), nil
		}
		return time.Time{}, nil
	})
	client := &http.Client{Transport: Transport(http.DefaultTransport, f, nil)}
	go func() {
		for asked.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("a request whose claim no longer has an end was cut: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
}
