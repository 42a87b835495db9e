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
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ErrNotLeader is what Check returns when this replica may not act.
var ErrNotLeader = errors.New("this replica does not hold the Lease")

// MaxMargin bounds what is kept back from the renew deadline: an action
// that passes Check has at least margin() to reach the API before this
// replica's claim ends. A quarter of the renew deadline, at most 2 s, so a
// short renew deadline still leaves the leader time to act.
const MaxMargin = 2 * time.Second

func (e *Elector) margin() time.Duration { return min(MaxMargin, e.cfg.RenewDeadline/4) }

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
	// validUntilWall is the same instant on the wall clock: the monotonic
	// clock may stand still while a VM is paused or suspended, the wall
	// clock catches up when it resumes. The claim ends at whichever of
	// the two says so first.
	validUntilWall time.Time
	leader         string
	// cancelLead ends the lead function's context of the leadership in
	// force.
	cancelLead context.CancelFunc
	// notBefore: a Lease taken that nobody handed over is acted on only
	// from then (see timedLock).
	notBefore time.Time
	// lock is the current term's Lease lock.
	lock *timedLock
	// steppedDown: StepDown ended this term; claimEnd is when the claim
	// it gave up ends.
	steppedDown bool
	claimEnd    time.Time
	// taken is the last Lease record the API server took from this
	// process, in any term, and wrote the records sent since (those whose
	// answers were lost too: a renewal that timed out may have been
	// applied), at most keep of them: a record naming this replica that
	// is none of them was written by someone else. Records sent before
	// the last one taken can no longer be the Lease's: each write carries
	// the resourceVersion it read.
	taken *resourcelock.LeaderElectionRecord
	wrote []resourcelock.LeaderElectionRecord
	keep  int
	// tooLong: see TooLong.
	tooLong string
	// writeErr: see WriteRefused.
	writeErr error
}

// keptWrites is the least number of its own Lease records sent since the
// last one taken that a replica remembers.
const keptWrites = 16

// New returns an elector; Run takes part in the election.
func New(cfg Config) *Elector {
	// Every write a term sends without one being taken fits: client-go
	// tries at most twice a retry period (a renewal, then a read and a
	// renewal) until the renew deadline, and a standby once a retry
	// period; the rest is room for the next term's first tries.
	keep := keptWrites
	if cfg.RetryPeriod > 0 {
		keep = max(keep, 2*int(cfg.RenewDeadline/cfg.RetryPeriod)+keptWrites)
	}
	return &Elector{cfg: cfg, keep: keep}
}

// Check returns nil when this replica holds the Lease with at least its
// margin left, ErrNotLeader otherwise.
func (e *Elector) Check() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checkLocked()
}

func (e *Elector) checkLocked() error {
	if !e.leading {
		return ErrNotLeader
	}
	if wait := time.Until(e.notBefore); wait > 0 {
		return fmt.Errorf("%w yet: it took a Lease nobody handed over, and waits %s for any leader of the old one to stop", ErrNotLeader, wait.Round(time.Millisecond))
	}
	if left := e.leftLocked(); left < e.margin() {
		return fmt.Errorf("%w: its last renewal is too old (%s left of the renew deadline)", ErrNotLeader, left.Round(time.Millisecond))
	}
	return nil
}

// Claim is Check, and when it passes, when this replica's claim ends: a
// request that has not finished by then must be cut off (see
// internal/fence), since a standby may take over soon after.
func (e *Elector) Claim() (time.Time, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.checkLocked(); err != nil {
		return time.Time{}, err
	}
	return time.Now().Add(e.leftLocked()), nil
}

// leftLocked is what is left of the claim, by the monotonic clock or by
// the wall clock, whichever says less.
func (e *Elector) leftLocked() time.Duration {
	left := time.Until(e.validUntil)
	if wall := e.validUntilWall.Sub(time.Now().Round(0)); wall < left {
		left = wall
	}
	return left
}

// Leading reports whether this replica leads (Check is the stricter test).
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Acting reports whether this replica leads and its claim lasts: false
// at once when a pause outlasted the claim (SIGSTOP, a suspended VM),
// before the election loop wakes to find another holder, and while it
// waits a lease duration after a hand edit of its own Lease (see
// timedLock), as Check refuses then. Check, which the fence asks, also
// refuses within its margin of the claim's end.
func (e *Elector) Acting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading && time.Until(e.notBefore) <= 0 && e.leftLocked() > 0
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.cfg.Identity }

