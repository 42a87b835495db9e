package config

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/secret"
)

// State backends.
const (
	StateDirectory  = "directory"
	StateKubernetes = "kubernetes"
)

// State is where the journal lives.
type State struct {
	// Backend is directory (state_dir, the default) or kubernetes (one
	// ConfigMap per record in Namespace).
	Backend    string `yaml:"backend,omitempty"`
	Namespace  string `yaml:"namespace,omitempty"`
	Kubeconfig string `yaml:"kubeconfig,omitempty"`
	Context    string `yaml:"context,omitempty"`
}

// Kubernetes reports whether the journal is in the Kubernetes API.
func (s State) Kubernetes() bool { return s.Backend == StateKubernetes }

// LeaderElection configures the Lease replicas compete for. The Lease is in
// the state's namespace, through the state's kubeconfig.
type LeaderElection struct {
	// LeaseName is the Lease's name (default rotatord).
	LeaseName string `yaml:"lease_name,omitempty"`
	// LeaseDuration is how long a standby waits after the last renewal
	// before it takes the Lease (default 15s).
	LeaseDuration Duration `yaml:"lease_duration,omitempty"`
	// RenewDeadline is how long the leader keeps trying to renew before it
	// stops acting (default 10s); shorter than lease_duration, so it stops
	// before another replica can take over.
	RenewDeadline Duration `yaml:"renew_deadline,omitempty"`
	// RetryPeriod is how often replicas try to take or renew the Lease
	// (default 2s).
	RetryPeriod Duration `yaml:"retry_period,omitempty"`
}

