package vault

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// skewedProxy forwards to target and shifts every deletion_time in the
// answers of metadata reads by skew: a Vault whose clock is ahead of
// rotatord's by skew (a version Vault deleted just now has, by rotatord's
// clock, a deletion time still to come).
func skewedProxy(t *testing.T, target string, skew time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	re := regexp.MustCompile(`"deletion_time":"([^"]+)"`)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.Contains(resp.Request.URL.Path, "/metadata/") {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b = re.ReplaceAllFunc(b, func(m []byte) []byte {
			at, err := time.Parse(time.RFC3339Nano, string(re.FindSubmatch(m)[1]))
			if err != nil {
				return m
			}
			return []byte(`"deletion_time":` + strconv.Quote(at.Add(skew).Format(time.RFC3339Nano)))
		})
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Whether the latest version is deleted is Vault's answer (404), not a
// comparison of its deletion_time with rotatord's clock: with Vault's
// clock ahead, a version soft-deleted just now read as live, and a lost
// write over it was fenced with an empty version, which Vault Agent
// renders, leaving its consumer without a key.
func TestLostWriteOverADeletedVersionAddsNoEmptyVersionWhateverTheClocks(t *testing.T) {
	srv := needVault(t)
	e := newEnv(t, srv)
	proxy, addr := newWithholdingProxy(t, srv.Addr)
	addr = skewedProxy(t, addr, time.Hour)
	s := e.sink(srv.token(t, nil), func(o *Options) { o.Address = addr })
	ctx := ctxT(t)
	roundTrip(t, e, s, "deleted")
	_, v1 := e.secretData("deleted")
	srv.root(t, "DELETE", "secret/data/"+e.prefix+"/deleted", nil)

	if err := s.Probe(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	c := e.cred("deleted")
	proxy.withhold(c.KeyID)
	if err := s.Write(ctx, c); err == nil {
		t.Fatal("Write answered 504 succeeded")
	}
	proxy.withhold("")
	md := srv.root(t, "GET", "secret/metadata/"+e.prefix+"/deleted", nil)
	if v := int(md["data"].(map[string]any)["current_version"].(float64)); v != v1 {
		t.Errorf("current version %d after the lost write, want %d (still the deleted one): a version consumers read was added", v, v1)
	}
}