// LeaseName is the Lease's namespace/name, for messages.
func (e *Elector) LeaseName() string { return e.cfg.Namespace + "/" + e.cfg.LeaseName }

// Leader returns the identity of the leader this replica last saw.
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// MaxRecordedLease bounds how much of the leaseDurationSeconds a Lease
// records counts in a wait for it (Longest). Anyone who may write the
// Lease writes that number (a person by hand, anyone with the right):
// 2^31-1 seconds would make `once` from cron, or `state import`, wait 136
// years. Ten minutes is far above any lease duration a replica needs, so a
// replica configured longer than this one is still waited for; a Lease
// that records more is not, and the wait names it (RecordedTooLong). A
// configured lease_duration is the operator's, and is never cut.
const MaxRecordedLease = 10 * time.Minute

// Recorded is the lease duration lease records, 0 with none (no Lease,
// not read, no leaseDurationSeconds); zero or negative ones included.
func Recorded(lease *coordinationv1.Lease) time.Duration {
	if lease == nil || lease.Spec.LeaseDurationSeconds == nil {
		return 0
	}
	// No overflow: int32 seconds fit a Duration 4 times over.
	return time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
}

// Longest is the longest lease duration a replica taking the Lease may
// have to wait for: configured, or the leaseDurationSeconds lease records
// when longer (written by a replica configured longer, or before the
// configuration changed): client-go takes the Lease from a holder that
// stopped renewing only once the duration its record says has passed.
// The recorded one counts up to MaxRecordedLease only. A nil lease (none,
// or not read) keeps configured.
func Longest(lease *coordinationv1.Lease, configured time.Duration) time.Duration {
	return max(configured, min(Recorded(lease), MaxRecordedLease))
}

// RecordedTooLong says, for an error or a warning, that the Lease records
// a lease duration longer than a wait for it allows for (Longest), or is
// empty when it does not: the election cannot take such a Lease from a
// holder that stopped renewing before that duration has passed.
func RecordedTooLong(lease *coordinationv1.Lease, configured time.Duration) string {
	rec := Recorded(lease)
	if rec <= Longest(lease, configured) {
		return ""
	}
	return fmt.Sprintf("the Lease records a lease duration of %s (leaseDurationSeconds), longer than rotatord waits for one (%s, or lease_duration when longer): it cannot be taken until that long after its last renewal; if its holder is gone for good, delete the Lease", rec, MaxRecordedLease)
}

// TakeWait is how long taking the Lease may take, longest being Longest:
// one lease duration for a dead holder's to expire, one more when the
// Lease must be made anew (the new leader waits a lease duration before
// acting), and a retry period for each.
func TakeWait(longest, retryPeriod time.Duration) time.Duration {
	return 2*longest + 2*retryPeriod
}

// TakeWait reads the Lease once and returns TakeWait for the duration it
// records: a dead holder configured longer than this replica is waited
// for (see Longest). A Lease that does not exist or cannot be read keeps
// the configured duration, as the election will then find out itself.
// Only the recorded duration is used, never the renewTime: the holder's
// clock wrote it. A Lease recording more than Longest allows for is noted
// for TooLong.
func (e *Elector) TakeWait(ctx context.Context) time.Duration {
	lease, err := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace).Get(ctx, e.cfg.LeaseName, metav1.GetOptions{})
	if err != nil {
		lease = nil
	}
	tooLong := RecordedTooLong(lease, e.cfg.LeaseDuration)
	e.mu.Lock()
	e.tooLong = tooLong
	e.mu.Unlock()
	if tooLong != "" {
		e.cfg.Logger.Warn("the wait for the Lease is bounded: " + tooLong)
	}
	return TakeWait(Longest(lease, e.cfg.LeaseDuration), e.cfg.RetryPeriod)
}

// WriteRefused is the error of this replica's last write of the Lease
// when it failed (RBAC without update or create on leases, an API server
// that does not answer), nil when it succeeded, when none was tried, or
// when someone else has written the Lease since. client-go writes a Lease
// another replica holds only once its record has expired: a Lease that
// still names another holder after a refused write was left by a replica
// that stopped renewing, and naming that replica as the one to stop would
// send the operator looking for a daemon that is gone.
func (e *Elector) WriteRefused() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writeErr
}

