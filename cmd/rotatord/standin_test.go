package main

import (
	"cmp"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// standIn is a second Exoscale IAM stand-in, written from the shared API
// document only (not from exosim), with the liberties the document leaves
// a faithful server: fields in another order, unknown fields, optional
// fields left out, operations pending for a while, gzip, closed
// connections, 404 or 403 for an unknown key. rotatord must not depend on
// how exosim happens to answer.
type standIn struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	keys  []*standInKey // in creation order
	ops   map[string]*standInOp
	roles []string
	admin standInKey

	// The liberties, set before use.
	pendingFor   time.Duration // a delete's operation stays pending this long
	sparse       bool          // optional fields left out (operation reference, reason, message; create's name and role-id)
	gone403      bool          // an unknown key's DELETE answers 403 "API Key not in organization", else 404
	gzipAll      bool          // every answer gzip-compressed, asked or not
	closeAll     bool          // Connection: close on every answer
	unlistedFor  time.Duration // a created key is not listed (nor found by GET) for this long
	lingerFor    time.Duration // a deleted key stays listed this long
	adminListed  bool          // the administrator's credential is a listed key
	errorField   string        // the error body's field: "message" (default) or "error"
	deleteStatus int           // when not 0: every DELETE answers this status (a 5xx)
	authLagFor   time.Duration // a created key's credential is unknown this long
	failOps      int           // the next delete operations that end in failure, the key kept
	delete503    int           // the next DELETEs that answer 503
	reverse      bool          // the listing shows the newest key first
	getSparse    bool          // a GET answers the key id only
	idleClose    bool          // idle connections closed after 5 ms, without notice
	adminNoRole  bool          // the administrator's key is listed without a role
	stdSecrets   bool          // secrets in standard base64 with padding (+ / =), 44 characters
	throttle     int           // every throttle-th request answers 429 before acting
	retryAfter   string        // its Retry-After: "1", an HTTP date ("date") or none ("")
	requests     int
	noDate       bool // answers carry no Date header
	createLost   int  // the next creates make their key, then answer 502
	opNoState    bool // a delete's operation carries its id only, no state

	// More liberties (h-api audit).
	htmlErrors  bool   // error answers are an HTML page, text/html
	hugeErrors  bool   // error answers are JSON padded past 64 KiB
	nullFields  bool   // absent optional fields sent as null, unknown fields of every type
	shuffle     bool   // the listing in random order
	refElse     bool   // a delete's operation references another key
	contentType string // the Content-Type of every answer, when set ("-": none)
	chunked     bool   // answers sent in small flushed pieces (chunked)
	slowEvery   int    // every slowEvery-th request answers after slowFor
	slowFor     time.Duration
	timeout     string // exoscale.timeout of the config, when set
	get403      bool   // an unknown key's GET answers 403 "API Key not in organization"
	nestedError bool   // error bodies {"error": {"code": n, "message": m}}
	deleteLost  int    // the next DELETEs delete their key, then answer 502
	oddSecrets  string // characters each secret is made of, besides random ones
	ownOdd      bool   // the administrator's secret is odd too
	tls         bool   // served over TLS, HTTP/2 offered
	proto       string // the protocol of the last request
}

type standInKey struct {
	id, name, role, secret string
	createdAt, deletedAt   time.Time
}

type standInOp struct {
	id, keyID, state string
	doneAt           time.Time
	fail             bool
}

const standInRole = "2f4d6e0a-8c1b-4e3f-9a5d-7b6c5d4e3f2a"

