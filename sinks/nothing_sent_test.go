package sinks

import (
	"errors"
	"fmt"
	"testing"
)

func TestNothingSentIsFoundThroughWrapsAndKeepsItsCause(t *testing.T) {
	cause := errors.New("connection refused")
	err := fmt.Errorf("sink vault#0: %w", NothingSent(cause))
	if !IsNothingSent(err) || !errors.Is(err, cause) {
		t.Fatalf("%v: marked %v, cause kept %v", err, IsNothingSent(err), errors.Is(err, cause))
	}
	if err.Error() != "sink vault#0: connection refused" {
		t.Errorf("the mark changed the text: %q", err)
	}
	if IsNothingSent(cause) || NothingSent(nil) != nil {
		t.Error("an unmarked error is marked, or a nil error became one")
	}
}
