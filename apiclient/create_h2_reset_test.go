package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rotatord/rotatord/secret"
)

// h2Action is what h2Server does with a create (a POST) that came whole.
type h2Action int

const (
	h2Answer        h2Action = iota // make the key and answer
	h2MakeThenReset                 // make the key, then RST_STREAM PROTOCOL_ERROR before any answer
	h2Refuse                        // RST_STREAM REFUSED_STREAM, nothing made
	h2GoAway                        // GOAWAY naming the stream before it, nothing made
	// h2MakeThenGoAwayQuoting makes the key, then sends GOAWAY naming the
	// create's own stream (processed), with debug data quoting Go's
	// words for a refusal, and closes the connection before any answer.
	h2MakeThenGoAwayQuoting
	h2MakeThenHold // make the key, answer nothing
)

// goAwayDebug is the debug data h2MakeThenGoAwayQuoting sends: free text
// of the server's, which Go's client quotes in its error.
var goAwayDebug = "http2: Transport received Server's graceful shutdown GOAWAY; REFUSED_STREAM; received from peer"

// h2Server speaks HTTP/2 over TLS frame by frame, as Go's server never
// would: it resets a create it processed, or refuses one it did not.
type h2Server struct {
	ln     net.Listener
	act    func(n int64) h2Action // the nth create (from 1) that came
	posts  atomic.Int64           // creates that came
	made   atomic.Int64           // keys made
	dialed atomic.Int64           // connections accepted
}

func newH2Server(t *testing.T, act func(n int64) h2Action) *h2Server {
	t.Helper()
	// httptest's certificate, for the client to trust.
	hs := httptest.NewUnstartedServer(nil)
	hs.StartTLS()
	cert, crt := hs.TLS.Certificates[0], hs.Certificate()
	hs.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	cf := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", cf)
	s := &h2Server{ln: ln, act: act}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.dialed.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *h2Server) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{
		Endpoint:    "https://" + s.ln.Addr().String() + "/v2",
		Credentials: Credentials{Key: "EXO1", Secret: secret.Value("s")},
		Timeout:     10 * time.Second, MaxRetries: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.conns.CloseIdleConnections)
	return c
}

func (s *h2Server) serve(c net.Conn) {
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, len(http2.ClientPreface))); err != nil {
		return
	}
	fr := http2.NewFramer(c, c)
	if fr.WriteSettings() != nil {
		return
	}
	dec := hpack.NewDecoder(4096, nil)
	method := map[uint32]string{}
	answer := func(id uint32, body string) {
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/json"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true})
		_ = fr.WriteData(id, true, []byte(body))
	}
	// Frames are read and written in this goroutine only.
	hangUp := false // close the connection after this frame
	came := func(id uint32) {
		if method[id] != "POST" {
			answer(id, `{"api-keys":[{"key":"EXO1","name":"admin","role-id":"2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"}]}`)
			return
		}
		switch s.act(s.posts.Add(1)) {
		case h2Answer:
			s.made.Add(1)
			answer(id, `{"key":"EXO3","secret":"c2VjcmV0","name":"n","role-id":"2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"}`)
		case h2MakeThenReset:
			s.made.Add(1)
			_ = fr.WriteRSTStream(id, http2.ErrCodeProtocol)
		case h2Refuse:
			_ = fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
		case h2GoAway:
			last := uint32(0) // stream 1: none processed
			if id > 2 {
				last = id - 2
			}
			_ = fr.WriteGoAway(last, http2.ErrCodeNo, nil)
		case h2MakeThenGoAwayQuoting:
			s.made.Add(1)
			_ = fr.WriteGoAway(id, http2.ErrCodeNo, []byte(goAwayDebug))
			hangUp = true
		case h2MakeThenHold:
			s.made.Add(1)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range fields {
				if hf.Name == ":method" {
					method[f.StreamID] = hf.Value
				}
			}
			if f.StreamEnded() {
				came(f.StreamID)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				came(f.StreamID)
			}
		}
		if hangUp {
			return
		}
	}
}

// h2CreatePaths are the two ways a create goes over HTTP/2: on the pooled
// connection (its last answer a moment ago) and on one of its own.
var h2CreatePaths = []struct {
	name  string
	now   func(t0 time.Time) time.Time
	dials int64 // connections the listing and a create sent once open
}{
	{"pooled", func(t0 time.Time) time.Time { return t0 }, 1},
	{"own connection", func(t0 time.Time) time.Time { return t0.Add(time.Hour) }, 2},
}

func h2Create(t *testing.T, s *h2Server, now func(time.Time) time.Time) (CreatedKey, error) {
	t.Helper()
	c := s.client(t)
	t0 := time.Now()
	var listed atomic.Bool
	c.conns.now = func() time.Time {
		if !listed.Load() {
			return t0
		}
		return now(t0)
	}
	if _, err := c.ListKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	listed.Store(true)
	return c.CreateKey(context.Background(), "n", "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a")
}

