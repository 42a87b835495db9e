package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SIGTERM while `rotatord run` starts ends it, whatever the start waits
// on. It did not: run takes SIGINT and SIGTERM from its first moment (to
// stop cleanly later), but nothing looked at them until the start was
// done, so a start held by a blocking read or an API server that does not
// answer kept the process running after the signal. Here the start waits
// on the Kubernetes state backend's API server, which takes the request
// and never answers.
func TestSIGTERMWhileRunStartsEndsIt(t *testing.T) {
	e := newEnv(t)
	seen := make(chan struct{}, 1)
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); api.Close() })
	kc := filepath.Join(e.dir, "kubeconfig")
	writeFile(t, kc, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+api.URL+`"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`, 0o600)
	writeFileAtomic(t, e.config, strings.Replace(e.policyFile(`  - name: ci
    match: {name: ci-*}
    schedule: "@every 1h"
    sinks:
      - {type: file, path: "$OUT/{{.Name}}.json"}
`), "state_dir:", "state: {backend: kubernetes, namespace: rotatord, kubeconfig: "+kc+"}\nstate_dir:", 1))

	stdoutPath, stderrPath := e.logPaths("run")
	stdout, stderr := createFile(t, stdoutPath), createFile(t, stderrPath)
	defer stdout.Close()
	defer stderr.Close()
	d := &daemonProc{t: t, e: e, stderrPath: stderrPath, done: make(chan struct{})}
	d.cmd = exec.Command(rotatordBin, "run", "--config", e.config)
	d.cmd.Stdout, d.cmd.Stderr = stdout, stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.cmd.Wait()
		d.exitCode = d.cmd.ProcessState.ExitCode()
		close(d.done)
	}()
	t.Cleanup(func() {
		if d.running() {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
	select {
	case <-seen: // the start waits on the API server
	case <-d.done:
		t.Fatalf("rotatord exited (%d) before asking the API server:\n%s", d.exitCode, d.stderr())
	case <-time.After(time.Minute):
		t.Fatalf("rotatord never asked the API server:\n%s", d.stderr())
	}
	d.signal(syscall.SIGTERM)
	// The API server still holds the start's request: only the signal
	// can end the process now. (client-go gives up on its own after 30 s,
	// and the start then fails with exit status 1.)
	code := d.waitExit(2 * time.Minute)
	if code != 0 {
		t.Fatalf("rotatord exited %d after SIGTERM during its start, want 0:\n%s", code, d.stderr())
	}
	if _, ok := findLog(d.logs(), "rotatord stopped during start-up"); !ok {
		t.Fatalf("no log that the signal stopped the start:\n%s", d.stderr())
	}
}

// A named pipe at a Kubernetes sink's kubeconfig: validate reported the
// file valid (it did not check kubeconfigs), and `rotatord run` hung at
// its start in client-go's blocking read. validate now reports it on the
// field, and run refuses to start, both naming the file.
func TestNamedPipeAsKubeconfigIsRefusedByValidateAndRun(t *testing.T) {
	e := newEnv(t)
	// A directory whose name does not look like a secret, which errors
	// would not show (secret.ShownPath).
	dir, err := os.MkdirTemp("", "kube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	kc := filepath.Join(dir, "kc")
	if err := syscall.Mkfifo(kc, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	e.writePolicy(`  - name: ci
    match: {name: ci-*}
    schedule: "@every 1h"
    sinks:
      - {type: kubernetes, namespace: apps, name: "exo-{{.Name}}", kubeconfig: ` + kc + `}
`)
	for _, cmd := range []string{"validate", "run"} {
		r := e.rotatord(cmd)
		if r.code == 0 || !strings.Contains(r.stderr, kc) || !strings.Contains(r.stderr, "not a regular file") {
			t.Errorf("want %s to fail naming %s: not a regular file\n%s", cmd, kc, r)
		}
		if cmd == "validate" && !strings.Contains(r.stderr, "policies[0].sinks[0].kubeconfig") {
			t.Errorf("validate does not name the field\n%s", r)
		}
	}
}