// wroteLease notes the outcome of a write of the Lease (nil: it was
// taken, or another replica's write was seen since). A conflict is
// another replica's write first: it holds the Lease, as a message naming
// it says; errDeposed is this replica's own refusal after it saw another
// holder.
func (e *Elector) wroteLease(err error) {
	// AlreadyExists is a Create's conflict: another replica created the
	// Lease first.
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || errors.Is(err, errDeposed) {
		err = nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.writeErr = err
}

// TooLong is RecordedTooLong of the Lease the last TakeWait read: why a
// wait for it may have been too short, for the error that gives up.
func (e *Elector) TooLong() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tooLong
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
	}, renewed: e.renewed, deposed: e.deposed, unsafe: e.waitUntil, lease: e.cfg.LeaseDuration,
		sent: e.sent, took: e.took, ours: e.ours, wrote: e.wroteLease}
	e.mu.Lock()
	e.lock = lock
	e.mu.Unlock()
	var (
		mu        sync.Mutex // orders done.Add before done.Wait
		finished  bool       // le.Run returned: lead must not start any more
		done      sync.WaitGroup
		stillHeld bool // this replica's claim was good when it stopped leading
	)
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
				mu.Lock()
				if finished {
					mu.Unlock()
					return
				}
				done.Add(1)
				mu.Unlock()
				defer done.Done()
				// Cancelled by client-go when it stops renewing, or at
				// once when a read of the Lease shows another holder.
				leadCtx, cancel := context.WithCancel(leadCtx)
				defer cancel()
				e.mu.Lock()
				e.cancelLead = cancel
				wait := time.Until(e.notBefore)
				e.mu.Unlock()
				if wait > 0 {
					e.cfg.Logger.Warn("took a Lease nobody handed over (created anew, or emptied by hand): waiting a lease duration before acting", zap.Duration("wait", wait))
					select {
					case <-leadCtx.Done():
						return
					case <-time.After(wait):
					}
				}
				e.setLeading(true)
				lead(leadCtx)
			},
			OnStoppedLeading: func() {
				// Called before le.Run returns: note whether the claim
				// was still good, for release below.
				stillHeld = e.Check() == nil
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
	e.setLeading(false)
	mu.Lock()
	finished = true
	mu.Unlock()
	done.Wait()
	e.mu.Lock()
	steppedDown, claimEnd := e.steppedDown, e.claimEnd
	e.steppedDown = false
	e.mu.Unlock()
	switch {
	case steppedDown:
		e.handOver(ctx, lock, claimEnd)
	case ctx.Err() != nil && stillHeld:
		e.release(lock)
	}
	return nil
}

// handOver follows a StepDown: once the claim given up has ended (no
// request of this replica can arrive after it: internal/fence), the Lease
// is released so that a standby takes it at once, and this replica stays
// out of the election long enough for one to. Without that, the next term
// would find this replica's own name in the Lease and renew it at once,
// and step down again, for ever: no replica would act.
func (e *Elector) handOver(ctx context.Context, lock *timedLock, claimEnd time.Time) {
	if !sleepCtx(ctx, time.Until(claimEnd)) {
		// Shutting down: release all the same, once the claim is over.
		time.Sleep(time.Until(claimEnd))
	}
	// The raw lock: this term's timedLock refuses writes after StepDown.
	e.release(lock.Interface)
	if ctx.Err() != nil {
		return
	}
	out := e.cfg.LeaseDuration + 3*e.cfg.RetryPeriod
	e.cfg.Logger.Warn("stepped down: staying out of the election so another replica takes the Lease", zap.Duration("for", out))
	sleepCtx(ctx, out)
}

// sleepCtx waits d, or less when ctx ends first (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
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
		LeaseDurationSeconds: releasedDurationSeconds,
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
	// The Lease records its duration in whole seconds, and standbys go by
	// that: the claim never outlasts it, whatever the configuration says.
	claim := min(e.cfg.RenewDeadline, e.cfg.LeaseDuration.Truncate(time.Second))
	if until := start.Add(claim); until.After(e.validUntil) {
		e.validUntil = until
		e.validUntilWall = until.Round(0) // the wall clock reading of it
	}
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	changed := e.leading != v
	e.leading = v
	if !v {
		e.validUntil, e.validUntilWall = time.Time{}, time.Time{}
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
}

// releasedDurationSeconds marks a Lease given up by release (as client-go's
// own release does): a standby may take it over at once.
const releasedDurationSeconds = 1

