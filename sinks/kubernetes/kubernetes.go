// Package kubernetes owns the Kubernetes Secret sink: it writes each new
// credential to a Secret through the official client (k8s.io/client-go),
// and optionally restarts the workloads that read it.
//
// Ownership works as in the Vault sink: a Secret rotatord writes carries
// the label app.kubernetes.io/managed-by=rotatord and the annotation
// rotatord.io/policy; a Secret without them (or another policy's) is
// refused unless TakeOver; one another controller controls (an
// ownerReference with controller: true) is refused even with TakeOver.
// Every change is an update against the
// resourceVersion just read, so a concurrent writer makes it fail with a
// conflict instead of being overwritten, and every write is read back.
// Data keys rotatord does not write are kept.
//
// The credential goes either into two data keys (api_key and api_secret by
// default) or into one key holding a rendered document (env, json or
// exoscale-toml, the file sink's formats).
//
// Restarts patch the pod template of Deployments, StatefulSets or
// DaemonSets with the annotation kubectl.kubernetes.io/restartedAt, as
// `kubectl rollout restart` does, after the Secret is written and read
// back, so that consumers reading the Secret at start pick up the new key
// before the grace period ends.
package kubernetes

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/rotatord/rotatord/internal/keylock"
	"github.com/rotatord/rotatord/internal/kubeclient"
	"github.com/rotatord/rotatord/secret"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// Marks on the Secrets rotatord writes.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "rotatord"
	PolicyKey      = "rotatord.io/policy"
	// KeyNameKey and KeyIDKey say which API key the Secret holds, for
	// people (kubectl describe); rotatord reads the data itself.
	KeyNameKey = "rotatord.io/key-name"
	KeyIDKey   = "rotatord.io/key-id"
	// RestartedAtKey is the pod template annotation kubectl rollout
	// restart sets.
	RestartedAtKey = "kubectl.kubernetes.io/restartedAt"
	// FencedAtKey is set, with the old data left as it was, after an
	// update whose answer was lost, so that the update cannot be applied
	// later (fenceLostUpdate); the next write removes it.
	FencedAtKey = "rotatord.io/fenced-at"
)

// Default data keys.
const (
	DefaultKeyField    = "api_key"
	DefaultSecretField = "api_secret"
)

// Errors a caller may match.
var (
	ErrNotManaged = errors.New("Secret is not managed by rotatord")
	ErrConflict   = errors.New("Secret changed concurrently")
	// ErrProtected means the Secret holds the key rotatord signs with
	// (Options.OwnKeys).
	ErrProtected = errors.New("a sink never overwrites the Secret holding rotatord's own credential")
)

// Workload is a Deployment, StatefulSet or DaemonSet to restart after a
// delivery, in the sink's namespace.
type Workload struct {
	Kind string // Deployment, StatefulSet or DaemonSet
	Name string
}

// Options configure one sink.
type Options struct {
	Client    kubernetes.Interface
	Namespace string
	// Name renders the Secret's name from .Name (the key name).
	Name *template.Template
	// KeyField and SecretField are the data keys of the key id and the
	// secret, unless Format is set.
	KeyField, SecretField string
	// Format (env, json, exoscale-toml) renders the credential as one
	// document in the data key Key.
	Format, Key string
	Labels      map[string]string
	Annotations map[string]string
	TakeOver    bool
	Restart     []Workload
	Policy      string
	Now         func() time.Time
	// OwnKeys returns the key ids rotatord signs with (every account's):
	// a Secret whose data holds one is rotatord's own credential (the
	// Secret a kubelet mounts for api_key_file and api_secret_file), which
	// the sink never overwrites, take_over or not, whatever kubeconfig,
	// context or server URL reached it.
	OwnKeys func() []string
	// Cluster names the cluster as the config does (kubeconfig, context;
	// empty in-cluster): part of Target, so the same namespace/name in two
	// clusters is two sinks to the journal.
	Cluster string
}

// Sink writes credentials to Kubernetes Secrets.
type Sink struct {
	opts  Options
	locks keylock.Set

	// unfenced has the Secrets (by object name) a write was sent to whose
	// answer was lost, and which no fence has settled since: that write
	// may still land, with whether it was a create. Read fences them
	// first (fencePending).
	mu       sync.Mutex
	unfenced map[string]bool
}

