package kubeclient

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAKubeconfigOfManyClustersIsRead: client-go reads a kubeconfig of any
// size; rotatord's own read (secret.ReadFile) took the 1 MiB default of a
// credential, so a kubeconfig merged from a few hundred clusters with
// their certificates embedded (about 5 KiB each) was refused where
// client-go had read it before.
func TestAKubeconfigOfManyClustersIsRead(t *testing.T) {
	dir := tempDir(t)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Config\ncurrent-context: c0\nclusters:\n")
	blob := strings.Repeat("QUJD", 1500) // 6 KB of base64
	const n = 300
	for i := range n {
		fmt.Fprintf(&b, "- name: k%d\n  cluster:\n    server: https://k%d.example:6443\n    certificate-authority-data: %s\n", i, i, blob)
	}
	b.WriteString("users:\n- name: u\n  user:\n    token: t\ncontexts:\n")
	for i := range n {
		fmt.Fprintf(&b, "- name: c%d\n  context:\n    cluster: k%d\n    user: u\n", i, i)
	}
	if b.Len() <= 1<<20 {
		t.Fatalf("the kubeconfig is %d bytes, want over 1 MiB", b.Len())
	}
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	kc, err := Load(path)
	if err != nil {
		t.Fatalf("Load of a %d-byte kubeconfig: %v", b.Len(), err)
	}
	if len(kc.Contexts) != n {
		t.Errorf("%d contexts, want %d", len(kc.Contexts), n)
	}
}
