package rotation_test

// A deterministic simulation of the rotation engine (issue 10): an
// in-memory organization, journal and sinks (sim_world_test.go), a crash
// injected at every API call (before it takes effect, and after it did but
// before the answer) and at every durable write (journal Put and Delete,
// sink Write) of a rotation, then at every such point of the recovery
// that follows, under every fault kind, with the invariants checked along
// the way and after each recovery:
//
//  1. never more than 2 live keys per name (checked at every create);
//  2. no outage: no key a sink holds is deleted, no sink is given a key
//     that is not live (at every delete and write), and once recovered
//     every sink holds a live key;
//  3. no leak once quiescent: every live key of a managed name is held by
//     some sink;
//  4. eventual progress: on a healthy world a forced rotation ends with
//     exactly one live key, new, held by every sink;
//  5. no secret in the journal (every Put), the logs or returned errors;
//  6. rotatord's own key and keys of other names and roles are never
//     deleted.
//
// Every schedule is a subtest named by its layout, grace period, number of
// names, fault and crash points, so a failure replays alone:
//
//	go test ./rotation/ -run '^TestSimulation$/^RT$/^grace=1h$/^names=1$/^late-create-6$/^crash=007$/^crash2=003$' -v
//
// -short runs a subset.

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rotatord/rotatord/rotation"
)

type simLayout struct {
	name  string // R: readable sink, T: template sink, in policy order
	kinds []simSinkKind
}

func simLayoutOf(name string) simLayout {
	l := simLayout{name: name}
	for _, c := range name {
		if c == 'T' {
			l.kinds = append(l.kinds, simTemplate)
		} else {
			l.kinds = append(l.kinds, simReadable)
		}
	}
	return l
}

type simFault struct {
	name  string
	knobs simKnobs
}

// simSchedule is one run: everything it depends on.
type simSchedule struct {
	layout simLayout
	grace  time.Duration
	names  int
	fault  simFault
	crash  [2]int // crash point in the scenario, then in the recovery; -1: none
}

