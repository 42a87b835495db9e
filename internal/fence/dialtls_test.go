package fence

import (
	"crypto/tls"
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

// TestFenceConnsDeprecatedDialTLS: FenceConns honours the
// deprecated Dial (the transport's choice) but not the deprecated DialTLS,
// which net/http uses for https when DialTLSContext is nil: connections
// dialed by it are not fenced, and a deposed replica's write goes out.
func TestFenceConnsDeprecatedDialTLS(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		got.Add(1)
	}))
	defer srv.Close()
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr := &http.Transport{
		DialTLS: func(network, addr string) (net.Conn, error) {
			return tls.Dial(network, addr, cfg)
		},
	}
	deposed := errors.New("deposed")
	FenceConns(tr, func() (time.Time, error) { return time.Time{}, deposed })
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("x"))
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("the server received %d write(s) through a transport fenced by a refusing gate (err %v)", n, err)
	}
}
