package exosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxBody bounds request bodies; a create body is a few dozen bytes.
const maxBody = 1 << 20

// reply is an answer not yet written, so that a fault can still drop it.
type reply struct {
	status int
	header http.Header
	body   any
}

type errorBody struct {
	Message string `json:"message"`
}

func errorReply(status int, msg string) reply {
	return reply{status: status, body: errorBody{Message: msg}}
}

func writeReply(w http.ResponseWriter, r reply) {
	for name, values := range r.header {
		w.Header()[name] = values
	}
	data, err := json.Marshal(r.body)
	if err != nil { // only our own types are marshalled: a bug
		r.status, data = http.StatusInternalServerError, []byte(`{"message":"exosim: marshal response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.status)
	_, _ = w.Write(append(data, '\n'))
}

// apiRequest is what an operation handler gets.
type apiRequest struct {
	http *http.Request
	id   string // the {id} path parameter, if any
	body []byte
	org  string // the signing key's organization; empty for the unsigned zone list
}

type handler func(*Sim, apiRequest) reply

var handlers = map[string]handler{
	OpListAPIKeys:  (*Sim).listAPIKeys,
	OpCreateAPIKey: (*Sim).createAPIKey,
	OpGetAPIKey:    (*Sim).getAPIKey,
	OpDeleteAPIKey: (*Sim).deleteAPIKey,
	OpGetOperation: (*Sim).getOperation,
	OpListIAMRoles: (*Sim).listIAMRoles,
	OpGetIAMRole:   (*Sim).getIAMRole,
	OpListZones:    (*Sim).listZones,
}

// route maps a method and a path under /v2/ to an operation id and its {id}
// parameter. With no operation, allowed lists the methods the path accepts
// (empty for an unknown path).
func route(method, path string) (op, id string, allowed []string) {
	segs := strings.Split(strings.TrimPrefix(path, "/v2/"), "/")
	var byMethod map[string]string
	switch {
	case len(segs) == 1 && segs[0] == "api-key":
		byMethod = map[string]string{http.MethodGet: OpListAPIKeys, http.MethodPost: OpCreateAPIKey}
	case len(segs) == 2 && segs[0] == "api-key" && segs[1] != "":
		byMethod = map[string]string{http.MethodGet: OpGetAPIKey, http.MethodDelete: OpDeleteAPIKey}
	case len(segs) == 2 && segs[0] == "operation" && segs[1] != "":
		byMethod = map[string]string{http.MethodGet: OpGetOperation}
	case len(segs) == 1 && segs[0] == "iam-role":
		byMethod = map[string]string{http.MethodGet: OpListIAMRoles}
	case len(segs) == 2 && segs[0] == "iam-role" && segs[1] != "":
		byMethod = map[string]string{http.MethodGet: OpGetIAMRole}
	case len(segs) == 1 && segs[0] == "zone":
		byMethod = map[string]string{http.MethodGet: OpListZones}
	default:
		return "", "", nil
	}
	if len(segs) == 2 {
		id = segs[1]
	}
	if op, ok := byMethod[method]; ok {
		return op, id, nil
	}
	for m := range byMethod {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	return "", "", allowed
}

// serveAPI runs one /v2 call: latency, then authentication, then injected
// 429/5xx, then the operation, then maybe a lost response. Every call of a
// known operation is counted.
func (s *Sim) serveAPI(w http.ResponseWriter, r *http.Request) {
	op, id, allowed := route(r.Method, r.URL.Path)
	if op == "" {
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeReply(w, errorReply(http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path))
			return
		}
		writeReply(w, errorReply(http.StatusNotFound, "Not found: "+r.URL.Path))
		return
	}
	// Each call is logged at its arrival, before the latency (see
	// Requests), and completed with its answer.
	logged := s.logRequest(op, r)
	// Calls are counted before the answer leaves, so a client that sees
	// the answer also sees the call in Calls() and Requests().
	answer := func(rep reply) {
		s.record(op, rep.status)
		s.answered(logged, rep.status)
		writeReply(w, rep)
	}

	// The gateway's limits refuse a call at its arrival; the refusal
	// still travels with the latency.
	release, refusal := s.admit()
	if release != nil {
		defer release()
	}
	if !sleep(r.Context(), s.latency(op)) {
		s.record(op, 0) // the client gave up; nobody reads an answer
		s.answered(logged, 0)
		return
	}
	if refusal != nil {
		answer(*refusal)
		return
	}
	var body []byte
	if r.Body != nil { // nil only when a caller invokes ServeHTTP directly
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			answer(errorReply(http.StatusBadRequest, "Cannot read request body"))
			return
		}
		body = b
	}
	// Listing zones is the one call the SDK does not sign.
	var org string
	if op != OpListZones {
		o, err := s.verify(r, body)
		if err != nil {
			var f authFailure
			errors.As(err, &f)
			answer(errorReply(http.StatusForbidden, f.message()))
			return
		}
		org = o
	}
	if rep, failed := s.drawFailure(op); failed {
		answer(rep)
		return
	}
	rep := handlers[op](s, apiRequest{http: r, id: id, body: body, org: org})
	if s.drawLoss(op) {
		s.record(op, 0)
		s.answered(logged, 0)
		dropConnection(w)
		return
	}
	answer(rep)
}

// dropConnection closes the connection without writing a byte, the way a
// response lost in the network looks to a client. When the writer cannot be
// hijacked (HTTP/2, a recorder), aborting the handler is the closest thing.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// apiKey is a key as the API shows it: never with its secret.
type apiKey struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	RoleID string `json:"role-id"`
}

type apiKeyCreated struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	RoleID string `json:"role-id"`
	Secret string `json:"secret"`
}

func (s *Sim) listAPIKeys(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	// A stale call sees the organization as it was a while ago.
	at := now.Add(-s.drawStale(OpListAPIKeys))
	keys := []apiKey{}
	for _, k := range s.store.keys {
		if k.org == req.org && k.visibleAt(at) {
			keys = append(keys, apiKey{Key: k.key, Name: k.name, RoleID: k.roleID})
		}
	}
	return reply{status: http.StatusOK, body: map[string][]apiKey{"api-keys": keys}}
}

func (s *Sim) createAPIKey(req apiRequest) reply {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(req.body))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return errorReply(http.StatusBadRequest, "Request body must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorReply(http.StatusBadRequest, "Request body must hold a single JSON object")
	}
	var name, roleID string
	if raw, ok := fields["name"]; !ok || json.Unmarshal(raw, &name) != nil {
		return errorReply(http.StatusBadRequest, "name: a string is required")
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 255 {
		return errorReply(http.StatusBadRequest, "name: must be 1 to 255 characters")
	}
	if raw, ok := fields["role-id"]; !ok || json.Unmarshal(raw, &roleID) != nil {
		return errorReply(http.StatusBadRequest, "role-id: a string is required")
	}
	if !isUUID(roleID) {
		return errorReply(http.StatusBadRequest, "role-id: must be a UUID")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	role, ok := s.store.role(req.org, roleID)
	if !ok {
		return errorReply(http.StatusNotFound, "IAM Role not found")
	}
	now := s.clock()
	k := s.store.add(req.org, "", name, role.ID, "", now)
	k.appliedAt = now.Add(s.drawLateApply())
	if rep, lied := s.drawAppliedRateLimit(); lied {
		k.answeredRateLimited = true
		return rep // the key is made; its secret goes nowhere
	}
	return reply{status: http.StatusOK, body: apiKeyCreated{Key: k.key, Name: k.name, RoleID: k.roleID, Secret: k.secret}}
}

func (s *Sim) getAPIKey(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	at := now.Add(-s.drawStale(OpGetAPIKey))
	// Another organization's key is unknown to the signer.
	k := s.store.byKey[req.id]
	if k == nil || k.org != req.org || !k.visibleAt(at) {
		return errorReply(http.StatusNotFound, "API Key not found")
	}
	return reply{status: http.StatusOK, body: apiKey{Key: k.key, Name: k.name, RoleID: k.roleID}}
}

// errNotInOrganization is what the real API answers to the DELETE of an
// unknown or foreign key, and of a key that is listed but undeletable.
func errNotInOrganization() reply {
	return errorReply(http.StatusForbidden, "API Key not in organization")
}

// deleteAPIKey deletes at once, or, with the PendingPolls fault, starts an
// operation that completes after that many polls. Deleting a key whose
// deletion is pending returns the same operation. A zombie (or a key the
// zombie fault turns into one) answers 403; the fail fault makes the
// operation end in failure and leaves the key.
func (s *Sim) deleteAPIKey(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.store.sweep(now)
	k := s.store.alive(req.id, now)
	if k == nil || k.org != req.org || k.zombie() {
		return errNotInOrganization()
	}
	if k.pendingOp != "" {
		return reply{status: http.StatusOK, body: renderOperation(s.store.ops[k.pendingOp])}
	}
	zombieFor, failReason := s.drawDeleteOutcome()
	if zombieFor > 0 {
		s.store.makeZombie(k, now, zombieFor)
		return errNotInOrganization()
	}
	polls := s.pendingPolls()
	if failReason != "" && polls == 0 {
		op := s.store.newOperation(k.org, OpDeleteAPIKey, k.key, stateFailure, 0)
		op.reason = failReason
		return reply{status: http.StatusOK, body: renderOperation(op)}
	}
	if polls > 0 {
		op := s.store.newOperation(k.org, OpDeleteAPIKey, k.key, statePending, polls)
		op.failAtEnd, op.reason = failReason != "", failReason
		k.pendingOp = op.id
		return reply{status: http.StatusOK, body: renderOperation(op)}
	}
	s.store.remove(k, now, DeletedByAPI)
	return reply{status: http.StatusOK, body: renderOperation(s.store.newOperation(k.org, OpDeleteAPIKey, k.key, stateSuccess, 0))}
}

func (s *Sim) getOperation(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.store.ops[strings.ToLower(req.id)]
	if op == nil || op.org != req.org {
		return errorReply(http.StatusNotFound, "Operation not found")
	}
	if op.state == statePending {
		switch k := s.store.byKey[op.keyID]; {
		case op.pollsLeft > 0:
			op.pollsLeft--
		case op.failAtEnd:
			if k != nil && k.pendingOp == op.id {
				k.pendingOp = ""
			}
			op.state = stateFailure
		default:
			if k != nil {
				s.store.remove(k, s.clock(), DeletedByAPI)
			}
			op.state = stateSuccess
		}
	}
	return reply{status: http.StatusOK, body: renderOperation(op)}
}

type operationJSON struct {
	ID        string        `json:"id"`
	State     string        `json:"state"`
	Reason    string        `json:"reason,omitempty"`
	Message   string        `json:"message,omitempty"`
	Reference referenceJSON `json:"reference"`
}

type referenceJSON struct {
	ID      string `json:"id"`
	Link    string `json:"link"`
	Command string `json:"command"`
}

func renderOperation(op *operation) operationJSON {
	var msg string
	if op.state == stateFailure {
		msg = "Operation failed (injected by exosim)"
	}
	return operationJSON{
		ID:      op.id,
		State:   op.state,
		Reason:  op.reason,
		Message: msg,
		Reference: referenceJSON{
			ID:      op.keyID,
			Link:    "/v2/api-key/" + op.keyID,
			Command: op.command,
		},
	}
}

type roleJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Editable    bool              `json:"editable"`
	Permissions []string          `json:"permissions"`
	Labels      map[string]string `json:"labels"`
}

func renderRole(r Role) roleJSON {
	return roleJSON{ID: r.ID, Name: r.Name, Description: r.Description, Permissions: []string{}, Labels: map[string]string{}}
}

func (s *Sim) listIAMRoles(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	roles := make([]roleJSON, 0, len(s.store.roles[req.org]))
	for _, r := range s.store.roles[req.org] {
		roles = append(roles, renderRole(r))
	}
	return reply{status: http.StatusOK, body: map[string][]roleJSON{"iam-roles": roles}}
}

func (s *Sim) getIAMRole(req apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.store.role(req.org, req.id)
	if !ok {
		return errorReply(http.StatusNotFound, "IAM Role not found")
	}
	return reply{status: http.StatusOK, body: renderRole(r)}
}

// Zones lists the zones of the shared API document, in its order.
var zones = []string{"ch-gva-2", "ch-dk-2", "de-fra-1", "de-muc-1", "at-vie-1", "at-vie-2", "bg-sof-1", "hr-zag-1"}

type zoneJSON struct {
	Name        string `json:"name"`
	APIEndpoint string `json:"api-endpoint"`
	SOSEndpoint string `json:"sos-endpoint"`
}

// listZones points every zone back at the simulator: API keys are global to
// the organization, so any zone's endpoint must reach the same keys.
func (s *Sim) listZones(req apiRequest) reply {
	endpoint := s.zoneEndpoint
	if endpoint == "" {
		scheme := "http"
		if req.http.TLS != nil {
			scheme = "https"
		}
		endpoint = scheme + "://" + req.http.Host + "/v2"
	}
	out := make([]zoneJSON, 0, len(zones))
	for _, z := range zones {
		out = append(out, zoneJSON{Name: z, APIEndpoint: endpoint, SOSEndpoint: "https://sos-" + z + ".exo.io"})
	}
	return reply{status: http.StatusOK, body: map[string][]zoneJSON{"zones": out}}
}
