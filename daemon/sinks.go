package daemon

import (
	"fmt"
	"io"
	"os/user"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
	"github.com/rotatord/rotatord/sinks/kubernetes"
	"github.com/rotatord/rotatord/sinks/vault"
)

// buildSinks turns a policy's sink configs into sinks. An explicit switch:
// two kinds do not need a registry.
func buildSinks(p *config.Policy, log *zap.Logger, getenv func(string) string, kube *kubeclient.Cache, protect protection) ([]sinks.Sink, error) {
	out := make([]sinks.Sink, 0, len(p.Sinks))
	for i := range p.Sinks {
		sc := &p.Sinks[i]
		var (
			s   sinks.Sink
			err error
		)
		switch sc.Type {
		case config.SinkFile:
			s, err = newFileSink(sc, p.Name, kube.Gate, protect)
		case config.SinkVault:
			s, err = newVaultSink(sc, p.Name, log.Named("sink.vault").With(zap.String("policy", p.Name), zap.Int("sink", i)), getenv, kube.Gate, protect)
		case config.SinkKubernetes:
			s, err = newKubernetesSink(sc, p.Name, kube, protect.ownKeys)
		default:
			err = fmt.Errorf("sink type %q is not supported by this build", sc.Type)
		}
		if err != nil {
			closeSinks([]rotation.Policy{{Sinks: out}})
			return nil, fmt.Errorf("policy %q: sinks[%d]: %w", p.Name, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func newFileSink(sc *config.Sink, policy string, f fence.Func, protect protection) (sinks.Sink, error) {
	uid, err := lookupID(sc.Owner, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return nil, fmt.Errorf("owner %q: %w", sc.Owner, err)
	}
	gid, err := lookupID(sc.Group, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", sc.Group, err)
	}
	return file.New(file.Options{
		Path:     sc.PathTemplate(),
		Format:   string(sc.Format),
		Template: sc.ContentTemplate(),
		Mode:     sc.Mode.Perm(),
		UID:      uid,
		GID:      gid,
		// Checked by the config already; the sink enforces them too.
		AllowWorldReadable: sc.AllowWorldReadable,
		TakeOver:           sc.TakeOver,
		Policy:             policy,
		Protect:            protect.files,
		OwnKeys:            protect.ownKeys,
		Fence:              f,
	})
}

// protection is what no policy's sink writes, whatever a key's name
// renders: rotatord's own files, and the Vault secrets holding its
// credential.
type protection struct {
	files  []file.Protected
	vaults []vault.Protected
	// ownKeys returns the key ids rotatord signs with: a Secret holding
	// one is its own credential (kubernetes.Options.OwnKeys).
	ownKeys func() []string
}

func protectionOf(cfg *config.Config, opts Options) protection {
	files := append(protectedPaths(cfg), protectedConfigFiles(cfg, opts)...)
	return protection{files: files, vaults: protectedSecrets(cfg)}
}

// protectedConfigFiles are the other files rotatord reads to work, which
// no file sink may replace with a credential whatever a key's name
// renders: the policy file (a dot is a name character: a key named
// "rotatord.yml"), the web configuration file, and every file the policy
// file names for Vault logins and TLS, webhooks, exec hooks and
// Kubernetes clients.
func protectedConfigFiles(cfg *config.Config, opts Options) []file.Protected {
	var out []file.Protected
	add := func(path, what string) {
		if path == "" {
			return
		}
		if abs, err := filepath.Abs(path); err == nil {
			out = append(out, file.Protected{Path: abs, What: what})
		}
	}
	add(opts.ConfigPath, "the policy file")
	add(opts.Web.ConfigFile, "the web configuration file")
	for _, f := range webConfigFiles(opts.Web.ConfigFile) {
		add(f.path, "the web configuration file's "+f.field)
	}
	// The in-cluster configuration (no kubeconfig) reads the pod's
	// service account token and CA certificate.
	inCluster := false
	kubeconfig := func(path, at string) {
		if path == "" {
			inCluster = true
			return
		}
		add(path, at)
		for _, f := range kubeconfigFiles(path) {
			add(f.path, at+" "+path+": "+f.field)
		}
	}
	vaultFiles := func(sc *config.Sink, at string) {
		add(sc.Auth.TokenFile, at+" auth.token_file")
		add(sc.Auth.SecretIDFile, at+" auth.secret_id_file")
		sa := sc.Auth.ServiceAccountTokenFile
		if sa == "" && sc.Auth.Method == config.AuthKubernetes {
			sa = vault.DefaultServiceAccountTokenFile
		}
		add(sa, at+" auth.service_account_token_file")
		add(sc.TLS.CACert, at+" tls.ca_cert")
	}
	for _, a := range cfg.AccountsInUse() {
		if cv := a.CredentialVault; cv != nil {
			vaultFiles(cv, "the credential_vault of account "+a.Name+":")
		}
	}
	if cfg.State.Kubernetes() || cfg.LeaderElection != nil {
		kubeconfig(cfg.State.Kubeconfig, "state.kubeconfig")
	} else {
		add(cfg.State.Kubeconfig, "state.kubeconfig")
	}
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		for j := range p.Sinks {
			sc := &p.Sinks[j]
			at := fmt.Sprintf("policy %s sinks[%d]", p.Name, j)
			switch sc.Type {
			case config.SinkVault:
				vaultFiles(sc, at+":")
			case config.SinkKubernetes:
				kubeconfig(sc.Kubeconfig, at+" kubeconfig")
			}
		}
		for j, h := range p.Hooks {
			at := fmt.Sprintf("policy %s hooks[%d]", p.Name, j)
			if h.Webhook != nil {
				add(h.Webhook.KeyFile, at+" webhook.key_file")
			}
			if h.Exec != nil && len(h.Exec.Command) > 0 {
				add(h.Exec.Command[0], at+" exec.command")
			}
		}
	}
	if inCluster {
		add(kubeclient.InClusterTokenFile, "the in-cluster service account token")
		add(kubeclient.InClusterCAFile, "the in-cluster service account CA certificate")
	}
	return out
}

// namedFile is a file another file names, with where it is named.
type namedFile struct{ path, field string }

// webConfigFiles are the files the web configuration file names for TLS
// (tls_server_config's cert_file, key_file and client_ca_file), relative
// paths resolved against the file's directory as the exporter toolkit
// does. A file that cannot be read or parsed names none: the start
// refuses it anyway (ValidateWebConfig).
func webConfigFiles(path string) []namedFile {
	if path == "" {
		return nil
	}
	b, err := secret.ReadFile(path, secret.FileOptions{})
	if err != nil {
		return nil
	}
	var wc struct {
		TLS struct {
			CertFile     string `yaml:"cert_file"`
			KeyFile      string `yaml:"key_file"`
			ClientCAFile string `yaml:"client_ca_file"`
		} `yaml:"tls_server_config"`
	}
	if yaml.Unmarshal(b, &wc) != nil {
		return nil
	}
	var out []namedFile
	for _, f := range []namedFile{
		{wc.TLS.CertFile, "tls_server_config.cert_file"},
		{wc.TLS.KeyFile, "tls_server_config.key_file"},
		{wc.TLS.ClientCAFile, "tls_server_config.client_ca_file"},
	} {
		if f.path == "" {
			continue
		}
		if !filepath.IsAbs(f.path) {
			f.path = filepath.Join(filepath.Dir(path), f.path)
		}
		out = append(out, f)
	}
	return out
}

// kubeconfigFiles are the files a kubeconfig names (every cluster's
// certificate-authority, every user's client-certificate, client-key,
// tokenFile and exec command given as a path), relative paths resolved
// against the kubeconfig's directory as client-go does. Every cluster and
// user counts, not only the context's: a protection too wide costs
// nothing. A kubeconfig that cannot be read or parsed names none: its
// client cannot be made either.
func kubeconfigFiles(path string) []namedFile {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	b, err := secret.ReadFile(abs, secret.FileOptions{Max: kubeclient.MaxKubeconfig})
	if err != nil {
		return nil
	}
	kc, err := clientcmd.Load(b)
	if err != nil {
		return nil
	}
	for _, c := range kc.Clusters {
		c.LocationOfOrigin = abs
	}
	for _, u := range kc.AuthInfos {
		u.LocationOfOrigin = abs
	}
	if clientcmd.ResolveLocalPaths(kc) != nil {
		return nil
	}
	var out []namedFile
	for name, c := range kc.Clusters {
		for _, p := range clientcmd.GetClusterFileReferences(c) {
			if *p != "" {
				out = append(out, namedFile{*p, "cluster " + name + " certificate-authority"})
			}
		}
	}
	for name, u := range kc.AuthInfos {
		for _, p := range clientcmd.GetAuthInfoFileReferences(u) {
			if *p != "" {
				out = append(out, namedFile{*p, "user " + name + " file"})
			}
		}
	}
	return out
}

// protectedSecrets are the Vault secrets of every account's
// credential_vault: validate refuses a literal sink path that is one, and
// the Vault sink refuses a path a template renders for a key's name
// (a key named after the credential's secret, with take_over, would
// replace the key rotatord signs with).
func protectedSecrets(cfg *config.Config) []vault.Protected {
	var out []vault.Protected
	for _, a := range cfg.AccountsInUse() {
		cv := a.CredentialVault
		if a.CredentialFrom != config.CredentialFromVault || cv == nil {
			continue
		}
		out = append(out, vault.Protected{Address: cv.Address, Namespace: cv.Namespace, Mount: cv.Mount, Path: cv.Path,
			What: fmt.Sprintf("the credential_vault of account %s", a.Name)})
	}
	return out
}

// protectedPaths are rotatord's own files, which no policy's file sink
// may write whatever a key's name renders to: every account's credential
// files, and the state directory. validate refuses a literal sink path
// that is one of them, but a path template is only known for a name at
// write time: a key named after a credential file, with take_over, would
// otherwise replace the key rotatord signs with (issue #13).
func protectedPaths(cfg *config.Config) []file.Protected {
	var out []file.Protected
	for _, a := range cfg.AccountsInUse() {
		for _, f := range []struct{ path, field string }{
			{a.CredentialFile, "credential_file"},
			{a.APIKeyFile, "api_key_file"},
			{a.APISecretFile, "api_secret_file"},
		} {
			if f.path != "" {
				out = append(out, file.Protected{Path: f.path, What: fmt.Sprintf("the %s of account %s", f.field, a.Name)})
			}
		}
	}
	if !cfg.State.Kubernetes() && cfg.StateDir != "" {
		out = append(out, file.Protected{Path: cfg.StateDir, Dir: true, What: "rotatord's state_dir"})
	}
	return out
}

func newVaultSink(sc *config.Sink, policy string, log *zap.Logger, getenv func(string) string, f fence.Func, protect protection) (sinks.Sink, error) {
	return vault.New(vault.Options{
		Protected: protect.vaults,
		OwnKeys:   protect.ownKeys,
		Address:   sc.Address,
		Namespace: sc.Namespace,
		Mount:     sc.Mount,
		Path:      sc.PathTemplate(),
		TakeOver:  sc.TakeOver,
		Policy:    policy,
		// config.CheckTransport checked Address; the sink checks VAULT_ADDR.
		InsecureHTTP: sc.InsecureHTTP,
		Auth: vault.AuthOptions{
			Method:                  string(sc.Auth.Method),
			TokenFile:               sc.Auth.TokenFile,
			RoleID:                  sc.Auth.RoleID,
			SecretIDFile:            sc.Auth.SecretIDFile,
			Role:                    sc.Auth.Role,
			ServiceAccountTokenFile: sc.Auth.ServiceAccountTokenFile,
			MountPath:               sc.Auth.MountPath,
		},
		TLS: vault.TLSOptions{
			CACert:             sc.TLS.CACert,
			ServerName:         sc.TLS.ServerName,
			InsecureSkipVerify: sc.TLS.InsecureSkipVerify,
		},
		Fence:  f,
		Logger: log,
		Getenv: getenv,
	})
}

func newKubernetesSink(sc *config.Sink, policy string, kube *kubeclient.Cache, ownKeys func() []string) (sinks.Sink, error) {
	// Without a context, the kubeconfig's current-context as it is now,
	// resolved once: the client and the identity below name the same
	// cluster, and a `kubectl config use-context` on the file since the
	// last build of the sink is another cluster, as another context is.
	kubeContext, err := kubeclient.EffectiveContext(sc.Kubeconfig, sc.Context)
	if err != nil {
		return nil, err
	}
	client, err := kube.Client(sc.Kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	// The cluster as the config names it (kubeconfig and context), not its
	// server URL: a sink's identity in the journal must not change when
	// the endpoint behind the same kubeconfig does.
	cluster := sc.Kubeconfig
	if kubeContext != "" {
		cluster = kubeContext + ":" + cluster
	}
	opts := kubernetes.Options{
		Client:      client,
		Namespace:   sc.Namespace,
		Name:        sc.NameTemplate(),
		Format:      string(sc.Format),
		Key:         sc.Key,
		Labels:      sc.Labels,
		Annotations: sc.Annotations,
		TakeOver:    sc.TakeOver,
		Policy:      policy,
		Cluster:     cluster,
		OwnKeys:     ownKeys,
	}
	if sc.Keys != nil {
		opts.KeyField, opts.SecretField = sc.Keys.APIKey, sc.Keys.APISecret
	}
	for _, w := range sc.Restart {
		opts.Restart = append(opts.Restart, kubernetes.Workload{Kind: w.Kind, Name: w.Name})
	}
	return kubernetes.New(opts)
}

// closeSinks stops the background work of the sinks that have any (a
// Vault sink renewing its token).
func closeSinks(policies []rotation.Policy) {
	for _, p := range policies {
		for _, s := range p.Sinks {
			if c, ok := s.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}
}

// lookupID resolves a user or group given by name or number; "" is -1 (unchanged).
func lookupID(v string, byName func(string) (string, error)) (int, error) {
	if v == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	id, err := byName(v)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(id)
}
