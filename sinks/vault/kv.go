package vault

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/sinks"
)

// httpError is Vault's answer to a failed request, in one short line: the
// client's own error text spans several lines and repeats the URL.
type httpError struct {
	status   int
	messages []string
	// foreign: a 404 whose body is not in the shape Vault gives one (an
	// "errors" list, or KV's "data" of a deleted version): a proxy's page,
	// not Vault saying the path holds nothing.
	foreign bool
}

func (e *httpError) Error() string {
	msg := strings.Join(e.messages, "; ")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if msg == "" {
		msg = http.StatusText(e.status)
	}
	return fmt.Sprintf("vault: HTTP %d: %s", e.status, msg)
}

// vaultNotFound reports whether Vault itself answered 404: a proxy in
// front of it answering 404 with its own page (routes being reloaded, an
// upstream misrouted) says nothing of what the path holds.
func vaultNotFound(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status == http.StatusNotFound && !he.foreign
}

// vaultShaped reports whether an error answer's body is in the shape
// Vault gives a 404: a JSON object with an "errors" list or a "data"
// object (KV v2's deleted or destroyed version).
func vaultShaped(body io.Reader) bool {
	var top map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&top); err != nil {
		return false
	}
	if e, ok := top["errors"]; ok {
		var l []string
		if json.Unmarshal(e, &l) == nil {
			return true
		}
	}
	if d, ok := top["data"]; ok {
		var o map[string]json.RawMessage
		if json.Unmarshal(d, &o) == nil && o != nil {
			return true
		}
	}
	return false
}

func statusOf(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	return 0
}

// isRefusal reports whether Vault refused the token (or its policy the path):
// Vault answers 403 permission denied to both.
func isRefusal(err error) bool { return statusOf(err) == http.StatusForbidden }

// cleanError turns a client error into an httpError when Vault answered,
// and leaves transport errors (which name the URL, never the token) as they
// are. sent are the secrets the request carried (its token, a credential's
// secret, a secret_id): a message that quotes one is not kept, since what
// answers in Vault's JSON shape may be a gateway or a plugin in front of
// Vault that echoes the request it could not handle.
func cleanError(err error, sent ...string) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		if re.RawError {
			// The body was not Vault's JSON (a proxy's page, an echo of the
			// request): it could hold anything, a secret included.
			return &httpError{status: re.StatusCode, messages: []string{"answer body is not JSON"}}
		}
		msgs := slices.Clone(re.Errors)
		q := newQuoteCheck(sent)
		const hidden = "(a message that quotes the request's secret or token, not shown)"
		if len(msgs) > 1 && q.quotes(strings.Join(msgs, "")) {
			// The secret spread over several messages, each holding less
			// of it than a run: together they quote it.
			return &httpError{status: re.StatusCode, messages: []string{hidden}}
		}
		for i, m := range msgs {
			if q.quotes(m) {
				msgs[i] = hidden
			}
		}
		return &httpError{status: re.StatusCode, messages: msgs}
	}
	return err
}

// quoteRun is how many characters in a row of a secret (in one of its
// forms) make a message one that quotes it: a gateway may cut what it
// quotes short, or spread it over several messages.
const quoteRun = 8

// quoteCheck finds, in a message, a part of a secret as sent or in a form
// an echo may give it: escaped for a URL or a JSON string, in hexadecimal,
// or encoded in base64 (at any of the three alignments the secret can
// have in the encoded body); whatever the case of its letters (a gateway
// may change it, and hexadecimal has both).
type quoteCheck struct {
	runs  map[string]bool // every quoteRun characters in a row of a form
	short []string        // forms shorter than quoteRun, whole
}

func newQuoteCheck(sent []string) *quoteCheck {
	q := &quoteCheck{runs: map[string]bool{}}
	add := func(f string) {
		if f == "" {
			return
		}
		f = strings.ToLower(f)
		if len(f) < quoteRun {
			q.short = append(q.short, f)
			return
		}
		for i := 0; i+quoteRun <= len(f); i++ {
			q.runs[f[i:i+quoteRun]] = true
		}
	}
	for _, s := range sent {
		if s == "" {
			continue
		}
		add(s)
		add(hex.EncodeToString([]byte(s)))
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		if j, err := json.Marshal(s); err == nil {
			js := strings.Trim(string(j), `"`)
			add(js)
			add(strings.ReplaceAll(js, "/", `\/`))
		}
		for pad := range 3 {
			b := append(make([]byte, pad), s...)
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				e := enc.EncodeToString(b)
				// Without the characters that also depend on the bytes
				// around the secret.
				lead := 0
				if pad > 0 {
					lead = 4
				}
				if len(e) > lead+4 {
					add(e[lead : len(e)-4])
				}
			}
		}
	}
	return q
}