func newStandIn(t *testing.T, configure func(*standIn)) *standIn {
	s := &standIn{t: t, ops: map[string]*standInOp{}, roles: []string{standInRole}, errorField: "message", adminListed: true}
	if configure != nil {
		configure(s)
	}
	odd := s.oddSecrets
	if odd != "" && !s.ownOdd {
		s.oddSecrets = "" // the administrator's secret goes into the policy file
	}
	s.admin = standInKey{id: randomKeyID(), name: "admin", role: standInRole, secret: s.newSecret()}
	s.oddSecrets = odd
	if s.adminNoRole {
		s.admin.role = ""
	}
	if s.adminListed {
		s.keys = append(s.keys, &s.admin)
	}
	s.srv = httptest.NewUnstartedServer(s)
	if s.idleClose {
		s.srv.Config.IdleTimeout = 5 * time.Millisecond
	}
	if s.tls {
		s.srv.EnableHTTP2 = true
		s.srv.StartTLS()
		t.Cleanup(s.srv.Close)
		return s
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func randomKeyID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "EXO" + hex.EncodeToString(b[:])
}

func (s *standIn) newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	if s.oddSecrets != "" {
		return s.oddSecrets + base64.RawURLEncoding.EncodeToString(b[:20])
	}
	if s.stdSecrets {
		b[0], b[1], b[2] = 0xfb, 0xff, 0xbf // "+/+/" first
		return base64.StdEncoding.EncodeToString(b[:])
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *standIn) endpoint() string { return s.srv.URL + "/v2" }

// seed adds a key as made long ago.
func (s *standIn) seed(name string) *standInKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := &standInKey{id: randomKeyID(), name: name, role: standInRole, secret: s.newSecret()}
	s.keys = append(s.keys, k)
	return k
}

// live returns the keys not deleted, whatever the listing shows.
func (s *standIn) live(name string) []standInKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []standInKey
	for _, k := range s.keys {
		if k.name == name && k.deletedAt.IsZero() {
			out = append(out, *k)
		}
	}
	return out
}

func (s *standIn) secretOf(id string) (string, bool) {
	if id == s.admin.id && !s.adminListed {
		return s.admin.secret, true
	}
	for _, k := range s.keys {
		if k.id == id && k.deletedAt.IsZero() && !time.Now().Before(k.createdAt.Add(s.authLagFor)) {
			return k.secret, true
		}
	}
	return "", false
}

// settle brings pending operations whose time came to success.
func (s *standIn) settle(now time.Time) {
	for _, op := range s.ops {
		if op.state == "pending" && !now.Before(op.doneAt) {
			if op.fail {
				op.state = "failure"
				continue
			}
			op.state = "success"
			for _, k := range s.keys {
				if k.id == op.keyID && k.deletedAt.IsZero() {
					k.deletedAt = now
				}
			}
		}
	}
}

