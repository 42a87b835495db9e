package daemon

import (
	"fmt"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/rotation"
)

// buildHooks binds a policy's hooks.
func buildHooks(p *config.Policy) []rotation.Hook {
	var out []rotation.Hook
	for i, h := range p.Hooks {
		switch {
		case h.Exec != nil:
			x := hooks.Exec{Command: h.Exec.Command, Timeout: h.Exec.Timeout.Duration()}
			out = append(out, rotation.Hook{Event: h.Event, Label: fmt.Sprintf("exec#%d", i), Run: x.Run})
		case h.Webhook != nil:
			w := hooks.Webhook{URL: h.Webhook.URL, KeyFile: h.Webhook.KeyFile, Timeout: h.Webhook.Timeout.Duration(), Retries: h.Webhook.Retries}
			out = append(out, rotation.Hook{Event: h.Event, Label: fmt.Sprintf("webhook#%d", i), Run: w.Run})
		}
	}
	return out
}