// New checks the options and returns a sink.
func New(opts Options) (*Sink, error) {
	if opts.Client == nil {
		return nil, errors.New("kubernetes sink: no client")
	}
	if errs := validation.IsDNS1123Label(opts.Namespace); len(errs) > 0 {
		return nil, fmt.Errorf("namespace %q: %s", opts.Namespace, strings.Join(errs, "; "))
	}
	if opts.Name == nil {
		return nil, errors.New("kubernetes sink: no name template")
	}
	if opts.Format == "" {
		if opts.KeyField == "" {
			opts.KeyField = DefaultKeyField
		}
		if opts.SecretField == "" {
			opts.SecretField = DefaultSecretField
		}
		if opts.KeyField == opts.SecretField {
			return nil, fmt.Errorf("keys: api_key and api_secret both go to data key %q", opts.KeyField)
		}
	} else {
		// Only the formats that read back: a free-form template cannot
		// (and would fail only at Write, after the key exists).
		switch opts.Format {
		case file.FormatEnv, file.FormatJSON, file.FormatExoscaleTOML:
		default:
			return nil, fmt.Errorf("format %q (want %s, %s or %s for a Secret)", opts.Format, file.FormatEnv, file.FormatJSON, file.FormatExoscaleTOML)
		}
		if opts.Key == "" {
			return nil, fmt.Errorf("format %s needs the data key to hold it (key)", opts.Format)
		}
	}
	for _, k := range []string{opts.KeyField, opts.SecretField, opts.Key} {
		if k == "" {
			continue
		}
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return nil, fmt.Errorf("data key %q: %s", k, strings.Join(errs, "; "))
		}
	}
	for _, w := range opts.Restart {
		switch w.Kind {
		case "Deployment", "StatefulSet", "DaemonSet":
		default:
			return nil, fmt.Errorf("restart: kind %q (want Deployment, StatefulSet or DaemonSet)", w.Kind)
		}
		if errs := validation.IsDNS1123Subdomain(w.Name); len(errs) > 0 {
			return nil, fmt.Errorf("restart: %s name %q: %s", w.Kind, w.Name, strings.Join(errs, "; "))
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sink{opts: opts}, nil
}

// Kind implements sinks.Sink.
func (s *Sink) Kind() string { return "kubernetes" }

// Target implements sinks.Sink: namespace/name, and @cluster when known.
func (s *Sink) Target(name string) string {
	n, err := s.secretName(name)
	if err != nil {
		n = "<invalid name>"
	}
	t := s.opts.Namespace + "/" + n
	if s.opts.Cluster != "" {
		t += "@" + s.opts.Cluster
	}
	return t
}

// secretName renders the Secret's name and checks it: key names are chosen
// by whoever may create API keys, and only a valid object name reaches the
// API.
func (s *Sink) secretName(name string) (string, error) {
	var b strings.Builder
	if err := s.opts.Name.Execute(&b, struct{ Name string }{name}); err != nil {
		return "", fmt.Errorf("render the Secret name: %w", err)
	}
	n := b.String()
	if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
		return "", fmt.Errorf("Secret name %q for key %q is not a valid object name: %s", n, name, strings.Join(errs, "; "))
	}
	return n, nil
}

func (s *Sink) label(n string) string { return "Secret " + s.opts.Namespace + "/" + n }

// owned reports whether the Secret is this policy's.
func (s *Sink) owned(sec *corev1.Secret) bool {
	return sec.Labels[ManagedByLabel] == ManagedByValue && sec.Annotations[PolicyKey] == s.opts.Policy
}

func (s *Sink) notOwned(label string, sec *corev1.Secret) error {
	if sec.Labels[ManagedByLabel] == ManagedByValue {
		return fmt.Errorf("%s: %w for this sink: policy %q's sink wrote it; set take_over: true on the sink to let this one overwrite it",
			label, ErrNotManaged, sec.Annotations[PolicyKey])
	}
	return fmt.Errorf("%s: %w (no label %s=%s); set take_over: true on the sink to let rotatord overwrite it",
		label, ErrNotManaged, ManagedByLabel, ManagedByValue)
}

// refusal is why rotatord may not write sec, or nil: another controller
// controls it (an ownerReference with controller: true: an
// ExternalSecret, a SealedSecret, an operator's resource), whatever its
// labels say and take_over or not, since that controller puts its own
// data back on its next reconcile (after the grace period, the deleted
// key) and its owner's deletion deletes the Secret; or it is not this
// policy's and take_over is not set.
func (s *Sink) refusal(label string, sec *corev1.Secret) error {
	if s.holdsOwnKey(sec) {
		return fmt.Errorf("%s: its data holds the key rotatord signs with: %w, take_over or not", label, ErrProtected)
	}
	if ref := metav1.GetControllerOf(sec); ref != nil {
		return fmt.Errorf("%s: %w: it is controlled by %s %s (ownerReferences, controller: true), which would overwrite what rotatord writes; take_over does not apply to it",
			label, ErrNotManaged, ref.Kind, ref.Name)
	}
	if !s.owned(sec) && !s.opts.TakeOver {
		return s.notOwned(label, sec)
	}
	return nil
}

