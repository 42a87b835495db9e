package rotation_test

// The world of the deterministic simulation (simulation_test.go): an
// in-memory organization, journal and sinks that survive a crash of the
// engine, with crash points around every effectful call and the faults a
// schedule asks for. Everything here is deterministic: the engine runs one
// name at a time (Concurrency 1), the clock moves only when the world says
// so, and listings are sorted.
//
// A crash is runtime.Goexit in the engine's goroutine at a crash point:
// the goroutine stops dead, its deferred calls run (so Pass and DeleteDue
// still return), and every later call into the world by that engine
// (its epoch) stops the same way before it has any effect. A new engine
// over the same world is the restarted process.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rotatord/rotatord/apiclient"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

const (
	simRole      = "11111111-aaaa-4aaa-8aaa-111111111111"
	simRoleOther = "22222222-bbbb-4bbb-8bbb-222222222222"
	simPolicy    = "ci"
	simOwnName   = "ci-rotatord" // rotatord's own key, under a name the policy matches
	simOtherName = "other-x"     // a key no policy matches
)

var simStart = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// simPhase is where a schedule stands. Crash points are counted in the
// scenario (first crash) and in the first recovery (second crash).
type simPhase int

const (
	simSetup    simPhase = iota // keys seeded, a first pass adopts them; no faults
	simScenario                 // the rotation under test, with faults
	simRecovery                 // a restarted engine, faults still in force
	simHeal                     // faults off, rounds until nothing changes
	simProgress                 // a forced rotation on a healthy world
)

func (p simPhase) String() string {
	return [...]string{"setup", "scenario", "recovery", "heal", "progress"}[p]
}

type simSinkKind int

const (
	simReadable simSinkKind = iota // gives back key id and secret (json, env, Vault)
	simTemplate                    // a free-form template: unreadable, fingerprinted
)

type simCreateFault int

const (
	simCreateOK         simCreateFault = iota
	simCreateLost                      // made, answer lost: ErrAmbiguousCreate
	simCreateNotCreated                // not made, but ErrAmbiguousCreate
	simCreateLate                      // ErrAmbiguousCreate, made lateCalls API calls later
)

// simKnobs are the faults in force. The zero value is a healthy world.
// Counters (n > 0: the next n times) count down as they fire.
type simKnobs struct {
	create    simCreateFault // applies to the first create after the setup
	lateCalls int            // lands this many API calls later, or simLagWindow later if sooner

	unavailAt int // the API call with this number (from the scenario's start) answers 503
	putFailAt int // the journal Put with this number (from the scenario's start) fails

	getLag     int // a key created now answers 404 to its first getLag GETs (within simLagWindow)
	listLag    int // a key created now misses its first listLag listings; a deleted one stays that long (within simLagWindow)
	deleteFail int // the next deleteFail deletes fail, the key stays
	deleteLost int // the next deleteLost deletes take effect, then answer an error

	foreignCreateAt  int  // at this API call someone else creates a key of the first name and role
	foreignDeleteAt  int  // at this API call someone else deletes the first name's newest key
	foreignDeleteOld bool // ... its initial key instead

	clockBehind time.Duration // a restarted engine's clock is this much behind

	// At the first restart (forced at the recovery's start if nothing
	// crashed): the state directory is lost, or restored from a backup
	// taken just after the scenario's first Put (the intent)...
	journalLost, journalRestored bool
	// ... or a template sink that holds the name's initial key is added
	// to the policy (a reload during the grace period).
	sinkAdded bool

	sink       int // the sink the sink faults hit
	writeFail  int // -1: every write fails; n > 0: the next n
	writeLost  int // the next n writes take effect, then answer an error
	readFail   bool
	verifyFail int // the next n Verify answer an I/O error
}

// A lag or a late create lasts at most this long: less than the engine's
// CreateSettle (2 minutes by default), the time after which a listing is
// trusted to show every key a create made. The API promises that much
// (requests time out before), so a longer lag is not a fault to survive.
const simLagWindow = 90 * time.Second

