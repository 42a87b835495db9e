package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/run"
	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/memtrim"
	"github.com/rotatord/rotatord/internal/window"
	"github.com/rotatord/rotatord/rotation"
)

// Run runs the daemon until ctx is done. Every value sent on reload (the
// SIGHUP channel) reloads the policy file. It returns nil on a clean stop.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	// Work runs under its own context: a stop request lets the rotation in
	// flight finish (up to ShutdownTimeout) instead of cutting it at once.
	workCtx, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()

	// A broken web config file stops the start, before anything runs.
	if err := ValidateWebConfig(d.opts.Web.ConfigFile); err != nil {
		if d.opts.Listener != nil {
			d.opts.Listener.Close()
		}
		return err
	}
	lns, err := d.listen()
	if err != nil {
		return err
	}
	// One server per address, each with the same handler: the toolkit's
	// web.Serve puts TLS and basic auth on the server it is given, and
	// two of them on one server wrapped each other's (racing to).
	app := d.Handler()
	webs := make([]*webServer, len(lns))
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		webs[i] = d.newWebServer(ln, app)
		addrs[i] = ln.Addr().String()
	}
	started := []zap.Field{zap.String("listen", addrs[0])}
	if len(addrs) > 1 {
		// listen stays the first address, for what reads it as one.
		started = append(started, zap.Strings("listen_addresses", addrs))
	}
	d.log.Info("rotatord started", append(started,
		zap.String("config", d.opts.ConfigPath), zap.String("state_dir", d.Config().StateDir),
		zap.String("web_config_file", d.opts.Web.ConfigFile), zap.Bool("lifecycle", d.opts.Web.EnableLifecycle))...)

	var g run.Group

	// The reload loop's stop: closed as the stop begins, not at the
	// loop's own interrupt, which the group calls only after the
	// scheduler's, and that waits for the pass in flight (up to
	// ShutdownTimeout): a SIGHUP or /-/reload meanwhile was run, during
	// the stop, with RELOADING=1 and READY=1 sent after STOPPING=1.
	// stopMu orders the loop's check and RELOADING=1, and a reload's
	// point of no return (install), against the close and STOPPING=1: a
	// reload is either applied before the stop (and finishes), or not
	// applied at all. reloadCtx ends with it: a reload under way stops
	// waiting for the handlers in flight.
	var stopMu sync.Mutex
	reloadStop := make(chan struct{})
	reloadCtx, cancelReloads := context.WithCancel(context.Background())
	defer cancelReloads()
	closeReloads := sync.OnceFunc(func() {
		close(reloadStop)
		cancelReloads()
	})
	d.reloadStop.Store(&reloadStop)
	stopBegun := func() bool {
		select {
		case <-reloadStop:
			return true
		default:
			return false
		}
	}

	// Termination: the caller's context (signals) ends the group. Its
	// interrupt runs as the group begins to stop, whatever stopped it.
	{
		stop := make(chan struct{})
		g.Add(func() error {
			select {
			case <-ctx.Done():
			case <-stop:
			}
			return nil
		}, func(error) {
			// Before the scheduler's interrupt (added after this one):
			// from now on a pass starts no new rotation, and the reload
			// loop runs no new reload.
			d.stopping.Store(true)
			stopMu.Lock()
			closeReloads()
			d.notifyStopping()
			stopMu.Unlock()
			close(stop)
		})
	}

	// Scheduler: one cron entry per policy; rebuilt on reload. With
	// leader_election it runs only while this replica leads.
	var sched schedulerRef
	if d.elector == nil {
		sc := newScheduler(d, workCtx)
		sched.set(sc)
		g.Add(func() error {
			return sc.run()
		}, func(error) {
			sc.stop(d.opts.ShutdownTimeout, cancelWork)
		})
		stop := make(chan struct{})
		g.Add(func() error {
			d.deleteLoop(workCtx, stop, sc)
			return nil
		}, func(error) { close(stop) })
	} else {
		electCtx, cancelElect := context.WithCancel(context.Background())
		defer cancelElect()
		stopLeading := make(chan struct{})
		g.Add(func() error {
			return d.elector.Run(electCtx, func(leadCtx context.Context) {
				d.lead(leadCtx, func(leadCtx context.Context) {
					d.actWhileLeading(leadCtx, stopLeading, &sched)
				})
			})
		}, func(error) {
			// Stop the work while the Lease is still renewed, then leave
			// the election (which releases the Lease).
			close(stopLeading)
			sched.closeAndWait()
			cancelElect()
		})
		// Standby journal: a standby serves metrics from its copy of the
		// journal, read again every standbyJournalRefresh (ha.go).
		followCtx, cancelFollow := context.WithCancel(context.Background())
		g.Add(func() error {
			d.followJournal(followCtx)
			return nil
		}, func(error) { cancelFollow() })
	}

	// Reload: SIGHUP and POST /-/reload. reloadsAnswered is closed once
	// the loop owes no answer and will take no more reloads (the stop).
	reloadsAnswered := make(chan struct{})
	{
		g.Add(func() error {
			answered := sync.OnceFunc(func() { close(reloadsAnswered) })
			defer answered()
			for {
				var reply chan error
				select {
				case <-reloadStop:
					return nil
				case <-reload:
				case reply = <-d.reloadReq:
				}
				// A select takes any ready case: a reload that waited
				// while the stop began is not run then, but answered.
				stopMu.Lock()
				if stopBegun() {
					stopMu.Unlock()
					if reply != nil {
						reply <- errReloadStopping
					}
					return nil
				}
				d.notifyReloading()
				stopMu.Unlock()
				// A reload may wait long for the engines (a pass's or a
				// deletion round's API requests, a sink's write), which
				// a stop lets run for up to ShutdownTimeout, while the
				// web servers' grace is 5 s: one still waiting when the
				// stop begins is abandoned, and its caller told at once
				// that it did not apply. Only one past its point of no
				// return (committed) finishes, and is answered as it
				// went. It runs aside, so that the answer does not wait
				// for whatever it waits on to notice the stop.
				committed := false // under stopMu
				mayCommit := func() bool {
					stopMu.Lock()
					defer stopMu.Unlock()
					committed = !stopBegun()
					return committed
				}
				result := make(chan error, 1)
				go func() { result <- d.reload(reloadCtx, mayCommit) }()
				var err error
				select {
				case err = <-result:
				case <-reloadStop:
					stopMu.Lock()
					applies := committed
					stopMu.Unlock()
					if !applies {
						if reply != nil {
							reply <- errReloadStopping
							reply = nil
						}
						answered() // the web servers need not wait for the rest
					}
					// Abandoned, it changes nothing, and returns once
					// what it waits on heeds reloadCtx (the engines at
					// once; a credential read or an own store's repair
					// within their timeouts). The stop waits for it.
					err = <-result
				}
				if err == nil {
					sched.reschedule()
				}
				// systemd, told STOPPING=1 meanwhile, is not told
				// READY=1 after it.
				stopMu.Lock()
				if !stopBegun() {
					d.notifyReloaded(err)
				}
				stopMu.Unlock()
				if reply != nil {
					reply <- err
				}
			}
		}, func(error) { closeReloads() })
	}

	// HTTP servers: metrics, health, reload (web.go). The group calls its
	// interrupts one after the other: the first to run shuts every server
	// down at once (the others wait for it), so that a stop takes one
	// grace, not one per address, and no address accepts while another
	// waits for its requests.
	var shutdownOnce sync.Once
	shutdownAll := func(error) {
		shutdownOnce.Do(func() {
			// Not before the reload loop's last answer (its stop
			// began with the group's first interrupt): a reload that
			// applied as the stop began may outlast the grace, and
			// its caller must still learn it applied. The group
			// waits for the loop anyway.
			<-reloadsAnswered
			var wg sync.WaitGroup
			for _, web := range webs {
				wg.Go(web.shutdown)
			}
			wg.Wait()
		})
	}
	for _, web := range webs {
		g.Add(web.serve, shutdownAll)
	}

	// The listeners are bound and SIGHUP is taken (the reload channel):
	// systemd may count the start as done, and send reloads.
	d.notifyReady(strings.Join(addrs, ", "))
	err = g.Run()
	d.log.Info("rotatord stopped")
	return err
}

