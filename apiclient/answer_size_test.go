package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// endlessListing is a key listing that never ends, counting what is read
// of it.
type endlessListing struct {
	read atomic.Int64
	head bool
}

func (e *endlessListing) Read(p []byte) (int, error) {
	item := `{"id":"EXO0000000000000000000000","key":"EXO0000000000000000000000","name":"ci-x","role-id":"11111111-1111-1111-1111-111111111111"},`
	if !e.head {
		e.head = true
		item = `{"api-keys":[` + item
	}
	n := 0
	for n < len(p) {
		n += copy(p[n:], item)
	}
	e.read.Add(int64(n))
	return n, nil
}

func (e *endlessListing) Close() error { return nil }

// A server that lies could stream a listing without end; the SDK would
// keep all of it in memory (found by review: 2.7 GB of RSS for a 1 GB
// answer). An answer is read up to maxAnswerBody, then fails.
func TestEndlessAnswerIsCutAtTheLimit(t *testing.T) {
	old := maxAnswerBody
	maxAnswerBody = 1 << 20
	t.Cleanup(func() { maxAnswerBody = old })

	for _, length := range []int64{-1, 1 << 40} { // unknown, and announced
		body := &endlessListing{}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				ContentLength: length, Body: body, Request: r}, nil
		})
		c, err := New(Config{Endpoint: "http://127.0.0.1:1/v2", Credentials: Credentials{Key: "EXO1", Secret: "s"}, Transport: rt, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListKeys(context.Background())
		if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
			t.Errorf("Content-Length %d: ListKeys: %v, want the answer refused as too large", length, err)
		}
		if n := body.read.Load(); n > maxAnswerBody+64<<10 {
			t.Errorf("Content-Length %d: %d bytes read of an endless answer, limit %d", length, n, maxAnswerBody)
		}
	}
}

// An answer of exactly the limit is read whole.
func TestAnswerOfTheLimitIsRead(t *testing.T) {
	b := &boundedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), left: 100}
	got, err := io.ReadAll(b)
	if err != nil || len(got) != 100 {
		t.Errorf("read %d bytes, %v; want 100 and no error", len(got), err)
	}
	b = &boundedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 101))), left: 100}
	if _, err := io.ReadAll(b); !errors.Is(err, ErrAnswerTooLarge) {
		t.Errorf("101 bytes with a limit of 100: %v, want ErrAnswerTooLarge", err)
	}
}