type simKey struct {
	apiclient.Key
	born    time.Time
	secret  string
	foreign bool
	getLag  int
	listLag int
}

type simPending struct {
	name, role string
	at         int       // the API call it lands at, or
	by         time.Time // the time it lands by
}

type simGhost struct {
	key   apiclient.Key
	left  int
	until time.Time
}

type simHeld struct{ keyID, secret, content string }

type simSinkState struct {
	kind   simSinkKind
	held   map[string]simHeld
	active bool // in the policy (a sink added on restart is not, before)
}

// simViolation is a broken invariant, with where it happened.
type simViolation struct {
	Kind  string // LEAK, OUTAGE, ... (groups failures by cause)
	Phase simPhase
	Step  int // crash-point count in the phase when it happened (-1 outside)
	What  string
}

func (v simViolation) String() string {
	at := v.Phase.String()
	if v.Step >= 0 {
		at += fmt.Sprintf(" step %d", v.Step)
	}
	return fmt.Sprintf("%s [%s]: %s", v.Kind, at, v.What)
}

type simWorld struct {
	mu sync.Mutex

	sc      simSchedule
	knobs   simKnobs
	phase   simPhase
	now     time.Time
	epoch   int
	crashed bool
	crashAt [2]int
	steps   [2][]string
	effects int // durable effects made by the engine

	keys    map[string]*simKey
	nextID  int
	calls   int // API calls since the scenario started
	puts    int // journal Puts since the scenario started
	creates int
	pending []simPending
	ghosts  map[string]*simGhost
	gone    map[string]string // key id -> name, for keys deleted by someone else
	history []string
	issued  []string

	// The journal: disk holds each record as written (JSON), records is
	// the process's view of it, read back from disk at every restart,
	// like state.Store.
	disk    map[string][]byte // policy \x00 name -> the record's JSON
	records map[string]state.Record
	backup  map[string][]byte // disk just after the scenario's first Put

	sinks []*simSinkState

	names     []string
	ownID     string
	protected map[string]string
	initial   map[string]string
	seen      map[string]bool
	vs        []simViolation

	logs simLogBuffer
	log  *zap.Logger
}

type simLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *simLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *simLogBuffer) Sync() error { return nil }

func (b *simLogBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func newSimWorld(sc simSchedule) *simWorld {
	w := &simWorld{
		sc: sc, now: simStart, crashAt: sc.crash,
		keys: map[string]*simKey{}, ghosts: map[string]*simGhost{}, gone: map[string]string{},
		records: map[string]state.Record{}, disk: map[string][]byte{}, protected: map[string]string{}, initial: map[string]string{},
		seen: map[string]bool{},
	}
	enc := zap.NewProductionEncoderConfig()
	w.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), &w.logs, zapcore.DebugLevel))
	for _, k := range sc.layout.kinds {
		w.sinks = append(w.sinks, &simSinkState{kind: k, held: map[string]simHeld{}, active: true})
	}
	if sc.fault.knobs.sinkAdded {
		w.sinks = append(w.sinks, &simSinkState{kind: simTemplate, held: map[string]simHeld{}})
	}
	for i := 0; i < sc.names; i++ {
		w.names = append(w.names, fmt.Sprintf("ci-%c", 'a'+i))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	own := w.createLocked(simOwnName, simRole, false, "seed")
	w.ownID = own.ID
	w.protected[own.ID] = "rotatord's own key"
	other := w.createLocked(simOtherName, simRole, false, "seed")
	w.protected[other.ID] = "a key of a name no policy matches"
	for _, n := range w.names {
		k := w.createLocked(n, simRole, false, "seed")
		w.initial[n] = k.ID
		for _, s := range w.sinks {
			if s.active {
				s.held[n] = simHeld{keyID: k.ID, secret: k.secret, content: simRender(n, k.ID, k.secret)}
			}
		}
		o := w.createLocked(n, simRoleOther, false, "seed")
		w.protected[o.ID] = "a key of another role under a managed name"
	}
	return w
}

