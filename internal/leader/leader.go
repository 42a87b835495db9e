// Package leader owns high availability: replicas of rotatord compete for a
// coordination.k8s.io Lease through client-go's leaderelection, and only
// the one holding it acts.
//
// Fencing: client-go stops a leader that could not renew within the renew
// deadline, but work already running (a pass, a deletion) does not notice
// at once, and a process frozen (SIGSTOP, a VM pause) notices only when it
// runs again, perhaps after another replica took the Lease. So every
// action asks Check first, and Check answers from the clock alone: the
// leader may act only until its last successful renewal, timed from
// before the request was sent, plus the renew deadline minus a margin for
// the request about to be sent. Another replica takes the Lease only a
// whole lease duration after it last saw it change, which is later.
package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ErrNotLeader is what Check returns when this replica may not act.
var ErrNotLeader = errors.New("this replica does not hold the Lease")

// Margin is kept back from the renew deadline: an action that passes
// Check has at least this long to reach the API before this replica's
// claim ends.
const Margin = 2 * time.Second

// Config configures an Elector.
type Config struct {
	Client        kubernetes.Interface
	Namespace     string
	LeaseName     string
	Identity      string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	Logger        *zap.Logger
	// OnLeading is told each time this replica starts or stops leading.
	OnLeading func(leading bool)
	// OnNewLeader is told of each leader this replica sees elected.
	OnNewLeader func(identity string)
}

// Elector runs the election and answers Check.
type Elector struct {
	cfg Config

	mu      sync.Mutex
	leading bool
	// validUntil is when this replica's claim ends, on the monotonic
	// clock: last renewal start + renew deadline.
	validUntil time.Time
	leader     string
}

// New returns an elector; Run takes part in the election.
func New(cfg Config) *Elector { return &Elector{cfg: cfg} }

// Check returns nil when this replica holds the Lease with at least Margin
// left, ErrNotLeader otherwise.
func (e *Elector) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading {
		return ErrNotLeader
	}
	if left := time.Until(e.validUntil); left < Margin {
		return fmt.Errorf("%w: its last renewal is too old (%s left of the renew deadline)", ErrNotLeader, left.Round(time.Millisecond))
	}
	return nil
}

// Leading reports whether this replica leads (Check is the stricter test).
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.cfg.Identity }

// Leader returns the identity of the leader this replica last saw.
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// Run takes part in the election until ctx is done. Each time this replica
// acquires the Lease, lead runs with a context cancelled the moment it
// cannot renew (or ctx is done); Run waits for lead to return, then
// competes again. When ctx is done Run returns, after releasing the Lease
// if this replica still holds it: only once lead has returned, so no other
// replica takes over while this one still acts.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	for ctx.Err() == nil {
		if err := e.runOnce(ctx, lead); err != nil {
			return err
		}
	}
	return nil
}

func (e *Elector) runOnce(ctx context.Context, lead func(ctx context.Context)) error {
	lock := &timedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.LeaseName},
		Client:     e.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}, renewed: e.renewed}
	var done sync.WaitGroup
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: e.cfg.LeaseDuration,
		RenewDeadline: e.cfg.RenewDeadline,
		RetryPeriod:   e.cfg.RetryPeriod,
		// Not client-go's release: it runs as soon as ctx ends, while
		// lead may still be finishing; release below waits for lead.
		ReleaseOnCancel: false,
		Name:            e.cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				done.Add(1)
				defer done.Done()
				e.setLeading(true)
				lead(leadCtx)
			},
			OnStoppedLeading: func() {
				e.setLeading(false)
			},
			OnNewLeader: func(identity string) {
				e.mu.Lock()
				e.leader = identity
				e.mu.Unlock()
				e.cfg.Logger.Info("leader elected", zap.String("leader", identity), zap.Bool("self", identity == e.cfg.Identity))
				if e.cfg.OnNewLeader != nil {
					e.cfg.OnNewLeader(identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx)
	held := e.Check() == nil
	e.setLeading(false)
	done.Wait()
	if ctx.Err() != nil && held {
		e.release(lock)
	}
	return nil
}

// release gives the Lease up, if this replica still holds it, so a
// standby takes over at once instead of a lease duration later. The
// update carries the resourceVersion read: a Lease another replica took
// meanwhile is left alone.
func (e *Elector) release(lock resourcelock.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RetryPeriod+5*time.Second)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if err != nil || rec.HolderIdentity != e.cfg.Identity {
		return
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions:    rec.LeaderTransitions,
		LeaseDurationSeconds: 1,
		RenewTime:            now,
		AcquireTime:          now,
	})
	if err != nil {
		e.cfg.Logger.Warn("releasing the Lease failed; a standby takes over when it expires", zap.Error(err))
		return
	}
	e.cfg.Logger.Info("released the Lease")
}

// renewed records a successful acquisition or renewal started at start.
func (e *Elector) renewed(start time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if until := start.Add(e.cfg.RenewDeadline); until.After(e.validUntil) {
		e.validUntil = until
	}
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	changed := e.leading != v
	e.leading = v
	if !v {
		e.validUntil = time.Time{}
	}
	e.mu.Unlock()
	if !changed {
		return
	}
	if v {
		e.cfg.Logger.Info("leading: this replica holds the Lease and acts", zap.String("identity", e.cfg.Identity))
	} else {
		e.cfg.Logger.Warn("no longer leading: this replica stops acting", zap.String("identity", e.cfg.Identity))
	}
	if e.cfg.OnLeading != nil {
		e.cfg.OnLeading(v)
	}
}

// timedLock notes when each successful write of the Lease (acquire or
// renew) was started: the leader's claim counts from then.
type timedLock struct {
	resourcelock.Interface
	renewed func(start time.Time)
}

func (l *timedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Create(ctx, ler)
	if err == nil && ler.HolderIdentity == l.Identity() {
		l.renewed(start)
	}
	return err
}

func (l *timedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Update(ctx, ler)
	if err == nil && ler.HolderIdentity == l.Identity() {
		l.renewed(start)
	}
	return err
}
