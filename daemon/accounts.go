package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

// account is one Exoscale organization the daemon works on: its state
// directory and its engine. Accounts share nothing else, so a broken
// credential or an unreachable endpoint in one leaves the others working,
// and a key id of one can never reach the other's API.
type account struct {
	name   string
	store  journal
	engine *rotation.Engine

	apiOK    atomic.Bool // the last key listing succeeded
	apiTried atomic.Bool
}

// journal is an account's durable state: a state directory, or objects
// in the Kubernetes API.
type journal interface {
	state.Journal
	Close() error
}

// openAccount opens an account's journal (read-only for plan and validate
// --online) and makes its engine.
func (d *Daemon) openAccount(cfg *config.Config, a config.NamedAccount) (*account, error) {
	var store journal
	if cfg.State.Kubernetes() {
		client, err := d.kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
		if err != nil {
			return nil, fmt.Errorf("state: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), kubeclient.RequestTimeout)
		defer cancel()
		ks, err := kubestate.Open(ctx, client, cfg.State.Namespace, a.Name, d.opts.ReadOnly)
		if err != nil {
			return nil, err
		}
		ks.Fence = d.gateFunc()
		store = ks
	} else {
		open := state.Open
		if d.opts.ReadOnly {
			open = state.OpenReadOnly
		}
		st, err := open(cfg.AccountStateDir(a.Name))
		if err != nil {
			return nil, err
		}
		store = st
	}
	return &account{
		name:  a.Name,
		store: store,
		engine: rotation.New(rotation.Config{
			Store: store, Logger: d.log.With(zap.String("account", a.Name)), Recorder: d.metrics, Now: d.opts.Now, ReadOnly: d.opts.ReadOnly,
			CreateSettle: createSettle(a.Timeout.Duration()), Fence: d.gateFunc(), Stopping: d.stopping.Load,
			OnDeletionScheduled: d.wakeDeleter, OtherAccounts: func() map[string]string { return d.otherAccountKeys(a.Name) },
		}),
	}, nil
}

func (a *account) close() error { return a.store.Close() }

// otherAccountKeys returns the ids of the keys the accounts but name sign
// with, each with its account's name (rotation.Config.OtherAccounts).
func (d *Daemon) otherAccountKeys(name string) map[string]string {
	out := map[string]string{}
	for _, a := range d.accountsInForce() {
		if a.name == name {
			continue
		}
		if id := a.engine.OwnKeyID(); id != "" {
			out[id] = a.name
		}
	}
	return out
}

// closeAccounts releases every account's state directory.
func (d *Daemon) closeAccounts() error {
	d.mu.Lock()
	accounts := d.accounts
	d.accounts = map[string]*account{}
	d.mu.Unlock()
	var errs []error
	for _, a := range accounts {
		errs = append(errs, a.close())
	}
	return errors.Join(errs...)
}

// unsettled returns the names of policy that have a rotation in flight
// that is not delivered (rotation.Engine.Unsettled); none when the policy
// is not in force.
func (d *Daemon) unsettled(policy string) map[string]bool {
	a, ok := d.setup().accountOf[policy]
	if !ok {
		return nil
	}
	if acc := d.account(a); acc != nil {
		return acc.engine.Unsettled(policy)
	}
	return nil
}

// retryDue is when, after after, a failed step of policy with no rotation
// in flight may be tried again (rotation.Engine.RetryDue), or zero.
func (d *Daemon) retryDue(policy string, after time.Time) time.Time {
	if acc := d.account(d.setup().accountOf[policy]); acc != nil {
		return acc.engine.RetryDue(policy, after)
	}
	return time.Time{}
}

// account returns the account of that name in force, or nil.
func (d *Daemon) account(name string) *account {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accounts[name]
}

// recordView gives the metrics the state records of a policy, from the
// state directory of the account the policy works on now.
type recordView struct{ d *Daemon }

func (v recordView) List(policy string) []state.Record {
	s := v.d.setup()
	if s == nil {
		return nil
	}
	a := v.d.account(s.accountOf[policy])
	if a == nil {
		return nil
	}
	return a.store.List(policy)
}

// Each calls fn with each state record of a policy, without copies when
// the journal can (see metrics.RecordSource).
func (v recordView) Each(policy string, fn func(r *state.Record)) {
	s := v.d.setup()
	if s == nil {
		return
	}
	a := v.d.account(s.accountOf[policy])
	if a == nil {
		return
	}
	if e, ok := a.store.(interface {
		Each(policy string, fn func(r *state.Record))
	}); ok {
		e.Each(policy, fn)
		return
	}
	for _, r := range a.store.List(policy) {
		fn(&r)
	}
}

// viewVersion numbers what the metrics read through recordView: the setup
// in force, the accounts open and their journals' change counts.
type viewVersion struct {
	mu       sync.Mutex
	setup    *setup
	journals map[*account]uint64
	n        uint64
}

// Version implements state.Versioned for the view: it moves when the
// setup in force, the accounts open or any of their journals changed
// since the last call, so that the metrics derived from the records are
// worked out again only then. A journal that keeps no count makes it move
// at every call.
func (v recordView) Version() uint64 {
	d := v.d
	d.mu.Lock()
	cur := d.current
	accounts := make([]*account, 0, len(d.accounts))
	for _, a := range d.accounts {
		accounts = append(accounts, a)
	}
	d.mu.Unlock()
	// The journals' counts are read outside d.mu: a journal never waits
	// for the daemon, and the daemon should not wait for a journal here.
	journals := make(map[*account]uint64, len(accounts))
	same := true
	for _, a := range accounts {
		j, ok := a.store.(state.Versioned)
		if !ok {
			same = false
			continue
		}
		journals[a] = j.Version()
	}
	vv := &d.view
	vv.mu.Lock()
	defer vv.mu.Unlock()
	same = same && cur == vv.setup && maps.Equal(journals, vv.journals)
	if !same {
		vv.n++
		vv.setup, vv.journals = cur, journals
	}
	return vv.n
}

var _ state.Versioned = recordView{}

// List returns the state records of a policy (see recordView).
func (d *Daemon) List(policy string) []state.Record { return recordView{d}.List(policy) }

// Skipped returns the key names the last pass of policy matched and left
// alone.
func (d *Daemon) Skipped(policy string) []rotation.SkippedName {
	s := d.setup()
	if s == nil {
		return nil
	}
	a := d.account(s.accountOf[policy])
	if a == nil || a.engine == nil {
		return nil
	}
	return a.engine.Skipped(policy)
}

// checkAbandoned refuses a start whose policy file leaves out an account
// with rotations in flight in its state directory (state_dir for default,
// state_dir/accounts/NAME for the others): nothing would finish them, as
// a reload that removes such an account is refused too.
func checkAbandoned(cfg *config.Config) error {
	if cfg.State.Kubernetes() {
		// Accounts' journals are told apart by a label; one left out of
		// the file is not looked for (see the README).
		return nil
	}
	inUse := map[string]bool{}
	for _, a := range cfg.AccountsInUse() {
		inUse[a.Name] = true
	}
	candidates := []string{}
	if !inUse[config.DefaultAccount] {
		candidates = append(candidates, config.DefaultAccount)
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.StateDir, "accounts"))
	for _, e := range entries {
		if e.IsDir() && !inUse[e.Name()] {
			candidates = append(candidates, e.Name())
		}
	}
	var errs []error
	for _, name := range candidates {
		store, err := state.OpenReadOnly(cfg.AccountStateDir(name))
		if err != nil {
			continue // nothing readable there: nothing in flight we know of
		}
		if err := rotation.Stranded(store, nil); err != nil {
			errs = append(errs, fmt.Errorf("account %s is not in the policy file but has rotations in flight: %w", name, err))
		}
		store.Close()
	}
	return errors.Join(errs...)
}

// accountsInForce returns the accounts open now.
func (d *Daemon) accountsInForce() []*account {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*account, 0, len(d.accounts))
	for _, a := range d.accounts {
		out = append(out, a)
	}
	return out
}
