package fence

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// HTTP/1.1: a refused write on a reused conn is a nothingWrittenError,
// which net/http retries on a new conn: does it loop, or send anyway?
func TestH1RefusedOnReusedConn(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var lost atomic.Bool
	var asks, dials atomic.Int32
	f := Func(func() (time.Time, error) {
		if lost.Load() {
			asks.Add(1)
			return time.Time{}, errors.New("lost")
		}
		return time.Now().Add(time.Minute), nil
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, n, a string) (net.Conn, error) {
		dials.Add(1)
		c, err := dial(ctx, n, a)
		if err != nil {
			return nil, err
		}
		return Conn(c, f), nil
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr} // the conn layer alone
	post := func() error {
		r, err := client.Post(srv.URL, "text/plain", strings.NewReader("x"))
		if err == nil {
			io.ReadAll(r.Body)
			r.Body.Close()
		}
		return err
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	lost.Store(true)
	err := post()
	t.Logf("refused: %v; gate asks %d, dials %d, server hits %d", err, asks.Load(), dials.Load(), hits.Load())
	if err == nil || hits.Load() != 1 || asks.Load() > 2 {
		t.Errorf("refused create reached the server or looped")
	}
	lost.Store(false)
	if err := post(); err != nil {
		t.Errorf("after the gate came back: %v", err)
	}
	t.Logf("after: dials %d hits %d", dials.Load(), hits.Load())
}
