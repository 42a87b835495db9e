package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sampler checks for outages continuously: every 100-300 ms it reads every
// sink of every managed name as its consumer would and authenticates what
// it holds, whether rotatord runs or not.
func (c *campaign) sampler(ctx context.Context) {
	// Not the campaign's generator: sampling times are not part of the
	// seeded schedule.
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for ctx.Err() == nil {
		c.sampleOnce(ctx)
		sleepCtx(ctx, time.Duration(100+rnd.IntN(200))*time.Millisecond)
	}
}

// outage is a sink found holding a dead credential (or emptied).
type outage struct{ name, sink, key, why string }

// sampleOnce reads and authenticates every sink once. A sink that holds a
// key that no longer works is an outage, counted once per sink and key;
// the sink is read again after the failed authentication so that a file
// replaced meanwhile (atomically, by a new delivery) is not mistaken for
// one. A sink with no content yet is fine until it first had some: the
// campaign seeds no sink.
func (c *campaign) sampleOnce(ctx context.Context) {
	var found []outage
	c.fmu.RLock()
	for _, name := range c.names {
		for _, sd := range c.sinksOf(name) {
			if ctx.Err() != nil {
				c.fmu.RUnlock()
				return
			}
			if o, bad := c.sampleSink(ctx, sd, name); bad {
				found = append(found, o)
			}
		}
	}
	c.fmu.RUnlock()
	c.mu.Lock()
	c.sum.Samples++
	c.mu.Unlock()
	for _, o := range found {
		c.problem("OUTAGE %s: sink %s %s%s", o.name, o.sink, o.why, c.story(ctx, o.name))
	}
}

// sampleSink checks one sink; the caller holds c.fmu for reading.
func (c *campaign) sampleSink(ctx context.Context, sd sinkDef, name string) (outage, bool) {
	where := sd.where(c.dir, name)
	cr, found, err := c.readSink(ctx, sd, name)
	once := func(tag string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.outageSeen[tag] {
			return false
		}
		c.outageSeen[tag] = true
		return true
	}
	if err != nil {
		if sd.format == "vault" && ctx.Err() != nil || errors.Is(err, errKubeUnavailable) {
			return outage{}, false
		}
		if once("unreadable " + where) {
			return outage{name, where, "", "cannot be read or parsed by its consumer: " + err.Error()}, true
		}
		return outage{}, false
	}
	c.mu.Lock()
	seen := c.sinkSeen[where]
	if found {
		c.sinkSeen[where] = true
		c.everHeld[cr.Key] = true
		c.heldNow[where] = map[string]bool{cr.Key: true}
	}
	c.mu.Unlock()
	if !found {
		if seen && once("emptied "+where) {
			c.mu.Lock()
			c.sum.Outages++
			c.mu.Unlock()
			return outage{name, where, "", "had a credential and now has none"}, true
		}
		return outage{}, false
	}
	ok, why, err := c.authenticate(cr)
	if err != nil || ok {
		return outage{}, false // the simulator is gone (end of campaign), or fine
	}
	again, found2, err2 := c.readSink(ctx, sd, name)
	if err2 != nil || !found2 || again.Key != cr.Key {
		return outage{}, false // replaced meanwhile: the next sample judges
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.extDeleted[cr.Key]:
		if !c.excused["ext "+cr.Key] {
			c.excused["ext "+cr.Key] = true
			c.sum.ExcusedDead++
			c.logf("note: %s: sink %s holds %s, which the campaign deleted as someone else (not counted)", name, where, cr.Key)
		}
		return outage{}, false
	}
	tag := "dead " + where + " " + cr.Key
	if c.outageSeen[tag] {
		return outage{}, false
	}
	c.outageSeen[tag] = true
	c.sum.Outages++
	return outage{name, where, cr.Key, fmt.Sprintf("holds %s, which does not authenticate (%s)", cr.Key, why)}, true
}

