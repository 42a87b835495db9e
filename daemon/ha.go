package daemon

// High availability: with leader_election, replicas compete for a Lease
// (internal/leader) and only the leader runs passes and deletions. The
// journal lives in the API server (state/kubestate), so a new leader
// reloads it and resumes or rolls back what the last one left in flight,
// as a restarted process does from its directory. Every Exoscale request,
// sink write and journal write asks the elector first (gate), so work a
// deposed leader still had running stops at its next step.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/state/kubestate"
)

// newElector makes the elector of a config with leader_election, or nil.
func (d *Daemon) newElector(cfg *config.Config) (*leader.Elector, error) {
	le := cfg.LeaderElection
	if le == nil || d.opts.ReadOnly {
		return nil, nil
	}
	// Its own clientset, not d.kube's: the Lease requests are the one
	// thing the fence must not stop.
	var lease kubeclient.Cache
	client, err := lease.Client(cfg.State.Kubeconfig, cfg.State.Context)
	if err != nil {
		return nil, fmt.Errorf("leader_election: %w", err)
	}
	return leader.New(leader.Config{
		Client:        client,
		Namespace:     cfg.State.Namespace,
		LeaseName:     le.LeaseName,
		Identity:      identity(),
		LeaseDuration: le.LeaseDuration.Duration(),
		RenewDeadline: le.RenewDeadline.Duration(),
		RetryPeriod:   le.RetryPeriod.Duration(),
		Logger:        d.log.Named("leader"),
		OnNewLeader:   func(string) { d.metrics.LeaderChanged() },
	}), nil
}

// identity names this replica in the Lease: the pod's (host) name, made
// unique per process so a restarted pod never mistakes the old holder's
// Lease for its own.
func identity() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "rotatord"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

// gate is nil when this process may act: always without leader election,
// only while it holds the Lease with it.
func (d *Daemon) gate() error {
	if d.elector == nil {
		return nil
	}
	return d.elector.Check()
}

// claim is gate with the end of the claim, for the requests that carry
// it as their deadline (internal/fence); no end without leader election.
func (d *Daemon) claim() (time.Time, error) {
	if d.elector == nil {
		return time.Time{}, nil
	}
	return d.elector.Claim()
}

// gateFunc is gate for the places that take a func, nil without leader
// election.
func (d *Daemon) gateFunc() func() error {
	if d.elector == nil {
		return nil
	}
	return d.gate
}

// claimFunc is claim for the places that take a fence.Func, nil without
// leader election.
func (d *Daemon) claimFunc() fence.Func {
	if d.elector == nil {
		return nil
	}
	return d.claim
}

// Leading reports whether this process acts now (always without leader
// election).
func (d *Daemon) Leading() bool { return d.elector == nil || d.elector.Leading() }

// reloadJournals reads every account's journal again from the API server:
// a new leader starts from what the last one wrote.
func (d *Daemon) reloadJournals(ctx context.Context) error {
	d.mu.Lock()
	accounts := make([]*account, 0, len(d.accounts))
	for _, a := range d.accounts {
		accounts = append(accounts, a)
	}
	d.mu.Unlock()
	var errs []error
	for _, a := range accounts {
		if ks, ok := a.store.(*kubestate.Store); ok {
			if err := ks.Reload(ctx); err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", a.name, err))
				continue
			}
		}
		// The last leader may have rotated the own key since this replica
		// read it, and finished or started rotations this replica
		// confirmed when it led before.
		a.engine.FollowOwnKey(ctx)
		a.engine.ForgetConfirmations()
	}
	return errors.Join(errs...)
}

