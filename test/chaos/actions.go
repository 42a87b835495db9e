package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rotatord/rotatord/state"
)

// baseFaults are in force the whole campaign: 5% of calls answer 5xx, 1%
// 429, 2% of creates lose their answer, deletes stay pending for two polls,
// and latency so that stops land inside rotations.
const baseFaults = `{
  "list-api-keys":  {"latency": "20ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1},
  "create-api-key": {"latency": "60ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1, "lose_response_rate": 0.02},
  "get-api-key":    {"latency": "20ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1},
  "delete-api-key": {"latency": "40ms", "error_rate": 0.05, "rate_limit_rate": 0.01, "retry_after": 1, "pending_polls": 2},
  "get-operation":  {"latency": "10ms", "error_rate": 0.05}
}`

// variant is what a reload changes in the policy file.
type variant struct {
	ciRoleDeploy  bool // ci's match.role_id becomes a role none of its keys has
	ciExcludeMore bool // ci also excludes ci-0*
	appsNarrow    bool // apps matches app-1* only
	backupRemoved bool // the backup policy is gone
	extraSink     bool // apps has a third (template) sink; never removed again
	// ownOnly: the other policies' keys are fresh for an hour, so
	// rotatord's own key, which waits for every other rotation, gets its
	// turn (the cycles that kill at an own-key step).
	ownOnly bool
}