func (q *quoteCheck) quotes(m string) bool {
	m = strings.ToLower(m)
	// Also without its white space: a message wrapping what it quotes
	// in short lines (the error shows them joined by spaces).
	if bare := strings.Join(strings.Fields(m), ""); bare != m && q.quotesRuns(bare) {
		return true
	}
	return q.quotesRuns(m)
}

func (q *quoteCheck) quotesRuns(m string) bool {
	for _, f := range q.short {
		if strings.Contains(m, f) {
			return true
		}
	}
	for i := 0; i+quoteRun <= len(m); i++ {
		if q.runs[m[i:i+quoteRun]] {
			return true
		}
	}
	return false
}

// sentSecrets are the secrets a request to Vault carries: the token (tok,
// read before the request, and the client's now: another operation may
// have replaced it meanwhile), and the api_secret of a data write (a new
// credential, or the one a fence writes again).
//
// Also, as if sent: for a request of a secret's data, the name of the
// secret's field (a message quoting an answer that holds a secret, which
// a read did not send: a gateway that could not pass Vault's answer on
// quoting it; other requests' messages, which may name a path, stay
// readable), and the secrets of the operation's context (withKnown: the
// credential a Verify or a Write compares with what it reads).
func (s *Sink) sentSecrets(ctx context.Context, path, tok string, body any) []string {
	sent := []string{tok, s.client.Token()}
	if strings.HasPrefix(path, s.mount+"/data/") {
		sent = append(sent, FieldAPISecret)
	}
	if k, ok := ctx.Value(knownKey{}).([]string); ok {
		sent = append(sent, k...)
	}
	if b, ok := body.(map[string]any); ok {
		if d, ok := b["data"].(map[string]any); ok {
			if sec, ok := d[FieldAPISecret].(string); ok {
				sent = append(sent, sec)
			}
		}
	}
	return sent
}

type knownKey struct{}

// withKnown returns ctx carrying secrets the operation knows (a
// credential it writes or compares with), for the scrub of its errors.
func withKnown(ctx context.Context, secrets ...string) context.Context {
	if k, ok := ctx.Value(knownKey{}).([]string); ok {
		secrets = append(slices.Clone(k), secrets...)
	}
	return context.WithValue(ctx, knownKey{}, secrets)
}

// call sends one request with the current token and decodes the JSON
// answer into out (when not nil). Errors are *httpError when Vault answered.
func (s *Sink) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var (
		resp *api.Response
		err  error
		tok  = s.client.Token() // what the request carries, for its error
	)
	switch method {
	case http.MethodGet:
		resp, err = s.client.Logical().ReadRawWithContext(ctx, path)
	case http.MethodPut:
		b, merr := json.Marshal(body)
		if merr != nil {
			return merr
		}
		resp, err = s.client.Logical().WriteRawWithContext(ctx, path, b)
	default:
		return fmt.Errorf("method %s not supported", method)
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		cerr := cleanError(err, s.sentSecrets(ctx, path, tok, body)...)
		var he *httpError
		if errors.As(cerr, &he) && he.status == http.StatusNotFound && (resp == nil || !vaultShaped(resp.Body)) {
			he.foreign = true
			he.messages = append(he.messages, "not in Vault's shape: a proxy's answer?")
		}
		return cerr
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return nil
}

// do runs op with a working token. When Vault refuses the token, it gets a
// new one (a new login, or the token file read again) and runs op once more.
func (s *Sink) do(ctx context.Context, op func(context.Context) error) error {
	gen, err := s.auth.ensure(ctx)
	if err != nil {
		return err
	}
	err = op(ctx)
	if !isRefusal(err) {
		return err
	}
	renewed, aerr := s.auth.refused(ctx, gen)
	if aerr != nil {
		return fmt.Errorf("%w (and no new token: %v)", err, aerr)
	}
	if !renewed {
		return err
	}
	return op(ctx)
}

