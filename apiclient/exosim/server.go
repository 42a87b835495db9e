package exosim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a Sim listening on a real TCP socket.
type Server struct {
	*Sim
	URL      string // http://127.0.0.1:PORT, or https:// (StartTLS)
	Endpoint string // URL + "/v2", what the SDK takes as its endpoint

	http   *http.Server
	cancel context.CancelFunc // ends latency waits at Close

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr ("127.0.0.1:0" picks a free port, and is the default
// when addr is empty) and serves a new Sim. GET /v2/zone points back at the
// listener unless an option says otherwise. Close it when done.
func Start(seed Seed, addr string, opts ...Option) (*Server, error) {
	return start(seed, addr, nil, opts...)
}

// StartTLS is Start serving HTTPS with cert: URL and Endpoint say
// https://, and a client must trust cert. It offers HTTP/2 and HTTP/1.1,
// as Go's HTTPS servers do by default.
func StartTLS(seed Seed, addr string, cert tls.Certificate, opts ...Option) (*Server, error) {
	return start(seed, addr, &tls.Config{Certificates: []tls.Certificate{cert}}, opts...)
}

// start is Start, or StartTLS when tlsConfig is not nil.
func start(seed Seed, addr string, tlsConfig *tls.Config, opts ...Option) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("exosim: listen: %w", err)
	}
	scheme := "http://"
	if tlsConfig != nil {
		scheme = "https://"
	}
	url := scheme + dialable(ln.Addr())
	sim, err := New(seed, append([]Option{WithZoneEndpoint(url + "/v2")}, opts...)...)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Sim: sim, URL: url, Endpoint: url + "/v2", cancel: cancel}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		TLSConfig:         tlsConfig,
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		if tlsConfig != nil {
			// The certificate is in TLSConfig; ServeTLS adds HTTP/2.
			_ = s.http.ServeTLS(ln, "", "") // returns ErrServerClosed at Close
			return
		}
		_ = s.http.Serve(ln) // returns ErrServerClosed at Close
	}()
	return s, nil
}

// serve tracks handlers so that Close can wait for them: http.Server.Close
// does not, and tests check for leaked goroutines.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeReply(w, errorReply(http.StatusServiceUnavailable, "exosim is shutting down"))
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	s.Sim.ServeHTTP(w, r)
}

// Close stops the listener, closes every connection, ends pending latency
// waits and returns once every handler has returned. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		if err := s.http.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.closeErr = fmt.Errorf("exosim: close: %w", err)
		}
		s.inflight.Wait()
	})
	return s.closeErr
}

// dialable turns a listener address into one a client can dial: a wildcard
// host becomes loopback.
func dialable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}
