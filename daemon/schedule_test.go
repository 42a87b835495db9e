package daemon

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rotatord/rotatord/internal/window"
)

// A daily 03:00 schedule and a 09:00-16:00 window never meet: the policy's
// schedule also fires when the window opens, so a rotation waiting for it
// goes then.
func TestScheduleRunsAtWindowOpenings(t *testing.T) {
	base, err := cron.ParseStandard("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	days, _ := window.ParseDays([]string{"*"})
	w := window.Set{{Days: days, Start: 9 * time.Hour, End: 16 * time.Hour, Zone: time.UTC}}
	s := withWindowOpenings(base, w, nil)
	at := func(h int) time.Time { return time.Date(2026, 12, 7, h, 0, 0, 0, time.UTC) }
	var got []time.Time
	for t0 := at(0); len(got) < 4; {
		t0 = s.Next(t0)
		got = append(got, t0)
	}
	want := []time.Time{at(3), at(9), at(3).AddDate(0, 0, 1), at(9).AddDate(0, 0, 1)}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("runs %v, want %v", got, want)
		}
	}
	if withWindowOpenings(base, nil, nil) != base {
		t.Error("a policy without windows keeps its schedule as it is")
	}
}

// The memory of a pass is kept when the next is due within a minute, and
// given back when it is further away.
func TestPassWithin(t *testing.T) {
	for _, tc := range []struct {
		every time.Duration
		want  bool
	}{{30 * time.Second, true}, {2 * time.Hour, false}} {
		s := &scheduler{cron: cron.New()}
		s.cron.Schedule(cron.Every(tc.every), cron.FuncJob(func() {}))
		s.cron.Start()
		got := s.passWithin(keepMemoryWithin)
		s.cron.Stop()
		if got != tc.want {
			t.Errorf("a pass every %s: passWithin(%s) = %v, want %v", tc.every, keepMemoryWithin, got, tc.want)
		}
	}
	if (&scheduler{cron: cron.New()}).passWithin(keepMemoryWithin) {
		t.Error("no schedule at all: passWithin = true")
	}
}