func (s *Sink) dataPath(p string) string     { return s.mount + "/data/" + p }
func (s *Sink) metadataPath(p string) string { return s.mount + "/metadata/" + p }

// metadata is the part of a KV v2 secret's metadata the sink uses. A nil
// *metadata is a path with no secret.
type metadata struct {
	CurrentVersion int               `json:"current_version"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	Versions       map[string]struct {
		DeletionTime string `json:"deletion_time"`
		Destroyed    bool   `json:"destroyed"`
	} `json:"versions"`
}

func (m *metadata) exists() bool { return m != nil }

func (m *metadata) managed() bool {
	return m != nil && m.CustomMetadata[ManagedByKey] == ManagedByValue
}

// managedFor reports whether rotatord wrote the secret for policy: marked,
// and not by another policy's sink (a secret marked before policies were
// named in the marker belongs to any).
func (m *metadata) managedFor(policy string) bool {
	if !m.managed() {
		return false
	}
	owner := m.CustomMetadata[PolicyKey]
	return owner == "" || policy == "" || owner == policy
}

// ownCredentialOfAnother reports whether a credential store (a policy
// named with "_", which no policy of the file may be: _self, _self-NAME)
// wrote the secret, and policy is not one: the secret holds the key
// rotatord signs with, which no policy's sink may replace, take_over or
// not. Protected names those secrets by address, which another spelling
// of the same Vault (localhost, a DNS alias) escapes; the marker does not.
func (m *metadata) ownCredentialOfAnother(policy string) bool {
	return m.managed() && strings.HasPrefix(m.CustomMetadata[PolicyKey], "_") && !strings.HasPrefix(policy, "_")
}

func (m *metadata) version() int {
	if m == nil {
		return 0
	}
	return m.CurrentVersion
}

func (m *metadata) custom() map[string]string {
	if m == nil || m.CustomMetadata == nil {
		return map[string]string{}
	}
	return maps.Clone(m.CustomMetadata)
}

// withMarker is the custom metadata with rotatord's marker (and the
// policy's name) added; the other entries stay.
func (m *metadata) withMarker(policy string) map[string]string {
	c := m.custom()
	c[ManagedByKey] = ManagedByValue
	if policy != "" {
		c[PolicyKey] = policy
	} else {
		delete(c, PolicyKey)
	}
	return c
}

// readMetadata returns the secret's metadata, or nil when there is none.
func (s *Sink) readMetadata(ctx context.Context, p string) (*metadata, error) {
	var out struct {
		Data *metadata `json:"data"`
	}
	err := s.do(ctx, func(ctx context.Context) error {
		return s.call(ctx, http.MethodGet, s.metadataPath(p), nil, &out)
	})
	if vaultNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if out.Data == nil {
		return nil, nil
	}
	return out.Data, nil
}

// writeMarker replaces the custom metadata (and nothing else: Vault keeps
// the fields a metadata write leaves out).
func (s *Sink) writeMarker(ctx context.Context, p string, custom map[string]string) error {
	return s.do(ctx, func(ctx context.Context) error {
		return s.call(ctx, http.MethodPut, s.metadataPath(p), map[string]any{"custom_metadata": custom}, nil)
	})
}

// writeData writes a new version with check-and-set and returns its number.
func (s *Sink) writeData(ctx context.Context, p string, data map[string]any, cas int) (int, error) {
	v, _, err := s.writeDataAt(ctx, p, data, cas)
	return v, err
}

// writeDataAt is writeData, also returning the deletion_time Vault gave
// the new version ("" for none: no delete_version_after).
func (s *Sink) writeDataAt(ctx context.Context, p string, data map[string]any, cas int) (int, string, error) {
	var out struct {
		Data struct {
			Version      int    `json:"version"`
			DeletionTime string `json:"deletion_time"`
		} `json:"data"`
	}
	err := s.do(ctx, func(ctx context.Context) error {
		return s.call(ctx, http.MethodPut, s.dataPath(p), map[string]any{
			"options": map[string]any{"cas": cas},
			"data":    data,
		}, &out)
	})
	if statusOf(err) == http.StatusBadRequest && strings.Contains(err.Error(), "check-and-set") {
		return 0, "", fmt.Errorf("%w: expected version %d: %v", ErrConflict, cas, err)
	}
	if err != nil {
		return 0, "", err
	}
	if out.Data.Version < 1 {
		// KV v2 answers a write with the version it made; a KV v1 mount
		// (one that replaced the KV v2 mount seen) with nothing.
		s.setMountSeen(false)
		return 0, "", fmt.Errorf("mount %q: %w: the write was answered without a version", s.mount, ErrMount)
	}
	return out.Data.Version, out.Data.DeletionTime, nil
}

// readLatest returns the credential in the latest version and its number:
// an error wrapping sinks.ErrNotHeld when there is no secret or its latest
// version is deleted or destroyed, sinks.ErrUnreadable when it lacks the
// fields.
func (s *Sink) readLatest(ctx context.Context, p string) (sinks.Held, int, error) {
	data, version, err := s.readLatestData(ctx, p)
	if err != nil {
		return sinks.Held{}, 0, err
	}
	h, err := heldFrom(data)
	if err != nil {
		return sinks.Held{}, 0, fmt.Errorf("version %d: %w", version, err)
	}
	return h, version, nil
}

// readLatestData returns the data of the latest version and its number, as
// readLatest: an error wrapping sinks.ErrNotHeld when there is no secret,
// its latest version is deleted or destroyed, or holds no data at all (a
// version fenceLostWrite made over nothing).
func (s *Sink) readLatestData(ctx context.Context, p string) (map[string]any, int, error) {
	var out struct {
		Data *struct {
			Data     map[string]any `json:"data"`
			Metadata struct {
				Version      int    `json:"version"`
				DeletionTime string `json:"deletion_time"`
				Destroyed    bool   `json:"destroyed"`
			} `json:"metadata"`
		} `json:"data"`
	}
	err := s.do(ctx, func(ctx context.Context) error {
		return s.call(ctx, http.MethodGet, s.dataPath(p), nil, &out)
	})
	if vaultNotFound(err) {
		// No secret, or its latest version deleted or destroyed.
		return nil, 0, errNotServed
	}
	if err != nil {
		return nil, 0, err
	}
	d := out.Data
	if d == nil || d.Metadata.Version < 1 {
		// Not KV v2's answer (which names the version even when it is
		// deleted; a 200 without "data" is a stub's or a proxy's): what
		// the path holds is not known, so not ErrNotHeld.
		s.setMountSeen(false)
		return nil, 0, fmt.Errorf("mount %q: %w: the read was answered without a version", s.mount, ErrMount)
	}
	// A deleted version is answered 404, without its data. A deletion_time
	// with the data served is one to come (delete_version_after): Vault
	// served the version, so consumers read it; the clocks may disagree
	// on whether that time has passed, Vault's answer does not.
	if len(d.Data) == 0 || d.Metadata.Destroyed {
		return nil, 0, sinks.ErrNotHeld
	}
	return d.Data, d.Metadata.Version, nil
}

// errNotServed is sinks.ErrNotHeld for a read Vault answered 404: no
// secret, or its latest version deleted or destroyed, by Vault's clock
// (rotatord's may disagree on whether a deletion_time has passed).
var errNotServed error = notServed{}

type notServed struct{}

func (notServed) Error() string        { return sinks.ErrNotHeld.Error() }
func (notServed) Is(target error) bool { return target == sinks.ErrNotHeld }

// lostAnswer reports whether a write's error leaves unknown whether Vault
// applied it: no answer (a timeout, a reset connection), or a 5xx or 408,
// as a gateway answers 504 while Vault has not committed the write yet,
// and may still.
func lostAnswer(err error) bool {
	if errors.Is(err, ErrMount) || errors.Is(err, ErrConflict) {
		return false // answered
	}
	st := statusOf(err)
	return st == 0 || st >= 500 || st == http.StatusRequestTimeout
}

// fenceLostWrite follows a data write with check-and-set version cas whose
// answer was lost: the write may still be applied later, after the engine
// has read the old key back and deleted the new one, leaving Vault with a
// deleted key. Writing version cas+1 first, with what version cas held
// (nothing, when there was none), makes that late write fail its
// check-and-set; over a deleted or destroyed version nothing is written
// (errUnfenceable). When the latest version is no longer cas, the
// lost write landed (the engine reads the new key back) or someone else
// wrote: either way it cannot land later. Tried a few times while answers
// keep being lost, all within fenceTimeout; the error is the Write's. It
// reports whether the lost write can no longer land: the fence was
// written, or the latest version is past cas. With detach, it runs on
// when ctx ends: the Write's own context may be what ended (a stop
// abandoning the pass); a read's fence ends with the read's context.
func (s *Sink) fenceLostWrite(ctx context.Context, p string, cas int, detach bool) (settled bool) {
	if detach {
		ctx = context.WithoutCancel(ctx)
	}
	// One bound for all its attempts, so that a stop waits for it at most
	// that long.
	ctx, cancel := context.WithTimeout(ctx, fenceTimeout)
	defer cancel()
	for range 3 {
		if ctx.Err() != nil {
			return false
		}
		err := s.fenceOnce(ctx, p, cas)
		if err == nil || errors.Is(err, ErrConflict) {
			return true // a version past cas: the lost write's check-and-set fails
		}
		if errors.Is(err, errUnfenceable) || !lostAnswer(err) {
			return false
		}
	}
	return false
}

// fenceTimeout bounds fenceLostWrite, all its attempts together. A stop
// gives the pass 30 s, then cancels it and waits for it: with the on_failure
// hooks' 5 s and the token revocation's 5 s after it, the stop still ends
// within systemd's 45 s.
var fenceTimeout = 5 * time.Second

// errUnfenceable: the latest version is deleted or destroyed. A fence
// would add a version consumers read (an empty one) where they found none,
// and a consumer that kept what it read before (Vault Agent keeps the file
// it rendered) would take the empty one: no fence is written, the secret
// reads as unknown until a write succeeds.
var errUnfenceable = errors.New("the latest version is deleted or destroyed: no fence written")

func (s *Sink) fenceOnce(ctx context.Context, p string, cas int) error {
	data, version, err := s.readLatestData(ctx, p)
	switch {
	case errors.Is(err, sinks.ErrNotHeld):
		if cas > 0 {
			// Version cas holds no data (an earlier fence over nothing:
			// another empty one changes nothing), or it is deleted or
			// destroyed, or the secret is gone.
			served := !errors.Is(err, errNotServed)
			md, err := s.readMetadata(ctx, p)
			switch {
			case err != nil:
				return err
			case md.version() != cas:
				return nil // the lost write's check-and-set fails
			case !served:
				// Vault answered 404 for version cas: deleted or
				// destroyed (Vault's verdict, not a deletion_time
				// compared with rotatord's clock).
				return errUnfenceable
			}
		}
		data = map[string]any{}
	case err != nil:
		return err
	case version != cas:
		return nil
	}
	defer clear(data)
	_, err = s.writeData(ctx, p, data, cas)
	return err
}

// checkMount makes sure the mount exists and is KV version 2. Vault
// answers 403 for a mount that does not exist, so a refusal here does not
// mean the token is bad: the caller has made sure it works.
func (s *Sink) checkMount(ctx context.Context) error {
	var out struct {
		Data struct {
			Type    string            `json:"type"`
			Path    string            `json:"path"`
			Options map[string]string `json:"options"`
		} `json:"data"`
	}
	gen := s.auth.generation()
	err := s.call(ctx, http.MethodGet, "sys/internal/ui/mounts/"+s.mount, nil, &out)
	if isRefusal(err) && s.auth.generation() != gen {
		// Another operation replaced the token meanwhile, and a login
		// revokes the token it replaces: this request may have carried
		// it. Not a refusal of the mount: once more, with the new token.
		err = s.call(ctx, http.MethodGet, "sys/internal/ui/mounts/"+s.mount, nil, &out)
	}
	switch statusOf(err) {
	case 0:
	case http.StatusNotFound, http.StatusBadRequest:
		return fmt.Errorf("mount %q: %w: no such mount (%v)", s.mount, ErrMount, err)
	case http.StatusForbidden:
		return fmt.Errorf("mount %q: %w: no such mount, or this token may use nothing in it (%v)", s.mount, ErrMount, err)
	}
	if err != nil {
		return fmt.Errorf("mount %q: %w", s.mount, err)
	}
	d := out.Data
	if got := strings.TrimSuffix(d.Path, "/"); got != s.mount {
		return fmt.Errorf("mount %q: %w: it is a path inside mount %q", s.mount, ErrMount, got)
	}
	switch {
	case d.Type != "kv" && d.Type != "generic":
		return fmt.Errorf("mount %q: %w: it is a %q secrets engine", s.mount, ErrMount, d.Type)
	case d.Options["version"] != "2":
		return fmt.Errorf("mount %q: %w: it is KV version 1; enable versioning (vault kv enable-versioning %s) or use a KV v2 mount",
			s.mount, ErrMount, s.mount)
	}
	s.setMountSeen(true)
	s.checkNamespaceOnce(ctx)
	return nil
}

// checkNamespaceOnce warns, once, when the sink has a namespace and Vault
// says it is not Vault Enterprise (sys/health's "enterprise": false): the
// community edition ignores X-Vault-Namespace and serves the root
// namespace, so the secrets land there while targets and logs name the
// namespace. A warning, not a refusal: other servers (OpenBao) may
// answer so and still honour namespaces. An answer without the field,
// or none, says nothing.
func (s *Sink) checkNamespaceOnce(ctx context.Context) {
	if s.namespace == "" {
		return
	}
	s.mu.Lock()
	done := s.namespaceChecked
	s.mu.Unlock()
	if done {
		return
	}
	var out struct {
		Enterprise *bool  `json:"enterprise"`
		Version    string `json:"version"`
	}
	if err := s.call(ctx, http.MethodGet, "sys/health", nil, &out); err != nil {
		return // no answer says nothing: asked again at the next mount check
	}
	s.mu.Lock()
	done = s.namespaceChecked
	s.namespaceChecked = true
	s.mu.Unlock()
	if done || out.Enterprise == nil || *out.Enterprise {
		return
	}
	s.log.Warn("this Vault says it is not Vault Enterprise: it ignores the namespace, and this sink writes to the root namespace's mount",
		zap.String("namespace", s.namespace), zap.String("mount", s.mount), zap.String("vault_version", out.Version))
}

// capabilities returns the token's capabilities on the data and metadata
// paths of p. Any valid token may ask, so a refusal means the token is bad.
func (s *Sink) capabilities(ctx context.Context, p string) (map[string][]string, error) {
	dp, mp := s.dataPath(p), s.metadataPath(p)
	var out struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	err := s.do(ctx, func(ctx context.Context) error {
		return s.call(ctx, http.MethodPut, "sys/capabilities-self", map[string]any{"paths": []string{dp, mp}}, &out)
	})
	if err != nil {
		return nil, err
	}
	caps := make(map[string][]string, 2)
	for _, path := range []string{dp, mp} {
		var c []string
		if err := json.Unmarshal(out.Data[path], &c); err != nil {
			return nil, fmt.Errorf("capabilities of %s: %w", path, err)
		}
		caps[path] = c
	}
	return caps, nil
}

// checkCapabilities makes sure caps allow what a Write of this path and the
// Verify after it will do.
func (s *Sink) checkCapabilities(caps map[string][]string, p string, md *metadata) error {
	dp, mp := s.dataPath(p), s.metadataPath(p)
	write := "create"
	if md.exists() {
		write = "update"
	}
	need := map[string][]string{dp: {"read", write}}
	if !md.managedFor(s.policy) {
		need[mp] = []string{write}
	}
	for _, path := range []string{dp, mp} {
		have := caps[path]
		if slices.Contains(have, "root") {
			continue
		}
		for _, c := range need[path] {
			if !slices.Contains(have, c) {
				return fmt.Errorf("the token's policies do not grant %q on %s (it has %s)", c, path, capList(have))
			}
		}
	}
	return nil
}

func capList(c []string) string {
	if len(c) == 0 {
		return "none"
	}
	return strconv.Quote(strings.Join(c, ","))
}
