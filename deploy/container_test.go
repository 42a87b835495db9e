package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/internal/version"
)

const (
	dockerfile       = "container/Dockerfile"
	dockerignore     = "container/Dockerfile.dockerignore"
	containerConfig  = "container/rotatord.yml"
	containerPort    = "9108"
	stateVolume      = "/var/lib/rotatord"
	imageBinary      = "/rotatord"
	imageConfigFlags = "run --config.file /etc/rotatord/rotatord.yml"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and the instructions that follow it.
type stage struct {
	image, name string
	ins         []instruction
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// parseDockerfile splits a Dockerfile into stages. It knows comments,
// parser directives and backslash continuations, which is all this
// Dockerfile uses.
func parseDockerfile(t *testing.T, data []byte) []stage {
	t.Helper()
	var stages []stage
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s: %s before the first FROM", dockerfile, in.cmd)
			}
			return
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return stages
}

// jsonArgs decodes the exec (JSON array) form of ENTRYPOINT or CMD.
func jsonArgs(t *testing.T, cmd, s string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s %s: want the exec form, a JSON array: %v", cmd, s, err)
	}
	return v
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, readFile(t, dockerfile))
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	if !strings.HasPrefix(build.image, "golang:1.26") || build.name == "" {
		t.Errorf("build stage FROM %s AS %q, want golang:1.26 with a name", build.image, build.name)
	}
	var buildCmd string
	for _, r := range build.all("RUN") {
		if strings.Contains(r, "go build") {
			buildCmd = r
		}
	}
	versionVar := pkgPath(version.String) + ".Version="
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "-s -w", "-X " + versionVar, "./cmd/rotatord"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("the go build command %q lacks %q", buildCmd, want)
		}
	}
	out := fieldAfter(buildCmd, "-o")
	if out == "" {
		t.Fatalf("the go build command %q names no output (-o)", buildCmd)
	}

	if !(strings.HasPrefix(final.image, "gcr.io/distroless/static") && strings.HasSuffix(final.image, ":nonroot")) && final.image != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static :nonroot or scratch", final.image)
	}
	copied := false
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if slices.Contains(f, "--from="+build.name) && f[len(f)-2] == out && f[len(f)-1] == imageBinary {
			copied = true
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=%s %s %s", build.name, out, imageBinary)
	}

	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("final stage: no USER, the image would run as root")
	}
	uid, gid, _ := strings.Cut(users[len(users)-1], ":")
	if uid != "65532" || (gid != "" && gid != "65532") {
		t.Errorf("USER %s, want 65532:65532 (distroless nonroot; never root)", users[len(users)-1])
	}
	if v := final.all("VOLUME"); !slices.ContainsFunc(v, func(s string) bool { return slices.Contains(volumeList(t, s), stateVolume) }) {
		t.Errorf("VOLUME %q, want %s", v, stateVolume)
	}
	stateCopied := false
	for _, c := range final.all("COPY") {
		f := strings.Fields(c)
		if f[len(f)-1] == stateVolume && slices.Contains(f, "--chown=65532:65532") {
			stateCopied = true
		}
	}
	if !stateCopied {
		t.Errorf("the final stage does not create %s owned by 65532 (COPY --chown=65532:65532 ... %s): a new volume would be root's", stateVolume, stateVolume)
	}
	if v := final.all("EXPOSE"); !slices.Contains(v, containerPort) {
		t.Errorf("EXPOSE %q, want %s", v, containerPort)
	}
	ep := final.all("ENTRYPOINT")
	if len(ep) != 1 || !slices.Equal(jsonArgs(t, "ENTRYPOINT", ep[0]), []string{imageBinary}) {
		t.Errorf("ENTRYPOINT %q, want [%q]", ep, imageBinary)
	}
	cmd := final.all("CMD")
	if len(cmd) != 1 || !slices.Equal(jsonArgs(t, "CMD", cmd[0]), strings.Fields(imageConfigFlags)) {
		t.Errorf("CMD %q, want %q", cmd, strings.Fields(imageConfigFlags))
	}
}

// TestContainerConfig checks the example policy file for the image: it
// listens on every address, at the exposed port, and keeps its state in
// the image's volume.
func TestContainerConfig(t *testing.T) {
	cfg := parsePolicy(t, readFile(t, containerConfig), containerConfig)
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("listen %q: in a container, want every address (\":%s\")", cfg.Listen, containerPort)
	}
	if port != containerPort {
		t.Errorf("listen port %s, want the exposed %s", port, containerPort)
	}
	if cfg.StateDir != stateVolume {
		t.Errorf("state_dir %q, want the image's volume %s", cfg.StateDir, stateVolume)
	}
	if cfg.Exoscale.APIKey != "" || !cfg.Exoscale.APISecret.IsZero() {
		t.Error("inline api_key or api_secret: the example must use credential files")
	}
}

// TestDockerignore checks that the build context keeps what the build needs.
func TestDockerignore(t *testing.T) {
	var patterns []string
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, dockerignore)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, need := range []string{"go.mod", "go.sum", "cmd", "cmd/rotatord/main.go", "internal/version/version.go", "config/config.go"} {
		for _, p := range patterns {
			if ok, _ := filepath.Match(strings.TrimPrefix(p, "**/"), need); ok {
				t.Errorf("%s: %q excludes %s, which the build needs", dockerignore, p, need)
			}
		}
	}
}

// pkgPath returns the import path of the package that defines fn.
func pkgPath(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	return name[:strings.LastIndex(name, ".")]
}

// fieldAfter returns the field that follows flag in a command line.
func fieldAfter(cmd, flag string) string {
	f := strings.Fields(cmd)
	if i := slices.Index(f, flag); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}

// volumeList decodes VOLUME's JSON array or space-separated form.
func volumeList(t *testing.T, s string) []string {
	if strings.HasPrefix(s, "[") {
		return jsonArgs(t, "VOLUME", s)
	}
	var out []string
	for _, f := range strings.Fields(s) {
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		out = append(out, f)
	}
	return out
}
