package kubeclient

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// TestHideOtherEncodings: a webhook's message is its author's text and
// may quote a data value in encodings other than the value as sent and
// its base64: JSON-escaped (a document's newlines as \n, as json.Marshal
// or a message embedding the object as JSON writes it), base64 with its
// slashes escaped (PHP's json_encode, Java's escapers write \/), hex.
// Before, each showed the value.
func TestHideOtherEncodings(t *testing.T) {
	doc := []byte("EXOSCALE_API_KEY=EXO123\nEXOSCALE_API_SECRET=S3cr3t/+/x?y>z\"q???\n")
	data := map[string][]byte{"creds": doc}
	quoted, err := json.Marshal(string(doc))
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(doc)
	if !strings.Contains(b64, "/") {
		t.Fatalf("the base64 of the document has no slash to escape: %s", b64)
	}
	for _, msg := range []string{
		"denied: creds is " + string(quoted),
		"denied: object " + strings.ReplaceAll(b64, "/", `\/`),
		"denied: creds " + hex.EncodeToString(doc),
		"denied: creds " + strings.ToUpper(hex.EncodeToString(doc)),
		"denied: creds " + b64,
	} {
		got := Hide(msg, data)
		if strings.Contains(got, "S3cr3t") || strings.Contains(got, b64[20:]) || strings.Contains(strings.ToLower(got), hex.EncodeToString(doc)[40:]) ||
			strings.Contains(got, strings.ReplaceAll(b64, "/", `\/`)[20:]) {
			t.Errorf("Hide(%q) = %q: the value shows", msg, got)
		}
		if !strings.Contains(got, "<secret>") {
			t.Errorf("Hide(%q) = %q: nothing hidden", msg, got)
		}
	}
}
