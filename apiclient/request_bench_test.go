package apiclient

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/secret"
)

// BenchmarkGetKey: one request through the client, the SDK and the
// simulator, four at a time, as a pass's requests go. allocs/op counts
// what the client and net/http set up per request.
func BenchmarkGetKey(b *testing.B) {
	f := newFixture(b, func(c *Config) { c.RateLimit, c.Burst = 1e6, 1e6 })
	keys, err := f.client.ListKeys(context.Background())
	if err != nil || len(keys) == 0 {
		b.Fatalf("list: %v", err)
	}
	id := keys[0].ID
	b.SetParallelism(2) // 4 goroutines on 2 processors
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.client.GetKey(context.Background(), id); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCreateOverTLS: creates one after another over TLS, HTTP/1.1
// (each on a connection of its own: createOnOwnConn), against a server
// that lets the client resume its TLS session and one that refuses to (no
// session tickets): the two sub-benchmarks' ns/op, in one run, are what a
// resumed handshake saves per create, the server's side included (both
// ends run in this process).
func BenchmarkCreateOverTLS(b *testing.B) {
	for _, resume := range []bool{true, false} {
		name := "resumed"
		if !resume {
			name = "full-handshake"
		}
		b.Run(name, func(b *testing.B) {
			sim, err := exosim.New(exosim.DefaultSeed(), exosim.WithRand(1))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(sim)
			srv.TLS = &tls.Config{SessionTicketsDisabled: !resume}
			srv.StartTLS()
			defer srv.Close()
			cf := filepath.Join(b.TempDir(), "ca.pem")
			if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
				b.Fatal(err)
			}
			b.Setenv("SSL_CERT_FILE", cf)
			admin := sim.Admin()
			c, err := New(Config{
				Endpoint:    srv.URL + "/v2",
				Credentials: Credentials{Key: admin.Key, Secret: secret.Value(admin.Secret)},
				Timeout:     10 * time.Second, MaxRetries: -1,
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.CreateKey(context.Background(), "warm", exosim.CIRoleID); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.CreateKey(context.Background(), "bench", exosim.CIRoleID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