// listed tells whether the API shows k now.
func (s *standIn) listed(k *standInKey, now time.Time) bool {
	if now.Before(k.createdAt.Add(s.unlistedFor)) {
		return false
	}
	return k.deletedAt.IsZero() || now.Before(k.deletedAt.Add(s.lingerFor))
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, 400, "cannot read body")
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/v2/") {
		s.fail(w, r, 404, "not found")
		return
	}
	if msg := s.verify(r, body); msg != "" {
		s.fail(w, r, 403, msg)
		return
	}
	s.mu.Lock()
	s.proto = r.Proto
	s.requests++
	throttled := s.throttle > 0 && s.requests%s.throttle == 0
	slow := s.slowEvery > 0 && s.requests%s.slowEvery == 0
	s.mu.Unlock()
	if slow {
		time.Sleep(s.slowFor)
	}
	if throttled {
		switch s.retryAfter {
		case "date":
			w.Header().Set("Retry-After", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat))
		case "":
		default:
			w.Header().Set("Retry-After", s.retryAfter)
		}
		s.fail(w, r, 429, "Too many requests")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.settle(now)
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	id, hasID := strings.CutPrefix(path, "api-key/")
	switch {
	case path == "api-key" && r.Method == http.MethodGet:
		var list []map[string]any
		for _, k := range s.keys {
			if s.listed(k, now) {
				list = append(list, s.render(k))
			}
		}
		if s.reverse {
			slices.Reverse(list)
		}
		if s.shuffle {
			mrand.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		}
		out := map[string]any{"x-total": len(list)}
		if len(list) > 0 || !s.sparse {
			out["api-keys"] = list
		}
		s.reply(w, r, 200, out)
	case path == "api-key" && r.Method == http.MethodPost:
		if r.Header.Get("Content-Type") != "application/json" {
			s.fail(w, r, 415, "Content-Type must be application/json")
			return
		}
		if r.ContentLength != int64(len(body)) || len(r.TransferEncoding) > 0 {
			s.fail(w, r, 411, "Content-Length required")
			return
		}
		var req struct {
			Name   *string `json:"name"`
			RoleID *string `json:"role-id"`
		}
		if json.Unmarshal(body, &req) != nil || req.Name == nil || req.RoleID == nil || len(*req.Name) < 1 || len(*req.Name) > 255 {
			s.fail(w, r, 400, "invalid request")
			return
		}
		if !slices.Contains(s.roles, *req.RoleID) {
			s.fail(w, r, 404, "IAM role not found")
			return
		}
		k := &standInKey{id: randomKeyID(), name: *req.Name, role: *req.RoleID, secret: s.newSecret(), createdAt: now}
		s.keys = append(s.keys, k)
		if s.createLost > 0 {
			s.createLost--
			s.fail(w, r, 502, "Bad gateway")
			return
		}
		out := map[string]any{"secret": k.secret, "key": k.id, "x-extra": []int{1, 2}}
		if !s.sparse {
			out["name"], out["role-id"] = k.name, k.role
		}
		s.reply(w, r, 200, out)
	case hasID && r.Method == http.MethodGet:
		for _, k := range s.keys {
			if k.id == id && s.listed(k, now) {
				if s.getSparse {
					s.reply(w, r, 200, map[string]any{"key": k.id})
					return
				}
				s.reply(w, r, 200, s.render(k))
				return
			}
		}
		if s.get403 {
			s.fail(w, r, 403, "API Key not in organization")
			return
		}
		s.fail(w, r, 404, "API key not found")
	case hasID && r.Method == http.MethodDelete:
		if s.deleteStatus != 0 || s.delete503 > 0 {
			s.delete503--
			s.fail(w, r, cmp.Or(s.deleteStatus, 503), "try later")
			return
		}
		var key *standInKey
		for _, k := range s.keys {
			if k.id == id && k.deletedAt.IsZero() && !now.Before(k.createdAt.Add(s.unlistedFor)) {
				key = k
			}
		}
		if key == nil {
			if s.gone403 {
				s.fail(w, r, 403, "API Key not in organization")
			} else {
				s.fail(w, r, 404, "API key not found")
			}
			return
		}
		for _, op := range s.ops {
			if op.keyID == id && op.state == "pending" {
				s.reply(w, r, 200, s.renderOp(op))
				return
			}
		}
		op := &standInOp{id: randomUUID(), keyID: id, state: "pending", doneAt: now.Add(s.pendingFor), fail: s.failOps > 0}
		s.failOps--
		s.ops[op.id] = op
		s.settle(now)
		if s.deleteLost > 0 {
			s.deleteLost--
			s.fail(w, r, 502, "Bad gateway")
			return
		}
		if s.opNoState {
			s.reply(w, r, 200, map[string]any{"id": op.id})
			return
		}
		s.reply(w, r, 200, s.renderOp(op))
	case strings.HasPrefix(path, "operation/") && r.Method == http.MethodGet:
		if op, ok := s.ops[strings.TrimPrefix(path, "operation/")]; ok {
			s.reply(w, r, 200, s.renderOp(op))
			return
		}
		s.fail(w, r, 404, "operation not found")
	case path == "iam-role" && r.Method == http.MethodGet:
		var roles []map[string]any
		for _, id := range s.roles {
			roles = append(roles, map[string]any{"name": "role", "id": id, "editable": true,
				"policy": map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}})
		}
		s.reply(w, r, 200, map[string]any{"iam-roles": roles})
	default:
		s.fail(w, r, 404, "not found")
	}
}

func (s *standIn) render(k *standInKey) map[string]any {
	out := map[string]any{"role-id": k.role, "name": k.name, "key": k.id}
	if s.sparse && k.role == "" {
		delete(out, "role-id")
	}
	if s.nullFields {
		if k.role == "" {
			out["role-id"] = nil
		}
		out["labels"] = map[string]any{"a": 1}
		out["created-at"] = 1700000000
		out["disabled"] = nil
		out["tags"] = []any{"x", 2, nil}
		out["secret"] = nil
	}
	return out
}