// holdsOwnKey reports whether a data value of sec holds a key id rotatord
// signs with (Options.OwnKeys): the Secret is rotatord's own credential,
// known by what it holds rather than by a name, which another kubeconfig,
// context or server URL of the same cluster would spell differently.
func (s *Sink) holdsOwnKey(sec *corev1.Secret) bool {
	if s.opts.OwnKeys == nil {
		return false
	}
	for _, id := range s.opts.OwnKeys() {
		if id == "" {
			continue
		}
		for _, v := range sec.Data {
			if bytes.Contains(v, []byte(id)) {
				return true
			}
		}
	}
	return false
}

func (s *Sink) get(ctx context.Context, n string) (*corev1.Secret, error) {
	sec, err := s.opts.Client.CoreV1().Secrets(s.opts.Namespace).Get(ctx, n, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apiError(err)
	}
	return sec, nil
}

// Probe implements sinks.Sink: the Secret is rotatord's (or absent, or
// take_over is set), RBAC lets rotatord get, create or update it and
// patch every workload to restart, and an absent Secret can be created or
// an existing one updated (server-side dry runs: admission policies and
// webhooks see them). It writes nothing.
func (s *Sink) Probe(ctx context.Context, name string) error {
	n, err := s.secretName(name)
	if err != nil {
		return err
	}
	label := s.label(n)
	sec, err := s.get(ctx, n)
	if err != nil {
		return fmt.Errorf("probe %s: %w", label, err)
	}
	if sec != nil {
		if err := s.refusal(label, sec); err != nil {
			return err
		}
	}
	if sec != nil && isImmutable(sec) {
		// Write would refuse it: say so before a key is created for it.
		return fmt.Errorf("probe %s: the Secret is immutable: rotatord cannot update it (an immutable Secret can only be deleted and created again)", label)
	}
	verb := "update"
	if sec == nil {
		verb = "create"
	}
	checks := []authorizationv1.ResourceAttributes{{Namespace: s.opts.Namespace, Verb: verb, Resource: "secrets", Name: n}}
	if verb == "create" {
		checks[0].Name = "" // a create is authorized on the collection
	}
	for _, ra := range checks {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}}
		got, err := s.opts.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("probe %s: access review: %w", label, apiError(err))
		}
		if !got.Status.Allowed {
			what := ra.Resource
			if ra.Name != "" {
				what += "/" + ra.Name
			}
			return fmt.Errorf("probe %s: RBAC does not allow %s on %s in namespace %s", label, ra.Verb, what, ra.Namespace)
		}
	}
	if sec != nil {
		// RBAC allowing update does not make an update work either: an
		// admission policy or webhook may refuse it. A dry-run update of
		// the Secret as it is, with rotatord's marks and its data keys
		// empty, is admitted as the real one would be. No secret of
		// rotatord's goes in it: the audit log and the webhooks see the
		// request's body, on every probe.
		dry := sec.DeepCopy()
		if dry.Data == nil {
			dry.Data = map[string][]byte{}
		}
		maps.Copy(dry.Data, s.placeholderData())
		s.mark(&dry.ObjectMeta, sinks.Credential{Name: name, KeyID: sec.Annotations[KeyIDKey]})
		// Admission sees oldObject too: the Secret as it is (the live
		// key's secret, which the placeholders replaced in dry.Data).
		sent := s.hidden(dry.Data, sec, nil)
		if _, err := s.opts.Client.CoreV1().Secrets(s.opts.Namespace).Update(kubeclient.WithSent(ctx, sent), dry, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil && !apierrors.IsConflict(err) && !dryRunUnsupported(err) {
			return fmt.Errorf("probe %s: dry-run update: %w", label, sentError(err, sent))
		}
	}
	if sec == nil {
		// RBAC allowing create does not make a create work: the
		// namespace may not exist (a GET in a missing namespace answers
		// 404 like a missing Secret, and rights granted cluster-wide
		// allow it), admission or a quota may refuse it. A dry-run create
		// is checked by the API server as the real one is and persists
		// nothing; without it every pass would create a key, fail to
		// deliver it and delete it again. No secret goes in it.
		dry := s.newSecret(n, s.placeholderData(), sinks.Credential{Name: name})
		if _, err := s.opts.Client.CoreV1().Secrets(s.opts.Namespace).Create(ctx, dry, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil && !dryRunUnsupported(err) {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("probe %s: namespace %s does not exist (dry-run create: %w)", label, s.opts.Namespace, apiError(err))
			}
			return fmt.Errorf("probe %s: dry-run create: %w", label, apiError(err))
		}
	}
	// Each workload to restart: a dry-run patch proves it exists and that
	// RBAC allows the patch, before any key is created.
	for _, w := range s.opts.Restart {
		err := s.patchRestart(ctx, w, true)
		if dryRunUnsupported(err) {
			// No dry run here: the access review for the patch is what
			// can be checked.
			err = s.reviewPatch(ctx, w)
		}
		if err != nil {
			if errors.Is(err, errPaused) || errors.Is(err, errOnDelete) || errors.Is(err, errPartitioned) {
				return fmt.Errorf("probe %s: restart %s %s/%s: %w", label, w.Kind, s.opts.Namespace, w.Name, err)
			}
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("probe %s: RBAC does not allow patch on %s/%s in namespace %s", label, resourceOf(w.Kind), w.Name, s.opts.Namespace)
			}
			return fmt.Errorf("probe %s: restart %s %s/%s: %w", label, w.Kind, s.opts.Namespace, w.Name, apiError(err))
		}
	}
	return nil
}