// checkNow checks, while rotatord is stopped, what must hold at every
// moment; final adds what must hold once everything settled.
func (c *campaign) checkNow(ctx context.Context, final bool) error {
	c.sampleOnce(ctx)
	keys, err := c.keys()
	if err != nil {
		return err
	}
	byName := map[string][]simKey{}
	for _, k := range keys {
		byName[k.Name] = append(byName[k.Name], k)
	}
	c.mu.Lock()
	ext := func(k simKey) bool { return k.External || c.extCreated[k.Key] }
	c.mu.Unlock()

	// Never more than two live keys of a name: each name reported once.
	for name, n := range keysPerName(keys, c.managed) {
		c.mu.Lock()
		c.sum.MaxKeysPerName = max(c.sum.MaxKeysPerName, n)
		report := n > 2 && !c.outageSeen["max "+name]
		if report {
			c.outageSeen["max "+name] = true
		}
		c.mu.Unlock()
		if report {
			c.problem("TOO MANY KEYS %s had %d live keys at one moment (want at most 2)%s", name, n, c.story(ctx, name))
		}
	}

	// No leak while running: keys rotatord created that no sink ever held,
	// beyond the one rotation per name that may be in flight.
	for _, name := range c.names {
		var strays []string
		c.mu.Lock()
		for _, k := range byName[name] {
			// A key made by a create answered 429 is not one of them: its
			// rotation's search deletes it once the API has settled, and
			// the final check wants it gone.
			if k.Alive && !k.Zombie && !ext(k) && !c.seeded[k.Key] && !c.everHeld[k.Key] && !k.AnsweredRateLimited {
				strays = append(strays, k.Key)
			}
		}
		var fresh []string
		if len(strays) > 1 {
			for _, k := range strays {
				if !c.leaked[k] {
					c.leaked[k] = true
					fresh = append(fresh, k)
				}
			}
			c.sum.Leaks = len(c.leaked)
		}
		c.mu.Unlock()
		if len(fresh) > 0 {
			c.problem("LEAK %s: %d live keys created by rotatord that no sink ever held: %v%s", name, len(strays), strays, c.story(ctx, name))
		}
	}

	c.checkUntouched(ctx, keys, ext)
	c.checkOwnKey(ctx, keys, final)
	if final {
		c.checkSettled(ctx, byName, ext)
	}
	return nil
}

// checkUntouched: keys no policy variant ever manages (other roles under a
// managed glob, excluded names, names no glob matches, rotatord's own key)
// stay alive and alone, and rotatord creates keys only for managed names,
// with their policy's role.
func (c *campaign) checkUntouched(ctx context.Context, keys []simKey, ext func(simKey) bool) {
	untouchedNames := map[string]bool{}
	for _, name := range c.untouched {
		untouchedNames[strings.Fields(name)[0]] = true
	}
	bad := func(format string, args ...any) {
		c.mu.Lock()
		c.sum.UntouchedOK = false
		c.mu.Unlock()
		c.problem("UNTOUCHED "+format, args...)
	}
	for _, k := range keys {
		if why, ok := c.untouched[k.Key]; ok {
			if !k.Alive || k.Zombie {
				bad("%s (%s) was deleted or made undeletable by rotatord (deleted_by=%s)%s", k.Key, why, k.DeletedBy, c.story(ctx, k.Name))
				delete(c.untouched, k.Key) // once
			}
			continue
		}
		if c.seeded[k.Key] || ext(k) {
			continue
		}
		switch {
		case untouchedNames[k.Name]:
			bad("rotatord created %s under %s, a name it must leave alone%s", k.Key, k.Name, c.story(ctx, k.Name))
			untouchedNames[k.Name] = false
		case k.Name == adminName:
			if k.RoleID != c.adminRole {
				bad("rotatord created %s under its own key's name %s with role %s, not its own key's role", k.Key, k.Name, c.roleName(k.RoleID))
			}
		case !c.managed(k.Name):
			bad("rotatord created %s under %s, a name no policy manages", k.Key, k.Name)
		case k.RoleID != c.roles[c.policyOf(k.Name).role]:
			bad("rotatord created %s under %s with role %s, not its policy's role", k.Key, k.Name, c.roleName(k.RoleID))
		}
	}
}

