package apiclient

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// dateRewriter gives every answer the Date date ("" removes it): an API
// whose clock is not this host's.
type dateRewriter struct {
	next http.RoundTripper
	date string
}

func (d dateRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.next.RoundTrip(r)
	if err == nil {
		resp.Header.Del("Date")
		if d.date != "" {
			resp.Header.Set("Date", d.date)
		}
	}
	return resp, err
}

// The orphan search counts its settle time on the API's clock: a listing
// made with WithServerClock's context gives the Date of its answer, the
// API's time and not this host's; an answer without a Date gives none.
func TestServerClockIsTheAnswersDate(t *testing.T) {
	for _, c := range []struct {
		date string
		want time.Time
	}{
		{"Thu, 02 Jan 2031 03:04:05 GMT", time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"", time.Time{}},
		{"not a date", time.Time{}},
	} {
		f := newFixture(t, func(cfg *Config) { cfg.Transport = dateRewriter{next: cfg.Transport, date: c.date} })
		ctx, clock := WithServerClock(context.Background())
		if _, err := f.client.ListKeys(ctx); err != nil {
			t.Fatal(err)
		}
		if got := clock.Now(); !got.Equal(c.want) {
			t.Errorf("Date %q: server clock %v, want %v", c.date, got, c.want)
		}
	}
}
