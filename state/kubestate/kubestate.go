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
// that is the journal's fencing. Records hold no secret (state.Record), so
// a ConfigMap is enough; RBAC must let only rotatord write ConfigMaps in its
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
}

type key struct{ policy, name string }

type entry struct {
	rec state.Record
	rv  string // resourceVersion of the object
}

var _ state.Journal = (*Store)(nil)

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
	return ManagedByLabel + "=" + ManagedByValue + "," + AccountLabel + "=" + account
}

// Reload reads every record again: a replica that becomes the leader
// starts from what the API server holds, not from what it saw earlier.
func (s *Store) Reload(ctx context.Context) error {
	list, err := s.client.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: Selector(s.account)})
	if err != nil {
		return fmt.Errorf("state: list the journal in namespace %s: %w", s.namespace, err)
	}
	records := make(map[key]entry, len(list.Items))
	for _, cm := range list.Items {
		var r state.Record
		if err := json.Unmarshal([]byte(cm.Data[DataKey]), &r); err != nil {
			return fmt.Errorf("state: ConfigMap %s/%s: %v", s.namespace, cm.Name, err)
		}
		if r.Policy == "" || r.Name == "" || ObjectName(s.account, r.Policy, r.Name) != cm.Name {
			return fmt.Errorf("state: ConfigMap %s/%s: policy or name does not match the object's name", s.namespace, cm.Name)
		}
		records[key{r.Policy, r.Name}] = entry{rec: r, rv: cm.ResourceVersion}
	}
	s.mu.Lock()
	s.records = records
	s.mu.Unlock()
	return nil
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
	s.mu.Unlock()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ObjectName(s.account, r.Policy, r.Name),
			Namespace:   s.namespace,
			Labels:      map[string]string{ManagedByLabel: ManagedByValue, AccountLabel: s.account},
			Annotations: map[string]string{PolicyAnnotation: r.Policy, NameAnnotation: r.Name},
		},
		Data: map[string]string{DataKey: string(b)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	cms := s.client.CoreV1().ConfigMaps(s.namespace)
	var out *corev1.ConfigMap
	if known {
		cm.ResourceVersion = prev.rv
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	} else {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	}
	switch {
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), known && apierrors.IsNotFound(err):
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, ErrChanged)
	case err != nil:
		return fmt.Errorf("state: write %s/%s: %w", r.Policy, r.Name, err)
	}
	s.mu.Lock()
	s.records[k] = entry{rec: r.Clone(), rv: out.ResourceVersion}
	s.mu.Unlock()
	return nil
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
	s.mu.Unlock()
	if !known {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	rv := prev.rv
	err := s.client.CoreV1().ConfigMaps(s.namespace).Delete(ctx, ObjectName(s.account, policy, name),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, ErrChanged)
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("state: delete %s/%s: %w", policy, name, err)
	}
	s.mu.Lock()
	delete(s.records, k)
	s.mu.Unlock()
	return nil
}
