package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The image built without a registry (issue 15): a FROM scratch
// Containerfile whose context deploy/container/build-image prepares.
const (
	containerfileScratch = "container/Containerfile.scratch"
	buildImageScript     = "container/build-image"
	imageUser            = 65532
)

// TestImageContainerfileMatchesDockerfile checks, without building
// anything, that the registry-free image is configured like the
// Dockerfile's: same user, volume, port, entrypoint and command, and no
// RUN (podman here can build, but not run containers).
func TestImageContainerfileMatchesDockerfile(t *testing.T) {
	scratch := parseDockerfile(t, readFile(t, containerfileScratch))
	if len(scratch) != 1 || scratch[0].image != "scratch" {
		t.Fatalf("%s: want one stage, FROM scratch", containerfileScratch)
	}
	s := scratch[0]
	if run := s.all("RUN"); len(run) > 0 {
		t.Errorf("%s: RUN %q: the build must not run a container", containerfileScratch, run)
	}
	if add := s.all("ADD"); !slices.Equal(add, []string{"rootfs.tar /"}) {
		t.Errorf("%s: ADD %q, want the one layer build-image prepares (ADD rootfs.tar /)", containerfileScratch, add)
	}
	if cp := s.all("COPY"); len(cp) > 0 {
		t.Errorf("%s: COPY %q: everything belongs in rootfs.tar, whose owners and modes build-image sets", containerfileScratch, cp)
	}
	docker := parseDockerfile(t, readFile(t, dockerfile))
	final := docker[len(docker)-1]
	for _, cmd := range []string{"USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "CMD"} {
		if got, want := s.all(cmd), final.all(cmd); !slices.Equal(got, want) {
			t.Errorf("%s: %s %q, but %s has %q", containerfileScratch, cmd, got, dockerfile, want)
		}
	}
}

// TestImage builds the image with podman (--isolation=chroot, nothing
// pulled) and checks what is in it without running it: the configuration,
// every file with its owner and mode, the binary (static, and it runs on
// the host), passwd, the CA certificates, no shell, no secret.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the image is not built")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		missingTool(t, "podman not found (Debian: apt-get install podman)")
	}
	id := randomHex(t)
	tag := "localhost/rotatord-imagetest:" + id
	want := "v0.0.0-imagetest-" + id
	archive := filepath.Join(t.TempDir(), "image.tar")
	t.Cleanup(func() {
		// When podman's default storage is unusable build-image uses a
		// temporary one, already gone: then there is nothing to remove.
		if out, err := exec.Command(podman, "rmi", "--force", tag).CombinedOutput(); err != nil {
			t.Logf("podman rmi %s: %v\n%s", tag, err, out)
		}
	})

	start := time.Now()
	cmd := exec.Command(buildImageScript, "--engine", "podman", "--tag", tag, "--version", want, "--output", archive)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", buildImageScript, err, out)
	}
	built := time.Since(start)

	img := readOCIArchive(t, archive)
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s: %d files, %d bytes unpacked, %d bytes as an OCI archive",
		tag, built.Round(time.Millisecond), len(img.files), img.size, fi.Size())

	checkImageConfig(t, img.config, want)
	checkImageFiles(t, img.files)
	checkImageBinary(t, img, want)
	checkImageUsers(t, img.files)
	checkImageCertificates(t, img.files)
}

// ociConfig is the part of an OCI image configuration the test reads.
type ociConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Env          []string            `json:"Env"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		WorkingDir   string              `json:"WorkingDir"`
		Volumes      map[string]struct{} `json:"Volumes"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
		Labels       map[string]string   `json:"Labels"`
	} `json:"config"`
}

// imageFile is one entry of the image's file system, its layers applied.
type imageFile struct {
	hdr  *tar.Header
	data []byte // regular files only
}