func (s *standIn) renderOp(op *standInOp) map[string]any {
	out := map[string]any{"state": op.state, "id": op.id}
	if op.state == "failure" {
		out["reason"], out["message"] = "busy", "try again"
	}
	if !s.sparse {
		out["reference"] = map[string]any{"id": op.keyID, "link": "/v2/api-key/" + op.keyID, "command": "delete-api-key"}
	}
	if s.refElse {
		other := randomKeyID()
		out["reference"] = map[string]any{"id": other, "link": "/v2/api-key/" + other, "command": "delete-api-key"}
	}
	if s.nullFields {
		if _, ok := out["reason"]; !ok {
			out["reason"], out["message"] = nil, nil
		}
		out["x-unknown"] = map[string]any{"n": []any{1, "b"}}
	}
	return out
}

// verify checks the EXO2-HMAC-SHA256 signature as the document describes
// it; it returns the refusal's message, "" when the request is good.
func (s *standIn) verify(r *http.Request, body []byte) string {
	const scheme = "EXO2-HMAC-SHA256 "
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), scheme)
	if !ok {
		return "Invalid request signature"
	}
	parts := map[string]string{}
	var order []string
	for _, p := range strings.Split(auth, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return "Invalid request signature"
		}
		parts[k] = v
		order = append(order, k)
	}
	want := []string{"credential", "expires", "signature"}
	if len(r.URL.Query()) > 0 {
		want = []string{"credential", "signed-query-args", "expires", "signature"}
	}
	if !slices.Equal(order, want) {
		return "Invalid request signature"
	}
	expires, err := strconv.ParseInt(parts["expires"], 10, 64)
	if err != nil || expires < time.Now().Unix() {
		return "Invalid request signature"
	}
	s.mu.Lock()
	secret, known := s.secretOf(parts["credential"])
	s.mu.Unlock()
	if !known {
		return "Invalid request signature"
	}
	var values string
	for _, n := range strings.Split(parts["signed-query-args"], ";") {
		values += r.URL.Query().Get(n)
	}
	msg := strings.Join([]string{r.Method + " " + r.URL.EscapedPath(), string(body), values, "", parts["expires"]}, "\n")
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(h.Sum(nil))), []byte(parts["signature"])) {
		return "Invalid request signature"
	}
	return ""
}

func (s *standIn) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if s.htmlErrors {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<html><head><title>%d</title></head><body><h1>%s</h1></body></html>", status, msg)
		return
	}
	if s.hugeErrors {
		s.reply(w, r, status, map[string]any{s.errorField: msg, "pad": strings.Repeat("x", 100<<10)})
		return
	}
	if s.nestedError {
		s.reply(w, r, status, map[string]any{"error": map[string]any{"code": status, "message": msg}})
		return
	}
	s.reply(w, r, status, map[string]any{s.errorField: msg})
}

