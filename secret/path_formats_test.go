package secret

import (
	"strings"
	"testing"
)

// TestShownPathHidesSecretsOfOtherAlphabets: the secrets pasted where
// their file's path belongs are not all mixed-case base64: a webhook key
// from `openssl rand -hex 32`, a Vault AppRole secret_id (a UUID), a
// Kubernetes service account token (a JWT, with dots).
func TestShownPathHidesSecretsOfOtherAlphabets(t *testing.T) {
	for _, sec := range []string{
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
		"841771dc-11c9-bbc7-bcac-6a3945a69cd9",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IjRmZ3d4In0.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.f6fsR0yXhCk1A8qUrIL2Vc4aFDlX-BRINep37sUs4hV1jMQPJ4joKPyIRIBJ",
	} {
		for _, p := range []string{sec, "/etc/rotatord/" + sec} {
			got := ShownPath(p)
			if strings.Contains(got, sec) || !strings.Contains(got, "not shown") {
				t.Errorf("ShownPath(%q) = %q: shows the secret", p, got)
			}
		}
	}
	for _, p := range []string{
		"/var/lib/docker/overlay2/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/merged/etc/rotatord/hook-key",
		"/var/lib/kubelet/pods/841771dc-11c9-bbc7-bcac-6a3945a69cd9/volumes/kubernetes.io~projected/token",
		"/etc/rotatord/deadbeef",
		"/etc/rotatord/2026-12-06",
		"/etc/rotatord/hook-key.sha256",
	} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it unchanged", p, got)
		}
	}
}