// waitUntil makes this replica wait before acting as the leader.
func (e *Elector) waitUntil(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.After(e.notBefore) {
		e.notBefore = t
	}
}

// sent notes a Lease record this process is about to write.
func (e *Elector) sent(rec resourcelock.LeaderElectionRecord) {
	e.mu.Lock()
	defer e.mu.Unlock()
	limit := e.keep
	if limit <= 0 {
		limit = keptWrites
	}
	if len(e.wrote) >= limit {
		e.wrote = append(e.wrote[:0], e.wrote[1:]...)
	}
	e.wrote = append(e.wrote, rec)
}

// took notes a Lease record the API server took from this process: those
// sent before it are forgotten.
func (e *Elector) took(rec resourcelock.LeaderElectionRecord) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.taken = &rec
	e.wrote = e.wrote[:0]
}

// ours reports whether rec is a record this process wrote (or sent, its
// answer lost), as the API server gives it back.
func (e *Elector) ours(rec resourcelock.LeaderElectionRecord) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.taken != nil && sameRecord(*e.taken, rec) {
		return true
	}
	for _, w := range e.wrote {
		if sameRecord(w, rec) {
			return true
		}
	}
	return false
}

// sameRecord compares two Lease records as the Lease stores them (times
// to the microsecond).
func sameRecord(a, b resourcelock.LeaderElectionRecord) bool {
	same := func(x, y metav1.Time) bool {
		return x.Time.Truncate(time.Microsecond).Equal(y.Time.Truncate(time.Microsecond))
	}
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDurationSeconds == b.LeaseDurationSeconds &&
		a.LeaderTransitions == b.LeaderTransitions && same(a.AcquireTime, b.AcquireTime) && same(a.RenewTime, b.RenewTime)
}

// StepDown gives the leadership up from inside: this replica stops acting
// and renews the Lease no more in this term; once its claim has ended it
// releases the Lease for another replica, and competes again only a lease
// duration later (see handOver).
func (e *Elector) StepDown(why string) {
	e.mu.Lock()
	lock, leading, cancel := e.lock, e.leading, e.cancelLead
	if leading {
		e.steppedDown, e.claimEnd = true, e.validUntil
	}
	e.mu.Unlock()
	if !leading {
		return
	}
	e.cfg.Logger.Error("stepping down: "+why, zap.String("identity", e.cfg.Identity))
	if lock != nil {
		lock.mu.Lock()
		lock.refuse = true
		lock.mu.Unlock()
	}
	e.setLeading(false)
	if cancel != nil {
		cancel()
	}
}

// deposed stops leading at once: a read of the Lease shows another holder
// (client-go would notice only at its renew deadline).
func (e *Elector) deposed(holder string) bool {
	e.mu.Lock()
	leading, cancel := e.leading, e.cancelLead
	e.mu.Unlock()
	if !leading {
		return false
	}
	e.cfg.Logger.Warn("the Lease has another holder: this replica stops acting", zap.String("holder", holder))
	e.setLeading(false)
	if cancel != nil {
		cancel()
	}
	return true
}

// timedLock notes when each successful write of the Lease (acquire or
// renew) was started: the leader's claim counts from then. Each read
// showing another holder deposes this replica at once, and a deposed
// replica writes the Lease no more in that term (client-go would otherwise
// take an expired Lease back and keep it, acting no more: no one would
// lead). An acquisition nobody handed over (the Lease created anew, or
// emptied by hand) makes the new leader wait a whole lease duration: a
// leader of the deleted Lease may still be acting. So does one from a
// record someone else edited by hand (the holder set to this replica, a
// shorter leaseDurationSeconds): client-go waits only what the record
// says, and would act at once on a Lease handed to it, while the old
// holder acts on until its next renewal shows it the edit. The new leader
// acts only a whole lease duration after it first saw the record it
// replaced, which the old holder's claim cannot outlast.
type timedLock struct {
	resourcelock.Interface
	renewed func(start time.Time)
	deposed func(holder string) bool
	unsafe  func(until time.Time)
	lease   time.Duration
	// sent notes each record this process sends, took each one the API
	// server took; ours tells them.
	sent func(rec resourcelock.LeaderElectionRecord)
	took func(rec resourcelock.LeaderElectionRecord)
	ours func(rec resourcelock.LeaderElectionRecord) bool
	// wrote is told the outcome of each write, and nil when a read
	// shows a record changed by someone (see Elector.WriteRefused).
	wrote func(err error)

	mu       sync.Mutex
	observed *resourcelock.LeaderElectionRecord // last read
	// raw and observedAt: the last record read as the API server gave it,
	// and when this replica first read it.
	raw        []byte
	observedAt time.Time
	// absent: the last read found no Lease (see Elector.WriteRefused).
	absent bool
	refuse bool
}

