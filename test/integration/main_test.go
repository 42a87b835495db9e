package integration

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// minParallel is the least number of tests run at once.
const minParallel = 4

var (
	// raceEnabled is set by race_test.go when the test binary is built
	// with -race; the binaries under test are then built with it too.
	raceEnabled bool
	// Paths of the binaries built by TestMain; empty under -short.
	rotatordBin, exosimBin string
)

// TestMain builds rotatord and exosim once for every test. Under -short it
// builds nothing, and every test skips itself (see newEnv).
func TestMain(m *testing.M) {
	flag.Parse()
	// The scenarios run policies every second; rotatord refuses schedules
	// below 10 s unless told otherwise, and only tests tell it.
	os.Setenv("ROTATORD_TEST_MIN_SCHEDULE", "1s")
	if testing.Short() {
		os.Exit(m.Run())
	}
	// The tests mostly wait for processes and timers, not the CPU: run
	// more of them at once than -parallel's default of GOMAXPROCS, unless
	// -parallel was given.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && runtime.GOMAXPROCS(0) < minParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(minParallel))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rotatord-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	rotatordBin = filepath.Join(dir, "rotatord")
	exosimBin = filepath.Join(dir, "exosim")
	if raceEnabled && os.Getenv("GORACE") == "" {
		// A race-enabled binary sleeps 1s at exit by default, so that late
		// reports get out; every command would take a second longer.
		// Children inherit this; the test process read GORACE at start.
		os.Setenv("GORACE", "atexit_sleep_ms=100")
	}

	code := m.Run()
	if code == 0 {
		// Every process, HTTP connection and reader a test started must be
		// gone by now.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: leaked goroutines:", err)
			code = 1
		}
	}
	return code
}

// buildBinaries runs `go build` for both commands into dir.
func buildBinaries(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator), "./cmd/rotatord", "./cmd/exosim")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}