// listen returns the listeners Run serves on: the one it was given, or
// one bound on each --web.listen-address, else on the policy file's
// listen. Every address is bound before anything runs: one that cannot be
// stops the start, named, and those bound already are closed.
func (d *Daemon) listen() ([]net.Listener, error) {
	if d.opts.Listener != nil {
		return []net.Listener{d.opts.Listener}, nil
	}
	addr := d.Config().Listen
	if len(d.opts.Listen) == 0 {
		d.listening.Store(&addr)
		// Name where the address came from: the file's listen (an
		// operator with both did not know which to fix).
		source := "listen"
		if d.opts.ConfigPath != "" {
			source = d.opts.ConfigPath + ": listen"
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		return []net.Listener{ln}, nil
	}
	var lns []net.Listener
	for _, addr := range d.opts.Listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			// The address as given: Go's error names the one it
			// resolved to, and there may be several.
			return nil, fmt.Errorf("--web.listen-address=%s: %w", addr, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// deleteLoop carries out deletions when they become due: a timer armed
// for the earliest one (rotation.Engine.NextDeletion) after each round of
// deletions, and brought forward when a rotation delivered since falls
// due before it (wakeDeleter), so an old key goes within moments of the
// end of its grace period. DeleteCheckInterval bounds the wait, for
// deletions that are due but wait (a window, a backoff, a failed attempt).
// sc, the scheduler of the same work, follows a round up with a pass
// where a deletion found a new key gone (scheduler.followUp).
func (d *Daemon) deleteLoop(ctx context.Context, stop <-chan struct{}, sc *scheduler) {
	// round is when the last round of deletions began: what fell due
	// since was not in it.
	round := d.Now()
	wait := d.nextDeletionWait(round)
	deadline := d.Now().Add(wait) // when t fires
	t := time.NewTimer(wait)
	defer t.Stop()
	// Rounds run in the background (below). A stop lets them finish for
	// ShutdownTimeout, as a pass in flight, then cancels them: a consumer
	// check that hangs must not hold the stop for its whole timeout.
	roundCtx, cancelRounds := context.WithCancel(ctx)
	var rounds sync.WaitGroup
	defer func() {
		done := make(chan struct{})
		go func() { rounds.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(d.opts.ShutdownTimeout):
			d.log.Warn("stop: abandoning the deletions in flight; they are tried again at the next start")
			cancelRounds()
			<-done
		}
		cancelRounds()
	}()
	arm := func(wait time.Duration) {
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
		deadline = d.Now().Add(wait)
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-d.deleterWake:
			// A deletion was scheduled: the timer fires for it if it is
			// due first. NextDeletion is not asked here: it reads every
			// record, and a pass over 10,000 names delivers one every
			// few milliseconds (17 ms and 16 MB of garbage each time).
			if at, ok := d.takeWake(); ok {
				now := d.Now()
				if wait := d.waitUntil(at, now); now.Add(wait).Before(deadline) {
					arm(wait)
				}
			}
			continue
		case <-t.C:
			round = d.Now()
			// In the background: one name's consumer check (a
			// before_delete hook) may run for minutes, and the old keys
			// of the others must go when they are due, not after it. A
			// later round skips the names an earlier one still handles.
			rounds.Add(1)
			go func() {
				defer rounds.Done()
				reloaded := false
				start := d.Now()
				out := d.DeleteDue(roundCtx)
				var vanished []string
				for _, o := range out {
					if o.Decision.Reason == rotation.ReasonReloaded {
						reloaded = true
					}
					if o.Decision.Reason == rotation.ReasonNewKeyVanished && !slices.Contains(vanished, o.Policy) {
						vanished = append(vanished, o.Policy)
					}
					switch {
					case errors.Is(o.Err, rotation.ErrDeletionRefused):
						d.log.Warn("deletion refused; the key is left alone", zap.String("policy", o.Policy),
							zap.String("name", o.Name), zap.Error(o.Err))
					case o.Err != nil:
						d.log.Warn("deletion failed; will retry", zap.String("policy", o.Policy),
							zap.String("name", o.Name), zap.Error(o.Err))
					}
				}
				if len(vanished) > 0 && sc != nil {
					sc.followUp(vanished, out, start, nil)
				}
				if reloaded && d.awaitReloads(roundCtx) {
					// A reload waiting for the engines (a handler of
					// another name may hold it for minutes) made this
					// round skip due names: they go once it is over,
					// not at the next DeleteCheckInterval.
					d.wakeDeleter(d.Now())
				}
			}()
		}
		arm(d.nextDeletionWait(round))
	}
}

// awaitReloads returns once no reload holds or waits for an engine in
// force, or ctx ends (false).
func (d *Daemon) awaitReloads(ctx context.Context) bool {
	for _, a := range d.accountsInForce() {
		if !a.engine.AwaitReload(ctx) {
			return false
		}
	}
	return true
}

// skippedForReload reports whether a pass or a round left a name to the
// next one because of a reload (rotation.ReasonReloaded).
func skippedForReload(out []rotation.Outcome) bool {
	return slices.ContainsFunc(out, func(o rotation.Outcome) bool { return o.Decision.Reason == rotation.ReasonReloaded })
}

// nextDeletionWait is how long the deleter sleeps: until the earliest
// deletion that falls due after the last round began (none at once when
// one fell due during it), at most DeleteCheckInterval.
func (d *Daemon) nextDeletionWait(round time.Time) time.Duration {
	wait := d.opts.DeleteCheckInterval
	now := d.Now()
	for _, a := range d.accountsInForce() {
		if next, ok := a.engine.NextDeletion(round); ok {
			wait = min(wait, d.waitUntil(next, now))
		}
	}
	return wait
}

// waitUntil is how long the deleter sleeps for a deletion due at at: a
// few milliseconds past it, so the deletion finds it due, and at most
// DeleteCheckInterval. A time centuries ahead (an edited record) must
// not overflow into a negative wait: the timer would fire at once, after
// every round.
func (d *Daemon) waitUntil(at, now time.Time) time.Duration {
	const slack = 10 * time.Millisecond
	until := at.Sub(now) // saturates, never wraps
	if until >= d.opts.DeleteCheckInterval-slack {
		return d.opts.DeleteCheckInterval
	}
	return min(max(0, until)+slack, d.opts.DeleteCheckInterval)
}

// wakeDeleter tells the deleter a deletion was scheduled, due at at.
func (d *Daemon) wakeDeleter(at time.Time) {
	d.wakeMu.Lock()
	if d.wakeAt.IsZero() || at.Before(d.wakeAt) {
		d.wakeAt = at
	}
	d.wakeMu.Unlock()
	select {
	case d.deleterWake <- struct{}{}:
	default:
	}
}

// takeWake returns the earliest deletion scheduled since the last call.
func (d *Daemon) takeWake() (time.Time, bool) {
	d.wakeMu.Lock()
	defer d.wakeMu.Unlock()
	at := d.wakeAt
	d.wakeAt = time.Time{}
	return at, !at.IsZero()
}

// actWhileLeading runs the schedules and the deleter while this replica
// leads. Losing the Lease (leadCtx ends) cancels the work in flight at
// once: the next leader resumes it from the journal. A stop (stopLeading)
// lets it finish, up to the shutdown timeout, while the Lease is renewed.
func (d *Daemon) actWhileLeading(leadCtx context.Context, stopLeading <-chan struct{}, ref *schedulerRef) {
	if !ref.begin() {
		return // the daemon stops
	}
	defer ref.end()
	workCtx, cancelWork := context.WithCancel(leadCtx)
	defer cancelWork()
	sc := newScheduler(d, workCtx)
	ref.set(sc)
	go func() { _ = sc.run() }()
	deleterDone := make(chan struct{})
	stopDeleter := make(chan struct{})
	go func() { d.deleteLoop(workCtx, stopDeleter, sc); close(deleterDone) }()
	select {
	case <-leadCtx.Done():
		close(stopDeleter)
		sc.stop(0, cancelWork)
	case <-stopLeading:
		close(stopDeleter)
		sc.stop(d.opts.ShutdownTimeout, cancelWork)
		// The on_failure hooks still running get a stop's few seconds
		// while the Lease is still held: once it is released they are
		// cancelled (only the leader runs hooks), and their success could
		// no longer be recorded.
		d.waitHooks(hookStopWait)
	}
	<-deleterDone
}

// schedulerRef holds the scheduler in force, if any (none on a standby),
// for reloads to reschedule.
type schedulerRef struct {
	mu     sync.Mutex
	s      *scheduler
	active bool // actWhileLeading runs
	closed bool // the daemon stops: no leadership starts work any more
}

func (r *schedulerRef) set(s *scheduler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s = s
}

// begin marks a leadership's work as running, unless the daemon stops.
func (r *schedulerRef) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.active = true
	return true
}

func (r *schedulerRef) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active, r.s = false, nil
}

