package exosim_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

func TestSignatureRefusals(t *testing.T) {
	// A fixed clock near the real one: the SDK signs with the real time.
	now := time.Now().Truncate(time.Second)
	srv, c := start(t, exosim.WithClock(func() time.Time { return now }))
	admin := srv.Admin()
	deleted := srv.Keys()[1]
	if _, err := c.DeleteAPIKey(ctx(t), deleted.Key); err != nil {
		t.Fatalf("delete %s: %v", deleted.Name, err)
	}
	valid := now.Add(10 * time.Minute)
	createBody := `{"name":"x","role-id":"` + exosim.CIRoleID + `"}`

	tests := []struct {
		name        string
		giveMethod  string
		givePath    string
		giveBody    string
		prepare     func(*http.Request)
		wantStatus  int
		wantMessage string
	}{
		{
			name:       "valid",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, admin, valid),
			wantStatus: 200,
		},
		{
			name:       "valid with signed query",
			giveMethod: "GET", givePath: "/v2/api-key?b=2&a=1",
			prepare:    signedUntil(t, admin, valid),
			wantStatus: 200,
		},
		{
			name:       "expires now is still valid",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, admin, now),
			wantStatus: 200,
		},
		{
			name:       "missing header",
			giveMethod: "GET", givePath: "/v2/api-key",
			wantStatus: 403, wantMessage: "Invalid request signature: missing Authorization header",
		},
		{
			name:       "malformed header",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") },
			wantStatus: 403, wantMessage: "Invalid request signature: malformed Authorization header",
		},
		{
			name:       "wrong secret",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, exosim.Credential{Key: admin.Key, Secret: admin.Secret + "x"}, valid),
			wantStatus: 403, wantMessage: "Invalid request signature",
		},
		{
			name:       "unknown credential",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, exosim.Credential{Key: "EXO000000000000000000000000", Secret: admin.Secret}, valid),
			wantStatus: 403, wantMessage: "Invalid request signature: unknown or deleted API key",
		},
		{
			name:       "deleted credential",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, exosim.Credential{Key: deleted.Key, Secret: deleted.Secret}, valid),
			wantStatus: 403, wantMessage: "Invalid request signature: unknown or deleted API key",
		},
		{
			name:       "expired",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare:    signedUntil(t, admin, now.Add(-time.Second)),
			wantStatus: 403, wantMessage: "Invalid request signature: request expired",
		},
		{
			name:       "tampered body",
			giveMethod: "POST", givePath: "/v2/api-key", giveBody: createBody,
			prepare: func(r *http.Request) {
				signedUntil(t, admin, valid)(r)
				evil := strings.Replace(createBody, exosim.CIRoleID, exosim.AdminRoleID, 1)
				r.Body = io.NopCloser(strings.NewReader(evil))
				r.ContentLength = int64(len(evil))
			},
			wantStatus: 403, wantMessage: "Invalid request signature",
		},
		{
			name:       "tampered path",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare: func(r *http.Request) {
				signedUntil(t, admin, valid)(r)
				r.URL.Path = "/v2/iam-role"
			},
			wantStatus: 403, wantMessage: "Invalid request signature",
		},
		{
			name:       "tampered method",
			giveMethod: "GET", givePath: "/v2/api-key/" + admin.Key,
			prepare: func(r *http.Request) {
				signedUntil(t, admin, valid)(r)
				r.Method = "DELETE"
			},
			wantStatus: 403, wantMessage: "Invalid request signature",
		},
		{
			name:       "unsigned query parameter added",
			giveMethod: "GET", givePath: "/v2/api-key",
			prepare: func(r *http.Request) {
				signedUntil(t, admin, valid)(r)
				r.URL.RawQuery = "extra=1"
			},
			wantStatus: 403, wantMessage: "Invalid request signature: signed-query-args do not match the query",
		},
		{
			name:       "query value changed",
			giveMethod: "GET", givePath: "/v2/api-key?a=1",
			prepare: func(r *http.Request) {
				signedUntil(t, admin, valid)(r)
				r.URL.RawQuery = "a=2"
			},
			wantStatus: 403, wantMessage: "Invalid request signature",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := send(t, srv, tt.giveMethod, tt.givePath, tt.giveBody, tt.prepare)
			if resp.status != tt.wantStatus {
				t.Fatalf("status %d (%q), want %d", resp.status, resp.message(), tt.wantStatus)
			}
			if tt.wantMessage != "" && resp.message() != tt.wantMessage {
				t.Errorf("message %q, want %q", resp.message(), tt.wantMessage)
			}
		})
	}
	if n := len(srv.Keys()); n != 5 {
		t.Errorf("refused requests changed the keys: %d records, want 5", n)
	}
	if !srv.Authenticate(admin.Key, admin.Secret) {
		t.Error("the admin lost its key: a tampered DELETE went through")
	}
}