// lead is what the leader does while it holds the Lease: reload the
// journals, then run the schedules and the deleter until ctx (the
// leadership) ends; then stop at once, cancelling the work in flight.
func (d *Daemon) lead(ctx context.Context, run func(ctx context.Context)) {
	defer d.journalLed.Store(false)
	for {
		err := d.readJournalAsLeader(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, errStranded) {
			d.elector.StepDown(err.Error())
			return
		}
		d.log.Error("leading, but the journal cannot be read; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	run(ctx)
}

// errStranded: the policies in force would strand rotations in flight.
var errStranded = errors.New("the policy file in force here would strand rotations in flight")

// readJournalAsLeader reads the journals as a new leader, and checks them
// against the policies in force: the journal as the last leader left it
// may hold rotations they would strand (this replica accepted a reload
// against an older copy), and acting would leave them half done. Under
// journalMu, so no standby refresh (a reload) runs meanwhile; from its
// success on, the journal in memory is the leader's.
func (d *Daemon) readJournalAsLeader(ctx context.Context) error {
	d.journalMu.Lock()
	defer d.journalMu.Unlock()
	if err := d.reloadJournals(ctx); err != nil {
		return err
	}
	for _, a := range d.accountsInForce() {
		if err := a.engine.StrandedNow(); err != nil {
			return fmt.Errorf("%w: account %s: %v; fix the policy file (or run the replicas with the same one)", errStranded, a.name, err)
		}
	}
	// The hook failures this replica saw when it led before may have
	// passed under the leader in between: its hooks run again as the
	// journal owes them.
	d.metrics.ForgetHookFailures()
	d.journalLed.Store(true)
	return nil
}

// RunLeading runs fn holding the Lease, for `once`: it waits at most wait
// for the Lease and fails naming the holder when another replica keeps it.
// Without leader election it runs fn at once.
func (d *Daemon) RunLeading(ctx context.Context, wait time.Duration, fn func(ctx context.Context) error) error {
	if d.elector == nil {
		return fn(ctx)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fnErr error
	ran := false
	timer := time.AfterFunc(wait, func() {
		if !d.elector.Leading() {
			cancel()
		}
	})
	defer timer.Stop()
	err := d.elector.Run(ctx, func(leadCtx context.Context) {
		if ran {
			return
		}
		ran = true
		timer.Stop()
		if err := d.readJournalAsLeader(leadCtx); err != nil {
			fnErr = err
		} else {
			fnErr = fn(leadCtx)
		}
		// The on_failure hooks the pass started run in the background,
		// and only while this replica leads (rotation: fencedHookCtx):
		// they get a stop's few seconds before the Lease goes, or a
		// `once` from cron would have them cancelled every time.
		d.waitHooks(hookStopWait)
		d.journalLed.Store(false)
		cancel() // done: release the Lease
	})
	if err != nil {
		return err
	}
	if !ran && parent.Err() != nil {
		// Cut by the caller (once's SIGINT or SIGTERM), not by the
		// wait: nothing is known of who holds the Lease.
		return fmt.Errorf("interrupted while waiting for the Lease %s: %w", d.elector.LeaseName(), context.Cause(parent))
	}
	if !ran {
		err := fmt.Errorf("another replica holds the Lease %s (leader %q): stop it, or let it run the pass (rotatord once acts only as the leader)", d.elector.LeaseName(), d.elector.Leader())
		werr := d.elector.WriteRefused()
		switch {
		case d.elector.Leader() == "":
			// No holder was ever read: the Lease could not be read or
			// written at all, and no daemon is to be looked for.
			err = fmt.Errorf("could not take the Lease %s within %s, and saw no replica hold it: the API server refuses it (RBAC: get, create and update on leases) or does not answer (see the errors above)", d.elector.LeaseName(), wait)
			if werr != nil {
				err = fmt.Errorf("%w; the last write of it: %v", err, werr)
			}
		case werr != nil:
			// The election writes a Lease naming another holder only
			// once that holder stopped renewing it: the named replica
			// is not the one to stop, the refused write is the cause.
			err = fmt.Errorf("could not take the Lease %s within %s: it names %q, which stopped renewing it, but writing it failed (RBAC: get, create and update on leases, or an API server that does not answer): %v", d.elector.LeaseName(), wait, d.elector.Leader(), werr)
		}
		if why := d.elector.TooLong(); why != "" {
			// The wait was bounded short of what the Lease says: the
			// named leader may be long dead.
			err = fmt.Errorf("%w; %s", err, why)
		}
		return err
	}
	return fnErr
}

// LeaseWait is how long `once` waits for the Lease: long enough for one
// left by a replica that died to expire, by the longer of the configured
// lease duration and the one the Lease records (leader.TakeWait), as
// `state import` waits.
func (d *Daemon) LeaseWait(ctx context.Context) time.Duration {
	if d.elector == nil {
		return 0
	}
	return d.elector.TakeWait(ctx)
}

// replicaUA names this replica in the User-Agent of its Exoscale requests
// under leader election ("replica/IDENTITY"), empty otherwise.
func (d *Daemon) replicaUA() string {
	if d.elector == nil {
		return ""
	}
	return "replica/" + d.elector.Identity()
}

// refreshStandbyJournals reads the journals again unless this replica
// leads with the journal it read as the leader: on a standby (or a leader
// still reading it), so that a reload is checked against the rotations
// the leader has in flight now, not against what this replica saw at
// start, and so that its metrics follow the leader's (followJournal).
// The caller holds journalMu.
func (d *Daemon) refreshStandbyJournals(ctx context.Context) error {
	if d.journalLed.Load() {
		return nil
	}
	var errs []error
	for _, a := range d.accountsInForce() {
		if ks, ok := a.store.(*kubestate.Store); ok {
			if err := ks.Reload(ctx); err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", a.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// standbyJournalRefresh is how often a standby reads the journal again.
// It serves /metrics from its copy (key creation times, rotations in
// flight, pending deletions), and the alerts read those series: a copy
// kept from the start would age without bound while the leader rotates.
// One List of each account's ConfigMaps per period, not a reload.
const standbyJournalRefresh = 30 * time.Second

// followJournal reads the journals again every standbyJournalRefresh
// while this replica stands by, until ctx ends. A failure keeps the
// copy it has, and is logged once until a refresh succeeds again.
func (d *Daemon) followJournal(ctx context.Context) {
	t := time.NewTicker(standbyJournalRefresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := d.refreshStandbyJournalsNow(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			d.log.Warn("standby: reading the journal again failed; its metrics show the copy read last, until a read succeeds", zap.Error(err))
		case err == nil && failing:
			d.log.Info("standby: the journal is read again")
		}
		failing = err != nil
	}
}

// refreshStandbyJournalsNow is refreshStandbyJournals under journalMu,
// each read bounded as one request is.
func (d *Daemon) refreshStandbyJournalsNow(ctx context.Context) error {
	d.journalMu.Lock()
	defer d.journalMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, kubeclient.RequestTimeout)
	defer cancel()
	return d.refreshStandbyJournals(ctx)
}
