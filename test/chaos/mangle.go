package main

// The mangler stands between rotatord and exosim (-mangle) and makes the
// simulator's answers those of another stand-in of the API, as legal by
// the API's document but different from exosim's: role ids spelled in
// upper case (UUIDs compare without regard to case) for half the keys in
// listings, for every key in GETs, never in create answers; create and
// GET answers now and then without the optional name or role; listings
// in another order, with fields exosim does not send, and one entry in
// twenty without its role; every connection
// closed after its answer; and now and then an answer whose body is cut
// short (a create's among them: the key exists, its secret is lost), or
// replaced by a 503, with or without Retry-After, after exosim acted on
// the request (a delete done, a key made). The campaign's own checks read
// exosim directly.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type mangler struct {
	srv      *http.Server
	url      string
	mu       sync.Mutex
	rnd      *rand.Rand
	mangled  atomic.Int64
	cut      atomic.Int64
	acted503 atomic.Int64
	rolesCut atomic.Int64
}

// startMangler proxies target (exosim's base URL) on a loopback port.
func startMangler(target string, seed uint64) (*mangler, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mangler{url: "http://" + ln.Addr().String(), rnd: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = m.modify
	p.ErrorLog = log.New(io.Discard, "", 0) // a killed rotatord's requests end in errors
	m.srv = &http.Server{Handler: p}
	go m.srv.Serve(ln)
	return m, nil
}

func (m *mangler) close() {
	if m != nil {
		m.srv.Close()
	}
}

func (m *mangler) draw() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rnd.Float64()
}

// upper says whether key id's role id is spelled in upper case (half the
// keys, always the same ones).
func upper(id string) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%2 == 1
}

func (m *mangler) modify(resp *http.Response) error {
	resp.Header.Set("Connection", "close")
	path := resp.Request.URL.Path
	if !strings.HasPrefix(path, "/v2/api-key") || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	out := body
	switch {
	case path == "/v2/api-key" && resp.Request.Method == http.MethodGet:
		var l struct {
			Keys []map[string]any `json:"api-keys"`
		}
		if json.Unmarshal(body, &l) == nil {
			for _, k := range l.Keys {
				m.spell(k)
				k["labels"] = map[string]string{}
				if m.draw() < 0.05 {
					delete(k, "role-id")
					m.rolesCut.Add(1)
				}
			}
			m.mu.Lock()
			m.rnd.Shuffle(len(l.Keys), func(i, j int) { l.Keys[i], l.Keys[j] = l.Keys[j], l.Keys[i] })
			m.mu.Unlock()
			out, _ = json.Marshal(map[string]any{"api-keys": l.Keys})
		}
	case resp.Request.Method == http.MethodGet:
		var k map[string]any
		if json.Unmarshal(body, &k) == nil {
			if r, ok := k["role-id"].(string); ok {
				k["role-id"] = strings.ToUpper(r)
			}
			m.dropField(k)
			out, _ = json.Marshal(k)
		}
	case resp.Request.Method == http.MethodPost:
		var k map[string]any
		if json.Unmarshal(body, &k) == nil {
			// The create answer spells the role as the role's own id
			// (lower case) whatever the listing shows, and leaves the
			// optional name or role out now and then.
			if r, ok := k["role-id"].(string); ok {
				k["role-id"] = strings.ToLower(r)
			}
			m.dropField(k)
			out, _ = json.Marshal(k)
		}
	}
	if !bytes.Equal(out, body) {
		m.mangled.Add(1)
	}
	if m.draw() < 0.02 && resp.Request.Method != http.MethodGet {
		// Acted on, answered as if not: a 503 that the API sends after
		// the fact (a timeout of a gateway in front of it).
		out = []byte(`{"message":"service unavailable"}`)
		resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
		if m.draw() < 0.5 {
			resp.Header.Set("Retry-After", "1")
		}
		m.acted503.Add(1)
	} else if m.draw() < 0.02 && len(out) > 2 {
		// An answer cut short: a valid start, no end.
		out = out[:len(out)/2]
		m.cut.Add(1)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// dropField leaves the optional name or role out of one answer in ten each.
func (m *mangler) dropField(k map[string]any) {
	switch d := m.draw(); {
	case d < 0.1:
		delete(k, "name")
		m.rolesCut.Add(1)
	case d < 0.2:
		delete(k, "role-id")
		m.rolesCut.Add(1)
	}
}

// spell writes key k's role id in upper case for half the keys.
func (m *mangler) spell(k map[string]any) {
	id, _ := k["key"].(string)
	if r, ok := k["role-id"].(string); ok && upper(id) {
		k["role-id"] = strings.ToUpper(r)
	}
}

func (m *mangler) line() string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf(" mangled=%d cut=%d fields_dropped=%d acted_503=%d", m.mangled.Load(), m.cut.Load(), m.rolesCut.Load(), m.acted503.Load())
}