// RST_STREAM with PROTOCOL_ERROR says nothing of whether the server
// processed the stream (only REFUSED_STREAM, or a stream above a GOAWAY's
// last, says it did not: RFC 9113 8.7), yet Go's HTTP/2 client sends the
// request again, on another connection, when it can rewind the body
// (golang/go#47635). A create so reset may have made a key: sent again,
// it makes a second, and the first one's secret is lost with nobody
// looking for it. It must fail as ambiguous, sent once.
func TestACreateResetWithProtocolErrorIsNotSentAgain(t *testing.T) {
	for _, p := range h2CreatePaths {
		t.Run(p.name, func(t *testing.T) {
			s := newH2Server(t, func(n int64) h2Action {
				if n == 1 {
					return h2MakeThenReset
				}
				return h2Answer
			})
			k, err := h2Create(t, s, p.now)
			if got := s.posts.Load(); got != 1 {
				t.Errorf("the create was sent %d times, want 1 (the server made %d keys)", got, s.made.Load())
			}
			if got := s.dialed.Load(); got != p.dials {
				t.Errorf("the listing and the create opened %d connections, want %d (the create on the path under test)", got, p.dials)
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindAmbiguousCreate {
				t.Errorf("create reset with PROTOCOL_ERROR after the server made the key: key %q, error %v; want an ambiguous create", k.Key.ID, err)
			}
		})
	}
}

// A GOAWAY naming the create's stream says the server got it, and may
// have processed it; the connection closed before any answer, the create
// is ambiguous, whatever the GOAWAY's debug data says: it is the
// server's free text, which Go's client quotes in its error, and words
// of Go's own for a refusal there must not pass for one.
func TestACreateTheServerGotIsNotSentAgainWhateverItsGoAwaySays(t *testing.T) {
	for _, p := range h2CreatePaths {
		t.Run(p.name, func(t *testing.T) {
			s := newH2Server(t, func(n int64) h2Action {
				if n == 1 {
					return h2MakeThenGoAwayQuoting
				}
				return h2Answer
			})
			k, err := h2Create(t, s, p.now)
			if got := s.posts.Load(); got != 1 {
				t.Errorf("the create was sent %d times, want 1 (the server made %d keys)", got, s.made.Load())
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindAmbiguousCreate {
				t.Errorf("create processed, then GOAWAY naming its stream and the connection closed: key %q, error %v; want an ambiguous create", k.Key.ID, err)
			}
		})
	}
}

// What the server says it never processed, a create refused
// (REFUSED_STREAM) or above a GOAWAY's last stream, is sent again, and
// the create succeeds with one key made.
func TestACreateTheServerNeverProcessedIsSentAgain(t *testing.T) {
	for _, act := range []struct {
		name string
		a    h2Action
	}{{"REFUSED_STREAM", h2Refuse}, {"GOAWAY", h2GoAway}} {
		for _, p := range h2CreatePaths {
			t.Run(act.name+"/"+p.name, func(t *testing.T) {
				s := newH2Server(t, func(n int64) h2Action {
					if n == 1 {
						return act.a
					}
					return h2Answer
				})
				k, err := h2Create(t, s, p.now)
				if err != nil {
					t.Fatalf("create the server refused unprocessed, then answered: %v", err)
				}
				if k.Key.ID != "EXO3" || s.made.Load() != 1 || s.posts.Load() != 2 {
					t.Errorf("created %q; the server got %d creates and made %d keys, want EXO3, 2 and 1", k.Key.ID, s.posts.Load(), s.made.Load())
				}
			})
		}
	}
}

// A create the server refuses unprocessed every time is sent createRefusals
// times at most (again on a connection of its own), then fails as what
// it is: not made, for the client's retries (with their backoff) to send
// again, not ambiguous.
func TestACreateRefusedUnprocessedEveryTimeFailsUnambiguous(t *testing.T) {
	for _, act := range []struct {
		name string
		a    h2Action
	}{{"REFUSED_STREAM", h2Refuse}, {"GOAWAY", h2GoAway}} {
		for _, p := range h2CreatePaths {
			t.Run(act.name+"/"+p.name, func(t *testing.T) {
				s := newH2Server(t, func(int64) h2Action { return act.a })
				_, err := h2Create(t, s, p.now)
				var e *Error
				if !errors.As(err, &e) || e.Kind != KindUnavailable {
					t.Errorf("create refused unprocessed every time: %v, want unavailable (retried, not ambiguous)", err)
				}
				if got := s.posts.Load(); got != createRefusals {
					t.Errorf("the create was sent %d times, want %d", got, createRefusals)
				}
			})
		}
	}
}
