package main

// rotatord state export / import: the journal of every account moved, as
// JSON, between the state directory and the Kubernetes backend. Records
// hold no secret, so the export is not one either.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/fence"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/internal/leader"
	"github.com/rotatord/rotatord/state"
	"github.com/rotatord/rotatord/state/kubestate"
)

type stateFlags struct {
	common, importCommon commonFlags
}

// journalExport is the file format of state export.
type journalExport struct {
	Format   string                    `json:"format"`
	Accounts map[string][]state.Record `json:"accounts"`
}

const exportFormat = "rotatord-journal-v1"

// importedJournal is a journalExport as import reads it: every field of a
// record checked, those of its small sets too (importedRecord).
type importedJournal struct {
	Format   string                      `json:"format"`
	Accounts map[string][]importedRecord `json:"accounts"`
}

// importedRecord decodes a record's small sets as plain maps, so that the
// decoder's DisallowUnknownFields reaches their entries (a delivery with a
// misspelt field); state's own types decode them leniently, as a journal
// written by a later version must still load.
type importedRecord struct {
	state.Record
	FirstSeen map[string]time.Time      `json:"first_seen,omitempty"`
	Delivered map[string]state.Delivery `json:"delivered,omitempty"`
	Deleted   map[string]time.Time      `json:"deleted,omitempty"`

	CheckedCredentials map[string]time.Time `json:"checked_credentials,omitempty"`
}

func (ir importedRecord) record() state.Record {
	r := ir.Record
	r.FirstSeen, r.Delivered, r.Deleted = state.KeyTimesOf(ir.FirstSeen), state.DeliveriesOf(ir.Delivered), state.KeyTimesOf(ir.Deleted)
	r.CheckedCredentials = state.KeyTimesOf(ir.CheckedCredentials)
	return r
}

// stateJournal is what both backends offer here.
type stateJournal interface {
	state.Journal
	Close() error
}

// openJournal opens an account's journal of the backend cfg names. claim,
// when not nil, fences the Kubernetes backend's writes to a claim on the
// Lease (importHoldingLease).
func openJournal(ctx context.Context, cfg *config.Config, account string, readOnly bool, claim fence.Func) (stateJournal, error) {
	if cfg.State.Kubernetes() {
		kube := kubeclient.Cache{Gate: claim}
		client, err := kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
		if err != nil {
			return nil, err
		}
		s, err := kubestate.Open(ctx, client, cfg.State.Namespace, account, readOnly)
		if err != nil {
			return nil, err
		}
		if claim != nil {
			s.Fence = claim.Check
		}
		return s, nil
	}
	if readOnly {
		return state.OpenReadOnly(cfg.AccountStateDir(account))
	}
	return state.Open(cfg.AccountStateDir(account))
}