// reviewPatch asks the API server (SelfSubjectAccessReview) whether
// rotatord may patch w; a refusal is a Forbidden error, as the dry-run
// patch's would be.
func (s *Sink) reviewPatch(ctx context.Context, w Workload) error {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
		Namespace: s.opts.Namespace, Verb: "patch", Group: "apps", Resource: resourceOf(w.Kind), Name: w.Name,
	}}}
	got, err := s.opts.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	switch {
	case err != nil:
		return err
	case !got.Status.Allowed:
		return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: resourceOf(w.Kind)}, w.Name, errors.New("access review"))
	}
	return nil
}

// dryRunUnsupported reports whether err is the API server's refusal of a
// dry run because an admission webhook it matches may have side effects
// (sideEffects Unknown or Some, kept from admissionregistration v1beta1):
// it says nothing about the real request, which that webhook admits or
// not, so the probe's dry run proves nothing either way and is skipped.
func dryRunUnsupported(err error) bool {
	return apierrors.IsBadRequest(err) && strings.Contains(err.Error(), "does not support dry run")
}

func isImmutable(sec *corev1.Secret) bool { return sec.Immutable != nil && *sec.Immutable }

func resourceOf(kind string) string { return strings.ToLower(kind) + "s" }

// data returns the data keys Write sets for c.
func (s *Sink) data(c sinks.Credential) (map[string][]byte, error) {
	if s.opts.Format != "" {
		doc, err := file.Render(s.opts.Format, c)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{s.opts.Key: doc}, nil
	}
	return map[string][]byte{
		s.opts.KeyField:    []byte(c.KeyID),
		s.opts.SecretField: []byte(c.Secret.Reveal()),
	}, nil
}

// held reads the credential out of a Secret's data.
func (s *Sink) held(sec *corev1.Secret) (sinks.Held, error) {
	if s.opts.Format != "" {
		doc, ok := sec.Data[s.opts.Key]
		if !ok {
			return sinks.Held{}, sinks.ErrNotHeld
		}
		key, sv, err := file.Parse(s.opts.Format, doc)
		if err != nil {
			return sinks.Held{}, fmt.Errorf("%w: data key %s: %v", sinks.ErrUnreadable, s.opts.Key, err)
		}
		return sinks.Held{KeyID: key, Secret: secret.Value(sv)}, nil
	}
	key, hasKey := sec.Data[s.opts.KeyField]
	sv, hasSecret := sec.Data[s.opts.SecretField]
	switch {
	case !hasKey && !hasSecret:
		return sinks.Held{}, sinks.ErrNotHeld
	case len(key) == 0 || len(sv) == 0:
		return sinks.Held{}, fmt.Errorf("%w: data key %s or %s empty or missing", sinks.ErrUnreadable, s.opts.KeyField, s.opts.SecretField)
	}
	return sinks.Held{KeyID: string(key), Secret: secret.Value(sv)}, nil
}

