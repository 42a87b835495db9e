package file

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFenceBothPaths(t *testing.T) {
	for _, named := range []bool{false, true} {
		for _, format := range []string{FormatJSON, FormatTemplate} {
			t.Run(map[bool]string{false: "unnamed", true: "named"}[named]+"/"+format, func(t *testing.T) {
				deposed := errors.New("this replica does not hold the Lease")
				var lost atomic.Bool
				var calls atomic.Int32
				dir := t.TempDir()
				if !named {
					needUnnamedTemp(t, dir)
				}
				s := newSink(t, dir, format, func(o *Options) {
					o.Fence = func() (time.Time, error) {
						calls.Add(1)
						if lost.Load() {
							return time.Time{}, deposed
						}
						return time.Now().Add(time.Minute), nil
					}
				})
				ctx := context.Background()
				old := cred("k", "EXOold", "old-secret")
				if err := s.Write(ctx, old); err != nil {
					t.Fatal(err)
				}
				if err := s.Probe(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				if err := s.Verify(ctx, old); err != nil {
					t.Fatal(err)
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("fence asked %d times for one write + probe + verify", n)
				}
				before := readString(t, filepath.Join(dir, "k.cred"))
				var sawLink bool
				s.inject = func(step string) error {
					if step == "link" {
						sawLink = true
						if named {
							return errNeedNamed
						}
					}
					if step == "rename" {
						lost.Store(true)
					}
					return nil
				}
				next := cred("k", "EXOnew", testSecret)
				err := s.Write(ctx, next)
				if !errors.Is(err, deposed) {
					t.Fatalf("Write = %v", err)
				}
				if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), ".tmp-") {
					t.Errorf("error leaks: %v", err)
				}
				if !sawLink {
					t.Errorf("unnamed path not taken")
				}
				if got := readString(t, filepath.Join(dir, "k.cred")); got != before {
					t.Errorf("target changed")
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
					t.Errorf("dir holds %q", names)
				}
				if err := s.Verify(ctx, old); err != nil {
					t.Errorf("Verify(old) after refusal: %v", err)
				}
				if err := s.Probe(ctx, "k"); err != nil {
					t.Errorf("Probe after refusal: %v (fence must not be asked)", err)
				}
				// Still deposed: a probe and a read work, a write refuses again.
				s.inject = nil
				if err := s.Write(ctx, next); !errors.Is(err, deposed) {
					t.Errorf("second Write while deposed = %v", err)
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"k.cred"}) {
					t.Errorf("dir holds %q", names)
				}
				lost.Store(false)
				if err := s.Write(ctx, next); err != nil {
					t.Fatal(err)
				}
				if err := s.Verify(ctx, next); err != nil {
					t.Error(err)
				}
				if fp, err := s.CurrentFingerprint(ctx, "k"); err != nil {
					t.Error(err)
				} else if want, _ := s.Fingerprint(next); fp != want {
					t.Errorf("fingerprint mismatch")
				}
			})
		}
	}
}
