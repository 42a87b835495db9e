package deploy

// Review of issue 13: the shipped deployments and own-key rotation.

import (
	"path/filepath"
	"testing"
)

// The issue: own-key rotation through Vault "is how it runs on Kubernetes
// with Vault's kubernetes auth, with no long-lived secret in the pod". The
// shipped Kubernetes policy still signs with api_key_file/api_secret_file
// from the Secret rotatord-exoscale (read-only, never rotated) and sets no
// own_key: the most powerful key stays hand-rotated there.
func TestKubernetesPolicyRotatesItsOwnKey(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	decodeYAML(t, filepath.Join(k8sDir, "configmap.yaml"), &cm)
	cfg := parsePolicy(t, []byte(cm.Data["rotatord.yml"]), "configmap.yaml")
	if cfg.Exoscale.CredentialFrom == "" || cfg.Exoscale.OwnKey == nil {
		t.Errorf("the Kubernetes policy reads its credential from %q (api_key_file %q) with own_key %v: want credential_from vault and own_key",
			cfg.Exoscale.CredentialFrom, cfg.Exoscale.APIKeyFile, cfg.Exoscale.OwnKey)
	}
}