// Listing zones is unsigned in the SDK, so the simulator must not ask.
func TestZonesNeedNoSignature(t *testing.T) {
	srv, _ := start(t)
	resp := send(t, srv, "GET", "/v2/zone", "", nil)
	if resp.status != 200 {
		t.Fatalf("status %d, want 200", resp.status)
	}
	zones, _ := resp.body["zones"].([]any)
	if len(zones) != 8 {
		t.Fatalf("%d zones, want 8", len(zones))
	}
	first, _ := zones[0].(map[string]any)
	if first["name"] != "ch-gva-2" || first["api-endpoint"] != srv.Endpoint || first["sos-endpoint"] == "" {
		t.Errorf("first zone = %v", first)
	}
}

// Without WithZoneEndpoint, the zone endpoint comes from the Host header.
func TestZoneEndpointFromHost(t *testing.T) {
	sim, err := exosim.New(exosim.DefaultSeed())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", "http://sim.example:8080/v2/zone", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{header: http.Header{}}
	sim.ServeHTTP(rec, req)
	if rec.status != 200 || !bytes.Contains(rec.body.Bytes(), []byte(`"api-endpoint":"http://sim.example:8080/v2"`)) {
		t.Errorf("status %d body %s", rec.status, rec.body.String())
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func TestRouting(t *testing.T) {
	srv, _ := start(t)
	tests := []struct {
		giveMethod string
		givePath   string
		wantStatus int
		wantAllow  string
	}{
		{giveMethod: "GET", givePath: "/v2/nothing", wantStatus: 404},
		{giveMethod: "GET", givePath: "/v2/api-key/", wantStatus: 404},
		{giveMethod: "GET", givePath: "/v2/api-key/a/b", wantStatus: 404},
		{giveMethod: "GET", givePath: "/elsewhere", wantStatus: 404},
		{giveMethod: "GET", givePath: "/_sim/nothing", wantStatus: 404},
		{giveMethod: "PUT", givePath: "/v2/api-key", wantStatus: 405, wantAllow: "GET, POST"},
		{giveMethod: "POST", givePath: "/v2/api-key/EXO000000000000000000000000", wantStatus: 405, wantAllow: "DELETE, GET"},
		{giveMethod: "DELETE", givePath: "/v2/zone", wantStatus: 405, wantAllow: "GET"},
		{giveMethod: "PUT", givePath: "/_sim/keys", wantStatus: 405, wantAllow: "GET, POST"},
		{giveMethod: "GET", givePath: "/_sim/keys/EXO0", wantStatus: 405, wantAllow: "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.giveMethod+" "+tt.givePath, func(t *testing.T) {
			resp := send(t, srv, tt.giveMethod, tt.givePath, "", nil)
			if resp.status != tt.wantStatus || resp.message() == "" {
				t.Fatalf("status %d message %q, want %d and a message", resp.status, resp.message(), tt.wantStatus)
			}
			if got := resp.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}