// Write implements sinks.Sink: create the Secret, or update the one read
// against its resourceVersion; read it back; then restart the workloads.
//
// A refusal before the create or update (the Secret is someone else's, or
// immutable; it cannot be read), or a create or update refused because
// someone else's Secret took the place meanwhile (lostRace), is marked
// sinks.NothingSent: the secret went nowhere, so the engine may roll a key it made moments ago back at
// once, even though it cannot read such a Secret as holding no key.
func (s *Sink) Write(ctx context.Context, c sinks.Credential) error {
	n, err := s.secretName(c.Name)
	if err != nil {
		return sinks.NothingSent(err)
	}
	label := s.label(n)
	if c.KeyID == "" || c.Secret.IsZero() {
		return sinks.NothingSent(fmt.Errorf("write %s: credential without key id or secret", label))
	}
	defer s.locks.Lock(n)()
	data, err := s.data(c)
	if err != nil {
		return sinks.NothingSent(fmt.Errorf("write %s: %w", label, err))
	}
	secrets := s.opts.Client.CoreV1().Secrets(s.opts.Namespace)
	cur, err := s.get(ctx, n)
	if err != nil {
		return sinks.NothingSent(fmt.Errorf("write %s: %w", label, err))
	}
	if cur == nil {
		sec := s.newSecret(n, data, c)
		sent := s.hidden(sec.Data, nil, &c)
		if _, err := secrets.Create(kubeclient.WithSent(ctx, sent), sec, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return s.lostRace(ctx, n, label, fmt.Errorf("write %s: created by someone else meanwhile: %w", label, ErrConflict))
			}
			if lostAnswer(err) && !s.fenceLostCreate(ctx, n, c.Name) {
				s.setUnfenced(n, true, true)
			}
			return fmt.Errorf("write %s: create: %w", label, sentError(err, sent))
		}
	} else {
		if err := s.refusal(label, cur); err != nil {
			return sinks.NothingSent(err)
		}
		if isImmutable(cur) {
			return sinks.NothingSent(fmt.Errorf("write %s: the Secret is immutable", label))
		}
		up := cur.DeepCopy()
		if up.Data == nil {
			up.Data = map[string][]byte{}
		}
		maps.Copy(up.Data, data)
		s.mark(&up.ObjectMeta, c)
		// Update carries the resourceVersion read above: a change since
		// then is a 409 Conflict, never overwritten.
		// Admission sees oldObject too: the old key's secret.
		sent := s.hidden(up.Data, cur, &c)
		if _, err := secrets.Update(kubeclient.WithSent(ctx, sent), up, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				return s.lostRace(ctx, n, label, fmt.Errorf("write %s: %w", label, ErrConflict))
			}
			if lostAnswer(err) && !s.fenceLostUpdate(ctx, cur) {
				s.setUnfenced(n, true, false)
			}
			return fmt.Errorf("write %s: update: %w", label, sentError(err, sent))
		}
	}
	// Applied: a write sent earlier and still on its way fails now.
	s.setUnfenced(n, false, false)
	if err := s.verifyLocked(ctx, n, c); err != nil {
		return fmt.Errorf("write %s: read back: %w", label, err)
	}
	return s.restart(ctx, label)
}

// lostAnswer reports whether err leaves unknown whether the write was
// applied: no answer (a timeout, a reset connection), or a 5xx or 408, as
// kube-apiserver answers 504 when etcd has not committed the write in
// time, and may still commit it.
func lostAnswer(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true
	}
	code := st.Status().Code
	return code < 400 || code >= 500 || code == http.StatusRequestTimeout
}

// fenceLostUpdate follows an update of cur whose answer was lost: the
// update may still be applied later, after the engine has read the old
// key back and deleted the new one, leaving the Secret with a deleted key.
// An update of cur's annotation FencedAtKey against the same
// resourceVersion makes that late update fail as a conflict; if it fails
// itself, the lost update landed (the engine reads the new key back) or
// someone else changed the Secret, which fails the late update too. Tried
// a few times while the API server keeps losing answers; the error is
// the Write's. It reports whether the fence settled it (false: every
// answer was lost, and the update may still land).
func (s *Sink) fenceLostUpdate(ctx context.Context, cur *corev1.Secret) bool {
	secrets := s.opts.Client.CoreV1().Secrets(s.opts.Namespace)
	for range 3 {
		f := cur.DeepCopy()
		if f.Annotations == nil {
			f.Annotations = map[string]string{}
		}
		f.Annotations[FencedAtKey] = s.opts.Now().UTC().Format(time.RFC3339Nano)
		fctx, cancel := context.WithTimeout(kubeclient.WithSent(context.WithoutCancel(ctx), s.hidden(f.Data, cur, nil)), fenceTimeout)
		_, err := secrets.Update(fctx, f, metav1.UpdateOptions{})
		cancel()
		if fenceSettled(err) {
			return true
		}
		if !lostAnswer(err) {
			// Refused without being applied (429, 403): it settled
			// nothing, and the update may still land.
			return false
		}
	}
	return false
}

// fenceLostCreate follows a create of Secret n whose answer was lost, as
// fenceLostUpdate an update: it creates the Secret with rotatord's marks
// and no data key (no key is held there), so that the lost create fails
// if it comes later. If it fails itself, the Secret exists: the lost
// create landed, or someone else's Secret took the place. It reports
// whether the fence settled it.
func (s *Sink) fenceLostCreate(ctx context.Context, n, name string) bool {
	secrets := s.opts.Client.CoreV1().Secrets(s.opts.Namespace)
	for range 3 {
		f := s.newSecret(n, nil, sinks.Credential{Name: name})
		delete(f.Annotations, KeyIDKey)
		f.Annotations[FencedAtKey] = s.opts.Now().UTC().Format(time.RFC3339Nano)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fenceTimeout)
		_, err := secrets.Create(fctx, f, metav1.CreateOptions{})
		cancel()
		if fenceSettled(err) {
			return true
		}
		if !lostAnswer(err) {
			return false
		}
	}
	return false
}

func (s *Sink) setUnfenced(n string, on, create bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !on {
		delete(s.unfenced, n)
		return
	}
	if s.unfenced == nil {
		s.unfenced = map[string]bool{}
	}
	s.unfenced[n] = create
}

