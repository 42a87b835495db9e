package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/daemon"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks/vault/vaulttest"
)

// TestMain lets the test binary stand in for the bench binary when the
// smoke run times a listing in a fresh process (coldListing).
func TestMain(m *testing.M) {
	if coldListingChild() {
		return
	}
	os.Exit(m.Run())
}

// TestSmoke runs the benchmark program with N=20 and a short idle window,
// and checks only that it prints a summary line of sane numbers: timings
// on a shared machine are not something a test can assert. That every
// pass rotated every name is checked by the program itself (it fails
// otherwise).
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries; skipped with -short")
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"-smoke", "-idle", "1s"}, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	last := string(lines[len(lines)-1])
	t.Logf("%s", stdout.String())
	m := regexp.MustCompile(`^bench: n=20 (.*)$`).FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q is not the summary", last)
	}
	// Without a Vault binary the Vault figures (the first writes and the
	// steady state) are NaN, and the program says why on stderr.
	vaultBin, _ := vaulttest.Find()
	fields := regexp.MustCompile(`(\w+)=(\S+)`).FindAllStringSubmatch(m[1], -1)
	want := []string{"pass_vs_bound", "naive_vs_rotatord_wall", "naive_vs_rotatord_requests",
		"cpu_ms_per_rotation", "peak_rss_mb", "durable_share", "idle_rss_mb", "idle_cpu_pct", "metrics_ms", "metrics_default_client_ms",
		"rate_pass_vs_bound", "server_limit_rate_ratio", "server_limit_429_share", "server_limit_429s",
		"server_in_flight_vs_bound", "server_in_flight_429_share",
		"big_org_pass_vs_bound", "big_org_vs_small_org", "noop_vs_listing", "once_noop_vs_cold_listing", "deletion_delay_ms",
		"vault_cpu_ms_per_rotation", "vault_steady_cpu_ms_per_rotation", "cpu_floor_ms_per_rotation", "cpu_vs_floor",
		"api_floor_ms_per_rotation", "api_floor_vs_bound",
		"daemon_pass_vs_bound", "daemon_cpu_ms_per_rotation", "daemon_peak_rss_mb",
		"pass_server_in_flight", "pass_server_ms_per_call", "cswitch_per_rotation", "cpu_us_per_cswitch",
		"tls_cpu_ms_per_rotation", "tls_pass_vs_bound"}
	got := map[string]float64{}
	for _, f := range fields {
		v, err := strconv.ParseFloat(f[2], 64)
		vaultFigure := f[1] == "vault_cpu_ms_per_rotation" || f[1] == "vault_steady_cpu_ms_per_rotation"
		vaultAbsent := vaultFigure && vaultBin == "" && math.IsNaN(v)
		if err != nil || (math.IsNaN(v) && !vaultAbsent) || math.IsInf(v, 0) {
			t.Errorf("%s=%s is not a finite number", f[1], f[2])
		}
		got[f[1]] = v
	}
	if vaultBin == "" && !bytes.Contains(stderr.Bytes(), []byte("no Vault pass")) {
		t.Errorf("no Vault binary, and stderr does not say so:\n%s", stderr.String())
	}
	for _, k := range want {
		v, ok := got[k]
		switch {
		case !ok:
			t.Errorf("summary lacks %s", k)
		case math.IsNaN(v): // a Vault figure without Vault, allowed above
		case k == "durable_share" || k == "idle_cpu_pct":
			// A difference of two timings, and an idle process's CPU:
			// either may round to zero or below.
			if v < -1 || v > 100 {
				t.Errorf("%s=%v out of range", k, v)
			}
		case k == "server_limit_429_share" || k == "server_in_flight_429_share":
			// The smoke pass is shorter than the limit's burst: there
			// may be no 429 at all.
			if v < 0 || v > 1 {
				t.Errorf("%s=%v, want a share from 0 to 1", k, v)
			}
		case k == "server_limit_429s" || k == "deletion_delay_ms":
			// A count that may be 0, and a delay rounded to the ms.
			if v < 0 {
				t.Errorf("%s=%v, want >= 0", k, v)
			}
		case v <= 0:
			t.Errorf("%s=%v, want > 0", k, v)
		}
	}
}

// BenchmarkForcedPass runs forced passes in-process (engine, API client,
// state store on disk, file sink) against an in-process simulator, so that
// `go test -bench ForcedPass -cpuprofile cpu.out ./bench` shows where a
// pass spends its time. BENCH_LATENCY (default 0) adds latency to every
// API request; -benchtime=Nx sets the number of passes.
func BenchmarkForcedPass(b *testing.B) {
	latency := time.Duration(0)
	if v := os.Getenv("BENCH_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		latency = d
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			seed := exosim.Seed{Roles: []exosim.Role{
				{ID: exosim.AdminRoleID, Name: "admin"}, {ID: exosim.CIRoleID, Name: "ci"},
			}}
			for i := range n {
				seed.Keys = append(seed.Keys, exosim.SeedKey{Name: keyName(i), Role: "ci"})
			}
			srv, err := exosim.Start(seed, "")
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			if latency > 0 {
				for _, op := range simOps {
					srv.SetFault(op, exosim.Fault{Latency: latency})
				}
			}
			dir := b.TempDir()
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o700); err != nil {
				b.Fatal(err)
			}
			secretFile := filepath.Join(dir, "secret")
			if err := os.WriteFile(secretFile, []byte(srv.Admin().Secret), 0o600); err != nil {
				b.Fatal(err)
			}
			policy := filepath.Join(dir, "policy.yml")
			err = os.WriteFile(policy, []byte(fmt.Sprintf(`exoscale:
  endpoint: %s
  api_key: %s
  api_secret_file: %s
  rate_limit: 100000
state_dir: %s
policies:
  - name: bench
    match: {name: "%s*"}
    grace_period: 0
    sinks:
      - type: file
        path: "%s/{{.Name}}.json"
`, srv.Endpoint, srv.Admin().Key, secretFile, filepath.Join(dir, "state"), keyPrefix, out)), 0o600)
			if err != nil {
				b.Fatal(err)
			}
			// The JSON logger of the binary, writing nowhere: its cost counts.
			enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
			log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel))
			reg := prometheus.NewRegistry()
			d, err := daemon.New(daemon.Options{ConfigPath: policy, Logger: log, Registry: reg})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			ctx := context.Background()
			if _, err := d.RunPass(ctx, nil, rotation.Options{IgnoreBackoff: true}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				out, err := d.RunPass(ctx, nil, rotation.Options{Force: true, IgnoreBackoff: true})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					if o.Err != nil {
						b.Fatalf("%s: %v", o.Name, o.Err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*n), "ms/rotation")
			// The mean latency of an API request as the client sees it,
			// against the latency the simulator adds.
			if mfs, err := reg.Gather(); err == nil {
				var sum float64
				var count uint64
				for _, mf := range mfs {
					if mf.GetName() == "rotatord_api_request_duration_seconds" {
						for _, m := range mf.GetMetric() {
							sum += m.GetHistogram().GetSampleSum()
							count += m.GetHistogram().GetSampleCount()
						}
					}
				}
				if count > 0 {
					b.ReportMetric(sum/float64(count)*1000, "ms/request")
				}
			}
			if latency > 0 {
				bound := latency * time.Duration(1+3*n/4)
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(bound), "pass/bound")
			}
		})
	}
}