// errDeposed fails the Lease writes of a deposed replica's term.
var errDeposed = errors.New("this replica was deposed: it takes part again in a new term")

func (l *timedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := l.Interface.Get(ctx)
	if apierrors.IsNotFound(err) {
		l.mu.Lock()
		// A Lease read before and gone now was changed by someone.
		changed := !l.observedAt.IsZero() && !l.absent
		l.absent = true
		l.mu.Unlock()
		if changed && l.wrote != nil {
			l.wrote(nil)
		}
	}
	if err == nil && rec != nil {
		l.mu.Lock()
		c := *rec
		l.observed = &c
		// A Lease found where the last read found none was created by
		// someone since: a Create of this replica's that failed between
		// the two reads is no longer why it does not hold it.
		changed := l.absent || (!l.observedAt.IsZero() && string(raw) != string(l.raw))
		l.absent = false
		if l.observedAt.IsZero() || string(raw) != string(l.raw) {
			l.raw, l.observedAt = append([]byte(nil), raw...), time.Now()
		}
		l.mu.Unlock()
		if changed && l.wrote != nil {
			// Someone wrote the Lease since: a write this replica saw
			// refused earlier no longer says why it does not hold it.
			l.wrote(nil)
		}
		if rec.HolderIdentity != "" && rec.HolderIdentity != l.Identity() && l.deposed(rec.HolderIdentity) {
			// This replica led in this term: it takes no part in it any
			// more (a standby reading the leader's Lease goes on).
			l.mu.Lock()
			l.refuse = true
			l.mu.Unlock()
		}
	}
	return rec, raw, err
}

func (l *timedLock) refused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refuse
}

func (l *timedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if l.refused() {
		return errDeposed
	}
	start := time.Now()
	l.sent(ler)
	err := l.Interface.Create(ctx, ler)
	l.noteOutcome(err)
	if err == nil {
		l.noteWritten(ler)
	}
	if err == nil && ler.HolderIdentity == l.Identity() {
		// No Lease was there: whoever led under one that was deleted
		// may act until its own claim ends.
		l.unsafe(start.Add(l.lease))
		l.renewed(start)
	}
	return err
}

func (l *timedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if l.refused() {
		return errDeposed
	}
	l.mu.Lock()
	prev, prevAt := l.observed, l.observedAt
	l.mu.Unlock()
	// Judged before the write: once the API server takes it, the records
	// sent before are forgotten.
	prevOurs := prev != nil && l.ours(*prev)
	start := time.Now()
	l.sent(ler)
	err := l.Interface.Update(ctx, ler)
	l.noteOutcome(err)
	if err == nil {
		l.noteWritten(ler)
	}
	if err == nil && ler.HolderIdentity == l.Identity() {
		switch {
		case prev == nil:
		case prev.HolderIdentity == "" && prev.LeaseDurationSeconds != releasedDurationSeconds:
			// Taken over from an empty holder that no release wrote
			// (edited by hand): as unsafe as a new Lease.
			l.unsafe(start.Add(l.lease))
		case prev.HolderIdentity == "":
			// Released: its holder let it go once its claim was over.
		case prev.HolderIdentity == l.Identity() && prevOurs:
			// A renewal of this process's own record.
		default:
			// Taken from another holder, or from a record naming this
			// replica that it did not write: a whole lease duration
			// after this replica first saw it, whatever the record says
			// (usually long past: client-go waited as long).
			l.unsafe(prevAt.Add(l.lease))
		}
		l.renewed(start)
	}
	return err
}

// noteOutcome tells wrote of a write's outcome.
func (l *timedLock) noteOutcome(err error) {
	if l.wrote != nil {
		l.wrote(err)
	}
}

// noteWritten makes what this replica wrote the record it last saw:
// client-go renews without reading first, and a takeover must be judged
// once, against the record before it.
func (l *timedLock) noteWritten(ler resourcelock.LeaderElectionRecord) {
	if l.took != nil {
		l.took(ler)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observed = &ler
}
