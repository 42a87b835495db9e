package daemon

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestAbandonedRequestsDoNotPileUpBeforeBasicAuth: with basic auth, the
// exporter toolkit checks each new password with bcrypt, one request at a
// time, and a request waits for its turn whether or not its client is
// still there. Clients that sent a wrong password and hung up at once so
// queued handlers without bound: the connection limit freed each place as
// its connection closed, and the next connection queued one more. Against
// the real binary, 64 HTTP/2 connections took the process from 22 MB to
// 260 MB, and it answered no request (the right password's check waits in
// the same queue) for minutes after the attack stopped.
//
// Here every request stops in the toolkit's handler, deterministically: it
// reads the web config file at each request, and the test puts a named
// pipe in its place that nobody writes. The requests being handled must
// stay bounded however many clients come and go.
func TestAbandonedRequestsDoNotPileUpBeforeBasicAuth(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	content := fmt.Appendf(nil, "basic_auth_users:\n  prom: %s\n", hash)
	if err := os.WriteFile(webConfig, content, 0o600); err != nil {
		t.Fatal(err)
	}
	e.runWeb(WebOptions{ConfigFile: webConfig})
	base := runtime.NumGoroutine()

	// The pipe, also linked at pipe so that the test can let its readers
	// go once the file is back.
	pipe := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "web.yml.saved")
	if err := os.Link(webConfig, saved); err != nil {
		t.Fatal(err)
	}
	stuck := filepath.Join(dir, "stuck")
	if err := os.Link(pipe, stuck); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(pipe, webConfig); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		if err := os.Rename(saved, webConfig); err != nil {
			t.Error(err)
		}
		// Each open for writing lets every reader waiting in its open go
		// (they read nothing and fail or serve the abandoned request).
		for {
			f, err := os.OpenFile(stuck, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if errors.Is(err, syscall.ENXIO) {
				time.Sleep(50 * time.Millisecond)
				if f, err = os.OpenFile(stuck, os.O_WRONLY|syscall.O_NONBLOCK, 0); errors.Is(err, syscall.ENXIO) {
					return // no reader left
				}
			}
			if err != nil {
				t.Error(err)
				return
			}
			f.Close()
		}
	}
	defer release()

	// Each client sends one request with its own wrong password and hangs
	// up without waiting for the answer.
	const clients = 400
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.Dial("tcp", e.listen)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			auth := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "prom:wrong-%d", i))
			// A connection the server closed for a newer one (it sent
			// nothing for a second) fails the write: fine.
			_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: rotatord\r\nAuthorization: Basic "+auth+"\r\n\r\n")
		}()
	}
	wg.Wait()

	// At most the bound of them may stay in the handlers once the server
	// has seen each client go.
	const slack = 40
	deadline := time.Now().Add(30 * time.Second)
	var n int
	for {
		n = runtime.NumGoroutine() - base
		if n <= maxRequestsInFlight+slack || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n > maxRequestsInFlight+slack {
		t.Errorf("%d goroutines more than before %d abandoned requests, 30 s after the last; want at most %d (the requests in flight) and a few",
			n, clients, maxRequestsInFlight)
	}

	// Once the toolkit's handler moves again, the right password gets
	// through.
	release()
	req, _ := http.NewRequest("GET", "http://"+e.listen+"/healthz", nil)
	req.SetBasicAuth("prom", "right")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with the right password = %d", resp.StatusCode)
	}
}