// fencePending fences Secret n (lock held) if a write whose answer was
// lost may still land there (fenceLostUpdate and fenceLostCreate lost
// every answer too): until that is done, what the Secret holds now says
// nothing about what it will hold, and an engine that read the old key
// there would delete the new one. An update of the annotation FencedAtKey
// against the resourceVersion read (or, with no Secret, a create of it
// with rotatord's marks and no data key) settles it, as does a conflict
// (the Secret changed: the late write fails too); only a lost answer
// leaves it pending.
func (s *Sink) fencePending(ctx context.Context, n, name string) error {
	s.mu.Lock()
	create, pending := s.unfenced[n]
	s.mu.Unlock()
	if !pending {
		return nil
	}
	secrets := s.opts.Client.CoreV1().Secrets(s.opts.Namespace)
	cur, err := s.get(ctx, n)
	if err != nil {
		return err
	}
	switch {
	case cur != nil && (!s.owned(cur) && !s.opts.TakeOver || isImmutable(cur)):
		// Not the Secret the write was prepared against (that was this
		// policy's, and could be updated): the write fails when it lands.
	case cur == nil && !create:
		// The Secret the update was prepared against is gone: it fails.
	case cur == nil:
		f := s.newSecret(n, nil, sinks.Credential{Name: name})
		delete(f.Annotations, KeyIDKey)
		f.Annotations[FencedAtKey] = s.opts.Now().UTC().Format(time.RFC3339Nano)
		_, err = secrets.Create(ctx, f, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	default:
		err = s.fenceUpdate(ctx, cur)
	}
	if !fenceSettled(err) {
		// Lost, or refused without being applied (429 from an API server
		// overloaded, 403 once RBAC changed): the write may still land.
		// Kept pending, as the engine's own fence (Fence) fails then too:
		// the new key is kept until a fence works.
		var sent map[string][]byte
		if cur != nil {
			sent = s.hidden(cur.Data, cur, nil) // what the fence's update carried
		}
		return fmt.Errorf("a write whose answer was lost may still land, and fencing it failed: %w", sentError(err, sent))
	}
	s.setUnfenced(n, false, false)
	return nil
}

// fenceSettled reports whether a fence that ended with err (nil, or its
// error) settles a write whose answer was lost: it was applied, or the
// Secret changed since (Conflict), exists already (AlreadyExists, for a
// create) or is gone with its namespace or itself (NotFound): the lost
// write fails when it lands. Any other answer settles nothing.
func fenceSettled(err error) bool {
	return err == nil || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)
}

// fenceUpdate updates cur's annotation FencedAtKey against its
// resourceVersion, data unchanged; a conflict is no error (the Secret
// changed since cur: a write prepared against an earlier version fails
// all the same).
func (s *Sink) fenceUpdate(ctx context.Context, cur *corev1.Secret) error {
	f := cur.DeepCopy()
	if f.Annotations == nil {
		f.Annotations = map[string]string{}
	}
	at := s.opts.Now().UTC().Format(time.RFC3339Nano)
	if f.Annotations[FencedAtKey] == at {
		// An update that changes nothing keeps the resourceVersion.
		at += " (again)"
	}
	f.Annotations[FencedAtKey] = at
	_, err := s.opts.Client.CoreV1().Secrets(s.opts.Namespace).Update(kubeclient.WithSent(ctx, s.hidden(f.Data, cur, nil)), f, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// fenceTimeout bounds one fencing update: the Write's own context may be
// what ended.
const fenceTimeout = 10 * time.Second

// lostRace follows a create or update the API server refused (409)
// because the Secret changed since it was read. When it is now someone
// else's Secret (not this policy's, and no take_over; or not this
// policy's and controlled by another controller), the refused write left
// the secret nowhere, and no write of this sink made that Secret: err is
// marked sinks.NothingSent, so the engine may roll the new key back
// rather than keep it for a Secret it cannot read. A Secret of this
// policy (perhaps an earlier attempt of this very write) is left to the
// engine to read.
func (s *Sink) lostRace(ctx context.Context, n, label string, err error) error {
	cur, gerr := s.get(ctx, n)
	if gerr != nil || cur == nil || s.owned(cur) {
		return err
	}
	refused := s.refusal(label, cur)
	if refused == nil {
		return err
	}
	return sinks.NothingSent(fmt.Errorf("%w: %w", err, refused))
}

// newSecret is the Secret Write creates for c, holding data.
func (s *Sink) newSecret(n string, data map[string][]byte, c sinks.Credential) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: s.opts.Namespace},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	s.mark(&sec.ObjectMeta, c)
	return sec
}

// placeholderData has the data keys Write sets, empty: what the probe's
// dry-run create sends, so admission sees the Secret's shape, never a
// secret.
func (s *Sink) placeholderData() map[string][]byte {
	if s.opts.Format != "" {
		return map[string][]byte{s.opts.Key: {}}
	}
	return map[string][]byte{s.opts.KeyField: {}, s.opts.SecretField: {}}
}