func simRender(name, keyID, sec string) string {
	return fmt.Sprintf("[accounts.%s]\nkey = %q\nsecret = %q\n", name, keyID, sec)
}

func simDigest(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// short names a key in labels: k5 for EXO…05.
func simShort(id string) string {
	n, err := strconv.ParseUint(strings.TrimLeft(strings.TrimPrefix(id, "EXO"), "0"), 16, 64)
	if err != nil || !strings.HasPrefix(id, "EXO") {
		return id
	}
	return fmt.Sprintf("k%d", n)
}

func (w *simWorld) managed(name string) bool {
	for _, n := range w.names {
		if n == name {
			return true
		}
	}
	return false
}

func (w *simWorld) stepLocked() int {
	switch w.phase {
	case simScenario:
		return len(w.steps[0])
	case simRecovery:
		return len(w.steps[1])
	}
	return -1
}

// violateLocked records a broken invariant, once per kind and subject.
func (w *simWorld) violateLocked(kind, subject, format string, args ...any) {
	if w.seen[kind+"\x00"+subject] {
		return
	}
	w.seen[kind+"\x00"+subject] = true
	w.vs = append(w.vs, simViolation{Kind: kind, Phase: w.phase, Step: w.stepLocked(), What: fmt.Sprintf(format, args...)})
}

func (w *simWorld) violate(kind, subject, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.violateLocked(kind, subject, format, args...)
}

// point is a crash point: the schedule's crash happens here if its number
// in the phase is the one asked for.
func (w *simWorld) point(label string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := -1
	switch w.phase {
	case simScenario:
		i = 0
	case simRecovery:
		i = 1
	}
	if i < 0 {
		return
	}
	n := len(w.steps[i])
	w.steps[i] = append(w.steps[i], label)
	if n == w.crashAt[i] {
		w.crashed = true
		runtime.Goexit() // the deferred unlock runs
	}
}

// enter stops a crashed engine, or one of an earlier life, before it
// touches anything.
func (w *simWorld) enter(epoch int) {
	w.mu.Lock()
	dead := w.crashed || epoch != w.epoch
	w.mu.Unlock()
	if dead {
		runtime.Goexit()
	}
}

func (w *simWorld) isCrashed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crashed
}

func (w *simWorld) setPhase(p simPhase) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = p
}

func (w *simWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// clock is the engine's Now: the world's time, behind after a restart when
// the schedule says so.
func (w *simWorld) clock(epoch int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if epoch > 1 {
		return w.now.Add(-w.knobs.clockBehind)
	}
	return w.now
}

// heal turns every fault off. Creates already on their way still land.
func (w *simWorld) heal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.knobs = simKnobs{}
	for _, k := range w.keys {
		k.getLag, k.listLag = 0, 0
	}
	w.ghosts = map[string]*simGhost{}
}

// --- the organization ---

func (w *simWorld) createLocked(name, role string, foreign bool, why string) *simKey {
	w.nextID++
	id := fmt.Sprintf("EXO%024x", w.nextID)
	k := &simKey{Key: apiclient.Key{ID: id, Name: name, RoleID: role}, foreign: foreign, born: w.now,
		secret: fmt.Sprintf("simsecret-%04d-%x", w.nextID, sha256.Sum256([]byte(id)))[:40]}
	if w.phase != simSetup && !foreign {
		k.getLag, k.listLag = w.knobs.getLag, w.knobs.listLag
	}
	w.keys[id] = k
	w.issued = append(w.issued, k.secret)
	w.history = append(w.history, fmt.Sprintf("%s: create %s %s (%s)", w.phase, simShort(id), name, why))
	if w.managed(name) && role == simRole && !foreign {
		if live := w.liveLocked(name, false); len(live) > 2 {
			w.violateLocked("MORE-THAN-2-KEYS", name, "%d live keys of %s: %s", len(live), name, simShorts(live))
		}
	}
	return k
}