type ociImage struct {
	config ociConfig
	files  map[string]imageFile // by path, without the leading "/"
	size   int64                // regular files' bytes
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// readOCIArchive reads an OCI archive (podman image save --format
// oci-archive) holding one image: its configuration and its file system.
func readOCIArchive(t *testing.T, name string) ociImage {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, h.Name, err)
		}
		entries[path.Clean(h.Name)] = b
	}
	blob := func(d ociDescriptor) []byte {
		t.Helper()
		alg, hexSum, ok := strings.Cut(d.Digest, ":")
		if !ok || alg != "sha256" {
			t.Fatalf("%s: digest %q, want sha256:...", name, d.Digest)
		}
		b, ok := entries["blobs/sha256/"+hexSum]
		if !ok {
			t.Fatalf("%s: no blob %s", name, d.Digest)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hexSum || int64(len(b)) != d.Size {
			t.Fatalf("%s: blob %s does not match its digest or size", name, d.Digest)
		}
		return b
	}

	var index struct {
		Manifests []ociDescriptor `json:"manifests"`
	}
	if err := json.Unmarshal(entries["index.json"], &index); err != nil {
		t.Fatalf("%s: index.json: %v", name, err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("%s: %d manifests, want 1", name, len(index.Manifests))
	}
	var manifest struct {
		Config ociDescriptor   `json:"config"`
		Layers []ociDescriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(index.Manifests[0]), &manifest); err != nil {
		t.Fatalf("%s: manifest: %v", name, err)
	}
	var img ociImage
	if err := json.Unmarshal(blob(manifest.Config), &img.config); err != nil {
		t.Fatalf("%s: configuration: %v", name, err)
	}
	img.files = map[string]imageFile{}
	for _, l := range manifest.Layers {
		var r io.Reader = bytes.NewReader(blob(l))
		switch {
		case strings.HasSuffix(l.MediaType, ".tar+gzip") || strings.HasSuffix(l.MediaType, ".tar.gzip"):
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatalf("%s: layer %s: %v", name, l.Digest, err)
			}
			r = zr
		case strings.HasSuffix(l.MediaType, ".tar"):
		default:
			t.Fatalf("%s: layer %s has media type %s, which the test cannot read", name, l.Digest, l.MediaType)
		}
		applyLayer(t, img.files, r)
	}
	for _, f := range img.files {
		img.size += int64(len(f.data))
	}
	return img
}