func (r *schedulerRef) reschedule() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s != nil {
		r.s.reschedule()
	}
}

// closeAndWait stops any leadership from starting work, and waits until
// the work running ends.
func (r *schedulerRef) closeAndWait() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for {
		r.mu.Lock()
		active := r.active
		r.mu.Unlock()
		if !active {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scheduler runs each policy on its cron schedule, with one pass of every
// policy at start (to resume whatever a crash interrupted).
type scheduler struct {
	d       *Daemon
	ctx     context.Context
	cron    *cron.Cron
	startup sync.WaitGroup // the pass at start, outside cron
	done    chan struct{}

	mu      sync.Mutex
	entries []cron.EntryID
	entryOf map[string]cron.EntryID // policy name: its entry
	specOf  map[string]string       // policy name: the schedule and windows of its entry
	stopped bool                    // stop has begun: start must not schedule anything
	// followUps are the passes armed for policies a pass left unsettled
	// (followUp), and followTries how many in a row were armed without a
	// time to go on at.
	followUps   map[string]*followUpTimer
	followTries map[string]int
	// vanishes counts, by policy, the passes armed in a row for
	// deletions that found a new key gone, each within vanishHorizon of
	// the one before, and vanishedAt is when the last one goes: a name
	// whose new keys keep vanishing (another tool deleting the keys
	// rotatord makes) must not rotate back to back (vanishedFollowUp).
	vanishes   map[string]int
	vanishedAt map[string]time.Time
}

// followUpTimer is a pass of one policy armed for at, by passes the
// latest of which began at since.
type followUpTimer struct {
	t     *time.Timer
	at    time.Time
	since time.Time
}

func newScheduler(d *Daemon, ctx context.Context) *scheduler {
	cl := cronLogger{d.log.Named("cron")}
	return &scheduler{
		d:    d,
		ctx:  ctx,
		cron: cron.New(cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)), cron.WithLogger(cl)),
		done: make(chan struct{}),
	}
}