// checkOwnKey checks rotatord's own key, which own_key rotates: never more
// than two live keys of its name, the credential file always holds one
// that authenticates (an outage of rotatord itself otherwise), and once
// settled exactly one is alive, the one the file holds.
func (c *campaign) checkOwnKey(ctx context.Context, keys []simKey, final bool) {
	var live []string
	for _, k := range keys {
		if k.Name == adminName && k.Alive && !k.Zombie && !k.External {
			live = append(live, k.Key)
		}
	}
	n, _ := maxKeysPerName(keys, func(name string) bool { return name == adminName })
	c.mu.Lock()
	c.sum.MaxOwnKeys = max(c.sum.MaxOwnKeys, n)
	report := n > 2 && !c.outageSeen["max own"]
	if report {
		c.outageSeen["max own"] = true
	}
	c.mu.Unlock()
	if report {
		c.problem("TOO MANY OWN KEYS: %d live keys named %s at one moment (want at most 2)%s", n, adminName, c.story(ctx, adminName))
	}
	cr, err := c.ownCred()
	if err != nil {
		c.ownOutage(ctx, "unreadable", fmt.Sprintf("rotatord's credential file: %v", err))
		return
	}
	if ok, why, err := c.authenticate(cr); err == nil && !ok && why != "create not applied yet" {
		c.ownOutage(ctx, "dead "+cr.Key, fmt.Sprintf("rotatord's credential file holds %s, which does not authenticate (%s)", cr.Key, why))
	}
	if final && (len(live) != 1 || live[0] != cr.Key) {
		// A key made by a create answered 429 left alive is among them.
		c.mu.Lock()
		c.sum.Leaks++
		c.mu.Unlock()
		c.problem("OWN KEY at the end: live keys %v, the credential file holds %s (want exactly that one)%s", live, cr.Key, c.story(ctx, adminName))
	}
}

func (c *campaign) ownOutage(ctx context.Context, tag, what string) {
	c.mu.Lock()
	first := !c.outageSeen["own "+tag]
	if first {
		c.outageSeen["own "+tag] = true
		c.sum.Outages++
	}
	c.mu.Unlock()
	if first {
		c.problem("OUTAGE of rotatord itself: %s%s", what, c.story(ctx, adminName))
	}
}

