package daemon

import (
	"fmt"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/metrics"
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

// hookInfos names a policy's hooks for their metric series.
func hookInfos(hs []rotation.Hook) []metrics.HookInfo {
	var out []metrics.HookInfo
	for _, h := range hs {
		out = append(out, metrics.HookInfo{Label: h.Label, Event: h.Event})
	}
	return out
}