func (s *scheduler) run() error {
	s.start()
	<-s.done
	return nil
}

// start schedules the policies and runs the pass at start, unless stop
// came first (a signal right at start). The mutex orders the Add before
// stop's Wait, so stop always waits for a pass that started.
func (s *scheduler) start() {
	s.reschedule()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.cron.Start()
	s.startup.Add(1)
	go func() {
		defer s.startup.Done()
		s.pass(nil)
	}()
}

// pass runs a scheduled pass of policies (nil: all of them), then gives
// back to the system the memory it and the start left behind: the daemon
// then waits, usually for hours, for the next one (see internal/memtrim).
// Not when a pass is due within keepMemoryWithin: it would only fault the
// same memory in again.
func (s *scheduler) pass(policies []string) {
	start := s.d.Now()
	out, err := s.d.RunPass(s.ctx, policies, rotation.Options{})
	// Names a reload made the pass skip (it waited for the engine, held
	// by another name's handler) go once it is over, not at the next
	// tick of the schedule (an hour, or the next day's window). A few
	// times at most: reloads that keep coming must not hold the job.
	for range 3 {
		if !skippedForReload(out) || !s.d.awaitReloads(s.ctx) {
			break
		}
		start = s.d.Now()
		out, err = s.d.RunPass(s.ctx, policies, rotation.Options{})
	}
	s.followUp(policies, out, start, failedAccounts(err))
	if !s.passWithin(keepMemoryWithin) {
		memtrim.Trim()
	}
}