func simGraceName(d time.Duration) string {
	if d == 0 {
		return "grace=0"
	}
	return "grace=" + strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func simCrashName(i int) string {
	if i < 0 {
		return "none"
	}
	return fmt.Sprintf("%03d", i)
}

// path is the subtest path of the schedule, one element per level.
func (sc simSchedule) path() []string {
	p := []string{sc.layout.name, simGraceName(sc.grace), fmt.Sprintf("names=%d", sc.names), sc.fault.name, "crash=" + simCrashName(sc.crash[0])}
	if sc.crash[1] >= 0 {
		p = append(p, "crash2="+simCrashName(sc.crash[1]))
	}
	return p
}

func (sc simSchedule) String() string { return strings.Join(sc.path(), "/") }

// replay is the go test command that runs this schedule alone.
func (sc simSchedule) replay() string {
	parts := []string{"^TestSimulation$"}
	for _, p := range sc.path() {
		parts = append(parts, "^"+p+"$")
	}
	return fmt.Sprintf("go test ./rotation/ -run '%s' -v", strings.Join(parts, "/"))
}

var simIDs = regexp.MustCompile(`EXO[0-9a-f]{24}`)

type simResult struct {
	steps   [2][]string
	vs      []simViolation
	history []string
	trace   string // with ROTATORD_SIM_TRACE set: the engine's logs
	calls   int    // API calls of the scenario phase (crash-free run)
	puts    int    // journal Puts of the scenario phase
}

const (
	simRecoveryRounds = 3
	simSettleRounds   = 12
	simRound          = 2 * time.Hour // longer than the grace period and the longest backoff
)

// simRun plays one schedule to its end.
func simRun(sc simSchedule) simResult {
	_, r := simPlay(sc, simProgress)
	return r
}

// simPlay plays a schedule up to the end of phase last.
func simPlay(sc simSchedule, last simPhase) (*simWorld, simResult) {
	w := newSimWorld(sc)
	e := w.newEngine()

	// Setup: a first pass adopts the seeded keys. No faults, no crash.
	w.pass(e, rotation.Options{})
	w.mu.Lock()
	for _, n := range w.names {
		if _, ok := w.records[simRecKey(simPolicy, n)]; !ok {
			w.violateLocked("HARNESS", n, "the setup pass recorded nothing for %s", n)
		}
	}
	w.phase = simScenario
	w.knobs = sc.fault.knobs
	w.mu.Unlock()

	// Scenario: what a running daemon does around one forced rotation.
	alive := w.pass(e, rotation.Options{Force: true})
	if alive {
		w.advance(sc.grace + time.Minute)
		alive = w.deleteDue(e)
	}
	if alive {
		alive = w.pass(e, rotation.Options{IgnoreBackoff: true})
	}
	if alive {
		w.advance(sc.grace + time.Minute)
		alive = w.deleteDue(e)
	}
	w.mu.Lock()
	res := simResult{calls: w.calls, puts: w.puts, steps: w.steps}
	w.mu.Unlock()
	if last == simScenario {
		return w, res
	}
	w.setPhase(simRecovery)

	// Recovery: a restarted engine while the faults still hold.
	if k := sc.fault.knobs; !alive || k.journalLost || k.journalRestored || k.sinkAdded {
		e = w.newEngine()
	}
	for r := 0; r < simRecoveryRounds; r++ {
		if !w.round(e) {
			e = w.newEngine()
			break // the second crash: the rest of the recovery is healed
		}
	}

	// Heal: faults off, rounds until nothing changes.
	w.setPhase(simHeal)
	w.heal()
	if w.isCrashed() {
		e = w.newEngine()
	}
	w.settle(e)
	w.checkSettled()

	// Progress: a forced rotation on a healthy world goes through.
	w.setPhase(simProgress)
	w.mu.Lock()
	before := map[string][]string{}
	for _, n := range w.names {
		before[n] = w.liveLocked(n, true)
	}
	w.mu.Unlock()
	w.pass(e, rotation.Options{Force: true, IgnoreBackoff: true})
	w.settle(e)
	w.checkSettled()
	w.checkProgress(before)
	w.mu.Lock()
	w.secretsInLocked("SECRET-IN-LOG", "logs", w.logs.bytes())
	res.steps, res.vs, res.history = w.steps, w.vs, w.history
	if os.Getenv("ROTATORD_SIM_TRACE") != "" {
		res.trace = string(w.logs.bytes())
	}
	w.mu.Unlock()
	return w, res
}

// round is what the daemon does between two cron ticks: a pass, time
// passing, the deletion ticker.
func (w *simWorld) round(e *rotation.Engine) bool {
	if !w.pass(e, rotation.Options{IgnoreBackoff: true}) {
		return false
	}
	w.advance(simRound)
	return w.deleteDue(e)
}

// settle runs rounds until two in a row change nothing durable.
func (w *simWorld) settle(e *rotation.Engine) bool {
	quiet := 0
	for r := 0; r < simSettleRounds; r++ {
		w.mu.Lock()
		before := w.effects
		w.mu.Unlock()
		if !w.round(e) {
			return false // a hang; already reported
		}
		w.mu.Lock()
		changed := w.effects != before
		w.mu.Unlock()
		if changed {
			quiet = 0
		} else if quiet++; quiet == 2 {
			return true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []string
	for _, n := range w.names {
		if r, ok := w.records[simRecKey(simPolicy, n)]; ok && r.LastError != "" {
			errs = append(errs, fmt.Sprintf("%s: %s", n, simIDs.ReplaceAllStringFunc(r.LastError, simShort)))
		}
	}
	if simStuckAccepted(w.sc) != "" {
		return false
	}
	w.violateLocked("NOT-SETTLED", "", "still changing after %d rounds on a healthy world; last errors: %s", simSettleRounds, strings.Join(errs, "; "))
	return false
}

// checkSettled checks invariants 2 and 3 on a world at rest.
func (w *simWorld) checkSettled() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.names {
		for _, id := range w.liveLocked(n, false) {
			held := false
			for _, s := range w.sinks {
				held = held || (s.active && s.held[n].keyID == id)
			}
			if !held && simStuckAccepted(w.sc) == "" {
				w.violateLocked("LEAK", n, "%s of %s is live and no sink holds it (live %s, sinks hold %s)",
					simShort(id), n, simShorts(w.liveLocked(n, true)), w.heldLocked(n))
			}
		}
		if w.outOfReachLocked(n) {
			continue
		}
		for i, s := range w.sinks {
			h, ok := s.held[n]
			if ok && s.active && w.keys[h.keyID] == nil {
				w.violateLocked("OUTAGE-AT-REST", fmt.Sprint(n, i), "sink#%d holds %s for %s, which is not live (live %s)",
					i, simShort(h.keyID), n, simShorts(w.liveLocked(n, true)))
			}
		}
	}
	for id, why := range w.protected {
		if w.keys[id] == nil {
			w.violateLocked("PROTECTED-KEY-DELETED", id, "%s is gone: %s", simShort(id), why)
		}
	}
}

// outOfReachLocked reports a name whose every key is gone, some deleted
// by someone else: rotatord then forgets the name (nothing left to copy a
// role from); its sinks hold a dead key through no fault of the engine.
func (w *simWorld) outOfReachLocked(name string) bool {
	if len(w.liveLocked(name, true)) > 0 {
		return false
	}
	for _, n := range w.gone {
		if n == name {
			return true
		}
	}
	return false
}

func (w *simWorld) heldLocked(name string) string {
	var s []string
	for i, st := range w.sinks {
		s = append(s, fmt.Sprintf("sink#%d:%s", i, simShort(st.held[name].keyID)))
	}
	return strings.Join(s, " ")
}

// simStuckAccepted says why a schedule may end with a name that cannot
// make progress by itself, "" when it must progress. Those are the cases
// the README documents as needing an operator: no invariant but progress
// (and, for a name rotatord cannot read, the settling) is relaxed.
func simStuckAccepted(sc simSchedule) string {
	k := sc.fault.knobs
	if !strings.Contains(sc.layout.name, "R") && (k.journalLost || k.journalRestored) {
		return "the journal was lost or restored and the only sink cannot be read back: nothing can prove which key it holds"
	}
	return ""
}

// checkProgress checks invariant 4 after the forced rotation settled.
func (w *simWorld) checkProgress(before map[string][]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if simStuckAccepted(w.sc) != "" {
		return
	}
	for _, n := range w.names {
		live := w.liveLocked(n, true)
		if len(live) == 0 && w.outOfReachLocked(n) {
			continue
		}
		if len(live) == 2 && len(w.liveLocked(n, false)) == 1 {
			// A key someone else made under the name and role: rotatord
			// never makes a third key, so the name waits until someone
			// deletes one (README, "Two live keys and no rotation").
			continue
		}
		if len(live) != 1 {
			w.violateLocked("NO-PROGRESS", n, "after a forced rotation on a healthy world %s has live keys %s (before %s), want exactly one; sinks hold %s",
				n, simShorts(live), simShorts(before[n]), w.heldLocked(n))
			continue
		}
		id := live[0]
		for _, old := range before[n] {
			if old == id {
				w.violateLocked("NO-PROGRESS", n, "the forced rotation of %s made no new key: %s is still the only one", n, simShort(id))
			}
		}
		k := w.keys[id]
		for i, s := range w.sinks {
			if h := s.held[n]; h.keyID != id || h.secret != k.secret {
				w.violateLocked("NO-PROGRESS", n, "after a forced rotation sink#%d holds %s for %s, not the only live key %s",
					i, simShort(h.keyID), n, simShort(id))
			}
		}
	}
}

// --- enumeration ---

// simFaults lists the fault kinds for a layout; calls and puts are the
// scenario's API calls and journal Puts without faults, so that a fault
// can hit each of them (unless few is set).
func simFaults(l simLayout, calls, puts int, few bool) []simFault {
	f := []simFault{
		{"none", simKnobs{}},
		{"ambiguous-create-made", simKnobs{create: simCreateLost}},
		{"ambiguous-create-not-made", simKnobs{create: simCreateNotCreated}},
		{"late-create-2", simKnobs{create: simCreateLate, lateCalls: 2}},
		{"late-create-6", simKnobs{create: simCreateLate, lateCalls: 6}},
		{"get-lag-1", simKnobs{getLag: 1}},
		{"get-lag-3", simKnobs{getLag: 3}},
		{"list-lag-1", simKnobs{listLag: 1}},
		{"list-lag-3", simKnobs{listLag: 3}},
		{"delete-fails-1", simKnobs{deleteFail: 1}},
		{"delete-fails-3", simKnobs{deleteFail: 3}},
		{"delete-answer-lost", simKnobs{deleteLost: 1}},
		{"clock-behind-1d", simKnobs{clockBehind: 24 * time.Hour}},
		{"foreign-delete-old@call=3", simKnobs{foreignDeleteAt: 3, foreignDeleteOld: true}},
		{"journal-lost-on-restart", simKnobs{journalLost: true}},
		{"journal-restored-on-restart", simKnobs{journalRestored: true}},
		{"template-sink-added-on-restart", simKnobs{sinkAdded: true}},
	}
	for _, n := range []int{3, 6, 9} {
		f = append(f, simFault{fmt.Sprintf("foreign-create@call=%d", n), simKnobs{foreignCreateAt: n}})
		f = append(f, simFault{fmt.Sprintf("foreign-delete-new@call=%d", n), simKnobs{foreignDeleteAt: n}})
	}
	for i := range l.kinds {
		f = append(f,
			simFault{fmt.Sprintf("sink%d-write-fails", i), simKnobs{sink: i, writeFail: -1}},
			simFault{fmt.Sprintf("sink%d-write-fails-once", i), simKnobs{sink: i, writeFail: 1}},
			simFault{fmt.Sprintf("sink%d-write-answer-lost", i), simKnobs{sink: i, writeLost: 1}},
			simFault{fmt.Sprintf("sink%d-read-fails", i), simKnobs{sink: i, readFail: true}},
			simFault{fmt.Sprintf("sink%d-verify-fails", i), simKnobs{sink: i, verifyFail: 1}},
		)
	}
	if few {
		return f
	}
	for n := 1; n <= calls; n++ {
		f = append(f, simFault{fmt.Sprintf("api-503@call=%d", n), simKnobs{unavailAt: n}})
	}
	for n := 1; n <= puts; n++ {
		f = append(f, simFault{fmt.Sprintf("journal-put-fails@put=%d", n), simKnobs{putFailAt: n}})
	}
	return f
}

// simPairFaults get every pair of crash points with a readable and a
// template sink (RT, TR), a grace period and one name; without faults
// every layout gets them. Every other schedule gets every single crash
// point. It bounds the run: pairs are about 20 times as many.
var simPairFaults = map[string]bool{
	"none": true, "ambiguous-create-made": true, "late-create-2": true, "get-lag-1": true,
	"sink0-write-fails": true, "sink0-write-answer-lost": true, "template-sink-added-on-restart": true,
}

func simPairs(sc simSchedule, short bool) bool {
	switch {
	case sc.names > 1 || sc.grace == 0:
		return false
	case short:
		return sc.fault.name == "none" && sc.layout.name == "RT"
	case sc.fault.name == "none":
		return true
	}
	return simPairFaults[sc.fault.name] && (sc.layout.name == "RT" || sc.layout.name == "TR")
}

// simStats gathers what the schedules found, for the summary at the end.
type simStats struct {
	mu        sync.Mutex
	schedules int
	failed    int
	byCause   map[string][]string // kind + fault-free description -> schedules
}

func (s *simStats) add(sc simSchedule, r simResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules++
	if len(r.vs) == 0 {
		return
	}
	s.failed++
	where := sc.String()
	for i, c := range sc.crash {
		if c >= 0 && c < len(r.steps[i]) {
			where += "\t" + r.steps[i][c]
		}
	}
	for _, v := range r.vs {
		cause := v.Kind + ": " + simGeneric(v.What)
		s.byCause[cause] = append(s.byCause[cause], where)
	}
}

// simGeneric strips key ids and sink contents from a violation so that
// failures with one cause group together.
func simGeneric(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 'k' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' && (i == 0 || s[i-1] == ' ' || s[i-1] == '[' || s[i-1] == ':') {
			b.WriteString("K")
			for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func simReport(t *testing.T, sc simSchedule, r simResult) {
	t.Helper()
	if len(r.vs) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "schedule %s\nreplay: %s\n", sc, sc.replay())
	for i, c := range sc.crash {
		if c >= 0 && c < len(r.steps[i]) {
			fmt.Fprintf(&b, "crash %d at %s step %d: %s\n", i+1, []string{"scenario", "recovery"}[i], c, r.steps[i][c])
		}
	}
	for _, v := range r.vs {
		fmt.Fprintf(&b, "  %s\n", v)
	}
	fmt.Fprintf(&b, "keys created and deleted:\n  %s", strings.Join(r.history, "\n  "))
	if r.trace != "" {
		for i, ph := range []string{"scenario", "recovery"} {
			fmt.Fprintf(&b, "\n%s crash points:\n  %s", ph, strings.Join(r.steps[i], "\n  "))
		}
		fmt.Fprintf(&b, "\nengine logs:\n%s", r.trace)
	}
	t.Error(b.String())
}

func TestSimulation(t *testing.T) {
	start := time.Now()
	short := testing.Short()
	stats := &simStats{byCause: map[string][]string{}}
	layouts := []string{"R", "RT", "TR", "T", "RR"}
	graces := []time.Duration{0, time.Hour}
	if short {
		layouts = []string{"R", "RT", "T"}
		graces = []time.Duration{time.Hour}
	}
	type group struct {
		layout string
		grace  time.Duration
		names  int
	}
	var groups []group
	for _, l := range layouts {
		for _, g := range graces {
			groups = append(groups, group{l, g, 1})
		}
	}
	if !short {
		groups = append(groups, group{"RT", time.Hour, 2}, group{"RR", 0, 2})
	}

	t.Cleanup(func() { simSummary(t, stats, start) })
	for _, g := range groups {
		base := simSchedule{layout: simLayoutOf(g.layout), grace: g.grace, names: g.names,
			fault: simFault{name: "none"}, crash: [2]int{-1, -1}}
		clean := simRun(base)
		for _, f := range simFaults(base.layout, clean.calls, clean.puts, short || g.grace == 0 || g.names > 1) {
			sc := base
			sc.fault = f
			if f.knobs.sinkAdded && !strings.Contains(sc.layout.name, "R") {
				continue // two template sinks and none readable: the config refuses that policy
			}
			pairs := simPairs(sc, short)
			name := strings.Join(sc.path()[:4], "/")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				simEnumerate(t, sc, pairs, stats)
			})
		}
	}
}

// simSummary logs how many schedules ran and groups the broken invariants
// by cause; ROTATORD_SIM_REPORT=FILE writes every failing schedule there,
// with the crash points' labels after tabs.
func simSummary(t *testing.T, stats *simStats, start time.Time) {
	t.Logf("%d schedules, %d with a broken invariant, in %v", stats.schedules, stats.failed, time.Since(start).Round(time.Millisecond))
	causes := make([]string, 0, len(stats.byCause))
	for c := range stats.byCause {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	var b strings.Builder
	for _, c := range causes {
		list := stats.byCause[c]
		sort.Strings(list)
		fmt.Fprintf(&b, "%5d  %s\n", len(list), c)
		for i, s := range list {
			if i == 3 {
				fmt.Fprintf(&b, "         ...\n")
				break
			}
			fmt.Fprintf(&b, "         %s\n", s)
		}
	}
	if len(causes) > 0 {
		t.Logf("broken invariants by cause (count, cause, first schedules):\n%s", b.String())
	}
	if path := os.Getenv("ROTATORD_SIM_REPORT"); path != "" {
		var full strings.Builder
		for _, c := range causes {
			fmt.Fprintf(&full, "== %d %s\n", len(stats.byCause[c]), c)
			for _, s := range stats.byCause[c] {
				fmt.Fprintf(&full, "%s\n", s)
			}
		}
		if err := os.WriteFile(path, []byte(full.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// simEnumerate runs the schedule without a crash, then with a crash at
// each of its crash points and, when pairs is set, with a second crash at
// each crash point of the recovery that follows.
func simEnumerate(t *testing.T, sc simSchedule, pairs bool, stats *simStats) {
	sc.crash = [2]int{-1, -1}
	r := simRun(sc)
	stats.add(sc, r)
	t.Run("crash=none", func(t *testing.T) { simReport(t, sc, r) })
	for k := range r.steps[0] {
		sc1 := sc
		sc1.crash = [2]int{k, -1}
		t.Run("crash="+simCrashName(k), func(t *testing.T) {
			r1 := simRun(sc1)
			stats.add(sc1, r1)
			simReport(t, sc1, r1)
			if !pairs {
				return
			}
			for j := range r1.steps[1] {
				sc2 := sc1
				sc2.crash[1] = j
				t.Run("crash2="+simCrashName(j), func(t *testing.T) {
					r2 := simRun(sc2)
					stats.add(sc2, r2)
					simReport(t, sc2, r2)
				})
			}
		})
	}
}

// TestSimulationHarness checks the simulation itself: a crash stops the
// engine dead at the crash point asked for, before or after the effect.
func TestSimulationHarness(t *testing.T) {
	for _, layout := range []string{"R", "RT", "T"} {
		sc := simSchedule{layout: simLayoutOf(layout), grace: time.Hour, names: 2, fault: simFault{name: "none"}, crash: [2]int{-1, -1}}
		_, clean := simPlay(sc, simScenario)
		if len(clean.steps[0]) < 10 {
			t.Fatalf("%s: only %d crash points in the scenario: %q", layout, len(clean.steps[0]), clean.steps[0])
		}
		for k, label := range clean.steps[0] {
			sc.crash[0] = k
			w, r := simPlay(sc, simScenario)
			if n := len(r.steps[0]); n != k+1 || r.steps[0][k] != label {
				t.Fatalf("%s crash=%d (%s): the engine went on after the crash: %d crash points, last %q",
					layout, k, label, n, r.steps[0][n-1])
			}
			if !w.isCrashed() {
				t.Fatalf("%s crash=%d: not crashed", layout, k)
			}
			// The effect of the call the crash interrupts is there after
			// it and not before it.
			created := 0
			for _, h := range w.history {
				if strings.HasPrefix(h, "scenario: create") {
					created++
				}
			}
			before := 0
			for _, l := range clean.steps[0][:k+1] {
				if strings.HasPrefix(l, "after CreateKey") {
					before++
				}
			}
			if created != before {
				t.Fatalf("%s crash=%d (%s): %d keys created, want %d", layout, k, label, created, before)
			}
		}
	}
}
