package daemon

import (
	"context"
	"errors"
	"fmt"
	"text/template"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// credentialStore returns the sink that holds rotatord's own credential
// (exoscale.credential_from): the credential file, written as one JSON
// document with mode 0600, or the Vault secret. rotatord owns it, so it
// takes over what an operator put there first.
func credentialStore(a config.NamedAccount, log *zap.Logger, getenv func(string) string, f fence.Func) (sinks.Sink, error) {
	e := a.Exoscale
	policy := config.SelfPolicyName(a.Name)
	switch e.CredentialFrom {
	case config.CredentialFromFile:
		// A literal path: template.Parse of a path with no action renders
		// it as is, and {{ is refused by the config.
		t, err := template.New("path").Parse(e.CredentialFile)
		if err != nil {
			return nil, fmt.Errorf("exoscale.credential_file: %w", err)
		}
		return file.New(file.Options{
			Path: t, Format: file.FormatJSON, Mode: 0o600, UID: -1, GID: -1,
			TakeOver: true, Policy: policy, Fence: f,
		})
	case config.CredentialFromVault:
		sc := *e.CredentialVault
		sc.TakeOver = true
		// The store is the one sink that writes the credential.
		return newVaultSink(&sc, policy, log.Named("credential.vault").With(zap.String("account", a.Name)), getenv, f, protection{})
	}
	return nil, errors.New("no credential store configured")
}

// readCredentials reads the credential rotatord signs with: from its store
// when credential_from is set, else from api_key/api_secret, their files or
// the environment.
func readCredentials(ctx context.Context, e *config.Exoscale, store sinks.Sink, getenv func(string) string) (apiclient.Credentials, error) {
	if store == nil || e.OwnKey == nil && e.CredentialFrom == config.CredentialFromFile {
		// Read only (no own_key): as validate reads it, a symlink (a
		// Kubernetes Secret volume) followed. With own_key, the sink
		// reads it: rotatord writes there, and refuses symlinks.
		return e.CredentialSource().Resolve(getenv)
	}
	h, err := store.Read(ctx, "")
	if err != nil {
		return apiclient.Credentials{}, fmt.Errorf("credential_from %s (%s): %w", e.CredentialFrom, store.Target(""), err)
	}
	if h.KeyID == "" || h.Secret.IsZero() {
		return apiclient.Credentials{}, fmt.Errorf("credential_from %s (%s): no api_key and api_secret there", e.CredentialFrom, store.Target(""))
	}
	if !apiclient.ValidKeyID(h.KeyID) {
		// As validate says (and as without own_key): never signed with,
		// and never quoted (a secret pasted where the key belongs).
		return apiclient.Credentials{}, fmt.Errorf("credential_from %s (%s): api_key is not an Exoscale API key (want EXO followed by hex digits; got %d characters)",
			e.CredentialFrom, store.Target(""), len(h.KeyID))
	}
	return apiclient.Credentials{Key: h.KeyID, Secret: secret.Value(h.Secret.Reveal())}, nil
}

// selfPolicy is the rotation policy of rotatord's own key (exoscale.own_key).
func selfPolicy(account string, o *config.OwnKey, store sinks.Sink, client *apiclient.Client) rotation.Policy {
	return rotation.Policy{
		Name:        config.SelfPolicyName(account),
		MaxAge:      o.MaxAge.Duration(),
		GracePeriod: o.GracePeriod.Duration(),
		Sinks:       []sinks.Sink{store},
		Self:        clientCredential{client},
	}
}

// clientCredential switches the API client to a new own key.
type clientCredential struct{ c *apiclient.Client }

// Current implements rotation.SelfCredential.
func (cc clientCredential) Current() sinks.Credential {
	c := cc.c.Credentials()
	return sinks.Credential{KeyID: c.Key, Secret: c.Secret}
}

func (cc clientCredential) Use(cred sinks.Credential) (func(), error) {
	prev := cc.c.Credentials()
	if err := cc.c.UseCredentials(apiclient.Credentials{Key: cred.KeyID, Secret: cred.Secret}); err != nil {
		return nil, err
	}
	return func() { _ = cc.c.UseCredentials(prev) }, nil
}

// Check signs one read-only request with cred, through a client of its
// own (the one in use keeps its credential): a listing of the keys, which
// rotatord's role must allow anyway.
func (cc clientCredential) Check(ctx context.Context, cred sinks.Credential) error {
	probe, err := cc.c.WithCredentials(apiclient.Credentials{Key: cred.KeyID, Secret: cred.Secret})
	if err != nil {
		return err
	}
	_, err = probe.ListKeys(ctx)
	return err
}

// ListAs implements rotation.SelfLister: a listing signed with cred.
func (cc clientCredential) ListAs(ctx context.Context, cred sinks.Credential) ([]apiclient.Key, error) {
	probe, err := cc.c.WithCredentials(apiclient.Credentials{Key: cred.KeyID, Secret: cred.Secret})
	if err != nil {
		return nil, err
	}
	return probe.ListKeys(ctx)
}

// storeReadTimeout bounds reading the credential store at start and reload.
func storeReadTimeout(e *config.Exoscale) time.Duration {
	return max(e.Timeout.Duration(), 10*time.Second)
}
