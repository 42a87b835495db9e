package apiclient

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// A create answered 429 is sent again (issue 16's adaptive rate relies on
// a 429 being retried), and the caller is told an earlier attempt was
// answered: a server that applied the create before its 429 made a key
// whose secret nobody has.
func TestCreateTellsOfEarlierAnsweredAttempts(t *testing.T) {
	tests := []struct {
		name      string
		give      exosim.Fault
		wantKeys  int
		wantEarly int
	}{
		{name: "applied then 429", give: exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 2}, wantKeys: 2, wantEarly: 1},
		{name: "plain 429", give: exosim.Fault{RateLimitNext: 2, RetryAfter: 2}, wantKeys: 1, wantEarly: 2},
		{name: "no fault", wantKeys: 1, wantEarly: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.SetFault(exosim.OpCreateAPIKey, tt.give)
			k, err := f.client.CreateKey(context.Background(), "ci-x", exosim.CIRoleID)
			if err != nil {
				t.Fatal(err)
			}
			if k.EarlierAttemptsAnswered != tt.wantEarly {
				t.Errorf("EarlierAttemptsAnswered = %d, want %d", k.EarlierAttemptsAnswered, tt.wantEarly)
			}
			if n := len(f.liveNamed("ci-x")); n != tt.wantKeys {
				t.Errorf("live keys named ci-x = %d, want %d", n, tt.wantKeys)
			}
		})
	}
}

// A create that fails after answered attempts says so too: each of them
// may have made a key (here all do), and the caller's search must not end
// at the first it finds.
func TestCreateFailedTellsOfEarlierAnsweredAttempts(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRetries = 1 })
	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 2, RetryAfter: 1})
	k, err := f.client.CreateKey(context.Background(), "ci-x", exosim.CIRoleID)
	if err == nil {
		t.Fatal("create succeeded, want its last 429")
	}
	if k.EarlierAttemptsAnswered != 1 {
		t.Errorf("EarlierAttemptsAnswered = %d, want 1", k.EarlierAttemptsAnswered)
	}
	if k.ID != "" || !k.Secret.IsZero() {
		t.Errorf("a failed create returned a key: %s", k.ID)
	}
	if n := len(f.liveNamed("ci-x")); n != 2 {
		t.Errorf("live keys named ci-x = %d, want 2", n)
	}
}

// The hook of WithAnsweredRetryHook runs before an answered create is sent
// again (the caller records that the answered attempt may have made a
// key); its error ends the create without sending it again.
func TestCreateRunsTheAnsweredRetryHook(t *testing.T) {
	f := newFixture(t)
	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1})
	calls := 0
	ctx := WithAnsweredRetryHook(context.Background(), func() error {
		calls++
		if n := len(f.liveNamed("ci-x")); n != 1 {
			t.Errorf("hook ran with %d keys named ci-x, want the first attempt's alone", n)
		}
		return nil
	})
	if _, err := f.client.CreateKey(ctx, "ci-x", exosim.CIRoleID); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("hook ran %d times, want 1", calls)
	}

	f.srv.SetFault(exosim.OpCreateAPIKey, exosim.Fault{AppliedRateLimitNext: 1, RetryAfter: 1})
	ctx = WithAnsweredRetryHook(context.Background(), func() error { return errors.New("journal full") })
	k, err := f.client.CreateKey(ctx, "ci-y", exosim.CIRoleID)
	if err == nil || !strings.Contains(err.Error(), "journal full") || !errors.Is(err, ErrRateLimited) {
		t.Errorf("create with a failing hook: err = %v, want the 429 and the hook's error", err)
	}
	if k.EarlierAttemptsAnswered != 1 {
		t.Errorf("EarlierAttemptsAnswered = %d, want 1", k.EarlierAttemptsAnswered)
	}
	if n := len(f.liveNamed("ci-y")); n != 1 {
		t.Errorf("%d keys named ci-y, want 1: the create was sent again", n)
	}
}
