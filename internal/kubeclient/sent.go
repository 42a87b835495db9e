package kubeclient

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"k8s.io/klog/v2"

	"github.com/rotatord/rotatord/secret"
)

// An admission policy's or webhook's message is its author's text (a
// ValidatingAdmissionPolicy's messageExpression, a Kyverno or Gatekeeper
// message) and may quote the object a request carried: a Secret's data
// values, which the API's JSON carries base64-encoded. Such a message
// comes back in a refusal's status (the caller's error) or in a warning
// header (client-go logs those through klog, into rotatord's log). A
// request that carries data says so in its context (WithSent), and both
// are shown with those values hidden (Hide).

type sentKey struct{}

// WithSent returns ctx saying that the requests made with it carry data:
// the warnings they draw are logged with its values hidden.
func WithSent(ctx context.Context, data map[string][]byte) context.Context {
	return context.WithValue(ctx, sentKey{}, data)
}

// Hide replaces in msg every value of data of MinHidden bytes or more, as
// it is, in the four base64 encodings (slashes escaped or not), in hex and
// escaped as a JSON or Go string, with secret.Redacted.
func Hide(msg string, data map[string][]byte) string {
	var forms []string
	for _, v := range data {
		if len(v) < MinHidden {
			continue
		}
		forms = append(forms, string(v), hex.EncodeToString(v), strings.ToUpper(hex.EncodeToString(v)))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			b := enc.EncodeToString(v)
			// Escaped slashes: PHP's json_encode, Java's escapers.
			forms = append(forms, b, strings.ReplaceAll(b, "/", `\/`))
		}
		// Escaped as a JSON or Go string is (a document's newlines as
		// \n), with and without <, > and & escaped.
		q := strconv.Quote(string(v))
		forms = append(forms, q[1:len(q)-1])
		for _, html := range []bool{true, false} {
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if enc.Encode(string(v)) == nil {
				j := strings.TrimSuffix(b.String(), "\n")
				forms = append(forms, j[1:len(j)-1])
			}
		}
	}
	// Longest first: a document's forms before a shorter value's.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, secret.Redacted)
	}
	return msg
}

// MinHidden is the length from which Hide hides a value: a shorter one
// quoted gives nothing away, and hiding it would garble the message.
const MinHidden = 6

// warnings logs the API server's warnings as client-go's default handler
// does, with the data the request carried hidden.
type warnings struct{}

func (warnings) HandleWarningHeaderWithContext(ctx context.Context, code int, _ string, message string) {
	if code != 299 || message == "" {
		return
	}
	if data, ok := ctx.Value(sentKey{}).(map[string][]byte); ok {
		message = Hide(message, data)
	}
	klog.FromContext(ctx).Info("Warning: " + message)
}