// keepMemoryWithin is how soon a next pass must be for the memory of the
// last one to be kept. Giving it back costs the next pass the page faults
// of its heap and of the code it runs: at 10,000 names a pass with nothing
// to do took 62 ms after a trim and 30 ms without, against 25 ms for the
// listing alone (bench/README.md).
const keepMemoryWithin = time.Minute

// passWithin reports whether a scheduled pass is due within d.
func (s *scheduler) passWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for _, e := range s.cron.Entries() {
		if !e.Next.IsZero() && e.Next.Before(deadline) {
			return true
		}
	}
	return false
}

// minFollowUp is the least wait before a pass a pass left unsettled
// asked for: a time already past (a clock step) must not run passes back
// to back.
const minFollowUp = 5 * time.Second

// followUp arms a pass of each policy of the pass (nil: all of them) that
// it left unsettled or failed, for the earliest time it can go on, unless
// the policy's schedule runs before then:
//
//   - a rotation in flight (rotation.Engine.Unsettled: a create whose
//     outcome is unknown, a key not delivered yet, a rolled-back key not
//     shown yet) at the settle time of a create's search or the end of a
//     backoff. A create the API applies late thus loses its key within
//     the settle time, not at the next scheduled pass, which may be a day
//     away: meanwhile the key lives and nobody has its secret;
//   - a failed step with no rotation in flight (rotation.Engine.RetryDue:
//     a create the API refused) at the end of its backoff: a key due, or
//     a consumer's lost key, must not wait a day for the schedule;
//   - a name whose new key a deletion found gone (the deleter's round
//     or a pass: rotation.ReasonNewKeyVanished) at once: its rotation is
//     cleared, its sinks hold a key that signs nothing until it rotates
//     again, and nothing on record asks for that pass;
//   - a pass of a failed account (failed: its listing failed, its setup
//     is broken) after 1 minute, doubling to 1 hour, as failures back
//     off. So is a name in flight that waits for no time to come (a key
//     whose name the API never says, a time the pass that began at start
//     already saw over).
//
// Only times after start count: a backoff that ended before the pass
// began was the pass's to act on (it did, or the policy's windows are
// closed, and the schedule opens them). The times of delivered rotations
// (a deletion backing off) do not count: the deleter keeps them.
func (s *scheduler) followUp(policies []string, out []rotation.Outcome, start time.Time, failed map[string]bool) {
	setup := s.d.setup()
	if len(policies) == 0 {
		for name := range setup.accountOf {
			policies = append(policies, name)
		}
	}
	type policyName struct{ policy, name string }
	due := map[policyName]time.Time{}
	// A deletion that found a new key gone cleared its rotation: the
	// sinks hold a key that signs nothing until the name rotates again,
	// and nothing on record asks for that pass.
	vanished := map[string]bool{}
	for _, o := range out {
		if o.Decision.Reason == rotation.ReasonNewKeyVanished {
			vanished[o.Policy] = true
		}
		switch o.Decision.Reason {
		case rotation.ReasonCreateSettle, rotation.ReasonNewKeySettle, rotation.ReasonRollbackSettle, rotation.ReasonBackoff:
		default:
			continue
		}
		k := policyName{o.Policy, o.Name}
		if at, ok := due[k]; o.Decision.Action == rotation.ActionNone && o.Decision.Due.After(start) && (!ok || o.Decision.Due.Before(at)) {
			due[k] = o.Decision.Due
		}
	}
	now := s.d.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	for _, name := range policies {
		inFlight := s.d.unsettled(name)
		retry := s.d.retryDue(name, start)
		untimed := failed[setup.accountOf[name]]
		if len(inFlight) == 0 && retry.IsZero() && !untimed && !vanished[name] {
			// Not the follow-up of a pass that began after this one (they
			// overlap: a long pass, a follow-up or the schedule meanwhile):
			// its listing failed after this one's answered.
			if f := s.followUps[name]; f == nil || !f.since.After(start) {
				delete(s.followTries, name)
				if f != nil {
					f.t.Stop()
					delete(s.followUps, name)
				}
			}
			continue
		}
		at := retry
		for n := range inFlight {
			d, ok := due[policyName{name, n}]
			switch {
			case !ok:
				untimed = true
			case at.IsZero() || d.Before(at):
				at = d
			}
		}
		if untimed {
			if s.followTries == nil {
				s.followTries = map[string]int{}
			}
			s.followTries[name]++
			if b := now.Add(rotation.Backoff(s.followTries[name])); at.IsZero() || b.Before(at) {
				at = b
			}
		} else {
			delete(s.followTries, name)
		}
		if vanished[name] {
			// Not later than another name's settle time or backoff.
			if v := s.vanishedFollowUp(name, now); at.IsZero() || v.Before(at) {
				at = v
			}
		}
		at = later(at, now.Add(minFollowUp))
		if id, ok := s.entryOf[name]; ok {
			if next := s.cron.Entry(id).Next; !next.IsZero() && !next.After(at) {
				continue // the schedule comes first, and follows up itself
			}
		}
		since := start
		if f := s.followUps[name]; f != nil {
			if !f.at.After(at) {
				f.since = later(f.since, start)
				continue
			}
			f.t.Stop()
			since = later(f.since, start)
		}
		if s.followUps == nil {
			s.followUps = map[string]*followUpTimer{}
		}
		f := &followUpTimer{at: at, since: since}
		f.t = time.AfterFunc(at.Sub(now)+100*time.Millisecond, func() { s.runFollowUp(name, f) })
		s.followUps[name] = f
	}
}