// applyLayer adds a layer's entries to files, applying its whiteouts.
func applyLayer(t *testing.T, files map[string]imageFile, r io.Reader) {
	t.Helper()
	removeUnder := func(dir string) {
		for p := range files {
			if strings.HasPrefix(p, dir+"/") {
				delete(files, p)
			}
		}
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
		p := path.Clean(strings.TrimPrefix(h.Name, "/"))
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		switch {
		case base == ".wh..wh..opq":
			removeUnder(dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			delete(files, gone)
			removeUnder(gone)
			continue
		}
		f := imageFile{hdr: h}
		if h.Typeflag == tar.TypeReg {
			if f.data, err = io.ReadAll(tr); err != nil {
				t.Fatalf("layer: %s: %v", p, err)
			}
		}
		files[p] = f
	}
}

func checkImageConfig(t *testing.T, cfg ociConfig, wantVersion string) {
	t.Helper()
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("image for %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	c := cfg.Config
	// Numeric: Kubernetes' runAsNonRoot can only check a numeric user.
	uid, gid, _ := strings.Cut(c.User, ":")
	if u, err := strconv.Atoi(uid); err != nil || u != imageUser || (gid != "" && gid != strconv.Itoa(imageUser)) {
		t.Errorf("User %q, want %d:%d (numeric, not root)", c.User, imageUser, imageUser)
	}
	if !slices.Equal(c.Entrypoint, []string{imageBinary}) {
		t.Errorf("Entrypoint %q, want [%s]", c.Entrypoint, imageBinary)
	}
	if !slices.Equal(c.Cmd, strings.Fields(imageConfigFlags)) {
		t.Errorf("Cmd %q, want %q", c.Cmd, strings.Fields(imageConfigFlags))
	}
	if _, ok := c.Volumes[stateVolume]; !ok || len(c.Volumes) != 1 {
		t.Errorf("Volumes %v, want only %s", c.Volumes, stateVolume)
	}
	if _, ok := c.ExposedPorts[containerPort+"/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want only %s/tcp", c.ExposedPorts, containerPort)
	}
	if v := c.Labels["org.opencontainers.image.version"]; v != wantVersion {
		t.Errorf("label org.opencontainers.image.version %q, want %q", v, wantVersion)
	}
	// Podman adds PATH; anything else would be visible to anyone who can
	// inspect the image, and a credential must never be there.
	for _, e := range c.Env {
		if name, _, _ := strings.Cut(e, "="); name != "PATH" {
			t.Errorf("Env %s: the image sets no environment but PATH", name)
		}
	}
}

// wantImageFiles is the whole file system of the image, with owners and
// modes. Anything else (a shell, a package database, a policy file, a
// secret) is an error: add a file here only on purpose.
var wantImageFiles = map[string]struct {
	typ      byte
	mode     int64 // permission, setuid, setgid and sticky bits
	uid, gid int
}{
	"rotatord":                           {tar.TypeReg, 0o755, 0, 0},
	"etc":                                {tar.TypeDir, 0o755, 0, 0},
	"etc/passwd":                         {tar.TypeReg, 0o644, 0, 0},
	"etc/group":                          {tar.TypeReg, 0o644, 0, 0},
	"etc/ssl":                            {tar.TypeDir, 0o755, 0, 0},
	"etc/ssl/certs":                      {tar.TypeDir, 0o755, 0, 0},
	"etc/ssl/certs/ca-certificates.crt":  {tar.TypeReg, 0o644, 0, 0},
	"tmp":                                {tar.TypeDir, 0o1777, 0, 0},
	"home":                               {tar.TypeDir, 0o755, 0, 0},
	"home/nonroot":                       {tar.TypeDir, 0o700, imageUser, imageUser},
	"var":                                {tar.TypeDir, 0o755, 0, 0},
	"var/lib":                            {tar.TypeDir, 0o755, 0, 0},
	strings.TrimPrefix(stateVolume, "/"): {tar.TypeDir, 0o700, imageUser, imageUser},
}

func checkImageFiles(t *testing.T, files map[string]imageFile) {
	t.Helper()
	shells := []string{"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox", "toybox"}
	for _, p := range sortedKeys(files) {
		h := files[p].hdr
		base := path.Base(p)
		switch {
		case slices.Contains(shells, base):
			t.Errorf("/%s: a shell in the image", p)
		case h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink:
			t.Errorf("/%s: a link (to %s): the image has none", p, h.Linkname)
		case strings.HasPrefix(p, "etc/rotatord") || strings.HasPrefix(p, "run/") || strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".yaml"):
			t.Errorf("/%s: a policy file or secret baked into the image (they are mounted)", p)
		case strings.HasPrefix(p, strings.TrimPrefix(stateVolume, "/")+"/"):
			t.Errorf("/%s: the state directory must be empty in the image", p)
		case h.Typeflag == tar.TypeReg && p != strings.TrimPrefix(imageBinary, "/") && h.Mode&0o111 != 0:
			t.Errorf("/%s: executable (mode %04o): the only program is %s", p, h.Mode&0o7777, imageBinary)
		}
		if h.Mode&(0o4000|0o2000) != 0 {
			t.Errorf("/%s: setuid or setgid (mode %04o)", p, h.Mode&0o7777)
		}
		if h.Mode&0o002 != 0 && h.Mode&0o1000 == 0 {
			t.Errorf("/%s: writable by everyone without the sticky bit (mode %04o)", p, h.Mode&0o7777)
		}
		// The binary names PEM types; any other file must not hold a key.
		if h.Typeflag == tar.TypeReg && p != strings.TrimPrefix(imageBinary, "/") && bytes.Contains(files[p].data, []byte("PRIVATE KEY")) {
			t.Errorf("/%s holds a private key", p)
		}
		want, ok := wantImageFiles[p]
		if !ok {
			t.Errorf("/%s (type %q, mode %04o, %d:%d): not expected in the image", p, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid)
			continue
		}
		if h.Typeflag != want.typ || h.Mode&0o7777 != want.mode || h.Uid != want.uid || h.Gid != want.gid {
			t.Errorf("/%s: type %q, mode %04o, owner %d:%d; want type %q, mode %04o, owner %d:%d",
				p, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid, want.typ, want.mode, want.uid, want.gid)
		}
	}
	for p := range wantImageFiles {
		if _, ok := files[p]; !ok {
			t.Errorf("/%s: missing from the image", p)
		}
	}
}

