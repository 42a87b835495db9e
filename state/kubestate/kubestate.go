// Package kubestate owns the journal kept in the Kubernetes API: the same
// records as the state directory, one ConfigMap per (policy, key name) in
// rotatord's namespace, so that replicas share it and a new leader resumes
// or rolls back the rotations in flight exactly as a restarted process does
// from its directory.
//
// Every change is conditional: an update or a delete carries the
// resourceVersion this process last read or wrote, and a create fails when
// the object exists. A write by anyone else since (another replica that
// took the Lease, a person) makes the write fail instead of overwriting it;
// that is the journal's fencing. A write whose answer was lost (a timeout,
// an API server going away) is not someone else's: when the next write of
// that record finds the object changed, it reads it, and goes on if the
// object is exactly what the lost write left. Records hold no secret
// (state.Record), so a ConfigMap is enough; RBAC must let only rotatord write ConfigMaps in its
// namespace, since whoever can write a record can make rotatord delete keys.
package kubestate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/state"
)

// Labels and keys of the journal's objects.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "rotatord"
	// AccountLabel holds the account whose journal an object belongs to.
	AccountLabel = "rotatord.io/journal"
	// DataKey holds the record, as JSON.
	DataKey = "record.json"
	// PolicyAnnotation and NameAnnotation say which record an object is,
	// for people: its name is a digest.
	PolicyAnnotation = "rotatord.io/policy"
	NameAnnotation   = "rotatord.io/key-name"
)

// writeTimeout bounds one write: Put has no context of its own.
const writeTimeout = 30 * time.Second

// ErrChanged means the record's object changed since this process read or
// wrote it: another replica leads now, or someone edited the journal.
var ErrChanged = errors.New("journal record changed by another writer (another replica leads, or someone edited it)")

// Store is a state.Journal in ConfigMaps.
type Store struct {
	client    kubernetes.Interface
	namespace string
	account   string
	readOnly  bool
	// Fence, when set, is asked before every write: a replica that no
	// longer holds the Lease must not write.
	Fence func() error

	mu      sync.Mutex
	records map[key]entry
	// writes counts the changes to records, so Reload can tell that one
	// came while its List was in flight.
	writes uint64
	// unsure holds, by record, the last write whose outcome is unknown
	// (its answer was lost: a timeout, a connection reset, a 5xx): the
	// object may hold it, and its resourceVersion is not known here.
	unsure map[key]attempt
}

// attempt is a write whose answer was lost.
type attempt struct {
	deleted bool   // a Delete
	data    string // the record a Put wrote, as stored
}

type key struct{ policy, name string }

type entry struct {
	rec state.Record
	rv  string // resourceVersion of the object
}

var (
	_ state.Journal   = (*Store)(nil)
	_ state.Versioned = (*Store)(nil)
)