// vanishHorizon is how long after the pass that followed a deletion
// that found a new key gone another such deletion of the same policy
// counts as a repeat (vanishedFollowUp). Longer than a cycle of create,
// deliver and a deleter's look (the settle time, a failed deletion's
// first backoffs): shorter cycles are a fight with whoever deletes the
// keys, not a key lost once.
const vanishHorizon = time.Hour

// vanishedFollowUp is when the pass that follows a deletion of policy
// name that found a new key gone goes: at once the first time; when
// such deletions repeat within vanishHorizon of the pass that followed
// the last one (someone deletes every key rotatord makes for the name),
// after a backoff as failures have (1 minute, doubling to 1 hour). A
// deletion before that pass ran (other names of the policy, a burst) is
// no repeat: the pass covers it. Each follow-up pass creates a key,
// delivers it and runs the hooks: at once every time, a name whose keys
// another tool keeps deleting rotated every minute or so, forever.
// Under s.mu.
func (s *scheduler) vanishedFollowUp(name string, now time.Time) time.Time {
	last, ok := s.vanishedAt[name]
	if ok && now.Before(last) {
		return last // the pass armed for the last one has not run yet
	}
	n := s.vanishes[name]
	if !ok || now.Sub(last) > vanishHorizon {
		n = 0
	}
	if s.vanishes == nil {
		s.vanishes, s.vanishedAt = map[string]int{}, map[string]time.Time{}
	}
	at := later(now.Add(rotation.Backoff(n)), now.Add(minFollowUp)) // at once (minFollowUp) the first time
	s.vanishes[name], s.vanishedAt[name] = n+1, at
	return at
}

