package apiclient

import (
	"context"
	"testing"

	"github.com/rotatord/rotatord/apiclient/exosim"
)

// TestAnswerHookHearsEachSuccessfulAnswer: the hook runs once per answer
// that succeeded, before the call returns, and not for refusals or
// errors (here two 502s retried, then the listing).
func TestAnswerHookHearsEachSuccessfulAnswer(t *testing.T) {
	f := newFixture(t)
	calls := 0
	ctx := WithAnswerHook(context.Background(), func() { calls++ })

	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 2, ErrorStatus: 502})
	if _, err := f.client.ListKeys(ctx); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if calls != 1 {
		t.Errorf("after two 502s and a listing the hook ran %d times, want 1", calls)
	}

	calls = 0
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{ErrorNext: 10, ErrorStatus: 500})
	if _, err := f.client.ListKeys(ctx); err == nil {
		t.Fatal("ListKeys succeeded against a server answering 500")
	}
	if calls != 0 {
		t.Errorf("the hook ran %d times for answers that failed, want 0", calls)
	}

	calls = 0
	f.srv.SetFault(exosim.OpListAPIKeys, exosim.Fault{})
	if _, err := f.client.ListKeys(context.Background()); err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if calls != 0 {
		t.Errorf("the hook of another context ran %d times", calls)
	}
}