// checkSettled: after the settling phase every managed name has exactly one
// live key (zombies and keys someone else made aside), every sink of the
// name holds it, and every other live key of the name that rotatord made
// or replaced is a leak.
func (c *campaign) checkSettled(ctx context.Context, byName map[string][]simKey, ext func(simKey) bool) {
	for _, name := range c.names {
		held := map[string][]string{} // key -> sinks holding it now
		var sinkProblems []string
		// Someone else deleted every key the name had: rotatord has
		// nothing to deliver (it never makes a key from nothing), so an
		// empty sink is no outage of its making.
		c.mu.Lock()
		nothingLeft := len(byName[name]) > 0
		for _, k := range byName[name] {
			switch {
			case ext(k) || k.Zombie:
			case k.Alive:
				nothingLeft = false
			case c.extDeleted[k.Key]:
			case !c.seeded[k.Key] && !c.everHeld[k.Key]:
				// A key rotatord made and deleted again before any
				// sink held it (a rollback): it never served anyone.
			default:
				nothingLeft = false
			}
		}
		c.mu.Unlock()
		c.fmu.RLock()
		for _, sd := range c.sinksOf(name) {
			cr, found, err := c.readSink(ctx, sd, name)
			switch {
			case err != nil:
				sinkProblems = append(sinkProblems, sd.id+" unreadable: "+err.Error())
			case !found:
				// A sink a reload added is filled at the name's next
				// rotation, not at once; a sink that had content and
				// lost it is an outage the sampler already counted.
				where := sd.where(c.dir, name)
				c.mu.Lock()
				seen := c.sinkSeen[where]
				c.mu.Unlock()
				if (seen || !sd.extra) && !nothingLeft {
					sinkProblems = append(sinkProblems, sd.id+" holds nothing")
				}
			default:
				held[cr.Key] = append(held[cr.Key], sd.id)
				c.mu.Lock()
				deletedByOthers := c.extDeleted[cr.Key]
				c.mu.Unlock()
				if ok, why, _ := c.authenticate(cr); !ok && !deletedByOthers {
					sinkProblems = append(sinkProblems, fmt.Sprintf("%s holds %s, which does not authenticate (%s)", sd.id, cr.Key, why))
				}
			}
		}
		c.fmu.RUnlock()
		if len(held) > 1 {
			sinkProblems = append(sinkProblems, fmt.Sprintf("the sinks disagree: %v", held))
		}
		if len(sinkProblems) > 0 {
			c.mu.Lock()
			c.sum.Outages++
			c.mu.Unlock()
			c.problem("OUTAGE %s at the end: %s%s", name, strings.Join(sinkProblems, "; "), c.story(ctx, name))
		}
		var leaks []string
		c.mu.Lock()
		for _, k := range byName[name] {
			if !k.Alive || k.Zombie || ext(k) || held[k.Key] != nil {
				continue
			}
			what := "created by rotatord"
			switch {
			case c.seeded[k.Key]:
				what = "seeded, replaced but never revoked"
			case k.AnsweredRateLimited:
				what = "made by a create the API applied and answered 429, never deleted"
			}
			leaks = append(leaks, k.Key+" ("+what+")")
			if !c.leaked[k.Key] {
				c.leaked[k.Key] = true
			}
		}
		c.sum.Leaks = len(c.leaked)
		c.mu.Unlock()
		if len(leaks) > 0 {
			c.problem("LEAK %s at the end: live keys no sink holds: %v%s", name, leaks, c.story(ctx, name))
		}
	}
}

// finalChecks runs the settled checks, counts what the simulator saw, and
// looks for every secret it issued in logs, state and metrics.
func (c *campaign) finalChecks(ctx context.Context) error {
	if err := c.checkNow(ctx, true); err != nil {
		return err
	}
	keys, err := c.keys()
	if err != nil {
		return err
	}
	var blobs []string
	var all []byte
	for _, f := range c.logFiles() {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	logs := all
	blobs = append(blobs, string(logs), c.metrics)
	if c.ha != nil {
		blobs = append(blobs, c.haBlobs(ctx)...)
	}
	for _, d := range []string{"state", "state-backup"} {
		_ = filepath.Walk(filepath.Join(c.dir, d), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				blobs = append(blobs, string(b))
			}
			return nil
		})
	}
	c.mu.Lock()
	c.sum.Rotations = strings.Count(string(logs), `"msg":"rotation delivered"`)
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, `"msg":"rotation delivered"`) && strings.Contains(line, `"policy":"_self"`) {
			c.sum.OwnRotations++
		}
	}
	for _, k := range keys {
		if k.AppliedAt != nil {
			c.sum.LateCreates++
		}
		if k.ZombieSince != nil {
			c.sum.Zombies++
		}
		if k.AnsweredRateLimited {
			c.sum.Answered429++
		}
	}
	c.mu.Unlock()
	for _, k := range append(keys, simKey{Key: c.admin.Key, Secret: c.admin.Secret}) {
		for _, b := range blobs {
			if k.Secret != "" && strings.Contains(b, k.Secret) {
				c.mu.Lock()
				c.sum.SecretsInLogs++
				c.mu.Unlock()
				c.problem("the secret of %s appears in logs, state or metrics", k.Key)
			}
		}
	}
	if c.metrics == "" {
		c.problem("could not scrape /metrics")
	}
	return nil
}
