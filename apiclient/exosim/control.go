package exosim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// serveControl serves the test-only surface under /_sim/. It is
// unauthenticated and shows secrets: that is its point (chaos tests grep
// logs for every secret issued), and why the simulator listens on loopback.
//
//	GET    /_sim/keys               every KeyRecord, secrets included
//	GET    /_sim/calls              CallStats per operation
//	GET    /_sim/max-live-per-name  the highest simultaneous alive count per name
//	GET    /_sim/faults             the faults in force
//	PUT    /_sim/faults             replace all faults: {"create-api-key": {...}, ...}
//	DELETE /_sim/faults             clear all faults
//	GET    /_sim/limits             the gateway limits in force and the calls refused
//	PUT    /_sim/limits             {"rate","burst","max_in_flight","retry_after"} (Limits)
//	POST   /_sim/authenticate       {"api_key","api_secret"} -> {"ok": bool, "reason": string, "org": string}
//	POST   /_sim/keys               {"name","role"} creates a key as someone else (role: id or name)
//	DELETE /_sim/keys/{key}         deletes a key as someone else
//	GET    /_sim/zombies            the keys that are zombies now
//	POST   /_sim/keys/{key}/zombie  {"for": "20s"} makes a key a zombie for that long
//	GET    /_sim/requests           the API calls received, with User-Agent, protocol, client address and times (RequestLog);
//	                                ?op=OP[,OP] (repeatable), writes=1 (creates and deletes),
//	                                after=SEQ, user_agent=SUBSTRING select some
//	DELETE /_sim/requests           empty the request log
//
// Keys made or deleted through the control surface bypass signatures and
// faults; their records say External or DeletedBy "external".
//
// The query parameter org=NAME picks an organization (404 for an unknown
// one). Without it, POST /_sim/keys and max-live-per-name act on the
// default organization, GET /_sim/keys and /_sim/zombies show every
// organization's keys (each record says its "org"), and the /_sim/keys/{key}
// endpoints find the key in whichever organization holds it; with it, they
// see only that organization. Faults, calls, requests and authenticate are
// not per organization and refuse the parameter.
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	ok := func(v any) { writeReply(w, reply{status: http.StatusOK, body: v}) }
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if r.Method == m {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeReply(w, errorReply(http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path))
		return false
	}

	org, orgGiven, err := s.orgParam(r)
	if err != nil {
		writeReply(w, errorReply(http.StatusNotFound, err.Error()))
		return
	}
	// A filter for the dumps of every organization's keys.
	inOrg := func(keys []KeyRecord) []KeyRecord {
		if !orgGiven {
			return keys
		}
		out := []KeyRecord{}
		for _, k := range keys {
			if k.Org == org {
				out = append(out, k)
			}
		}
		return out
	}

	path := strings.TrimPrefix(r.URL.Path, "/_sim/")
	if rest, found := strings.CutPrefix(path, "keys/"); found {
		s.serveControlKey(w, r, rest, org, orgGiven)
		return
	}
	switch path {
	case "faults", "limits", "calls", "requests", "authenticate":
		// Refused rather than ignored, so that nobody believes they set
		// or read one organization's faults.
		if orgGiven {
			writeReply(w, errorReply(http.StatusBadRequest, "org: /_sim/"+path+" is not per organization"))
			return
		}
	}
	switch path {
	case "keys":
		if !allow(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			var req struct {
				Name string `json:"name"`
				Role string `json:"role"`
			}
			if err := decodeStrict(r, &req); err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "keys: "+err.Error()))
				return
			}
			k, err := s.CreateKeyIn(org, req.Name, req.Role)
			if err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "keys: "+err.Error()))
				return
			}
			ok(k)
			return
		}
		ok(inOrg(s.Keys()))
	case "zombies":
		if allow(http.MethodGet) {
			ok(inOrg(s.Zombies()))
		}
	case "calls":
		if allow(http.MethodGet) {
			ok(s.Calls())
		}
	case "requests":
		if !allow(http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			s.ClearRequests()
			ok(s.Requests(RequestFilter{}))
			return
		}
		f, err := requestFilter(r)
		if err != nil {
			writeReply(w, errorReply(http.StatusBadRequest, "requests: "+err.Error()))
			return
		}
		ok(s.Requests(f))
	case "max-live-per-name":
		if allow(http.MethodGet) {
			counts, _ := s.MaxLivePerNameIn(org) // org was checked above
			ok(counts)
		}
	case "faults":
		if !allow(http.MethodGet, http.MethodPut, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodPut:
			var faults map[string]Fault
			if err := decodeStrict(r, &faults); err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "faults: "+err.Error()))
				return
			}
			if err := s.SetFaults(faults); err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "faults: "+err.Error()))
				return
			}
		case http.MethodDelete:
			s.ClearFaults()
		}
		ok(s.Faults())
	case "limits":
		if !allow(http.MethodGet, http.MethodPut) {
			return
		}
		if r.Method == http.MethodPut {
			var l Limits
			if err := decodeStrict(r, &l); err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "limits: "+err.Error()))
				return
			}
			if err := s.SetLimits(l); err != nil {
				writeReply(w, errorReply(http.StatusBadRequest, "limits: "+err.Error()))
				return
			}
		}
		ok(struct {
			Limits
			Refused int `json:"refused"`
		}{s.Limits(), s.Refused()})
	case "authenticate":
		if !allow(http.MethodPost) {
			return
		}
		var cred Credential
		if err := decodeStrict(r, &cred); err != nil {
			writeReply(w, errorReply(http.StatusBadRequest, "authenticate: "+err.Error()))
			return
		}
		ok(s.AuthenticateWhy(cred.Key, cred.Secret))
	default:
		writeReply(w, errorReply(http.StatusNotFound, "Not found: "+r.URL.Path))
	}
}

