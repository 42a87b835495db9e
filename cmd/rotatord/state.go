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
	"os"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/kubeclient"
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

// openJournal opens an account's journal of the backend cfg names.
func openJournal(ctx context.Context, cfg *config.Config, account string, readOnly bool) (stateJournal, error) {
	if cfg.State.Kubernetes() {
		var kube kubeclient.Cache
		client, err := kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
		if err != nil {
			return nil, err
		}
		return kubestate.Open(ctx, client, cfg.State.Namespace, account, readOnly)
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
		j, err := openJournal(ctx, cfg, a.Name, true)
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := checkNoLeader(ctx, cfg, c.stderr); err != nil {
		return err
	}
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
	for name, recs := range in.Accounts {
		j, err := openJournal(ctx, cfg, name, false)
		if err != nil {
			return fmt.Errorf("account %s: %w", name, err)
		}
		if have := len(j.List("")); have > 0 {
			j.Close()
			return fmt.Errorf("state import: account %s already holds %d records there: import only into an empty journal", name, have)
		}
		for _, ir := range recs {
			r := ir.record()
			if err := j.Put(r); err != nil {
				j.Close()
				return fmt.Errorf("state import: account %s: %w (%d records written)", name, err, n)
			}
			n++
		}
		j.Close()
	}
	fmt.Fprintf(c.stderr, "imported %d records\n", n)
	return nil
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
// (a live replica would look long dead) or ahead of it.
func checkNoLeader(ctx context.Context, cfg *config.Config, stderr io.Writer) error {
	le := cfg.LeaderElection
	if le == nil || !cfg.State.Kubernetes() {
		return nil // the directory's lock, taken by Open, says it
	}
	var kube kubeclient.Cache
	client, err := kube.Client(cfg.State.Kubeconfig, cfg.State.Context)
	if err != nil {
		return err
	}
	name := cfg.State.Namespace + "/" + le.LeaseName
	leases := client.CoordinationV1().Leases(cfg.State.Namespace)
	lease, err := leases.Get(ctx, le.LeaseName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("state import: read the Lease %s: %w", name, err)
	}
	holder := leaseHolder(lease)
	if holder == "" {
		return nil // released, or never held
	}
	// Long enough for any holder to renew: the Lease's duration (what
	// standbys wait), and at least the configured one.
	wait := le.LeaseDuration.Duration()
	if d := lease.Spec.LeaseDurationSeconds; d != nil && time.Duration(*d)*time.Second > wait {
		wait = time.Duration(*d) * time.Second
	}
	wait += le.RetryPeriod.Duration()
	fmt.Fprintf(stderr, "the Lease %s names replica %s: watching it for %s to see whether that replica still renews it\n", name, holder, wait)
	refuse := func(h string) error {
		return errors.New("state import: replica " + h + " holds the Lease " + name + " and renews it: stop every rotatord first")
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state import: watching the Lease %s: %w", name, ctx.Err())
		case <-time.After(min(left, le.RetryPeriod.Duration())):
		}
		now, err := leases.Get(ctx, le.LeaseName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			continue // a live holder makes it again: watch on
		case err != nil:
			return fmt.Errorf("state import: read the Lease %s: %w", name, err)
		case now.ResourceVersion == lease.ResourceVersion:
			continue
		}
		if h := leaseHolder(now); h != "" {
			return refuse(h)
		}
		return nil // released meanwhile
	}
}

// leaseHolder is the Lease's holder, empty when none.
func leaseHolder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}