func (s *standIn) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Error(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch s.contentType {
	case "":
	case "-":
		w.Header()["Content-Type"] = nil
	default:
		w.Header().Set("Content-Type", s.contentType)
	}
	if s.noDate {
		w.Header()["Date"] = nil
	}
	if s.closeAll {
		w.Header().Set("Connection", "close")
	}
	if s.gzipAll {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(status)
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(b)
		_ = gz.Close()
		return
	}
	w.WriteHeader(status)
	if s.chunked {
		for len(b) > 0 {
			n := min(len(b), 7)
			_, _ = w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
		return
	}
	_, _ = w.Write(b)
}

// standInConfig writes a config rotating "app-*" keys into a file sink.
func standInConfig(t *testing.T, s *standIn) (dir, config string) {
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	config = writeFile(t, filepath.Join(dir, "policy.yml"), fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret: %s
%sstate_dir: state
policies:
  - name: app
    match: {name: "app-*"}
    grace_period: 0s
    adopt: rotate
    sinks:
      - {type: file, path: "out/{{.Name}}.json"}
      - {type: file, path: "out/{{.Name}}.env", format: env}
      - {type: file, path: "out/{{.Name}}.toml", format: exoscale-toml}
`, s.endpoint(), s.admin.id, s.admin.secret, timeoutLine(s.timeout)))
	return dir, config
}

func timeoutLine(t string) string {
	if t == "" {
		return ""
	}
	return "  timeout: " + t + "\n"
}

// checkDelivered checks that the sink holds the one live key of name,
// with its secret.
func checkDelivered(t *testing.T, s *standIn, dir, name string) {
	t.Helper()
	live := s.live(name)
	if len(live) != 1 {
		t.Fatalf("%s has %d live keys, want 1", name, len(live))
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("sink file: %v", err)
	}
	if !slices.Contains(mapValues(got), live[0].id) || !slices.Contains(mapValues(got), live[0].secret) {
		t.Errorf("the sink holds %v, not the live key %s and its secret", slices.Sorted(mapKeys(got)), live[0].id)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// standInModes are the liberties the stand-in takes, alone and together.
var standInModes = []struct {
	name      string
	configure func(*standIn)
	// failsFirst: the first pass may fail (an operation the API reports
	// failed); the next one finishes.
	failsFirst bool
	ownOnly    bool // for rotatord's own key only
	othersOnly bool // for other keys only
}{
	{name: "plain"},
	{name: "pending delete", configure: func(s *standIn) { s.pendingFor = 2500 * time.Millisecond }},
	{name: "sparse answers", configure: func(s *standIn) { s.sparse = true }},
	{name: "unknown key 403", configure: func(s *standIn) { s.gone403 = true }},
	{name: "gzip and close", configure: func(s *standIn) { s.gzipAll, s.closeAll = true, true }},
	{name: "error field", configure: func(s *standIn) { s.errorField = "error" }},
	{name: "admin unlisted", configure: func(s *standIn) { s.adminListed = false }, othersOnly: true},
	// Create is synchronous by the document: a GET and a listing that
	// lag behind it are beyond it. A consumer's key is waited for; the
	// confirmation of rotatord's own key fails that pass (the next one
	// finishes).
	{name: "created key unlisted a while", configure: func(s *standIn) { s.unlistedFor = 3 * time.Second }, othersOnly: true},
	{name: "sparse, created key unlisted a while", configure: func(s *standIn) { s.sparse, s.unlistedFor = true, 3*time.Second }, othersOnly: true},
	{name: "new credential unknown a while", configure: func(s *standIn) { s.authLagFor = 3 * time.Second }, ownOnly: true},
	{name: "deleted key listed a while", configure: func(s *standIn) { s.lingerFor = 3 * time.Second }},
	{name: "delete operation fails once", configure: func(s *standIn) { s.failOps = 1 }, failsFirst: true},
	{name: "delete 503 twice", configure: func(s *standIn) { s.delete503 = 2 }},
	{name: "newest listed first", configure: func(s *standIn) { s.reverse = true }},
	{name: "get answers the id only", configure: func(s *standIn) { s.getSparse = true }},
	{name: "idle connections closed", configure: func(s *standIn) { s.idleClose = true }},
	{name: "administrator's key without a role", configure: func(s *standIn) { s.adminNoRole = true }, othersOnly: true},
	{name: "standard base64 secrets", configure: func(s *standIn) { s.stdSecrets = true }},
	{name: "every third request 429, Retry-After 1", configure: func(s *standIn) { s.throttle, s.retryAfter = 3, "1" }},
	{name: "every other request 429, Retry-After a date", configure: func(s *standIn) { s.throttle, s.retryAfter = 2, "date" }},
	{name: "every fourth request 429, no Retry-After", configure: func(s *standIn) { s.throttle = 4 }},
	{name: "create made its key, answered 502", configure: func(s *standIn) { s.createLost = 1 }, failsFirst: true},
	{name: "create made its key, answered 502, no Date", configure: func(s *standIn) { s.createLost, s.noDate = 1, true }, failsFirst: true},
	{name: "delete answers an operation without state", configure: func(s *standIn) { s.opNoState = true }},
	{name: "HTML error pages", configure: func(s *standIn) { s.htmlErrors = true }},
	{name: "HTML error pages, unknown key 403", configure: func(s *standIn) { s.htmlErrors, s.gone403 = true, true }},
	{name: "huge error bodies", configure: func(s *standIn) { s.hugeErrors = true }},
	{name: "huge error bodies, unknown key 403", configure: func(s *standIn) { s.hugeErrors, s.gone403 = true, true }},
	{name: "null and unknown fields", configure: func(s *standIn) { s.nullFields = true }},
	{name: "shuffled listing", configure: func(s *standIn) { s.shuffle = true }},
	{name: "operation references another key", configure: func(s *standIn) { s.refElse, s.pendingFor = true, 1500*time.Millisecond }},
	{name: "text/plain answers", configure: func(s *standIn) { s.contentType = "text/plain" }},
	{name: "no Content-Type", configure: func(s *standIn) { s.contentType = "-" }},
	{name: "chunked answers", configure: func(s *standIn) { s.chunked = true }},
	{name: "every other request 429, Retry-After 0", configure: func(s *standIn) { s.throttle, s.retryAfter = 2, "0" }},
	{name: "every other request 429, Retry-After past date", configure: func(s *standIn) { s.throttle, s.retryAfter = 2, "Mon, 01 Jan 2001 00:00:00 GMT" }},
	{name: "every other request 429, Retry-After junk", configure: func(s *standIn) { s.throttle, s.retryAfter = 2, "soon" }},
	{name: "every third answer after the timeout", configure: func(s *standIn) { s.slowEvery, s.slowFor, s.timeout = 3, 1500*time.Millisecond, "1s" }, failsFirst: true},
	{name: "unknown key's GET 403", configure: func(s *standIn) { s.get403 = true }},
	{name: "unknown key's GET and DELETE 403, deleted key listed a while", configure: func(s *standIn) { s.get403, s.gone403, s.lingerFor = true, true, 2*time.Second }},
	{name: "delete applied, answered 502", configure: func(s *standIn) { s.deleteLost = 1 }},
	{name: "delete applied, answered 502, unknown key 403", configure: func(s *standIn) { s.deleteLost, s.gone403 = 1, true }},
	{name: "delete applied, answered 502, unknown key 403 HTML", configure: func(s *standIn) { s.deleteLost, s.gone403, s.htmlErrors = 1, true, true }, failsFirst: true},
	{name: "delete applied, answered 502, unknown key 403 nested", configure: func(s *standIn) { s.deleteLost, s.gone403, s.nestedError = 1, true, true }, failsFirst: true},
	{name: "delete applied, answered 502, pending", configure: func(s *standIn) { s.deleteLost, s.pendingFor = 1, 1500*time.Millisecond }},
	{name: "secrets with quotes and escapes", configure: func(s *standIn) { s.oddSecrets = `"'\$` + "`" + `#;= \n%{{x}}` }},
	{name: "secrets with non-ASCII characters", configure: func(s *standIn) { s.oddSecrets = "é€\u2028\u00a0ß" }},
	{name: "secrets with leading and trailing spaces", configure: func(s *standIn) { s.oddSecrets = " x " }},
	{name: "nested error objects", configure: func(s *standIn) { s.nestedError = true }},
	{name: "nested error objects, unknown key 403", configure: func(s *standIn) { s.nestedError, s.gone403 = true, true }},
	{name: "everything", configure: func(s *standIn) {
		s.pendingFor, s.sparse, s.gone403, s.gzipAll, s.closeAll, s.errorField = 2*time.Second, true, true, true, true, "error"
		s.unlistedFor, s.lingerFor, s.authLagFor = 2*time.Second, 2*time.Second, 2*time.Second
	}},
}

func TestStandInLiberties(t *testing.T) {
	for _, tt := range standInModes {
		if testing.Short() && tt.name != "plain" && tt.name != "everything" {
			continue
		}
		if tt.ownOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t, tt.configure)
			old := s.seed("app-1")
			dir, config := standInConfig(t, s)
			code, stdout, stderr := runCLI("once", "--force", "--config.file", config)
			if code != 0 && !tt.failsFirst {
				t.Fatalf("once --force = %d:\n%s\n%s", code, stdout, stderr)
			}
			if code != 0 {
				// A pass after a failed one finishes or rolls back what
				// the failed one left; a forced one after it rotates.
				for i := 0; i < 2 && slices.ContainsFunc(s.live("app-1"), func(k standInKey) bool { return k.id == old.id }); i++ {
					code, stdout, stderr = runCLI("once", "--force", "--config.file", config)
					if code != 0 {
						t.Fatalf("once after a failed one = %d:\n%s\n%s", code, stdout, stderr)
					}
				}
			}
			if strings.Contains(stdout+stderr, old.secret) {
				t.Error("the old secret is in the output")
			}
			for _, k := range s.live("app-1") {
				if strings.Contains(stdout+stderr, k.secret) {
					t.Error("the new secret is in the output")
				}
				if k.id == old.id {
					t.Errorf("the old key %s is still alive", old.id)
				}
			}
			checkDelivered(t, s, dir, "app-1")
			// Passes right after, while the API settles: nothing to do.
			for i := range 2 {
				code, stdout, stderr = runCLI("once", "--config.file", config)
				if code != 0 {
					t.Fatalf("once #%d after = %d:\n%s\n%s", i+2, code, stdout, stderr)
				}
				checkDelivered(t, s, dir, "app-1")
			}
		})
	}
}