// serveControlKey serves /_sim/keys/{key} and /_sim/keys/{key}/zombie.
// Keys are unique across organizations; with orgGiven, a key of another
// organization than org is not found.
func (s *Sim) serveControlKey(w http.ResponseWriter, r *http.Request, rest, org string, orgGiven bool) {
	key, action, _ := strings.Cut(rest, "/")
	notFound := func(err error) {
		writeReply(w, errorReply(http.StatusNotFound, err.Error()))
	}
	if orgGiven && s.keyOrg(key) != org {
		notFound(fmt.Errorf("%w %q in organization %s", ErrNoSuchKey, key, org))
		return
	}
	method := func(m string) bool {
		if r.Method == m {
			return true
		}
		w.Header().Set("Allow", m)
		writeReply(w, errorReply(http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed on "+r.URL.Path))
		return false
	}
	switch action {
	case "":
		if !method(http.MethodDelete) {
			return
		}
		if err := s.DeleteKey(key); err != nil {
			notFound(err)
			return
		}
	case "zombie":
		if !method(http.MethodPost) {
			return
		}
		var req struct {
			For string `json:"for"`
		}
		if err := decodeStrict(r, &req); err != nil {
			writeReply(w, errorReply(http.StatusBadRequest, "zombie: "+err.Error()))
			return
		}
		d, err := parseDuration("for", req.For)
		if err != nil || d < 0 {
			writeReply(w, errorReply(http.StatusBadRequest, "zombie: for must be a positive duration"))
			return
		}
		if err := s.Zombify(key, d); err != nil {
			notFound(err)
			return
		}
	default:
		writeReply(w, errorReply(http.StatusNotFound, "Not found: "+r.URL.Path))
		return
	}
	for _, k := range s.Keys() {
		if k.Key == key {
			writeReply(w, reply{status: http.StatusOK, body: k})
			return
		}
	}
}

// orgParam returns the organization the org query parameter names, or
// DefaultOrg without one; given says whether the parameter was there.
func (s *Sim) orgParam(r *http.Request) (org string, given bool, err error) {
	q := r.URL.Query()
	if !q.Has("org") {
		return DefaultOrg, false, nil
	}
	org = q.Get("org")
	if !s.hasOrg(org) {
		return "", true, fmt.Errorf("%w %q", ErrNoSuchOrg, org)
	}
	return org, true, nil
}

// keyOrg returns the organization of a key ever known, or "".
func (s *Sim) keyOrg(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.store.byKey[key]; k != nil {
		return k.org
	}
	return ""
}

// decodeStrict decodes one JSON value with no unknown fields and nothing
// after it.
func decodeStrict(r *http.Request, v any) error {
	if r.Body == nil {
		return errors.New("empty body")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