func (c *cli) cmdStateExport() error {
	cfg, err := config.Load(c.state.common.configFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := journalExport{Format: exportFormat, Accounts: map[string][]state.Record{}}
	for _, a := range cfg.AccountsInUse() {
		j, err := openJournal(ctx, cfg, a.Name, true, nil)
		if err != nil {
			return fmt.Errorf("account %s: %w", a.Name, err)
		}
		out.Accounts[a.Name] = j.List("")
		j.Close()
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func (c *cli) cmdStateImport() error {
	cfg, err := config.Load(c.state.importCommon.configFile)
	if err != nil {
		return err
	}
	var in importedJournal
	dec := json.NewDecoder(io.LimitReader(os.Stdin, 1<<30))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("state import: stdin: %w", err)
	}
	if in.Format != exportFormat {
		return fmt.Errorf("state import: stdin: format %q, want %q (the output of rotatord state export)", in.Format, exportFormat)
	}
	// Not under the import's bound: checkNoLeader's wait is bounded
	// already (a lease duration, the Lease's counting up to
	// leader.MaxRecordedLease, and a retry period, each read bounded by
	// the client's request timeout), and only it tells the lease duration
	// that bound must allow for.
	longest, err := checkNoLeader(context.Background(), cfg, c.stderr)
	if err != nil {
		return err
	}
	var retry time.Duration
	if le := cfg.LeaderElection; le != nil {
		retry = le.RetryPeriod.Duration()
	}
	ctx, cancel := context.WithTimeout(context.Background(), importTimeout(longest, retry))
	defer cancel()
	inUse := map[string]bool{}
	for _, a := range cfg.AccountsInUse() {
		inUse[a.Name] = true
	}
	for name := range in.Accounts {
		if !inUse[name] {
			return fmt.Errorf("state import: account %q is not in the policy file %s", name, c.state.importCommon.configFile)
		}
	}
	for name, recs := range in.Accounts {
		if err := checkImported(name, recs); err != nil {
			return err
		}
	}
	n := 0
	err = importHoldingLease(ctx, cfg, longest, c.stderr, func(ctx context.Context, claim fence.Func) error {
		// Every account's journal opened and found empty before the
		// first write: one that holds records refuses the import with
		// nothing written, not after the accounts before it in the
		// map's order (which a second try would then refuse too).
		names := slices.Sorted(maps.Keys(in.Accounts))
		journals := make([]stateJournal, 0, len(names))
		defer func() {
			for _, j := range journals {
				j.Close()
			}
		}()
		for _, name := range names {
			j, err := openJournal(ctx, cfg, name, false, claim)
			if err != nil {
				return fmt.Errorf("account %s: %w", name, err)
			}
			journals = append(journals, j)
			if have := len(j.List("")); have > 0 {
				return fmt.Errorf("state import: account %s already holds %d records there: import only into an empty journal (nothing was written)", name, have)
			}
		}
		for i, name := range names {
			for _, ir := range in.Accounts[name] {
				if err := journals[i].Put(ir.record()); err != nil {
					return fmt.Errorf("state import: account %s: %w (%d records written)", name, err, n)
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "imported %d records\n", n)
	return nil
}

// importWrites is what the import allows itself once it holds the Lease:
// every account's journal opened, then the records written.
const importWrites = 5 * time.Minute

// importTimeout bounds the import once checkNoLeader has passed: the wait
// for the Lease (as long as the election may need: importHoldingLease),
// then the writes. longest is the longest lease duration of the Lease
// seen (checkNoLeader; 0 without leader_election), retryPeriod
// leader_election's. A fixed bound ran out during the wait with a
// lease_duration of minutes (up to twice that before the first write),
// and the import said it could not take the Lease.
func importTimeout(longest, retryPeriod time.Duration) time.Duration {
	return leader.TakeWait(longest, retryPeriod) + importWrites
}

// importHoldingLease runs write, the import's writes, holding the Lease of
// cfg's leader_election (without one, or with the directory backend, whose
// lock Open takes: at once, unfenced). A replica started meanwhile waits
// as a standby and reads the whole journal once the import lets the Lease
// go, instead of acting on the part written so far; claim fences the
// writes to the import's claim, so that an import that lost the Lease
// (the API server unreachable past the renew deadline) stops writing.
// longest is the longest lease duration the Lease was seen with
// (checkNoLeader): the election waits that long for a dead holder's.
func importHoldingLease(ctx context.Context, cfg *config.Config, longest time.Duration, stderr io.Writer, write func(ctx context.Context, claim fence.Func) error) error {
	le := cfg.LeaderElection
	if le == nil || !cfg.State.Kubernetes() {
		return write(ctx, nil)
	}
	// Its own clientset: the Lease requests are not fenced.
	var kube kubeclient.Cache
	client, err := kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	el := leader.New(leader.Config{
		Client: client, Namespace: cfg.State.Namespace, LeaseName: le.LeaseName,
		Identity:      fmt.Sprintf("state-import_%s_%d", host, os.Getpid()),
		LeaseDuration: le.LeaseDuration.Duration(), RenewDeadline: le.RenewDeadline.Duration(), RetryPeriod: le.RetryPeriod.Duration(),
		Logger: zap.NewNop(),
	})
	name := cfg.State.Namespace + "/" + le.LeaseName
	if err := mayTakeLease(ctx, client.CoordinationV1().Leases(cfg.State.Namespace), le.LeaseName); err != nil {
		return fmt.Errorf("state import: may not take the Lease %s (leader_election): %w", name, err)
	}
	fmt.Fprintf(stderr, "taking the Lease %s for the import: a replica started meanwhile waits until it is over\n", name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// As long as once waits for it (daemon.LeaseWait), by the longer of
	// the configured lease duration and the one the Lease records, which
	// client-go waits for a dead holder's.
	wait := leader.TakeWait(max(longest, le.LeaseDuration.Duration()), le.RetryPeriod.Duration())
	timer := time.AfterFunc(wait, func() {
		if !el.Leading() {
			cancel()
		}
	})
	defer timer.Stop()
	var (
		ran      bool
		writeErr error
	)
	err = el.Run(ctx, func(leadCtx context.Context) {
		if ran {
			return // lost and taken again: the import is over
		}
		ran = true
		timer.Stop()
		writeErr = write(leadCtx, el.Claim)
		if writeErr != nil && (leadCtx.Err() != nil || el.Check() != nil) {
			// The fence cut the writes off: say why, not only how.
			writeErr = fmt.Errorf("%w: the import lost the Lease %s (not renewed within renew_deadline %s) and stopped writing", writeErr, name, le.RenewDeadline.Duration())
		}
		cancel() // Run lets the Lease go, then returns
	})
	switch {
	case err != nil:
		return fmt.Errorf("state import: the Lease %s: %w", name, err)
	case !ran:
		return fmt.Errorf("state import: could not take the Lease %s within %s: another replica holds it, or the API server refuses it (RBAC on leases)", name, wait)
	}
	return writeErr
}

// checkImported refuses, before anything is written, records of an
// account that no export holds: one without policy or name, two of the
// same policy and name (the second would replace the first), a rotation
// in a phase rotatord does not write (run would recover it as an intent).
func checkImported(account string, recs []importedRecord) error {
	type id struct{ policy, name string }
	seen := make(map[id]bool, len(recs))
	for _, ir := range recs {
		if ir.Policy == "" || ir.Name == "" {
			return fmt.Errorf("state import: account %s: a record without policy or name", account)
		}
		k := id{ir.Policy, ir.Name}
		if seen[k] {
			return fmt.Errorf("state import: account %s: two records of policy %q and name %q", account, ir.Policy, ir.Name)
		}
		seen[k] = true
		for _, r := range []struct {
			field string
			rot   *state.Rotation
		}{{"rotation", ir.Rotation}, {"retried_create", ir.RetriedCreate}} {
			if r.rot == nil {
				continue
			}
			switch r.rot.Phase {
			case state.PhaseIntent, state.PhaseCreated, state.PhaseDelivered:
			default:
				return fmt.Errorf("state import: account %s: policy %q name %q: %s.phase %q: want %s, %s or %s",
					account, ir.Policy, ir.Name, r.field, r.rot.Phase, state.PhaseIntent, state.PhaseCreated, state.PhaseDelivered)
			}
		}
	}
	return nil
}

// checkNoLeader refuses an import into the Kubernetes backend while a
// replica holds the Lease: it would act on a journal being replaced.
// Whether the holder still renews it is told by watching the Lease for a
// lease duration, as a standby does, never by comparing its renewTime
// with this machine's clock: the holder's clock may run behind this one
// (a live replica would look long dead) or ahead of it. It returns the
// longest lease duration of the Lease seen: the configured one, or the
// one the Lease records, when longer.
func checkNoLeader(ctx context.Context, cfg *config.Config, stderr io.Writer) (time.Duration, error) {
	le := cfg.LeaderElection
	if le == nil || !cfg.State.Kubernetes() {
		return 0, nil // the directory's lock, taken by Open, says it
	}
	var kube kubeclient.Cache
	client, err := kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
	if err != nil {
		return 0, err
	}
	longest := le.LeaseDuration.Duration()
	name := cfg.State.Namespace + "/" + le.LeaseName
	leases := client.CoordinationV1().Leases(cfg.State.Namespace)
	lease, err := leases.Get(ctx, le.LeaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return longest, nil
	case err != nil:
		return 0, fmt.Errorf("state import: read the Lease %s: %w", name, err)
	}
	// Long enough for any holder to renew: the Lease's duration (what
	// standbys wait), and at least the configured one.
	longest = leader.Longest(lease, longest)
	if why := leader.RecordedTooLong(lease, le.LeaseDuration.Duration()); why != "" {
		// Watched and waited for only that long: the import may then
		// fail to take the Lease, and this says why.
		fmt.Fprintf(stderr, "the Lease %s: %s\n", name, why)
	}
	holder := leaseHolder(lease)
	if holder == "" {
		return longest, nil // released, or never held
	}
	wait := longest + le.RetryPeriod.Duration()
	fmt.Fprintf(stderr, "the Lease %s names replica %s: watching it for %s to see whether that replica still renews it\n", name, holder, wait)
	refuse := func(h string) error {
		return errors.New("state import: replica " + h + " holds the Lease " + name + " and renews it: stop every rotatord first")
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return longest, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("state import: watching the Lease %s: %w", name, ctx.Err())
		case <-time.After(min(left, le.RetryPeriod.Duration())):
		}
		now, err := leases.Get(ctx, le.LeaseName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue // a live holder makes it again: watch on
		case err != nil:
			return 0, fmt.Errorf("state import: read the Lease %s: %w", name, err)
		case now.ResourceVersion == lease.ResourceVersion:
			continue
		}
		if h := leaseHolder(now); h != "" {
			return 0, refuse(h)
		}
		return longest, nil // released meanwhile
	}
}

// leaseHolder is the Lease's holder, empty when none.
func leaseHolder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// mayTakeLease asks the API server, in dry runs that change nothing,
// whether this kubeconfig may take the Lease as the election does: make
// it when there is none, and write it. A refusal (RBAC) is told at once,
// with the right it lacks, rather than retried by the election until it
// gives up. Any other answer (the Lease there already, or changed since
// read) says the right is there.
func mayTakeLease(ctx context.Context, leases coordinationv1client.LeaseInterface, name string) error {
	dry := []string{metav1.DryRunAll}
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := leases.Create(ctx, lease, metav1.CreateOptions{DryRun: dry}); apierrors.IsForbidden(err) {
			return err
		}
	case err != nil:
		return err
	}
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{DryRun: dry}); apierrors.IsForbidden(err) {
		return err
	}
	return nil
}
