package exosim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"github.com/exoscale/egoscale/v3/credentials"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
)

// clientAs is the SDK client of srv's admin with a User-Agent of its own.
func clientAs(t *testing.T, srv *exosim.Server, ua string) *v3.Client {
	t.Helper()
	admin := srv.Admin()
	c, err := v3.NewClient(credentials.NewStaticCredentials(admin.Key, admin.Secret),
		v3.ClientOptWithEndpoint(v3.Endpoint(srv.Endpoint)),
		v3.ClientOptWithHTTPClient(exosimtest.HTTPClient(t)),
		v3.ClientOptWithUserAgent(ua))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getRequests calls GET /_sim/requests with query and decodes the answer.
func getRequests(t *testing.T, srv *exosim.Server, query string) exosim.RequestLog {
	t.Helper()
	resp, err := exosimtest.HTTPClient(t).Get(srv.URL + "/_sim/requests" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sim/requests%s: %s", query, resp.Status)
	}
	var out exosim.RequestLog
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRequestLog: every API call is logged with its operation, path,
// signing key, User-Agent, arrival and answer; the control endpoint
// selects writes, operations, a User-Agent and calls after a sequence
// number, and DELETE empties the log.
func TestRequestLog(t *testing.T) {
	srv, _ := start(t)
	before := time.Now()
	a, b := clientAs(t, srv, "rotatord/test replica/a"), clientAs(t, srv, "rotatord/test replica/b")

	if _, err := a.ListAPIKeys(ctx(t)); err != nil {
		t.Fatal(err)
	}
	created, err := a.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "logged", RoleID: exosim.CIRoleID})
	if err != nil {
		t.Fatal(err)
	}
	op, err := b.DeleteAPIKey(ctx(t), created.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx(t), op, v3.OperationStateSuccess); err != nil {
		t.Fatal(err)
	}
	// Unsigned, with a bad path id: logged too (403).
	if resp := send(t, srv, "GET", "/v2/api-key/EXO1", "", nil); resp.status != 403 {
		t.Fatalf("unsigned GET: %d", resp.status)
	}

	all := srv.Requests(exosim.RequestFilter{})
	var ops []string
	for i, r := range all.Requests {
		ops = append(ops, r.Op)
		if r.Seq != i+1 {
			t.Errorf("request %d: seq %d", i, r.Seq)
		}
		if r.Received.Before(before) || r.Answered.Before(r.Received) || r.Status == 0 {
			t.Errorf("request %+v: received %v, answered %v, status %d", r, r.Received, r.Answered, r.Status)
		}
	}
	if got := strings.Join(ops, " "); !strings.HasPrefix(got, "list-api-keys create-api-key delete-api-key") ||
		!strings.HasSuffix(got, " get-api-key") {
		t.Fatalf("logged ops %q", got)
	}
	if all.Dropped != 0 {
		t.Errorf("dropped %d", all.Dropped)
	}

	writes := getRequests(t, srv, "?writes=1")
	if len(writes.Requests) != 2 {
		t.Fatalf("writes: %+v", writes.Requests)
	}
	create, del := writes.Requests[0], writes.Requests[1]
	if create.Op != exosim.OpCreateAPIKey || create.Method != "POST" || create.Path != "/v2/api-key" ||
		create.Key != srv.Admin().Key || !strings.HasPrefix(create.UserAgent, "rotatord/test replica/a") || create.Status != 200 || !create.Write() {
		t.Errorf("create logged as %+v", create)
	}
	if del.Op != exosim.OpDeleteAPIKey || del.Method != "DELETE" || del.Path != "/v2/api-key/"+created.Key ||
		!strings.Contains(del.UserAgent, "replica/b") || del.Status != 200 || del.Received.Before(create.Answered) {
		t.Errorf("delete logged as %+v", del)
	}
	unsigned := all.Requests[len(all.Requests)-1]
	if unsigned.Key != "" || unsigned.Status != 403 {
		t.Errorf("unsigned call logged as %+v", unsigned)
	}

	tests := []struct {
		query string
		want  []string // ops
	}{
		{"?user_agent=replica/b&writes=true", []string{"delete-api-key"}},
		{"?op=create-api-key,list-api-keys", []string{"list-api-keys", "create-api-key"}},
		{"?op=create-api-key&op=list-api-keys", []string{"list-api-keys", "create-api-key"}},
		{"?after=2&op=create-api-key,delete-api-key", []string{"delete-api-key"}},
		{"?user_agent=nobody", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range getRequests(t, srv, tt.query).Requests {
			got = append(got, r.Op)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("GET /_sim/requests%s: ops %v, want %v", tt.query, got, tt.want)
		}
	}

	for _, q := range []string{"?op=nope", "?writes=maybe", "?after=-1", "?after=x", "?colour=red", "?org=default"} {
		if resp := send(t, srv, "GET", "/_sim/requests"+q, "", nil); resp.status != 400 || resp.message() == "" {
			t.Errorf("GET /_sim/requests%s: %d %q, want 400 with a message", q, resp.status, resp.message())
		}
	}
	if resp := send(t, srv, "POST", "/_sim/requests", "{}", nil); resp.status != 405 {
		t.Errorf("POST /_sim/requests: %d, want 405", resp.status)
	}

	last := all.Requests[len(all.Requests)-1].Seq
	if resp := send(t, srv, "DELETE", "/_sim/requests", "", nil); resp.status != 200 {
		t.Fatalf("DELETE /_sim/requests: %d", resp.status)
	}
	if got := srv.Requests(exosim.RequestFilter{}).Requests; len(got) != 0 {
		t.Fatalf("after DELETE: %d requests", len(got))
	}
	if _, err := a.ListAPIKeys(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests(exosim.RequestFilter{}).Requests; len(got) != 1 || got[0].Seq != last+1 {
		t.Errorf("after DELETE and a call: %+v, want one with seq %d", got, last+1)
	}
}

// TestRequestLogPendingAndLost: a call held by a latency fault is logged
// at its arrival, pending (no answer, status 0) until answered; a call
// whose response is lost is answered with status 0; a call the client
// abandons during the latency too.
func TestRequestLogPendingAndLost(t *testing.T) {
	srv, _ := start(t)
	c := clientAs(t, srv, "slow-client")
	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{Latency: 500 * time.Millisecond})

	done := make(chan error, 1)
	sent := time.Now()
	go func() {
		_, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "slow", RoleID: exosim.CIRoleID})
		done <- err
	}()
	waitFor(t, "the create to be logged", func() bool {
		return len(srv.Requests(exosim.RequestFilter{Writes: true}).Requests) == 1
	})
	pending := srv.Requests(exosim.RequestFilter{Writes: true}).Requests[0]
	if pending.Status != 0 || !pending.Answered.IsZero() || !strings.HasPrefix(pending.UserAgent, "slow-client") {
		t.Errorf("pending create logged as %+v", pending)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := srv.Requests(exosim.RequestFilter{Writes: true}).Requests[0]
	if got.Status != 200 || got.Answered.Sub(got.Received) < 500*time.Millisecond || got.Received.Sub(sent) > 400*time.Millisecond {
		t.Errorf("slow create: received %v after sending, answered %v after arrival (latency 500ms), status %d",
			got.Received.Sub(sent), got.Answered.Sub(got.Received), got.Status)
	}

	srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{LoseResponseNext: 1})
	if _, err := c.CreateAPIKey(ctx(t), v3.CreateAPIKeyRequest{Name: "lost", RoleID: exosim.CIRoleID}); err == nil {
		t.Fatal("a create whose response is lost succeeded")
	}
	writes := srv.Requests(exosim.RequestFilter{Writes: true}).Requests
	if lost := writes[len(writes)-1]; lost.Status != 0 || lost.Answered.IsZero() {
		t.Errorf("lost create logged as %+v", lost)
	}

	srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{Latency: 2 * time.Second})
	short := exosimtest.HTTPClient(t)
	short.Timeout = 100 * time.Millisecond
	req, _ := http.NewRequest("GET", srv.Endpoint+"/api-key", nil)
	if resp, err := short.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a call held 2s answered within 100ms")
	}
	waitFor(t, "the abandoned list to be answered", func() bool {
		l := srv.Requests(exosim.RequestFilter{Ops: []string{exosim.OpListAPIKeys}}).Requests
		return len(l) == 1 && !l[0].Answered.IsZero()
	})
	if l := srv.Requests(exosim.RequestFilter{Ops: []string{exosim.OpListAPIKeys}}).Requests[0]; l.Status != 0 {
		t.Errorf("abandoned list logged as %+v", l)
	}
}