// Open loads the account's journal from the namespace. readOnly makes
// every write fail with state.ErrReadOnly (plan, validate --online).
func Open(ctx context.Context, client kubernetes.Interface, namespace, account string, readOnly bool) (*Store, error) {
	s := &Store{client: client, namespace: namespace, account: account, readOnly: readOnly}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ObjectName is the ConfigMap of a record: a digest, since key names may
// hold any character and object names may not.
func ObjectName(account, policy, name string) string {
	sum := sha256.Sum256([]byte(account + "\x00" + policy + "\x00" + name))
	return "rotatord-journal-" + hex.EncodeToString(sum[:12])
}

// Selector selects the objects of an account's journal.
func Selector(account string) string {
	return ManagedByLabel + "=" + ManagedByValue + "," + AccountLabel + "=" + AccountLabelValue(account)
}

// AccountLabelValue is the value of AccountLabel for an account: its name
// when that is a valid label value, else a digest of it (account names
// may end with '-' or '_', which label values may not). The object names
// include the account, so Reload tells accounts apart even if two values
// collided.
func AccountLabelValue(account string) string {
	if len(validation.IsValidLabelValue(account)) == 0 {
		return account
	}
	sum := sha256.Sum256([]byte(account))
	return "account-" + hex.EncodeToString(sum[:12])
}

// Reload reads every record again: a replica that becomes the leader
// starts from what the API server holds, not from what it saw earlier.
//
// A write of this store while the List is in flight makes its answer
// stale (it may not hold what was just written): it is thrown away and
// the List made again, a few times at most.
func (s *Store) Reload(ctx context.Context) error {
	for range 3 {
		s.mu.Lock()
		before := s.writes
		s.mu.Unlock()
		records, err := s.list(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.writes == before {
			s.records = records
			s.writes++     // the view changed: for Version
			s.unsure = nil // what the API server holds is known again
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
	return errors.New("state: the journal was written to while it was being read again, three times: try again")
}

// list reads every record of the account from the API server.
func (s *Store) list(ctx context.Context) (map[key]entry, error) {
	list, err := s.client.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: Selector(s.account)})
	if err != nil {
		return nil, fmt.Errorf("state: list the journal in namespace %s: %w", s.namespace, err)
	}
	records := make(map[key]entry, len(list.Items))
	for _, cm := range list.Items {
		var r state.Record
		if err := json.Unmarshal([]byte(cm.Data[DataKey]), &r); err != nil {
			return nil, fmt.Errorf("state: ConfigMap %s/%s: %v", s.namespace, cm.Name, err)
		}
		if r.Policy == "" || r.Name == "" || ObjectName(s.account, r.Policy, r.Name) != cm.Name {
			return nil, fmt.Errorf("state: ConfigMap %s/%s: policy or name does not match the object's name", s.namespace, cm.Name)
		}
		records[key{r.Policy, r.Name}] = entry{rec: r, rv: cm.ResourceVersion}
	}
	return records, nil
}

// Close implements the daemon's store: nothing to release.
func (s *Store) Close() error { return nil }

// Get implements state.Journal.
func (s *Store) Get(policy, name string) (state.Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.records[key{policy, name}]
	if !ok {
		return state.Record{}, false
	}
	return e.rec.Clone(), true
}

// Has implements state.Journal.
func (s *Store) Has(policy, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.records[key{policy, name}]
	return ok
}

// List implements state.Journal.
func (s *Store) List(policy string) []state.Record {
	s.mu.Lock()
	out := make([]state.Record, 0, len(s.records))
	for k, e := range s.records {
		if policy == "" || k.policy == policy {
			out = append(out, e.rec.Clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Policy != out[j].Policy {
			return out[i].Policy < out[j].Policy
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Version implements state.Versioned: it changes whenever the in-memory
// view does, by a write, a reload or a record read back from the API
// server.
func (s *Store) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Each calls fn with each record of policy (every record when empty), in
// no order, under the store's lock: see state.Store.Each.
func (s *Store) Each(policy string, fn func(r *state.Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.records {
		if policy == "" || k.policy == policy {
			fn(&e.rec)
		}
	}
}

func (s *Store) check() error {
	if s.readOnly {
		return state.ErrReadOnly
	}
	if s.Fence != nil {
		if err := s.Fence(); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	return nil
}

// Put implements state.Journal: durable in etcd when it returns nil. On
// an error the object holds the previous version or the new one, and the
// in-memory view keeps the previous one, as with the directory.
func (s *Store) Put(r state.Record) error {
	if err := s.check(); err != nil {
		return err
	}
	if r.Policy == "" || r.Name == "" {
		return errors.New("state: record without policy or name")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("state: encode %s/%s: %w", r.Policy, r.Name, err)
	}
	k := key{r.Policy, r.Name}
	s.mu.Lock()
	prev, known := s.records[k]
	att, unsure := s.unsure[k]
	s.mu.Unlock()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ObjectName(s.account, r.Policy, r.Name),
			Namespace:   s.namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue, AccountLabel: AccountLabelValue(s.account)},
			Annotations: map[string]string{PolicyAnnotation: r.Policy, NameAnnotation: r.Name},
		},
		Data: map[string]string{DataKey: string(b)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	out, err := s.put(ctx, cm, known, prev.rv)
	if unsure && changed(err, known) {
		// The change may be this process's own write whose answer was
		// lost: then the object holds it, and nobody else wrote since.
		if rv, exists, ok := s.ownWrite(ctx, cm.Name, att); ok {
			known = exists
			out, err = s.put(ctx, cm, exists, rv)
		}
	}
	if changed(err, known) {
		// Someone else changed the object. When only its metadata changed
		// (a label added by a person or a tool), the record is still the
		// one this process knew: write again against the object as it is.
		// Otherwise take in what it holds now, so the next step decides
		// from it, instead of failing on this name for ever.
		if rv, exists, same := s.resync(ctx, k, cm.Name, prev, known); same {
			known = exists
			out, err = s.put(ctx, cm, exists, rv)
		}
	}
	s.settle(k, err, attempt{data: cm.Data[DataKey]})
	switch {
	case changed(err, known):
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, ErrChanged)
	case err != nil:
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, err)
	}
	s.mu.Lock()
	s.records[k] = entry{rec: r.Clone(), rv: out.ResourceVersion}
	s.writes++
	s.mu.Unlock()
	return nil
}

// put updates cm against rv when exists, else creates it.
func (s *Store) put(ctx context.Context, cm *corev1.ConfigMap, exists bool, rv string) (*corev1.ConfigMap, error) {
	cms := s.client.CoreV1().ConfigMaps(s.namespace)
	if exists {
		cm.ResourceVersion = rv
		return cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	cm.ResourceVersion = ""
	return cms.Create(ctx, cm, metav1.CreateOptions{})
}

// changed reports whether err says the object is not the one this process
// last knew: updated, created or deleted by someone else.
func changed(err error, known bool) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || known && apierrors.IsNotFound(err)
}

// lost reports whether err leaves unknown whether the write was applied:
// anything but an answer of the API server refusing it.
func lost(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true // no answer: a timeout, a reset connection
	}
	code := st.Status().Code
	return code < 400 || code >= 500 || code == 408
}

// settle records the outcome of a write of record k: an answer makes what
// the object holds known again, a lost one leaves a.
func (s *Store) settle(k key, err error, a attempt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil && lost(err):
		if s.unsure == nil {
			s.unsure = map[key]attempt{}
		}
		s.unsure[k] = a
	default:
		delete(s.unsure, k)
	}
}

// ownWrite reads the object after a write failed as changed, while an
// earlier write of this process lost its answer. If the object is what
// that write left (its record, or no object after a Delete), nobody else
// wrote since: it returns the object's resourceVersion and whether it
// exists, and ok. Otherwise (someone else wrote, or the read fails) ok is
// false and the write stays refused.
func (s *Store) ownWrite(ctx context.Context, name string, a attempt) (rv string, exists, ok bool) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", false, a.deleted
	case err != nil:
		return "", false, false
	case a.deleted:
		return "", false, false
	}
	if cm.Data[DataKey] != a.data || cm.Labels[ManagedByLabel] != ManagedByValue {
		return "", false, false
	}
	return cm.ResourceVersion, true, true
}

// resync reads record k's object after a write found it changed. same
// says it still holds the record this process knew (prev, or no object
// when !known), then rv and exists describe it. Otherwise, if this
// replica holds the Lease, the in-memory view takes what the object holds
// now (or forgets a deleted one), so the next step decides from it.
func (s *Store) resync(ctx context.Context, k key, name string, prev entry, known bool) (rv string, exists, same bool) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if !known {
			return "", false, true
		}
		if s.Fence != nil && s.Fence() == nil {
			s.mu.Lock()
			delete(s.records, k)
			s.writes++
			s.mu.Unlock()
		}
		return "", false, false
	case err != nil:
		return "", false, false
	}
	var r state.Record
	if json.Unmarshal([]byte(cm.Data[DataKey]), &r) != nil || r.Policy != k.policy || r.Name != k.name ||
		cm.Labels[ManagedByLabel] != ManagedByValue {
		return "", false, false // not a record of ours: leave it, and refuse
	}
	if known {
		if b, err := json.Marshal(prev.rec); err == nil && string(b) == cm.Data[DataKey] {
			s.mu.Lock()
			s.records[k] = entry{rec: prev.rec, rv: cm.ResourceVersion}
			s.writes++
			s.mu.Unlock()
			return cm.ResourceVersion, true, true
		}
	}
	// Another record: adopted only by a replica that still holds the
	// Lease (someone edited the journal by hand). A process without the
	// Lease's word keeps refusing: it may be a deposed leader.
	if s.Fence != nil && s.Fence() == nil {
		s.mu.Lock()
		s.records[k] = entry{rec: r, rv: cm.ResourceVersion}
		s.writes++
		s.mu.Unlock()
	}
	return "", false, false
}