func (v variant) String() string {
	var parts []string
	for name, on := range map[string]bool{"ci-role-deploy": v.ciRoleDeploy, "ci-exclude-0": v.ciExcludeMore,
		"apps-narrow": v.appsNarrow, "backup-removed": v.backupRemoved, "extra-sink": v.extraSink, "own-only": v.ownOnly} {
		if on {
			parts = append(parts, name)
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "base"
	}
	return strings.Join(parts, ",")
}

func (c *campaign) writePolicy(v variant, maxAge string) error {
	c.variant = v
	if v.extraSink {
		c.extraAdded.Store(true)
	}
	if c.ha == nil {
		return os.WriteFile(filepath.Join(c.dir, "policy.yml"), []byte(c.policyYAML(v, maxAge, -1)), 0o600)
	}
	// HA: a file per replica slot, and one for `once`.
	for slot := 0; slot <= c.cfg.Replicas; slot++ {
		if err := os.WriteFile(c.replicaConfig(slot), []byte(c.policyYAML(v, maxAge, slot)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// grace is the grace period of the consumers' policies.
func (c *campaign) grace() string {
	if c.cfg.Grace != nil {
		return c.cfg.Grace.String()
	}
	return "2s"
}

// policyYAML is the policy file; slot is the HA replica slot it is for
// (-1 outside HA mode).
func (c *campaign) policyYAML(v variant, maxAge string, slot int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exoscale:\n  endpoint: %s/v2\n", c.apiURL)
	switch {
	case slot < 0:
		fmt.Fprintf(&b, "  credential_file: credential.json\n  own_key: {schedule: \"@every 1s\", max_age: %s, grace_period: 1s}\n", maxAge)
	default:
		b.WriteString(c.haCredentialYAML(maxAge))
	}
	b.WriteString("  timeout: 5s\n  max_retries: 2\n  rate_limit: 200\n")
	if slot < 0 {
		fmt.Fprintf(&b, "state_dir: state\nlisten: %s\n", c.listen)
	} else {
		b.WriteString(c.haHeader(slot))
	}
	b.WriteString("policies:\n")
	for _, p := range policies {
		if p.name == "backup" && v.backupRemoved {
			continue
		}
		fmt.Fprintf(&b, "  - name: %s\n    match:\n", p.name)
		switch p.name {
		case "ci":
			role := c.roles["ci"]
			if v.ciRoleDeploy {
				role = c.roles["deploy"]
			}
			exclude := `["ci-keep-*"]`
			if v.ciExcludeMore {
				exclude = `["ci-keep-*", "ci-0*"]`
			}
			fmt.Fprintf(&b, "      name: \"ci-*\"\n      role_id: %s\n      exclude: %s\n", role, exclude)
		case "apps":
			glob := "app-*"
			if v.appsNarrow {
				glob = "app-1*"
			}
			fmt.Fprintf(&b, "      name: %q\n", glob)
		default:
			fmt.Fprintf(&b, "      name: %q\n", p.prefix+"*")
		}
		policyMaxAge := maxAge
		if v.ownOnly {
			policyMaxAge = "1h"
		}
		fmt.Fprintf(&b, "    schedule: \"@every 1s\"\n    max_age: %s\n    grace_period: %s\n    adopt: rotate\n", policyMaxAge, c.grace())
		if p.name == "apps" {
			// Its sinks are read between rotations too (a file a sink
			// fault replaced, a Vault secret): a check's repair or loss
			// rotation must keep every invariant the campaign checks.
			b.WriteString("    sink_check: 1s\n")
		}
		b.WriteString("    sinks:\n")
		sinks := slices.Clone(p.sinks)
		if p.name == "apps" && c.extraAdded.Load() {
			sinks = append(sinks, extraSink)
		}
		for _, sd := range sinks {
			fmt.Fprintf(&b, "      - type: file\n        path: \"sinks/%s/{{.Name}}%s\"\n        format: %s\n", sd.id, sd.ext, sd.format)
			if sd.format == "template" {
				fmt.Fprintf(&b, "        template: \"%s\"\n", sinkTemplate)
			}
		}
		if p.name == "apps" && c.vault != nil {
			fmt.Fprintf(&b, "      - type: vault\n        path: \"chaos/{{.Name}}\"\n        address: %s\n        mount: secret\n"+
				"        auth:\n          method: token\n          token_file: vault-token\n", c.vault.Addr)
		}
		if p.name == "ci" && slot >= 0 {
			b.WriteString(c.haSecretSinkYAML(slot))
		}
	}
	return b.String()
}

// simFaults draws the simulator faults of one cycle on top of the base.
func (c *campaign) simFaults() (string, []string) {
	extra := map[string]string{}
	var kinds []string
	if c.rnd.Float64() < 0.4 {
		extra["create-api-key"] = fmt.Sprintf(`"late_apply": "%dms", "late_apply_rate": 0.3, "lose_response_rate": 0.1`, 1000+c.rnd.IntN(int(maxLateApply/time.Millisecond)-1000))
		kinds = append(kinds, "late-creates")
	}
	if c.rnd.Float64() < 0.35 {
		d := 500 + c.rnd.IntN(2500)
		extra["list-api-keys"] = fmt.Sprintf(`"stale_for": "%dms", "stale_rate": 0.3`, d)
		extra["get-api-key"] = fmt.Sprintf(`"stale_for": "%dms", "stale_rate": 0.5`, d)
		kinds = append(kinds, "stale-reads")
	}
	if c.rnd.Float64() < 0.35 {
		extra["create-api-key"] = join(extra["create-api-key"], applied429Fields(c.rnd))
		kinds = append(kinds, "applied-429")
	}
	var del []string
	if c.rnd.Float64() < 0.3 {
		del = append(del, `"fail_rate": 0.2, "fail_reason": "busy"`)
		kinds = append(kinds, "delete-failures")
	}
	if c.rnd.Float64() < 0.25 {
		del = append(del, fmt.Sprintf(`"zombie_rate": 0.1, "zombie_for": "%ds"`, 4+c.rnd.IntN(12)))
		kinds = append(kinds, "zombies")
	}
	if len(del) > 0 {
		extra["delete-api-key"] = strings.Join(del, ", ")
	}
	return appendFields(baseFaults, extra), kinds
}

// applied429Fields is exosim's applied_rate_limit fault: a share of the
// creates (and the next one or two) take effect and are then answered 429
// with a Retry-After of 1 to 3 s; the keys they make have secrets nobody
// got, which rotatord's retried-create search must find and delete.
func applied429Fields(rnd *rand.Rand) string {
	return fmt.Sprintf(`"applied_rate_limit_next": %d, "applied_rate_limit_rate": %.2f, "retry_after": %d`,
		1+rnd.IntN(2), 0.1+0.3*rnd.Float64(), 1+rnd.IntN(3))
}

// withApplied429 adds the applied-429 fault to a cycle's faults.
func withApplied429(faults string, rnd *rand.Rand) string {
	return appendFields(faults, map[string]string{"create-api-key": applied429Fields(rnd)})
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// appendFields adds fields (JSON object members) to operations' objects
// in a faults document; a field the document has already is replaced
// (retry_after).
func appendFields(doc string, extra map[string]string) string {
	m := map[string]map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		panic("chaos: faults document: " + err.Error())
	}
	for op, fields := range extra {
		var f map[string]json.RawMessage
		if err := json.Unmarshal([]byte("{"+fields+"}"), &f); err != nil {
			panic("chaos: fault fields: " + err.Error())
		}
		if m[op] == nil {
			m[op] = map[string]json.RawMessage{}
		}
		for k, v := range f {
			m[op][k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("chaos: faults document: " + err.Error())
	}
	return string(b)
}

func (c *campaign) putFaults(body string) error {
	req, err := http.NewRequest(http.MethodPut, c.simURL+"/_sim/faults", strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT /_sim/faults: %s %s", resp.Status, b)
	}
	return nil
}

// ownSteps are the log lines of the steps of an own-key rotation, each
// written once the step is durable: a cycle may kill rotatord right after
// one of them.
var ownSteps = []string{"rotation started", "replacement created", "delivered", "signing with the new key", "rotation delivered", "old key deleted"}

// applied429Steps are the moments a cycle may kill rotatord at, after a
// create of a consumer's key that the API applied and answered 429: during
// the Retry-After wait ("429", seen in the simulator), or right after a
// log line of the rotation of that key's name, each written once its step
// is durable (the retried create answered, each delivery, the search
// deleting the key the 429 made and ending, the old key deleted), or after
// a create whose every attempt was answered so failed.
var applied429Steps = []string{"429", "429", "replacement created", "delivered", "rotation delivered",
	"deleted key created without a delivered secret", "the search for keys of a retried create's earlier attempts is over",
	"old key deleted", "create failed: looking for a key created without its secret"}

// maxLateApply is the longest the simulator takes to apply a late create.
const maxLateApply = 4 * time.Second

// maxClockOffset is the largest clock shift a cycle runs rotatord with.
const maxClockOffset = 60 * time.Second

// event is an action during a cycle, at an offset from rotatord's start.
type event struct {
	at   time.Duration
	kind string
	pick uint64 // a seeded draw the action uses to choose its target
}

var eventKinds = []string{"reload", "reload", "sink-fault", "sink-fault", "external-create", "external-delete", "snapshot"}

// cycle starts rotatord, lets it work a seeded random while with seeded
// actions, stops it (SIGKILL, or SIGTERM in the middle of a rotation), and
// checks the invariants.
func (c *campaign) cycle(ctx context.Context, i int) error {
	// The schedule of the cycle, drawn before anything runs.
	up := time.Duration(c.rnd.Int64N(int64(c.cfg.MaxUp-300*time.Millisecond))) + 300*time.Millisecond
	term := c.rnd.Float64() < 0.25
	restore := c.snapshot && c.rnd.Float64() < 0.12
	var offset time.Duration
	if c.rnd.Float64() < 0.2 {
		offset = time.Duration(2+c.rnd.IntN(int(maxClockOffset/time.Second)-1)) * time.Second // 2 s to maxClockOffset
		if c.rnd.IntN(2) == 0 {
			offset = -offset
		}
	}
	faults, faultKinds := c.simFaults()
	var events []event
	for n := c.rnd.IntN(4); n > 0; n-- {
		events = append(events, event{at: time.Duration(c.rnd.Int64N(int64(up))), kind: eventKinds[c.rnd.IntN(len(eventKinds))], pick: c.rnd.Uint64()})
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	endSinkFault := c.rnd.Float64() < 0.5
	// A kill right after a step of rotatord's own-key rotation.
	ownStep := ""
	if !term && c.rnd.Float64() < 0.3 {
		ownStep = ownSteps[c.rnd.IntN(len(ownSteps))]
		// Long enough for the other rotations in flight to finish and
		// the own key's to reach the step, with no reload in the way (a
		// reload waits for the passes, and may strand nothing here).
		up = max(up, 8*time.Second)
		events = slices.DeleteFunc(events, func(ev event) bool { return ev.kind == "reload" })
		// No faults: the kill is the fault under test (but for creates
		// the API applies and answers 429, now and then: own429).
		faults, faultKinds = "{}", nil
	}
	own429 := ownStep != "" && c.rnd.Float64() < 0.3
	// A kill at a step of a create the API applied and answered 429.
	a429Step := ""
	if !term && ownStep == "" && c.rnd.Float64() < 0.4 {
		a429Step = applied429Steps[c.rnd.IntN(len(applied429Steps))]
		// Long enough for a create to come, be answered 429, waited
		// for and retried, and for the search to end (the settle time).
		up = max(up, 5*time.Second)
		if strings.Contains(a429Step, "search") {
			up = max(up, 14*time.Second) // the search ends after the settle time (10 s)
		}
		if !slices.Contains(faultKinds, "applied-429") {
			faults = withApplied429(faults, c.rnd)
			faultKinds = append(faultKinds, "applied-429")
		}
	}

	if err := c.putFaults(faults); err != nil {
		return err
	}
	if restore {
		// An operator's restore from a backup takes longer than the API
		// takes to apply a late create: a create the killed process sent
		// shows in the listing before the restored journal is read. (A
		// restore within those seconds can briefly show a third key: the
		// restored journal has no intent for the create; see the README.)
		sleepCtx(ctx, maxLateApply+time.Second)
		if err := os.RemoveAll(filepath.Join(c.dir, "state")); err != nil {
			return err
		}
		if err := copyDir(filepath.Join(c.dir, "state-backup"), filepath.Join(c.dir, "state")); err != nil {
			return err
		}
		c.mu.Lock()
		c.sum.Restores++
		c.mu.Unlock()
	}
	if offset != 0 {
		c.mu.Lock()
		c.sum.ClockOffsets++
		c.mu.Unlock()
	}
	if ownStep != "" {
		// The own key waits for every other rotation in flight, and a
		// sink fault keeps one in flight: end them first.
		c.fmu.Lock()
		for id := range c.faulted {
			if err := c.endSinkFault(id); err != nil {
				c.fmu.Unlock()
				return err
			}
		}
		c.fmu.Unlock()
	}
	if ownStep != "" {
		// The own key waits for every other rotation in flight: with the
		// faults off, `once` (which ignores failure backoffs) finishes
		// what kills and failed creates left, until none is in flight.
		if err := c.putFaults("{}"); err != nil {
			return err
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
			if once, err := c.startRotatord(0, "once"); err == nil {
				_ = once.Wait()
			}
			if !c.rotationsInFlight() {
				break
			}
			sleepCtx(ctx, time.Second)
		}
		if own429 {
			if err := c.putFaults(withApplied429("{}", c.rnd)); err != nil {
				return err
			}
			faultKinds = append(faultKinds, "applied-429")
		}
	}
	if v := c.variant; v.ownOnly != (ownStep != "") {
		v.ownOnly = ownStep != ""
		if err := c.writePolicy(v, "3s"); err != nil {
			return err
		}
	}
	logStart := fileSize(c.logPath)
	cmd, err := c.startRotatord(offset)
	if err != nil {
		return err
	}
	began := time.Now()
	var killedAtStep atomic.Bool
	var killed429 atomic.Value // "name key" of the create answered 429 the kill followed
	watchDone := make(chan struct{})
	switch {
	case a429Step != "":
		seen, err := c.answered429()
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
		go func() {
			defer close(watchDone)
			// Every create answered 429 in the cycle, with the log's
			// size when it was seen: the step's line must come after.
			type lie struct {
				name string
				from int64
			}
			lies := map[string]lie{}
			for deadline := began.Add(up + 3*time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
				now, _ := c.answered429()
				for k, n := range now {
					if _, old := seen[k]; old {
						continue
					}
					if _, ok := lies[k]; !ok {
						lies[k] = lie{n, fileSize(c.logPath)}
					}
				}
				for k, l := range lies {
					if a429Step == "429" || lineWith(c.logPath, l.from, `"msg":"`+a429Step+`"`, `"name":"`+l.name+`"`) {
						_ = cmd.Process.Signal(syscall.SIGKILL)
						killed429.Store(l.name + " " + k)
						killedAtStep.Store(true)
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	case ownStep != "":
		go func() {
			defer close(watchDone)
			for deadline := began.Add(up + 3*time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
				if lineWith(c.logPath, logStart, `"msg":"`+ownStep+`"`, `"policy":"_self"`) {
					_ = cmd.Process.Signal(syscall.SIGKILL)
					killedAtStep.Store(true)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	default:
		close(watchDone)
	}
	var did []string
	for _, ev := range events {
		if !sleepCtx(ctx, time.Until(began.Add(ev.at))) || killedAtStep.Load() {
			break
		}
		what, err := c.act(ctx, ev, cmd.Process)
		if err != nil && !killedAtStep.Load() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return err
		}
		did = append(did, what)
	}
	sleepCtx(ctx, time.Until(began.Add(up)))
	<-watchDone
	stop := "SIGKILL"
	if ownStep != "" {
		stop = "SIGKILL (own-key step " + ownStep + " not reached)"
	}
	if a429Step != "" {
		stop = "SIGKILL (applied-429 step " + a429Step + " not reached)"
	}
	switch {
	case killedAtStep.Load() && a429Step != "":
		stop = fmt.Sprintf("SIGKILL after applied-429 step %q (%v)", a429Step, killed429.Load())
		c.mu.Lock()
		c.sum.Answered429Kills++
		c.mu.Unlock()
	case killedAtStep.Load():
		stop = "SIGKILL after own-key step " + ownStep
		c.mu.Lock()
		c.sum.OwnStepKills++
		c.mu.Unlock()
	}
	if term {
		// In the middle of a rotation: wait (a little) for rotatord to
		// log one starting.
		from := fileSize(c.logPath)
		_ = waitFor(ctx, 1500*time.Millisecond, func() bool {
			return logSince(c.logPath, from, `"rotation started"`, `"replacement created"`)
		})
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			c.problem("cycle %d: rotatord did not exit within 40s of SIGTERM (30s allowed for a rotation in flight)", i)
			_ = cmd.Process.Kill()
			<-done
		}
		stop = "SIGTERM"
		c.mu.Lock()
		c.sum.Terms++
		c.mu.Unlock()
	} else {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		c.mu.Lock()
		c.sum.Kills++
		c.mu.Unlock()
	}
	if err := c.scanJournalLogs(); err != nil {
		return err
	}
	if endSinkFault {
		c.fmu.Lock()
		for id := range c.faulted {
			if err := c.endSinkFault(id); err != nil {
				c.fmu.Unlock()
				return err
			}
			did = append(did, "sink-fault-end:"+id)
		}
		c.fmu.Unlock()
	}
	c.mu.Lock()
	c.sum.Cycles++
	c.mu.Unlock()
	if logSince(c.logPath, logStart, `"reload rejected`) {
		did = append(did, "(a reload was rejected)")
	}
	if logSince(c.logPath, logStart, `"reload rejected`, "rotations in flight would be stranded") {
		// The operator puts back a file that strands nothing (the base,
		// with the extra sink once added): left as it was, every later
		// start of rotatord exits at once, and the rest of the campaign
		// exercises nothing (seed 7 at 20 cycles: 4 starts, no own-key
		// rotation).
		v := variant{extraSink: c.variant.extraSink, ownOnly: c.variant.ownOnly}
		if v != c.variant {
			if err := c.writePolicy(v, "3s"); err != nil {
				return err
			}
			did = append(did, "policy-file-put-back:"+v.String())
		}
	}
	c.logf("cycle %d: up %v, %s, offset %v, restore %t, sim faults %v, actions %v", i, up.Round(time.Millisecond), stop, offset, restore, faultKinds, did)
	return c.checkNow(ctx, false)
}

// act performs one event while rotatord runs.
func (c *campaign) act(ctx context.Context, ev event, cmd interface{ Signal(os.Signal) error }) (string, error) {
	pick := rand.New(rand.NewPCG(ev.pick, 1))
	switch ev.kind {
	case "reload":
		v := variant{
			ciRoleDeploy:  pick.Float64() < 0.25,
			ciExcludeMore: pick.Float64() < 0.3,
			appsNarrow:    pick.Float64() < 0.3,
			backupRemoved: pick.Float64() < 0.25,
			extraSink:     c.variant.extraSink || pick.Float64() < 0.15,
			ownOnly:       c.variant.ownOnly,
		}
		if c.cfg.WideningReloadsOnly {
			v = variant{extraSink: v.extraSink, ownOnly: v.ownOnly}
		}
		if err := c.writePolicy(v, "3s"); err != nil {
			return "", err
		}
		_ = cmd.Signal(syscall.SIGHUP)
		c.mu.Lock()
		c.sum.Reloads++
		c.mu.Unlock()
		return "reload:" + v.String(), nil
	case "sink-fault":
		c.fmu.Lock()
		defer c.fmu.Unlock()
		if len(c.faulted) > 0 {
			for id := range c.faulted {
				if err := c.endSinkFault(id); err != nil {
					return "", err
				}
				return "sink-fault-end:" + id, nil
			}
		}
		var all []sinkDef
		for _, p := range policies {
			all = append(all, p.sinks...)
		}
		if c.extraAdded.Load() {
			all = append(all, extraSink)
		}
		sd := all[pick.IntN(len(all))]
		kinds := sinkFaultKinds
		if os.Geteuid() != 0 {
			kinds = append(slices.Clone(kinds), "chmod")
		}
		kind := kinds[pick.IntN(len(kinds))]
		if err := c.startSinkFault(sd, kind); err != nil {
			return "", err
		}
		c.mu.Lock()
		c.sum.SinkFaults++
		c.mu.Unlock()
		return "sink-fault:" + sd.id + ":" + kind, nil
	case "external-create":
		name := c.names[pick.IntN(len(c.names))]
		if !c.everDelivered(name) {
			// A second key before rotatord ever delivered one blocks the
			// name for good (two live keys: a rotation would make a
			// third), and its sinks stay empty: rotatord rightly waits
			// for an operator, which the final checks would count as an
			// outage and a leak.
			return "external-create:none", nil
		}
		var k simKey
		if err := c.simDo(http.MethodPost, "/_sim/keys", map[string]string{"name": name, "role": c.policyOf(name).role}, &k); err != nil {
			return "", err
		}
		c.mu.Lock()
		c.extCreated[k.Key] = true
		c.sum.External++
		c.mu.Unlock()
		return "external-create:" + name + ":" + k.Key, nil
	case "external-delete":
		// A key of a managed name no sink holds now: an old key in its
		// grace period, a replacement in flight, or a key someone else
		// made. Deleting a key a consumer holds would be our own outage.
		keys, err := c.keys()
		if err != nil {
			return "", err
		}
		held := c.heldByAnySink(ctx)
		var cands []simKey
		for _, k := range keys {
			// A key made by a create answered 429 is left to rotatord:
			// its deletion is what the final check wants to see.
			if k.Alive && !k.Zombie && c.managed(k.Name) && !held[k.Key] && k.Name != adminName && !k.AnsweredRateLimited {
				cands = append(cands, k)
			}
		}
		if len(cands) == 0 {
			return "external-delete:none", nil
		}
		k := cands[pick.IntN(len(cands))]
		c.mu.Lock()
		c.extDeleted[k.Key] = true // before: the sampler may see it at once
		c.sum.External++
		c.mu.Unlock()
		if err := c.simDo(http.MethodDelete, "/_sim/keys/"+k.Key, nil, nil); err != nil && !strings.Contains(err.Error(), "404") {
			return "", err
		}
		return "external-delete:" + k.Name + ":" + k.Key, nil
	case "snapshot":
		dst := filepath.Join(c.dir, "state-backup")
		if err := os.RemoveAll(dst); err != nil {
			return "", err
		}
		if err := copyDir(filepath.Join(c.dir, "state"), dst); err != nil {
			return "", err
		}
		c.snapshot = true
		return "state-backup", nil
	}
	return "", errors.New("unknown event " + ev.kind)
}

// answered429 returns the keys made by creates the simulator applied and
// answered 429 (key -> name).
func (c *campaign) answered429() (map[string]string, error) {
	keys, err := c.keys()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range keys {
		if k.AnsweredRateLimited {
			out[k.Key] = k.Name
		}
	}
	return out, nil
}

// everDelivered reports whether a sink of name ever held a key.
func (c *campaign) everDelivered(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sd := range c.sinksOf(name) {
		if c.sinkSeen[sd.where(c.dir, name)] {
			return true
		}
	}
	return false
}

// heldByAnySink reads every sink of every name now.
func (c *campaign) heldByAnySink(ctx context.Context) map[string]bool {
	held := map[string]bool{}
	c.fmu.RLock()
	defer c.fmu.RUnlock()
	for _, name := range c.names {
		for _, sd := range c.sinksOf(name) {
			if cr, found, err := c.readSink(ctx, sd, name); err == nil && found {
				held[cr.Key] = true
			}
		}
	}
	return held
}

// settle switches every fault off, puts the base policy back with a long
// max_age, waits out late creates and stale reads, runs rotatord (scraping
// /metrics), then `once` passes past the grace period, so that every
// interrupted rotation is finished or rolled back.
func (c *campaign) settle(ctx context.Context) error {
	if err := c.simDo(http.MethodDelete, "/_sim/faults", nil, nil); err != nil {
		return err
	}
	c.fmu.Lock()
	for id := range c.faulted {
		if err := c.endSinkFault(id); err != nil {
			c.fmu.Unlock()
			return err
		}
	}
	c.fmu.Unlock()
	if err := c.writePolicy(variant{extraSink: c.extraAdded.Load()}, "1h"); err != nil {
		return err
	}
	sleepCtx(ctx, maxLateApply+time.Second)
	cmd, err := c.startRotatord(0)
	if err != nil {
		return err
	}
	_ = waitFor(ctx, 20*time.Second, func() bool {
		resp, err := http.Get("http://" + c.listen + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		c.metrics = string(b)
		return strings.Contains(c.metrics, "rotatord_passes_total")
	})
	sleepCtx(ctx, 3*time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		c.problem("rotatord run did not exit cleanly on SIGTERM: %v", err)
	}
	// A cycle that ran with its clock ahead recorded deletions due at that
	// clock's time: rotatord keeps those keys until the real clock gets
	// there (late, never early), so the passes go on, past the largest
	// offset a cycle uses, until no name has a key its sinks do not hold.
	deadline := time.Now().Add(maxClockOffset + 15*time.Second)
	for pass := 0; ; pass++ {
		once, err := c.startRotatord(0, "once")
		if err != nil {
			return err
		}
		_ = once.Wait()
		sleepCtx(ctx, 2100*time.Millisecond) // the grace period
		if pass < 3 {
			continue
		}
		if pending := c.unheldKeys(ctx); len(pending) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			if len(pending) > 0 {
				c.logf("settle: still live and held by no sink after %d passes: %v", pass+1, pending)
			}
			return nil
		}
	}
}

// unheldKeys lists the live keys of managed names, made or replaced by
// rotatord, that none of the name's sinks holds now, and rotatord's own
// keys other than the one its credential file holds: what checkSettled
// and checkOwnKey would report as leaks.
func (c *campaign) unheldKeys(ctx context.Context) []string {
	keys, err := c.keys()
	if err != nil {
		return []string{"listing keys: " + err.Error()}
	}
	var out []string
	for _, name := range c.names {
		held := map[string]bool{}
		c.fmu.RLock()
		for _, sd := range c.sinksOf(name) {
			if cr, found, err := c.readSink(ctx, sd, name); err == nil && found {
				held[cr.Key] = true
			}
		}
		c.fmu.RUnlock()
		c.mu.Lock()
		for _, k := range keys {
			if k.Name == name && k.Alive && !k.Zombie && !k.External && !c.extCreated[k.Key] && !held[k.Key] {
				out = append(out, k.Key)
			}
		}
		c.mu.Unlock()
	}
	// rotatord's own old key, in its grace period: a cycle whose clock ran
	// ahead recorded its deletion at that clock's time too, and the final
	// check wants the credential file's key alone.
	if cr, err := c.ownCred(); err == nil {
		for _, k := range keys {
			if k.Name == adminName && k.Alive && !k.Zombie && !k.External && k.Key != cr.Key {
				out = append(out, k.Key+" (own)")
			}
		}
	}
	return out
}

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

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readSince returns the log from offset on ("" when it cannot be read).
func readSince(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// logSince reports whether the log, from offset on, contains any of subs.
func logSince(path string, offset int64, subs ...string) bool {
	text := readSince(path, offset)
	for _, s := range subs {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// lineWith reports whether one line of the log, from offset on, contains
// every one of subs.
func lineWith(path string, offset int64, subs ...string) bool {
	for _, line := range strings.Split(readSince(path, offset), "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			return true
		}
	}
	return false
}

// rotationsInFlight reports whether a state record has a rotation in the
// intent or created phase (read from the state directory, while rotatord
// is stopped).
func (c *campaign) rotationsInFlight() bool {
	st, err := state.OpenReadOnly(filepath.Join(c.dir, "state"))
	if err != nil {
		return false
	}
	for _, r := range st.List("") {
		if r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered {
			return true
		}
	}
	return false
}

// scanJournalLogs searches the write-ahead logs a stop left in the state
// directory for every secret the simulator issued. A clean stop leaves
// none and the final scan sees only the record files; a SIGKILL leaves the
// log of the steps since the last checkpoint.
func (c *campaign) scanJournalLogs() error {
	logs, _ := filepath.Glob(filepath.Join(c.dir, "state", "journal.*.wal"))
	if len(logs) == 0 {
		return nil
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // removed by a checkpoint meanwhile
		}
		c.mu.Lock()
		c.sum.JournalLogsScanned++
		c.mu.Unlock()
		for _, k := range append(keys, simKey{Key: c.admin.Key, Secret: c.admin.Secret}) {
			if k.Secret != "" && strings.Contains(string(b), k.Secret) {
				c.mu.Lock()
				c.sum.SecretsInLogs++
				c.mu.Unlock()
				c.problem("the secret of %s appears in the journal's log %s", k.Key, filepath.Base(p))
			}
		}
	}
	return nil
}
