package apiclient

import (
	"strings"
	"testing"
)

func TestEndpointErrorsNeverQuoteCredentials(t *testing.T) {
	for _, give := range []string{
		"https://user:hunter2secret@api.example.com/v2",
		"http://user:hunter2secret@api.example.com/nope",
		"https://user:hunter2secret@api.example.com/v2?token=hunter2secret",
		"ftp://user:hunter2secret@api.example.com/v2",
		"https://user:hunter2secret@[::1/v2",
		"://user:hunter2secret@x/v2",
	} {
		_, err := ResolveEndpoint("", give)
		if err == nil {
			t.Errorf("%s: accepted", give)
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("error quotes the credential: %v", err)
		}
	}
}