// runFollowUp runs the pass f armed for policy name, unless stop has begun
// or another follow-up replaced it.
func (s *scheduler) runFollowUp(name string, f *followUpTimer) {
	s.mu.Lock()
	if s.stopped || s.followUps[name] != f {
		s.mu.Unlock()
		return
	}
	delete(s.followUps, name)
	// Under s.mu, before stop sets stopped: stop's Wait comes after.
	s.startup.Add(1)
	s.mu.Unlock()
	defer s.startup.Done()
	s.d.log.Debug("pass to settle a rotation in flight or retry a failure", zap.String("policy", name))
	s.pass([]string{name})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *scheduler) reschedule() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A policy whose schedule (and windows) a reload left as they were
	// keeps its entry, and with it its next run: "@every 1h" counts from
	// when it is scheduled, and reloads more often than that held every
	// scheduled pass off.
	old, oldSpec := s.entryOf, s.specOf
	s.entries = s.entries[:0]
	s.entryOf, s.specOf = map[string]cron.EntryID{}, map[string]string{}
	add := func(name, spec string, sched cron.Schedule) {
		id, ok := old[name]
		if ok && oldSpec[name] == spec {
			delete(old, name)
		} else {
			id = s.cron.Schedule(sched, cron.FuncJob(func() {
				s.pass([]string{name})
			}))
		}
		s.entries = append(s.entries, id)
		s.entryOf[name], s.specOf[name] = id, spec
	}
	for _, p := range s.d.Config().Policies {
		add(p.Name, fmt.Sprintf("%q %q", p.Schedule, p.Windows), withWindowOpenings(p.CronSchedule(), p.WindowSet(), s.d.Now))
	}
	for _, a := range s.d.Config().AccountsInUse() {
		if a.OwnKey == nil {
			continue
		}
		add(config.SelfPolicyName(a.Name), fmt.Sprintf("%q", a.OwnKey.Schedule), a.OwnKey.CronSchedule())
	}
	for _, id := range old { // policies removed, or rescheduled
		s.cron.Remove(id)
	}
}

