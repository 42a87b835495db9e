package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestWordsName(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"gke_my-project-123456_europe-west1_production-cluster", true},
		{"exoscale-ci-runner-production", true},
		{"kind-rotatord-e2e", true},
		{"EXOSCALE_API_SECRET_PRODUCTION", true},
		{"db.prod.example.internal", true},
		// Secrets and ids of the kinds rotatord sees.
		{"Zx9q0Zc3n1V8xT2mYk9Lr4Pw7Hb6Jd5Ns0GFa1UabcD", false},
		{"3f2a9c8e-7d6b-5a4f-3e2d-1c0b9a8f7e6d", false},
		{"3f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6d3f2a9c8e7d6b5a4f3e2d1c0b9a8f7e6d", false},
		{"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", false},
		{"productioncluster", false},
		{"gke_My-project_x", false},
		{"a-b+c-d", false},
	} {
		if got := WordsName(c.s); got != c.want {
			t.Errorf("WordsName(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

// TestWordsNameIsNoGeneratedSecret: secrets as Exoscale (base64url of 32
// random bytes) and openssl rand -hex make them are never names.
func TestWordsNameIsNoGeneratedSecret(t *testing.T) {
	b := make([]byte, 32)
	for range 20000 {
		rand.Read(b)
		for _, s := range []string{base64.RawURLEncoding.EncodeToString(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b)} {
			if WordsName(s) {
				t.Fatalf("%q is taken for a name", s)
			}
		}
	}
}

// TestWordsNameIsNoPrefixedHexSecret: a hex secret or a UUID behind a
// short word (DigitalOcean's dop_v1_ + 64 hex, a kubeconfig bearer token;
// key- + 32 hex; a secret_id UUID written as approle-<uuid>) has its
// letter beyond f in the word only, and was shown whole as a name.
func TestWordsNameIsNoPrefixedHexSecret(t *testing.T) {
	b := make([]byte, 32)
	for range 2000 {
		rand.Read(b)
		h := hex.EncodeToString(b)
		uuid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		for _, s := range []string{"dop_v1_" + h, "doo_v1_" + h, "key-" + h[:32], "approle-" + uuid, uuid + "-secret-id", "SECRET_" + strings.ToUpper(h)} {
			if WordsName(s) {
				t.Fatalf("%q is taken for a name", s)
			}
		}
	}
	for _, s := range []string{"exoscale-ci-runner-20241207153012", "build-3f2a9c8e7d6b-production", "backup-2024-12-01-europe-west1"} {
		if !WordsName(s) {
			t.Errorf("%q is not taken for a name", s)
		}
	}
}
