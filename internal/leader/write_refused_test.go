package leader

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// scriptedLock is a Lease whose reads and writes answer what the test
// sets.
type scriptedLock struct {
	rec     *resourcelock.LeaderElectionRecord // nil: not found
	raw     string
	getErr  error
	saveErr error
}

var leaseResource = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func (s *scriptedLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	if s.getErr != nil {
		return nil, nil, s.getErr
	}
	if s.rec == nil {
		return nil, nil, apierrors.NewNotFound(leaseResource, "rotatord")
	}
	c := *s.rec
	return &c, []byte(s.raw), nil
}
func (s *scriptedLock) Create(context.Context, resourcelock.LeaderElectionRecord) error {
	return s.saveErr
}
func (s *scriptedLock) Update(context.Context, resourcelock.LeaderElectionRecord) error {
	return s.saveErr
}
func (s *scriptedLock) RecordEvent(string) {}
func (s *scriptedLock) Identity() string   { return "once_0001" }
func (s *scriptedLock) Describe() string   { return "default/rotatord" }

// TestWriteRefusedNotForAnotherReplicasCreate: WriteRefused is for once's
// give-up message, which then says the holder the Lease names stopped
// renewing it and this replica's write failed, instead of "another
// replica holds the Lease: stop it". No Lease was there, and another
// replica created it first: this replica's Create fails AlreadyExists
// (as an Update fails Conflict), and the Lease names a live holder, the
// one to stop. Nor does a Create that failed otherwise stay the reason
// once a read finds the Lease another replica created meanwhile: the
// read before found none, and the first read of it counted as no change.
func TestWriteRefusedNotForAnotherReplicasCreate(t *testing.T) {
	newLock := func(s *scriptedLock) (*Elector, *timedLock) {
		e := &Elector{}
		return e, &timedLock{Interface: s, sent: func(resourcelock.LeaderElectionRecord) {},
			took: func(resourcelock.LeaderElectionRecord) {}, renewed: func(time.Time) {}, unsafe: func(time.Time) {},
			ours: func(resourcelock.LeaderElectionRecord) bool { return false }, deposed: func(string) bool { return false },
			wrote: e.wroteLease}
	}
	ctx := context.Background()
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: "once_0001", LeaseDurationSeconds: 15}
	theirs := &resourcelock.LeaderElectionRecord{HolderIdentity: "rotatord-live_0002", LeaseDurationSeconds: 15}

	t.Run("AlreadyExists", func(t *testing.T) {
		s := &scriptedLock{}
		e, l := newLock(s)
		if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
			t.Fatalf("Get: %v, want not found", err)
		}
		s.saveErr = apierrors.NewAlreadyExists(leaseResource, "rotatord")
		_ = l.Create(ctx, mine)
		if err := e.WriteRefused(); err != nil {
			t.Errorf("another replica created the Lease first: WriteRefused = %v, want nil (it holds the Lease)", err)
		}
	})
	t.Run("created meanwhile", func(t *testing.T) {
		s := &scriptedLock{}
		e, l := newLock(s)
		if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
			t.Fatalf("Get: %v, want not found", err)
		}
		s.saveErr = apierrors.NewServiceUnavailable("etcd is slow")
		_ = l.Create(ctx, mine)
		if e.WriteRefused() == nil {
			t.Fatal("the Create failed, and WriteRefused is nil")
		}
		s.rec, s.raw = theirs, `{"holderIdentity":"rotatord-live_0002"}`
		if _, _, err := l.Get(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteRefused(); err != nil {
			t.Errorf("a read found the Lease another replica created since: WriteRefused = %v, want nil", err)
		}
	})
}
