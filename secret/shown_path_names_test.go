package secret

import "testing"

// TestShownPathShowsNamesPeopleChoose: a long file name of words joined
// by '_' or '-' is a name someone chose, not a secret: an operator who
// mistyped it must see which file was not found.
func TestShownPathShowsNamesPeopleChoose(t *testing.T) {
	for _, p := range []string{
		"/run/secrets/exoscale_api_secret_prod",
		"/etc/rotatord/exoscale-api-secret-staging",
		"/var/run/secrets/vault/rotatord_approle_secret_id",
	} {
		if got := ShownPath(p); got != p {
			t.Errorf("ShownPath(%q) = %q, want it shown", p, got)
		}
	}
}