// Leader election defaults, those of client-go's examples and cert-manager.
const (
	DefaultLeaseName     = "rotatord"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

func (v *validator) state(c *Config) {
	switch c.State.Backend {
	case "", StateDirectory:
		c.State.Backend = StateDirectory
		for _, f := range []string{"namespace", "kubeconfig", "context"} {
			if v.keys("state")[f] {
				v.addf("state."+f, "only for backend %s", StateKubernetes)
			}
		}
	case StateKubernetes:
		if c.State.Namespace == "" {
			v.addf("state.namespace", "required with backend %s (rotatord's namespace)", StateKubernetes)
		} else if errs := validation.IsDNS1123Label(c.State.Namespace); len(errs) > 0 {
			v.addf("state.namespace", "%q is not a namespace name: %s", c.State.Namespace, strings.Join(errs, "; "))
		}
		if c.State.Context != "" && c.State.Kubeconfig == "" {
			v.addf("state.context", "only with kubeconfig")
		}
		c.State.Kubeconfig = v.abs(c.State.Kubeconfig)
		if v.host {
			v.kubeconfig("state.kubeconfig", c.State.Kubeconfig, c.State.Context)
		}
		// Not only with host: every start (Load) reads the file so, a
		// restart after a use-context being the case it guards.
		v.stateContextNamed(c.State.Kubeconfig, c.State.Context)
		for i, a := range c.Accounts {
			// The journal's objects carry the account as a label value.
			if errs := validation.IsValidLabelValue(a.Name); a.Name != "" && len(errs) > 0 {
				v.addf(fmt.Sprintf("accounts[%d].name", i), "%q cannot label the journal's objects (state.backend %s): %s", a.Name, StateKubernetes, strings.Join(errs, "; "))
			}
		}
	default:
		v.addf("state.backend", "unknown backend %q (want %s or %s)", echo(c.State.Backend), StateDirectory, StateKubernetes)
	}

	// with names what brings the Lease in, for the problems below: the
	// file may have no leader_election block.
	with := "with leader_election"
	if c.LeaderElection == nil && c.State.Kubernetes() {
		// The Lease is the journal's lock: without it a second process
		// (rotatord once, a rolling update) would act on the same journal
		// beside the daemon. The issue's own form, state: {backend:
		// kubernetes, namespace}, gets it with the defaults.
		c.LeaderElection = &LeaderElection{}
		with = "with state.backend " + StateKubernetes + " (which takes leader_election's Lease)"
	}
	le := c.LeaderElection
	if le == nil {
		return
	}
	if !c.State.Kubernetes() {
		v.addf("leader_election", "needs state.backend %s: replicas must share the journal, and a state directory belongs to one process", StateKubernetes)
	}
	for i, p := range c.Policies {
		for j, sk := range p.Sinks {
			if sk.Type == SinkFile {
				v.warnf(fmt.Sprintf("policies[%d].sinks[%d]", i, j), "a file sink %s: every replica must see the same file (a shared volume), or a new leader finds its sinks without the key the last one delivered; prefer a kubernetes or vault sink", with)
			}
		}
	}
	const shared = "%s the credential must be one every replica reads (credential_from: vault): a replica's own file would keep the key the leader rotated away"
	if e := c.Exoscale; e.OwnKey != nil && e.CredentialFrom != CredentialFromVault {
		v.addf("exoscale.own_key", shared, with)
	}
	for i, a := range c.Accounts {
		if a.OwnKey != nil && a.CredentialFrom != CredentialFromVault {
			v.addf(fmt.Sprintf("accounts[%d].own_key", i), shared, with)
		}
	}
	if le.LeaseName == "" {
		le.LeaseName = DefaultLeaseName
	} else if errs := validation.IsDNS1123Subdomain(le.LeaseName); len(errs) > 0 {
		v.addf("leader_election.lease_name", "%q is not an object name: %s", le.LeaseName, strings.Join(errs, "; "))
	}
	for _, d := range []struct {
		p   *Duration
		def time.Duration
	}{{&le.LeaseDuration, DefaultLeaseDuration}, {&le.RenewDeadline, DefaultRenewDeadline}, {&le.RetryPeriod, DefaultRetryPeriod}} {
		if *d.p == 0 {
			*d.p = Duration(d.def)
		}
	}
	lease := v.written("leader_election.lease_duration", le.LeaseDuration)
	renew := v.written("leader_election.renew_deadline", le.RenewDeadline)
	retry := v.written("leader_election.retry_period", le.RetryPeriod)
	switch {
	case le.LeaseDuration.Duration()/time.Second > math.MaxInt32:
		// client-go writes it as int32 seconds: wrapped around, the
		// Lease is refused (no replica leads) or read as short (two do).
		v.addf("leader_election.lease_duration", "%s is longer than a Lease holds (%d seconds, about 68 years)", lease, math.MaxInt32)
	case le.LeaseDuration.Duration()%time.Second != 0:
		// The Lease holds it in whole seconds, and standbys go by that.
		v.addf("leader_election.lease_duration", "%s: want whole seconds (the Lease records seconds)", lease)
	case le.RetryPeriod.Duration() < 100*time.Millisecond:
		v.addf("leader_election.retry_period", "%s is too short (at least 100ms)", retry)
	case le.RenewDeadline < 2*le.RetryPeriod:
		// The leader acts until a quarter of the renew deadline (at most
		// 2 s) before it ends, counted from its last renewal: renewing at
		// least twice within it keeps that window open.
		v.addf("leader_election.renew_deadline", "%s must be at least twice retry_period %s", renew, retry)
	case le.LeaseDuration <= le.RenewDeadline:
		v.addf("leader_election.lease_duration", "%s must be longer than renew_deadline %s: the leader must stop acting before another replica can take the Lease", lease, renew)
	}
}

// stateContextNamed wants state.context when the kubeconfig holds more
// than one context. Without it the journal and the Lease follow the
// file's current-context, read at each start: after `kubectl config
// use-context` on one replica's file and a restart, that replica would
// lead under a Lease in another cluster, with an empty journal there,
// beside the replicas leading in the first, and both would act on the
// organization. (A sink's cluster is pinned differently: its identity
// in the journal names the context, so a switch is a new sink.)
func (v *validator) stateContextNamed(path, context string) {
	if path == "" || context != "" {
		return
	}
	kc, err := kubeclient.Load(path)
	if err != nil || len(kc.Contexts) < 2 {
		// An unreadable file is reported on state.kubeconfig.
		return
	}
	v.addf("state.context", "required: %s holds %d contexts and its current-context (%q) can be switched by kubectl config use-context; a replica restarted after such a switch would lead in another cluster beside the others. Name the context the journal and the Lease live in",
		secret.ShownPath(path), len(kc.Contexts), kc.CurrentContext)
}
