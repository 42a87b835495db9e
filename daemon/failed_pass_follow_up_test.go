package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rotatord/rotatord/apiclient/exosim"
	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
)

// A pass whose listing fails (the API down for a moment) is followed up
// after 1 minute, then 2, as failures back off, instead of waiting for
// the policy's next scheduled pass (an hour here, a day with a daily
// schedule). A pass that then succeeds leaves nothing armed.
func TestAFailedListingIsFollowedUpWithBackoff(t *testing.T) {
	e := newEnv(t)
	s := newScheduler(e.d, context.Background())
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute} {
		e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 1, ErrorStatus: 503})
		start := e.d.Now()
		out, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
		if err == nil {
			t.Fatalf("pass %d: the listing answered 503 and the pass did not fail", i+1)
		}
		s.followUp([]string{"ci"}, out, start, failedAccounts(err))
		at := armedAt(t, s, "ci")
		if lo, hi := start.Add(want-time.Second), e.d.Now().Add(want+time.Second); at.Before(lo) || at.After(hi) {
			t.Errorf("failed pass %d in a row: follow-up armed %v after its start, want %v", i+1, at.Sub(start), want)
		}
	}
	start := e.d.Now()
	out, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.followUp([]string{"ci"}, out, start, failedAccounts(err))
	s.mu.Lock()
	f := s.followUps["ci"]
	s.mu.Unlock()
	if f != nil {
		t.Errorf("a pass that rotated everything left a follow-up armed for %v", f.at)
	}
}

// A rotation that fails before any key is made (its sink's directory is
// a file) leaves no rotation in flight, only a failure on record: it is
// tried again once its backoff (1 minute) is over, not at the next
// scheduled pass.
func TestARotationFailedBeforeACreateIsRetriedAtTheEndOfItsBackoff(t *testing.T) {
	e := newEnv(t)
	start := e.d.Now()
	outcomes, err := passWithSinkDirAFile(t, e)
	failedName := ""
	for _, o := range outcomes {
		if o.Err != nil {
			failedName = o.Name
		}
	}
	if failedName == "" {
		t.Fatalf("no name failed with its sink's directory a file: %+v", outcomes)
	}
	if un := e.d.unsettled("ci"); len(un) != 0 {
		t.Fatalf("a sink that cannot be written left rotations in flight %v: this test is for a failure with none", un)
	}
	s := newScheduler(e.d, context.Background())
	s.followUp([]string{"ci"}, outcomes, start, failedAccounts(err))
	at := armedAt(t, s, "ci")
	if lo, hi := start.Add(time.Minute-time.Second), e.d.Now().Add(time.Minute+time.Second); at.Before(lo) || at.After(hi) {
		t.Errorf("the retry of %s's failed rotation is armed %v after the pass began, want its backoff, 1m", failedName, at.Sub(start))
	}
}

// Under Run, with the listing of the pass at start failing, the keys are
// rotated about a minute later, not at the next scheduled pass an hour
// away.
func TestRunRetriesAPassWhoseListingFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a failed pass's backoff (1 minute)")
	}
	e := newEnv(t)
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 1, ErrorStatus: 503})
	e.start()
	deadline := time.Now().Add(100 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(e.dir, "out", "*.json"))
		if len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Join(e.dir, "out"))
			t.Fatalf("100 s after a pass whose listing failed, the sinks hold %d files: nothing retried it before the next scheduled pass, an hour away", len(entries))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A failure on record whose backoff ended long ago, on a name the passes
// since left alone (its key no longer due: max_age raised, a lost key put
// back by hand), does not hide the backoff of a failure the pass just
// had: the rotations that failed now are still tried again at the end of
// theirs, not at the next scheduled pass.
func TestAnOldFailureOnRecordDoesNotHideTheRetryOfANewOne(t *testing.T) {
	e := newEnv(t)
	start := e.d.Now()
	outcomes, err := passWithSinkDirAFile(t, e)
	var failed []string
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, o.Name)
		}
	}
	if len(failed) < 2 {
		t.Fatalf("want two names failed with their sink's directory a file, got %v", failed)
	}
	store := e.d.account(config.DefaultAccount).store
	old, ok := store.Get("ci", failed[0])
	if !ok || old.Failures == 0 || old.Rotation != nil {
		t.Fatalf("%s's record after its failed rotation: %+v", failed[0], old)
	}
	old.LastFailure = start.Add(-2 * time.Hour)
	if err := store.Put(old); err != nil {
		t.Fatal(err)
	}
	s := newScheduler(e.d, context.Background())
	s.followUp([]string{"ci"}, outcomes, start, failedAccounts(err))
	at := armedAt(t, s, "ci")
	if lo, hi := start.Add(time.Minute-time.Second), e.d.Now().Add(time.Minute+time.Second); at.Before(lo) || at.After(hi) {
		t.Errorf("the retry of %v's failed rotations is armed %v after the pass began, want their backoff, 1m", failed[1:], at.Sub(start))
	}
}

// Passes of a policy overlap (a long pass waiting on a consumer check, a
// follow-up or the schedule meanwhile). One that began before another
// pass's listing failed, and ends after it, saw the API answer before it
// went down: it does not disarm the follow-up of the failed pass, which
// would leave the policy to its next scheduled pass while the API is
// down.
func TestAnEarlierPassEndingLaterKeepsTheFollowUpOfAFailedOne(t *testing.T) {
	e := newEnv(t)
	s := newScheduler(e.d, context.Background())
	earlier := e.d.Now()
	okOut, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 1, ErrorStatus: 503})
	start := e.d.Now()
	out, err := e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
	if err == nil {
		t.Fatal("the listing answered 503 and the pass did not fail")
	}
	s.followUp([]string{"ci"}, out, start, failedAccounts(err))
	s.followUp([]string{"ci"}, okOut, earlier, nil) // the earlier pass ends
	at := armedAt(t, s, "ci")
	if lo, hi := start.Add(time.Minute-time.Second), e.d.Now().Add(time.Minute+time.Second); at.Before(lo) || at.After(hi) {
		t.Errorf("follow-up of the failed pass armed %v after its start, want 1m", at.Sub(start))
	}
}

// failedAccounts finds the accounts of a pass's error however it is
// wrapped: joined, or wrapped again with %w on the way.
func TestFailedAccountsFollowsEveryWrapping(t *testing.T) {
	a := &accountError{account: "a", err: errors.New("listing: 503")}
	b := &accountError{account: "b", err: errors.New("listing: 503"), named: true}
	err := fmt.Errorf("pass: %w", errors.Join(fmt.Errorf("again: %w", a), b))
	got := failedAccounts(err)
	if !got["a"] || !got["b"] || len(got) != 2 {
		t.Errorf("failedAccounts(%v) = %v, want a and b", err, got)
	}
	if got := failedAccounts(errors.New("no policy named \"x\"")); len(got) != 0 {
		t.Errorf("an error of no account gave %v", got)
	}
}

// passWithSinkDirAFile runs a pass of ci with its sink's directory
// replaced by a file: every due name fails at its sink's probe, before
// any key is made.
func passWithSinkDirAFile(t *testing.T, e *env) ([]rotation.Outcome, error) {
	t.Helper()
	out := filepath.Join(e.dir, "out")
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return e.d.RunPass(context.Background(), []string{"ci"}, rotation.Options{})
}