// Delete implements state.Journal, on the condition that the object is
// still the one this process wrote.
func (s *Store) Delete(policy, name string) error {
	if err := s.check(); err != nil {
		return err
	}
	k := key{policy, name}
	s.mu.Lock()
	prev, known := s.records[k]
	att, unsure := s.unsure[k]
	s.mu.Unlock()
	if !known && !unsure {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	obj := ObjectName(s.account, policy, name)
	del := func(rv string) error {
		return s.client.CoreV1().ConfigMaps(s.namespace).Delete(ctx, obj,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	}
	if !known {
		// Only a create whose answer was lost: delete what it left, if
		// it is there and still what it wrote.
		rv, exists, ok := s.ownWrite(ctx, obj, att)
		if !ok || !exists {
			return nil
		}
		prev.rv = rv
	}
	err := del(prev.rv)
	if unsure && apierrors.IsConflict(err) {
		// Maybe this process's own Put whose answer was lost.
		if rv, exists, ok := s.ownWrite(ctx, obj, att); ok && exists {
			err = del(rv)
		}
	}
	if apierrors.IsConflict(err) {
		// Only metadata changed: delete what is still this record.
		if rv, exists, same := s.resync(ctx, k, obj, prev, true); same && exists {
			err = del(rv)
		}
	}
	s.settle(k, err, attempt{deleted: true})
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, ErrChanged)
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, err)
	}
	s.mu.Lock()
	delete(s.records, k)
	s.writes++
	s.mu.Unlock()
	return nil
}