// mark sets rotatord's labels and annotations, and the configured ones.
func (s *Sink) mark(m *metav1.ObjectMeta, c sinks.Credential) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	maps.Copy(m.Labels, s.opts.Labels)
	maps.Copy(m.Annotations, s.opts.Annotations)
	m.Labels[ManagedByLabel] = ManagedByValue
	delete(m.Annotations, FencedAtKey)
	m.Annotations[PolicyKey] = s.opts.Policy
	m.Annotations[KeyNameKey] = c.Name
	m.Annotations[KeyIDKey] = c.KeyID
}

// restart patches each workload's pod template, as kubectl rollout
// restart does.
func (s *Sink) restart(ctx context.Context, label string) error {
	if len(s.opts.Restart) == 0 {
		return nil
	}
	for _, w := range s.opts.Restart {
		if w.Kind == "StatefulSet" {
			// Partitioned since the probe (or found so by a resumed
			// rotation, which does not probe): the patch would roll the
			// pods at or above the partition again on every later write.
			if err := s.patchRestart(ctx, w, true); errors.Is(err, errPartitioned) {
				return fmt.Errorf("%s written, but not restarting %s %s/%s: %w", label, w.Kind, s.opts.Namespace, w.Name, err)
			}
		}
		if err := s.patchRestart(ctx, w, false); err != nil {
			return fmt.Errorf("%s written, but restarting %s %s/%s failed: %w", label, w.Kind, s.opts.Namespace, w.Name, apiError(err))
		}
	}
	return nil
}

// patchRestart sets the restart annotation on w's pod template; dryRun
// has the API server check the patch (the workload exists, RBAC allows
// it) without applying it.
//
// The time has nanoseconds (kubectl writes whole seconds): two deliveries
// restarting one workload within a second (a name's two Secrets, two
// names of a pass) must each change the pod template, or the second is no
// rollout, and pods the first one started may have read the second Secret
// before it held the new key.
func (s *Sink) patchRestart(ctx context.Context, w Workload, dryRun bool) error {
	at := s.opts.Now().UTC().Format(time.RFC3339Nano)
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RestartedAtKey, at)
	opts := metav1.PatchOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	apps := s.opts.Client.AppsV1()
	var err error
	switch w.Kind {
	case "Deployment":
		var d *appsv1.Deployment
		d, err = apps.Deployments(s.opts.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		if err == nil && d.Spec.Paused {
			// kubectl rollout restart refuses it: the pod template
			// changes, but a paused Deployment rolls nothing out.
			err = errPaused
		}
	case "StatefulSet":
		var ss *appsv1.StatefulSet
		ss, err = apps.StatefulSets(s.opts.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		switch {
		case err != nil:
		case ss.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType:
			err = errOnDelete
		case ss.Spec.UpdateStrategy.RollingUpdate != nil && ss.Spec.UpdateStrategy.RollingUpdate.Partition != nil &&
			*ss.Spec.UpdateStrategy.RollingUpdate.Partition > 0:
			// A staged rollout: pods of ordinal below the partition keep
			// the old pod template, and the old key.
			err = fmt.Errorf("%w (partition %d)", errPartitioned, *ss.Spec.UpdateStrategy.RollingUpdate.Partition)
		}
	case "DaemonSet":
		var ds *appsv1.DaemonSet
		ds, err = apps.DaemonSets(s.opts.Namespace).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		if err == nil && ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
			err = errOnDelete
		}
	}
	return err
}

// errPaused and errOnDelete are patchRestart's errors for a workload whose
// pod template changes without its pods being replaced.
var (
	errPaused      = errors.New("the Deployment is paused (kubectl rollout pause): a restart would roll nothing out, and its pods would keep the old key; resume it (kubectl rollout resume)")
	errPartitioned = errors.New("its rolling update is partitioned (spec.updateStrategy.rollingUpdate.partition): a restart would replace only the pods of ordinal at least the partition, and the others would keep the old key; set the partition to 0, or restart it yourself within the grace period and take it out of restart")
	errOnDelete    = errors.New("its update strategy is OnDelete: a restart would replace no pod, and its pods would keep the old key; use RollingUpdate, or restart it yourself within the grace period and take it out of restart")
)

// Verify implements sinks.Sink.
func (s *Sink) Verify(ctx context.Context, c sinks.Credential) error {
	n, err := s.secretName(c.Name)
	if err != nil {
		return err
	}
	defer s.locks.Lock(n)()
	if err := s.verifyLocked(ctx, n, c); err != nil {
		return fmt.Errorf("verify %s: %w", s.label(n), err)
	}
	return nil
}