// checkImageBinary checks that /rotatord is a static, stripped Go binary
// built as the Dockerfile builds it, then runs it on the host.
func checkImageBinary(t *testing.T, img ociImage, wantVersion string) {
	t.Helper()
	f, ok := img.files[strings.TrimPrefix(imageBinary, "/")]
	if !ok || f.hdr.Typeflag != tar.TypeReg {
		t.Fatalf("%s: not a regular file in the image", imageBinary)
	}
	ef, err := elf.NewFile(bytes.NewReader(f.data))
	if err != nil {
		t.Fatalf("%s: not an ELF file: %v", imageBinary, err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter (PT_INTERP): not static", imageBinary)
		}
	}
	if libs, err := ef.DynString(elf.DT_NEEDED); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q (%v): not static", imageBinary, libs, err)
	}
	if ef.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not stripped (-s)", imageBinary)
	}
	for _, s := range ef.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("%s has DWARF (%s): built without -w", imageBinary, s.Name)
			break
		}
	}
	ef.Close()

	bi, err := buildinfo.Read(bytes.NewReader(f.data))
	if err != nil {
		t.Fatalf("%s: no Go build information: %v", imageBinary, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if bi.Path != "github.com/rotatord/rotatord/cmd/rotatord" {
		t.Errorf("%s is %s, want github.com/rotatord/rotatord/cmd/rotatord", imageBinary, bi.Path)
	}
	// Go leaves -ldflags out of the build information of a -trimpath
	// build: -s and -w show as the missing symbol table and DWARF, and -X
	// as the version the binary prints below.
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": img.config.Architecture} {
		if settings[key] != want {
			t.Errorf("%s built with %s=%q, want %q", imageBinary, key, settings[key], want)
		}
	}
	// CRON_TZ needs time zones and the image has no /usr/share/zoneinfo.
	if !bytes.Contains(f.data, []byte("time/tzdata.")) {
		t.Errorf("%s does not embed time/tzdata, and the image has no zoneinfo", imageBinary)
	}

	if img.config.Architecture != runtime.GOARCH {
		t.Logf("%s is for %s: not run here", imageBinary, img.config.Architecture)
		return
	}
	bin := filepath.Join(t.TempDir(), "rotatord")
	if err := os.WriteFile(bin, f.data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "version")
	cmd.Env = []string{"PATH=/nonexistent"}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if got, want := strings.TrimSpace(string(out)), "rotatord "+wantVersion; err != nil || got != want {
		t.Errorf("%s version: %q (%v), want %q", imageBinary, got, err, want)
	}
}

// checkImageUsers checks passwd and group: nonroot is 65532, nobody has a
// password, and every login shell is absent from the image.
func checkImageUsers(t *testing.T, files map[string]imageFile) {
	t.Helper()
	found := false
	for _, line := range strings.Split(strings.TrimSpace(string(files["etc/passwd"].data)), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 7 {
			t.Errorf("/etc/passwd: %q is not name:x:uid:gid:gecos:home:shell", line)
			continue
		}
		if f[1] != "x" {
			t.Errorf("/etc/passwd: %s has a password field %q, want x", f[0], f[1])
		}
		if _, ok := files[strings.TrimPrefix(f[6], "/")]; ok || !strings.HasSuffix(f[6], "nologin") {
			t.Errorf("/etc/passwd: %s's shell %s, want a nologin absent from the image", f[0], f[6])
		}
		if f[2] == strconv.Itoa(imageUser) {
			found = true
			if f[0] != "nonroot" || f[3] != strconv.Itoa(imageUser) {
				t.Errorf("/etc/passwd: %q, want nonroot with uid and gid %d", line, imageUser)
			}
			if h, ok := files[strings.TrimPrefix(f[5], "/")]; !ok || h.hdr.Uid != imageUser {
				t.Errorf("/etc/passwd: nonroot's home %s is not in the image, owned by %d", f[5], imageUser)
			}
		}
	}
	if !found {
		t.Errorf("/etc/passwd has no user %d", imageUser)
	}
	if !slices.ContainsFunc(strings.Split(string(files["etc/group"].data), "\n"), func(l string) bool {
		return strings.HasPrefix(l, fmt.Sprintf("nonroot:x:%d:", imageUser))
	}) {
		t.Errorf("/etc/group has no group nonroot %d", imageUser)
	}
}

// checkImageCertificates checks the CA bundle: certificates only, all of
// which parse.
func checkImageCertificates(t *testing.T, files map[string]imageFile) {
	t.Helper()
	rest := files["etc/ssl/certs/ca-certificates.crt"].data
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			t.Errorf("/etc/ssl/certs/ca-certificates.crt holds a %s", b.Type)
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("/etc/ssl/certs/ca-certificates.crt: certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		t.Error("/etc/ssl/certs/ca-certificates.crt holds no certificate: rotatord could not verify the Exoscale API")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
