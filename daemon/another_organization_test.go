package daemon

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/apiclient/exosim/exosimtest"
	"github.com/rotatord/rotatord/rotation"
)

// An operator who points rotatord's state at another organization's
// credential (a staging file copied beside production's journal, two
// accounts' secrets swapped) must not get a destructive pass: the keys of
// the journal's names are gone from that organization's listing, and
// keys of the same names (conventions are shared) are listed instead.
// That organization's other names (ci-green-only) would be adopted and,
// with adopt: rotate, rotated into this policy's sinks, their consumers'
// keys deleted after the grace period. The listing shares no key and no
// role with the journal: the pass refuses it, saying so, and no key is
// made or deleted in either organization, and the sinks keep the keys
// their consumers use.
//
// Also when the credential may not list the organization's roles (403 on
// GET /iam-role): list-iam-roles is not among the operations rotatord
// asks its role to allow, so a least-privilege credential of the other
// organization cannot tell by its roles either, and such a pass went on,
// adopting ci-green-only into the sinks.
func TestAnotherOrganizationsCredentialChangesNoKeyAndNoSink(t *testing.T) {
	for _, c := range []struct {
		grace          string
		rolesForbidden bool
	}{{"0s", false}, {"1h", false}, {"0s", true}, {"1h", true}} {
		grace := c.grace
		name := "grace_period " + grace
		if c.rolesForbidden {
			name += ", roles not readable"
		}
		t.Run(name, func(t *testing.T) {
			seed := exosim.DefaultSeed()
			seed.Organizations = []exosim.Organization{{
				Name:  "green",
				Roles: []exosim.Role{{ID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e01", Name: "admin"}, {ID: "9c3a1f0e-5b2d-4e8a-9f61-2d4b8c0a1e02", Name: "ci"}},
				Keys:  []exosim.SeedKey{{Name: "ci-runner", Role: "ci"}, {Name: "ci-deploy", Role: "ci"}, {Name: "ci-green-only", Role: "ci"}},
			}}
			sim := exosimtest.NewServer(t, seed)
			green := exosimtest.AdminOf(t, sim, "green")
			endpoint := sim.Endpoint
			if c.rolesForbidden {
				endpoint = forbidRoles(t, sim.Endpoint)
			}
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "out"), 0o700); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "rotatord.yml")
			use := func(cred exosim.Credential) *Daemon {
				t.Helper()
				if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(cred.Secret), 0o600); err != nil {
					t.Fatal(err)
				}
				body := fmt.Sprintf(policyTmpl, endpoint, cred.Key, "127.0.0.1:0", `  - name: ci
    match: {name: "ci-*"}
    grace_period: `+grace+`
    adopt: rotate
    sinks: [{type: file, path: "out/{{.Name}}.json"}]
`)
				if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				d, err := New(Options{ConfigPath: cfg, Logger: zap.NewNop()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				return d
			}
			d := use(sim.Admin())
			if _, err := d.RunPass(context.Background(), nil, rotation.Options{Force: true}); err != nil {
				t.Fatal(err)
			}
			d.Close()
			sinks := func() map[string]string {
				m := map[string]string{}
				for _, n := range []string{"ci-runner", "ci-deploy"} {
					b, err := os.ReadFile(filepath.Join(dir, "out", n+".json"))
					if err != nil {
						t.Fatal(err)
					}
					m[n] = string(b)
				}
				return m
			}
			alive := func() []string {
				var keys []string
				for _, k := range sim.Keys() {
					if k.Alive {
						keys = append(keys, k.Org+"/"+k.Name+"/"+k.Key)
					}
				}
				slices.Sort(keys)
				return keys
			}
			sinksBefore, aliveBefore := sinks(), alive()

			d = use(green)
			for range 2 {
				_, err := d.RunPass(context.Background(), nil, rotation.Options{})
				if err == nil || !strings.Contains(err.Error(), "another organization") {
					t.Errorf("a pass with another organization's credential: %v, want it refused as another organization's", err)
				}
			}
			if got := alive(); !slices.Equal(got, aliveBefore) {
				t.Errorf("passes with another organization's credential changed the live keys:\nbefore %v\nafter  %v", aliveBefore, got)
			}
			if got := sinks(); !maps.Equal(got, sinksBefore) {
				t.Errorf("passes with another organization's credential rewrote a sink")
			}
		})
	}
}

// The organization check must not stop the work of the journal's own
// organization: with every key the journal knows deleted by hand (a leak
// answered by deleting the CI keys) and no key of their role left, the
// listing shares nothing with the journal, but the organization still
// has the role. The next process's pass goes on, and a key made by hand
// afterwards is adopted and rotated into its sink.
func TestKeysDeletedByHandWithNoKeyOfTheirRoleLeftDoNotStopThePasses(t *testing.T) {
	e := newEnv(t)
	if _, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	e.d.Close()
	for _, k := range e.sim.Keys() {
		if k.Alive && strings.HasPrefix(k.Name, "ci-") {
			if err := e.sim.DeleteKey(k.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := New(Options{ConfigPath: e.config, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{}); err != nil {
		t.Fatalf("the pass after every ci key was deleted by hand: %v", err)
	}
	handMade, err := e.sim.CreateKey("ci-new", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunPass(context.Background(), []string{"ci"}, rotation.Options{}); err != nil {
		t.Fatalf("the pass after ci-new was made by hand: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "out", "ci-new.json"))
	if err != nil {
		t.Fatalf("ci-new, made by hand, was not adopted and rotated into its sink: %v", err)
	}
	if strings.Contains(string(b), handMade.Key) {
		t.Errorf("ci-new's sink holds the hand-made key %s, want its replacement (adopt: rotate)", handMade.Key)
	}
}

// forbidRoles serves endpoint's API, answering GET /iam-role 403 as the
// API does to a credential whose role does not allow list-iam-roles.
func forbidRoles(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/iam-role") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"message":"Forbidden"}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}