func (s *Sink) verifyLocked(ctx context.Context, n string, c sinks.Credential) error {
	sec, err := s.get(ctx, n)
	switch {
	case err != nil:
		return err
	case sec == nil:
		return sinks.ErrNotHeld
	}
	h, err := s.held(sec)
	if err != nil {
		return err
	}
	k := subtle.ConstantTimeCompare([]byte(h.KeyID), []byte(c.KeyID))
	v := subtle.ConstantTimeCompare([]byte(h.Secret.Reveal()), []byte(c.Secret.Reveal()))
	if k&v != 1 {
		return sinks.ErrMismatch
	}
	return nil
}

// Read implements sinks.Sink. A Secret that is not this policy's reads as
// unreadable: it may hold anything, rotatord cannot say it holds a key.
func (s *Sink) Read(ctx context.Context, name string) (sinks.Held, error) {
	n, err := s.secretName(name)
	if err != nil {
		return sinks.Held{}, err
	}
	defer s.locks.Lock(n)()
	if err := s.fencePending(ctx, n, name); err != nil {
		return sinks.Held{}, fmt.Errorf("read %s: %w", s.label(n), err)
	}
	sec, err := s.get(ctx, n)
	switch {
	case err != nil:
		return sinks.Held{}, fmt.Errorf("read %s: %w", s.label(n), err)
	case sec == nil:
		return sinks.Held{}, sinks.ErrNotHeld
	case !s.owned(sec) && !s.opts.TakeOver:
		return sinks.Held{}, fmt.Errorf("read %s: %w: %w", s.label(n), sinks.ErrUnreadable, s.notOwned(s.label(n), sec))
	}
	h, err := s.held(sec)
	if err != nil {
		return sinks.Held{}, fmt.Errorf("read %s: %w", s.label(n), err)
	}
	return h, nil
}

// apiError keeps an API error's status but never its body beyond the
// message, which for Secrets names fields, not values.
func apiError(err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		return fmt.Errorf("%s (HTTP %d %s)", s.Message, s.Code, s.Reason)
	}
	return err
}

// sentError is apiError for a request that carried data (a Secret's
// create or update): an admission refusal's message is its author's text
// and may quote the object refused, whose data values (the new key's
// secret, or what the Secret held: the old key's, a consumer's) the
// API's JSON carries base64-encoded. They are hidden (kubeclient.Hide):
// the error is logged and kept in the journal. The request's context
// carries them too (kubeclient.WithSent), for its warnings.
func sentError(err error, data map[string][]byte) error {
	err = apiError(err)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if hidden := kubeclient.Hide(msg, data); hidden != msg {
		return errors.New(hidden)
	}
	return err
}

// hidden is what the errors and warnings of a request that carried data
// hide: the data it carried; for an update, the data of the Secret it
// replaces (old), which admission sees as oldObject and a policy's message
// may quote; and the secrets themselves, the credential's written (c) and
// the one old holds, which a webhook that decodes a document may quote
// escaped (Go's %q, JSON: its newlines as \n), neither as sent nor in
// base64.
func (s *Sink) hidden(data map[string][]byte, old *corev1.Secret, c *sinks.Credential) map[string][]byte {
	sent := make(map[string][]byte, len(data)+4)
	if old != nil {
		for k, v := range old.Data {
			sent["old/"+k] = v
		}
		if h, err := s.held(old); err == nil && !h.Secret.IsZero() {
			sent["\x00old-secret"] = []byte(h.Secret.Reveal())
		}
	}
	if c != nil && !c.Secret.IsZero() {
		sent["\x00secret"] = []byte(c.Secret.Reveal())
	}
	for k, v := range data {
		sent[k] = v
	}
	return sent
}

// Fence implements sinks.Fencer: it sets the Secret's annotation
// FencedAtKey by an update against the resourceVersion just read, its data
// left as it was, so that a write prepared against an earlier version (an
// update another process sent before it died or lost the Lease, still on
// its way) fails as a conflict when it arrives; the next Write removes the
// annotation. A Secret that changes meanwhile fails such a write all the
// same. No Secret, someone else's Secret (no take_over) and an immutable
// one are left alone: rotatord writes none of them. (A create still on
// its way can land where no Secret is: its consumers had no key before.)
func (s *Sink) Fence(ctx context.Context, name string) error {
	n, err := s.secretName(name)
	if err != nil {
		return err
	}
	label := s.label(n)
	defer s.locks.Lock(n)()
	if err := s.fencePending(ctx, n, name); err != nil {
		return fmt.Errorf("fence %s: %w", label, err)
	}
	cur, err := s.get(ctx, n)
	switch {
	case err != nil:
		return fmt.Errorf("fence %s: %w", label, err)
	case cur == nil, !s.owned(cur) && !s.opts.TakeOver, isImmutable(cur):
		return nil
	}
	if err := s.fenceUpdate(ctx, cur); err != nil {
		return fmt.Errorf("fence %s: %w", label, sentError(err, s.hidden(cur.Data, cur, nil)))
	}
	return nil
}
