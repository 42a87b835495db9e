package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/rotatord/rotatord/hooks"
	"github.com/rotatord/rotatord/internal/plainhttp"
	"github.com/rotatord/rotatord/internal/redact"
	"github.com/rotatord/rotatord/internal/window"
)

// windows checks a policy's windows and parses them.
func (v *validator) windows(at string, p *Policy) {
	var set window.Set
	ok := true
	for i, w := range p.Windows {
		wat := fmt.Sprintf("%s.windows[%d]", at, i)
		days, err := window.ParseDays(w.Days)
		if err != nil {
			v.addf(wat+".days", "%v", err)
			ok = false
		}
		start, err := window.ParseClock(w.Start)
		if err != nil {
			v.addf(wat+".start", "%v", err)
			ok = false
		} else if start == 24*time.Hour {
			v.addf(wat+".start", "24:00 is an end, not a start (use 00:00)")
			ok = false
		}
		end, err := window.ParseClock(w.End)
		if err != nil {
			v.addf(wat+".end", "%v", err)
			ok = false
		}
		zone, err := window.LoadZone(w.TimeZone)
		if err != nil {
			v.addf(wat+".time_zone", "%v", err)
			ok = false
		}
		set = append(set, window.Window{Days: days, Start: start, End: end % (24 * time.Hour), Zone: zone})
	}
	if ok {
		p.windows = set
	}
}

// Bounds on how long one hook may run.
const (
	maxExecTimeout    = 30 * time.Minute
	maxWebhookTimeout = time.Minute
)

func isLoopback(host string) bool { return plainhttp.Loopback(host) }

// hookTimeout checks a hook's timeout: 0 (unset) takes the default, a
// negative one is refused rather than silently replaced by the default,
// and one above limit is refused with why. Values are echoed as written.
func (v *validator) hookTimeout(field string, d Duration, limit time.Duration, why string) {
	switch {
	case d < 0:
		v.addf(field, "must not be negative, got %s", v.written(field, d))
	case d.Duration() > limit:
		v.addf(field, "%s: want at most %s%s", v.written(field, d), human(limit), why)
	}
}

// hooks checks a policy's hooks.
func (v *validator) hooks(at string, p *Policy) {
	for i := range p.Hooks {
		h := &p.Hooks[i]
		hat := fmt.Sprintf("%s.hooks[%d]", at, i)
		switch h.Event {
		case "after_delivery", "before_delete", "on_failure":
		default:
			v.addf(hat+".event", "unknown event %q (want after_delivery, before_delete or on_failure)", echo(h.Event))
		}
		switch {
		case (h.Exec == nil) == (h.Webhook == nil):
			v.addf(hat, "want exactly one of exec and webhook")
		case h.Exec != nil:
			switch {
			case len(h.Exec.Command) == 0:
				v.addf(hat+".exec.command", "empty: want the program's absolute path first, then its arguments (no shell)")
			case !filepath.IsAbs(h.Exec.Command[0]):
				v.addf(hat+".exec.command", "%q is not an absolute path: want the program's absolute path first, then its arguments (no shell)", h.Exec.Command[0])
			}
			v.hookTimeout(hat+".exec.timeout", h.Exec.Timeout, maxExecTimeout, " (a hook runs while its key name waits)")
			if t := h.Exec.Timeout.Duration(); h.Event == "on_failure" && t > hooks.OnFailureTimeout && t <= maxExecTimeout {
				v.warnf(hat+".exec.timeout", "%s: on_failure hooks are cut after %s in all (they run in the background), so the hook is cancelled before this timeout",
					v.written(hat+".exec.timeout", h.Exec.Timeout), human(hooks.OnFailureTimeout))
			}
			if v.host && len(h.Exec.Command) > 0 && filepath.IsAbs(h.Exec.Command[0]) {
				if err := hooks.CheckProgram(h.Exec.Command[0]); err != nil {
					v.addf(hat+".exec.command", "%v", err)
				}
			}
		case h.Webhook != nil:
			u, err := url.Parse(h.Webhook.URL)
			switch {
			case err != nil || u.Host == "":
				v.addf(hat+".webhook.url", "%q: want an https:// URL", redact.Origin(h.Webhook.URL))
			case u.Scheme == "https":
			case u.Scheme == "http" && isLoopback(u.Hostname()):
			case u.Scheme == "http":
				v.addf(hat+".webhook.url", "%s is plain http to a host that is not loopback: the event and its signature would cross the network in clear (use https; plain http is only for a loopback receiver)", redact.Origin(h.Webhook.URL))
			default:
				v.addf(hat+".webhook.url", "scheme %q: want https", u.Scheme)
			}
			if h.Webhook.KeyFile == "" {
				v.addf(hat+".webhook.key_file", "required: the HMAC key the receiver checks signatures with")
			}
			h.Webhook.KeyFile = v.abs(h.Webhook.KeyFile)
			if v.host && h.Webhook.KeyFile != "" {
				if _, err := hooks.ReadKeyFile(h.Webhook.KeyFile); err != nil {
					v.addf(hat+".webhook.key_file", "%v", err)
				}
			}
			v.hookTimeout(hat+".webhook.timeout", h.Webhook.Timeout, maxWebhookTimeout, "")
			if h.Webhook.Retries < 0 || h.Webhook.Retries > 10 {
				v.addf(hat+".webhook.retries", "must be from 0 to 10, got %d", h.Webhook.Retries)
			} else if t := h.Webhook.Timeout.Duration(); h.Event == "on_failure" && t >= 0 && t <= maxWebhookTimeout {
				if t == 0 {
					t = 10 * time.Second // the webhook's default
				}
				// Every attempt at its timeout, and the waits between them.
				worst := time.Duration(h.Webhook.Retries+1)*t + (1<<h.Webhook.Retries-1)*hooks.WebhookBackoff
				if worst > hooks.OnFailureTimeout {
					v.warnf(hat+".webhook", "a timeout of %s and %d retries take up to %s, but on_failure hooks are cut after %s in all (they run in the background): the last retries never run",
						human(t), h.Webhook.Retries, human(worst), human(hooks.OnFailureTimeout))
				}
			}
		}
	}
}