func TestStandInOwnKey(t *testing.T) {
	for _, tt := range standInModes {
		if testing.Short() && tt.name != "plain" && tt.name != "everything" {
			continue
		}
		if tt.othersOnly {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t, tt.configure)
			dir := t.TempDir()
			cred := filepath.Join(dir, "credential.json")
			b, _ := json.Marshal(map[string]string{"api_key": s.admin.id, "api_secret": s.admin.secret})
			writeFile(t, cred, string(b))
			if err := os.Chmod(cred, 0o600); err != nil {
				t.Fatal(err)
			}
			config := writeFile(t, filepath.Join(dir, "policy.yml"), fmt.Sprintf(`exoscale:
  endpoint: %s
  credential_file: %s
  timeout: 2s
  own_key: {max_age: 30d, grace_period: 0s}
state_dir: state
`, s.endpoint(), cred))
			force := true // the first pass, and the one after a failed first
			for i := range 3 {
				args := []string{"once", "--config.file", config}
				if force {
					args = append(args, "--force")
				}
				code, stdout, stderr := runCLI(args...)
				force = i == 0 && code != 0
				if strings.Contains(stdout+stderr, s.admin.secret) {
					t.Error("the old secret is in the output")
				}
				for _, k := range s.live("admin") {
					if strings.Contains(stdout+stderr, k.secret) {
						t.Error("a live key's secret is in the output")
					}
				}
				if code != 0 && !(i == 0 && tt.failsFirst) {
					t.Errorf("once #%d = %d:\n%s\n%s", i+1, code, stdout, stderr)
				}
			}
			// A pass once the API has settled.
			time.Sleep(max(s.unlistedFor, s.lingerFor, s.authLagFor))
			if code, stdout, stderr := runCLI("once", "--config.file", config); code != 0 {
				t.Errorf("once after 3s = %d:\n%s\n%s", code, stdout, stderr)
			}
			live := s.live("admin")
			if len(live) != 1 || live[0].id == s.admin.id {
				t.Fatalf("admin keys alive: %d (the first is the old one: %v), want the new one only", len(live), len(live) > 0 && live[0].id == s.admin.id)
			}
			b, err := os.ReadFile(cred)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got["api_key"] != live[0].id || got["api_secret"] != live[0].secret {
				t.Errorf("the credential file holds %s, not the live key %s and its secret", got["api_key"], live[0].id)
			}
		})
	}
}

// A secret an env file cannot hold (a control character: beyond the
// document, whose secrets are base64url) fails the rotation with a clear
// error, pass after pass, and makes no third key: the new key stays on
// record, the old one alive.
func TestStandInSecretEnvCannotHold(t *testing.T) {
	s := newStandIn(t, func(s *standIn) { s.oddSecrets = "\t\x00" })
	old := s.seed("app-1")
	_, config := standInConfig(t, s)
	for i, args := range [][]string{{"once", "--force"}, {"once"}, {"once", "--force"}} {
		code, stdout, stderr := runCLI(append(args, "--config.file", config)...)
		if code != 1 || !strings.Contains(stdout, "control character") {
			t.Errorf("once #%d = %d, want 1 and the reason:\n%s\n%s", i+1, code, stdout, stderr)
		}
		live := s.live("app-1")
		if len(live) != 2 || !slices.ContainsFunc(live, func(k standInKey) bool { return k.id == old.id }) {
			t.Fatalf("once #%d: %d live keys, want the old one and one new", i+1, len(live))
		}
		for _, k := range live {
			if strings.Contains(stdout+stderr, k.secret) {
				t.Errorf("once #%d: a secret is in the output", i+1)
			}
		}
	}
}