// liveLocked lists the live keys of a managed name and role, with those of
// someone else or not.
func (w *simWorld) liveLocked(name string, withForeign bool) []string {
	var ids []string
	for id, k := range w.keys {
		if k.Name == name && k.RoleID == simRole && (withForeign || !k.foreign) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func simShorts(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = simShort(id)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (w *simWorld) deleteLocked(id string, byEngine bool) {
	k := w.keys[id]
	if k == nil {
		return
	}
	who := "someone else"
	if byEngine {
		who = "engine"
		if why, ok := w.protected[id]; ok {
			w.violateLocked("PROTECTED-KEY-DELETED", id, "deleted %s (%s): %s", simShort(id), k.Name, why)
		}
		for i, s := range w.sinks {
			if h, ok := s.held[k.Name]; ok && h.keyID == id && s.active {
				w.violateLocked("OUTAGE", k.Name, "deleting %s of %s while sink#%d holds it", simShort(id), k.Name, i)
			}
		}
		w.effects++
	} else {
		w.gone[id] = k.Name
	}
	delete(w.keys, id)
	if w.knobs.listLag > 0 {
		w.ghosts[id] = &simGhost{key: k.Key, left: w.knobs.listLag, until: w.now.Add(simLagWindow)}
	}
	w.history = append(w.history, fmt.Sprintf("%s: delete %s %s (%s)", w.phase, simShort(id), k.Name, who))
}

// tickLocked is the start of every API call: time passes, late creates
// land, someone else acts. It returns the call's number (0 in the setup).
func (w *simWorld) tickLocked() int {
	w.now = w.now.Add(time.Second)
	if w.phase == simSetup {
		return 0
	}
	w.calls++
	n := w.calls
	var keep []simPending
	for _, p := range w.pending {
		if n >= p.at || !w.now.Before(p.by) {
			w.createLocked(p.name, p.role, false, "late create lands")
		} else {
			keep = append(keep, p)
		}
	}
	w.pending = keep
	if w.knobs.foreignCreateAt == n {
		w.createLocked(w.names[0], simRole, true, "made by someone else")
	}
	if w.knobs.foreignDeleteAt == n {
		victim := ""
		if w.knobs.foreignDeleteOld {
			victim = w.initial[w.names[0]]
		} else {
			for _, id := range w.liveLocked(w.names[0], false) {
				if id != w.initial[w.names[0]] {
					victim = id // the newest: ids grow
				}
			}
		}
		if victim != "" {
			w.deleteLocked(victim, false)
		}
	}
	return n
}

func simAPIError(op string, kind apiclient.Kind, status int, msg string) error {
	return &apiclient.Error{Op: op, Kind: kind, Status: status, Message: msg}
}

type simAPI struct {
	w     *simWorld
	epoch int
}

var _ apiclient.API = (*simAPI)(nil)

func (a *simAPI) ListKeys(ctx context.Context) ([]apiclient.Key, error) {
	w := a.w
	w.enter(a.epoch)
	w.point("before ListKeys")
	w.mu.Lock()
	var out []apiclient.Key
	var err error
	if n := w.tickLocked(); n != 0 && n == w.knobs.unavailAt {
		err = simAPIError(apiclient.OpListKeys, apiclient.KindUnavailable, 503, "simulated 503")
	} else {
		for _, k := range w.keys {
			if k.listLag > 0 && w.now.Before(k.born.Add(simLagWindow)) {
				k.listLag--
				continue
			}
			out = append(out, k.Key)
		}
		for id, g := range w.ghosts {
			if !w.now.Before(g.until) {
				delete(w.ghosts, id)
				continue
			}
			out = append(out, g.key)
			if g.left--; g.left <= 0 {
				delete(w.ghosts, id)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	}
	w.mu.Unlock()
	w.point("after ListKeys")
	return out, err
}

func (a *simAPI) GetKey(ctx context.Context, id string) (apiclient.Key, error) {
	w := a.w
	w.enter(a.epoch)
	w.point("before GetKey " + simShort(id))
	w.mu.Lock()
	var out apiclient.Key
	var err error
	k := w.keys[id]
	switch n := w.tickLocked(); {
	case n != 0 && n == w.knobs.unavailAt:
		err = simAPIError(apiclient.OpGetKey, apiclient.KindUnavailable, 503, "simulated 503")
	case k == nil:
		err = simAPIError(apiclient.OpGetKey, apiclient.KindNotFound, 404, "API key not found")
	case k.getLag > 0 && w.now.Before(k.born.Add(simLagWindow)):
		k.getLag--
		err = simAPIError(apiclient.OpGetKey, apiclient.KindNotFound, 404, "API key not found (lagging)")
	default:
		out = k.Key
	}
	w.mu.Unlock()
	w.point("after GetKey " + simShort(id))
	return out, err
}

func (a *simAPI) CreateKey(ctx context.Context, name, roleID string) (apiclient.CreatedKey, error) {
	w := a.w
	w.enter(a.epoch)
	w.point("before CreateKey " + name)
	w.mu.Lock()
	var out apiclient.CreatedKey
	var err error
	ambiguous := simAPIError(apiclient.OpCreateKey, apiclient.KindAmbiguousCreate, 0, "simulated lost answer")
	n := w.tickLocked()
	fault := simCreateOK
	if w.phase != simSetup {
		if w.creates == 0 {
			fault = w.knobs.create
		}
		w.creates++
	}
	label := "CreateKey " + name
	switch {
	case n != 0 && n == w.knobs.unavailAt:
		err = ambiguous // the request failed before the API acted
	case fault == simCreateLost:
		k := w.createLocked(name, roleID, false, "answer lost")
		w.effects++
		label += " " + simShort(k.ID)
		err = ambiguous
	case fault == simCreateNotCreated:
		err = ambiguous
	case fault == simCreateLate:
		w.pending = append(w.pending, simPending{name: name, role: roleID, at: n + w.knobs.lateCalls, by: w.now.Add(simLagWindow)})
		err = ambiguous
	default:
		k := w.createLocked(name, roleID, false, "engine")
		w.effects++
		label += " " + simShort(k.ID)
		out = apiclient.CreatedKey{Key: k.Key, Secret: secret.Value(k.secret)}
	}
	w.mu.Unlock()
	w.point("after " + label)
	return out, err
}

func (a *simAPI) DeleteKey(ctx context.Context, id string) error {
	w := a.w
	w.enter(a.epoch)
	w.point("before DeleteKey " + simShort(id))
	w.mu.Lock()
	var err error
	switch n := w.tickLocked(); {
	case n != 0 && n == w.knobs.unavailAt:
		err = simAPIError(apiclient.OpDeleteKey, apiclient.KindUnavailable, 503, "simulated 503")
	case w.knobs.deleteFail > 0 && w.keys[id] != nil:
		w.knobs.deleteFail--
		err = simAPIError(apiclient.OpGetOperation, apiclient.KindOther, 0, "simulated: delete operation ended in failure")
	default:
		exists := w.keys[id] != nil
		w.deleteLocked(id, true)
		if exists && w.knobs.deleteLost > 0 {
			w.knobs.deleteLost--
			err = simAPIError(apiclient.OpDeleteKey, apiclient.KindUnavailable, 0, "simulated lost answer")
		}
	}
	w.mu.Unlock()
	w.point("after DeleteKey " + simShort(id))
	return err
}

func (a *simAPI) ListRoles(ctx context.Context) ([]apiclient.Role, error) {
	a.w.enter(a.epoch)
	return []apiclient.Role{{ID: simRole, Name: "ci"}, {ID: simRoleOther, Name: "other"}}, nil
}

// --- the journal: records kept as the JSON a disk would hold ---

type simJournal struct {
	w     *simWorld
	epoch int
}

var _ state.Journal = (*simJournal)(nil)

func simRecKey(policy, name string) string { return policy + "\x00" + name }

func (j *simJournal) Get(policy, name string) (state.Record, bool) {
	j.w.enter(j.epoch)
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	r, ok := j.w.records[simRecKey(policy, name)]
	if !ok {
		return state.Record{}, false
	}
	return r.Clone(), true
}

func (j *simJournal) Has(policy, name string) bool {
	j.w.enter(j.epoch)
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	_, ok := j.w.records[simRecKey(policy, name)]
	return ok
}

func (j *simJournal) List(policy string) []state.Record {
	j.w.enter(j.epoch)
	j.w.mu.Lock()
	defer j.w.mu.Unlock()
	keys := make([]string, 0, len(j.w.records))
	for k := range j.w.records {
		if policy == "" || strings.HasPrefix(k, policy+"\x00") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]state.Record, len(keys))
	for i, k := range keys {
		out[i] = j.w.records[k].Clone()
	}
	return out
}

func simRecordLabel(r state.Record) string {
	if r.Rotation == nil {
		return r.Name + " idle"
	}
	return r.Name + " " + string(r.Rotation.Phase)
}

func (j *simJournal) Put(r state.Record) error {
	w := j.w
	w.enter(j.epoch)
	if r.Policy == "" || r.Name == "" {
		return errors.New("sim journal: record without policy or name")
	}
	label := "Put " + simRecordLabel(r)
	w.point("before " + label)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.phase != simSetup {
		w.puts++
	}
	if w.phase != simSetup && w.puts == w.knobs.putFailAt {
		err = errors.New("sim journal: write: no space left on device")
	} else {
		w.secretsInLocked("SECRET-IN-JOURNAL", "journal record of "+r.Name, b)
		k := simRecKey(r.Policy, r.Name)
		w.disk[k] = b
		w.records[k] = r.Clone()
		w.effects++
		if w.phase == simScenario && w.backup == nil {
			w.backup = maps.Clone(w.disk)
		}
	}
	w.mu.Unlock()
	w.point("after " + label)
	return err
}

func (j *simJournal) Delete(policy, name string) error {
	w := j.w
	w.enter(j.epoch)
	label := "Delete record " + name
	w.point("before " + label)
	w.mu.Lock()
	delete(w.records, simRecKey(policy, name))
	delete(w.disk, simRecKey(policy, name))
	w.effects++
	w.mu.Unlock()
	w.point("after " + label)
	return nil
}

func (w *simWorld) secretsInLocked(kind, where string, b []byte) {
	for _, s := range w.issued {
		if bytes.Contains(b, []byte(s)) {
			w.violateLocked(kind, where, "a secret the API issued appears in the %s", where)
			return
		}
	}
}

// --- sinks ---

// simSink is a readable sink (json, env, Vault): Read gives back the key
// id and the secret.
type simSink struct {
	w     *simWorld
	epoch int
	i     int
}

// simTemplateSink is a free-form template: Read cannot tell which key it
// holds; fingerprints of its content can.
type simTemplateSink struct{ simSink }

var (
	_ sinks.Sink          = (*simSink)(nil)
	_ sinks.Fingerprinter = (*simTemplateSink)(nil)
	_ sinks.ReadBacker    = (*simTemplateSink)(nil)
)

func (s *simSink) st() *simSinkState { return s.w.sinks[s.i] }

func (s *simSink) Kind() string { return "file" }

func (s *simSink) Target(name string) string { return fmt.Sprintf("/sim/sink%d/%s", s.i, name) }

func (s *simSink) CanReadBack() bool { return true }

func (s *simSink) hit() bool { return s.w.knobs.sink == s.i }

func (s *simSink) Probe(ctx context.Context, name string) error {
	s.w.enter(s.epoch)
	return nil
}

func (s *simSink) Write(ctx context.Context, c sinks.Credential) error {
	w := s.w
	w.enter(s.epoch)
	label := fmt.Sprintf("Write sink#%d %s %s", s.i, c.Name, simShort(c.KeyID))
	w.point("before " + label)
	w.mu.Lock()
	var err error
	if s.hit() && w.knobs.writeFail != 0 {
		if w.knobs.writeFail > 0 {
			w.knobs.writeFail--
		}
		err = fmt.Errorf("sink%d: write: no space left on device", s.i)
	} else {
		s.st().held[c.Name] = simHeld{keyID: c.KeyID, secret: c.Secret.Reveal(), content: simRender(c.Name, c.KeyID, c.Secret.Reveal())}
		w.effects++
		if w.keys[c.KeyID] == nil && w.gone[c.KeyID] == "" {
			w.violateLocked("OUTAGE", c.Name, "sink#%d given %s for %s, which is not a live key", s.i, simShort(c.KeyID), c.Name)
		}
		if k := w.keys[c.KeyID]; k != nil && k.secret != c.Secret.Reveal() {
			w.violateLocked("OUTAGE", c.Name, "sink#%d given %s for %s with a wrong secret", s.i, simShort(c.KeyID), c.Name)
		}
		if s.hit() && w.knobs.writeLost > 0 {
			w.knobs.writeLost--
			err = fmt.Errorf("sink%d: write: input/output error", s.i)
		}
	}
	w.mu.Unlock()
	w.point("after " + label)
	return err
}

func (s *simSink) Verify(ctx context.Context, c sinks.Credential) error {
	w := s.w
	w.enter(s.epoch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.hit() && w.knobs.verifyFail > 0 {
		w.knobs.verifyFail--
		return fmt.Errorf("sink%d: read back: input/output error", s.i)
	}
	h, ok := s.st().held[c.Name]
	switch {
	case !ok:
		return sinks.ErrNotHeld
	case s.st().kind == simTemplate && h.content == simRender(c.Name, c.KeyID, c.Secret.Reveal()):
		return nil
	case s.st().kind == simReadable && h.keyID == c.KeyID && h.secret == c.Secret.Reveal():
		return nil
	}
	return sinks.ErrMismatch
}

func (s *simSink) Read(ctx context.Context, name string) (sinks.Held, error) {
	w := s.w
	w.enter(s.epoch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.hit() && w.knobs.readFail {
		return sinks.Held{}, fmt.Errorf("sink%d: read: input/output error", s.i)
	}
	h, ok := s.st().held[name]
	switch {
	case !ok:
		return sinks.Held{}, sinks.ErrNotHeld
	case s.st().kind == simTemplate:
		return sinks.Held{}, fmt.Errorf("sink%d is a template: %w", s.i, sinks.ErrUnreadable)
	}
	return sinks.Held{KeyID: h.keyID, Secret: secret.Value(h.secret)}, nil
}

func (s *simTemplateSink) CanReadBack() bool { return false }

func (s *simTemplateSink) Fingerprint(c sinks.Credential) (string, error) {
	return simDigest(simRender(c.Name, c.KeyID, c.Secret.Reveal())), nil
}

func (s *simTemplateSink) CurrentFingerprint(ctx context.Context, name string) (string, error) {
	w := s.w
	w.enter(s.epoch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.hit() && w.knobs.readFail {
		return "", fmt.Errorf("sink%d: read: input/output error", s.i)
	}
	h, ok := s.st().held[name]
	if !ok {
		return "", sinks.ErrNotHeld
	}
	return simDigest(h.content), nil
}

// --- the engine's lives ---

func (w *simWorld) policy(epoch int) rotation.Policy {
	var ss []sinks.Sink
	for i, st := range w.sinks {
		base := simSink{w: w, epoch: epoch, i: i}
		switch {
		case !st.active:
		case st.kind == simTemplate:
			ss = append(ss, &simTemplateSink{base})
		default:
			ss = append(ss, &base)
		}
	}
	return rotation.Policy{
		Name:        simPolicy,
		Match:       func(name, role string) bool { return strings.HasPrefix(name, "ci-") && role == simRole },
		MaxAge:      10000 * time.Hour,
		GracePeriod: w.sc.grace,
		Sinks:       ss,
	}
}

// newEngine starts a new life of rotatord over the world: the organization,
// journal and sinks are what they are, the process memory is new.
func (w *simWorld) newEngine() *rotation.Engine {
	w.mu.Lock()
	w.epoch++
	w.crashed = false
	ep := w.epoch
	if ep == 2 {
		w.restartFaultsLocked()
	}
	// The new process knows only what the disk holds.
	w.records = make(map[string]state.Record, len(w.disk))
	for k, b := range w.disk {
		var r state.Record
		if err := json.Unmarshal(b, &r); err != nil {
			panic(err) // written by simJournal.Put from a Record
		}
		w.records[k] = r
	}
	w.mu.Unlock()
	cfg := rotation.Config{
		API: &simAPI{w: w, epoch: ep}, Store: &simJournal{w: w, epoch: ep}, Logger: w.log,
		Now: func() time.Time { return w.clock(ep) }, OwnKeyID: w.ownID, Concurrency: 1,
		Sleep: func(ctx context.Context, d time.Duration) error { w.advance(d); return ctx.Err() },
	}
	e := rotation.New(cfg)
	w.do("SetPolicies", func() {
		if err := e.SetPolicies([]rotation.Policy{w.policy(ep)}); err != nil {
			w.violate("POLICIES-REFUSED", "", "SetPolicies refused the policy on restart: %v", err)
		}
	})
	return e
}

// restartFaultsLocked applies what happens to the world across the first
// restart.
func (w *simWorld) restartFaultsLocked() {
	switch {
	case w.knobs.journalLost:
		w.disk = map[string][]byte{}
	case w.knobs.journalRestored && w.backup != nil:
		w.disk = maps.Clone(w.backup)
	}
	if w.knobs.sinkAdded {
		s := w.sinks[len(w.sinks)-1]
		s.active = true
		for _, n := range w.names {
			if k := w.keys[w.initial[n]]; k != nil {
				s.held[n] = simHeld{keyID: k.ID, secret: k.secret, content: simRender(n, k.ID, k.secret)}
			}
		}
	}
}

// do runs one call of the engine in a goroutine of its own, which a crash
// ends. It reports whether the engine is still alive.
func (w *simWorld) do(what string, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		w.mu.Lock()
		w.violateLocked("HANG", what, "%s did not return within 30s", what)
		w.crashed = true
		w.epoch++ // whatever still runs stops at its next call
		w.mu.Unlock()
		return false
	}
	return !w.isCrashed()
}

func (w *simWorld) pass(e *rotation.Engine, opts rotation.Options) bool {
	return w.do("Pass", func() {
		out, err := e.Pass(context.Background(), nil, opts)
		w.noteErrors(err, out)
	})
}

func (w *simWorld) deleteDue(e *rotation.Engine) bool {
	return w.do("DeleteDue", func() {
		w.noteErrors(nil, e.DeleteDue(context.Background()))
	})
}

// noteErrors checks that no error the engine returns carries a secret.
func (w *simWorld) noteErrors(err error, out []rotation.Outcome) {
	var b bytes.Buffer
	if err != nil {
		b.WriteString(err.Error())
	}
	for _, o := range out {
		if o.Err != nil {
			b.WriteString(o.Err.Error())
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secretsInLocked("SECRET-IN-ERROR", "errors the engine returned", b.Bytes())
}
