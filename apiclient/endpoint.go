package apiclient

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/rotatord/rotatord/internal/redact"
)

// DefaultZone is the zone the SDK uses when none is given.
const DefaultZone = "ch-gva-2"

// Zones are the Exoscale zones with an API endpoint. API keys are global to
// the organization: the zone only picks which endpoint answers.
var Zones = []string{"ch-gva-2", "ch-dk-2", "de-fra-1", "de-muc-1", "at-vie-1", "at-vie-2", "bg-sof-1", "hr-zag-1"}

// ResolveEndpoint returns the API base URL (ending in /v2). An explicit
// endpoint wins over the zone; an empty zone means DefaultZone.
func ResolveEndpoint(zone, endpoint string) (string, error) {
	if endpoint != "" {
		// Errors name the endpoint without its user info: a URL with
		// credentials in it must not carry them into a log.
		shown := RedactURL(endpoint)
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", fmt.Errorf("endpoint %q: not a URL", shown)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("endpoint %q: scheme must be http or https", shown)
		}
		if u.Host == "" {
			return "", fmt.Errorf("endpoint %q: no host", shown)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.Contains(endpoint, "@") {
			return "", fmt.Errorf("endpoint %q: must not carry credentials, a query or a fragment", shown)
		}
		path := strings.TrimSuffix(u.Path, "/")
		if path == "" {
			// A bare host (http://127.0.0.1:8080, as a stand-in's or a
			// proxy's address is often written) can only mean the API's
			// root: every path of the API sits under /v2.
			path = "/v2"
		}
		if !strings.HasSuffix(path, "/v2") {
			return "", fmt.Errorf("endpoint %q: path must end in /v2", shown)
		}
		u.Path = path
		return u.String(), nil
	}
	if zone == "" {
		zone = DefaultZone
	}
	if !slices.Contains(Zones, zone) {
		return "", fmt.Errorf("zone %q: unknown (known zones: %s)", zone, strings.Join(Zones, ", "))
	}
	return "https://api-" + zone + ".exoscale.com/v2", nil
}

// RedactURL names a URL in errors and logs without its credentials: see
// redact.URL.
func RedactURL(raw string) string { return redact.URL(raw) }