// stop stops scheduling, waits up to timeout for running passes, then
// cancels them (a cancelled rotation is resumed or rolled back at the next
// start) and waits for them to return.
func (s *scheduler) stop(timeout time.Duration, cancel context.CancelFunc) {
	s.mu.Lock()
	s.stopped = true
	for _, f := range s.followUps {
		f.t.Stop()
	}
	s.mu.Unlock()
	jobs := s.cron.Stop()
	idle := make(chan struct{})
	go func() {
		<-jobs.Done()
		s.startup.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-time.After(timeout):
		s.d.log.Warn("stop: abandoning the rotation in flight; it resumes or rolls back at the next start")
		cancel()
		<-idle
	}
	close(s.done)
}

// withWindowOpenings adds a run at each opening of the windows to a
// policy's schedule: a rotation due outside its windows goes as soon as
// one opens, even when the schedule never ticks inside a window (daily at
// 03:00 with a 09:00-16:00 window). The openings are found on the
// daemon's clock (now), the one a pass judges the windows by, and timed
// on cron's: the two differ only when tests shift rotatord's clock
// (ROTATORD_TEST_CLOCK_OFFSET), and the pass at an opening must then come
// when that clock reaches it.
func withWindowOpenings(base cron.Schedule, windows window.Set, now func() time.Time) cron.Schedule {
	if len(windows) == 0 {
		return base
	}
	if now == nil {
		now = time.Now
	}
	return windowSchedule{base: base, windows: windows, now: now}
}

type windowSchedule struct {
	base    cron.Schedule
	windows window.Set
	now     func() time.Time // the daemon's clock
}

func (w windowSchedule) Next(t time.Time) time.Time {
	next := w.base.Next(t)
	shift := clockShift(w.now)
	if open := w.windows.NextOpening(t.Add(shift)); !open.IsZero() {
		if open = open.Add(-shift).In(t.Location()); next.IsZero() || open.Before(next) {
			return open
		}
	}
	return next
}

// clockShift is how far now (the daemon's clock) is ahead of the real
// one: exactly zero unless tests shift it. The real clock is read before
// and after now, and the shift lies between the two differences: when
// zero does, it is zero, however long the goroutine waited between the
// reads (preempted, a GC pause), which rounding a single difference did
// not ensure (half a millisecond moved an opening by one, and ran it
// twice). Else the middle, rounded, so that the reads do not move an
// opening by the nanoseconds between them.
func clockShift(now func() time.Time) time.Duration {
	before := time.Now()
	n := now()
	after := time.Now()
	lo, hi := n.Sub(after), n.Sub(before)
	if lo <= 0 && hi >= 0 {
		return 0
	}
	return (lo + (hi-lo)/2).Round(time.Millisecond)
}

// cronLogger adapts zap to cron's logger.
type cronLogger struct{ l *zap.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug(msg, zap.Any("details", kv)) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, zap.Error(err), zap.Any("details", kv))
}
