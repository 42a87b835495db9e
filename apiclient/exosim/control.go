package exosim

import (
	"bytes"
	"encoding/json"
	"errors"
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
//	POST   /_sim/authenticate       {"api_key","api_secret"} -> {"ok": bool}
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

	switch strings.TrimPrefix(r.URL.Path, "/_sim/") {
	case "keys":
		if allow(http.MethodGet) {
			ok(s.Keys())
		}
	case "calls":
		if allow(http.MethodGet) {
			ok(s.Calls())
		}
	case "max-live-per-name":
		if allow(http.MethodGet) {
			ok(s.MaxLivePerName())
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
	case "authenticate":
		if !allow(http.MethodPost) {
			return
		}
		var cred Credential
		if err := decodeStrict(r, &cred); err != nil {
			writeReply(w, errorReply(http.StatusBadRequest, "authenticate: "+err.Error()))
			return
		}
		ok(map[string]bool{"ok": s.Authenticate(cred.Key, cred.Secret)})
	default:
		writeReply(w, errorReply(http.StatusNotFound, "Not found: "+r.URL.Path))
	}
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
