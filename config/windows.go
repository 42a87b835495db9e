package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"time"

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

// hooks checks a policy's hooks.
func (v *validator) hooks(at string, p *Policy) {
	for i := range p.Hooks {
		h := &p.Hooks[i]
		hat := fmt.Sprintf("%s.hooks[%d]", at, i)
		switch h.Event {
		case "after_delivery", "before_delete", "on_failure":
		default:
			v.addf(hat+".event", "unknown event %q (want after_delivery, before_delete or on_failure)", h.Event)
		}
		switch {
		case (h.Exec == nil) == (h.Webhook == nil):
			v.addf(hat, "want exactly one of exec and webhook")
		case h.Exec != nil:
			if len(h.Exec.Command) == 0 || !filepath.IsAbs(h.Exec.Command[0]) {
				v.addf(hat+".exec.command", "want the program's absolute path first, then its arguments (no shell)")
			}
			if h.Exec.Timeout < 0 {
				v.addf(hat+".exec.timeout", "must not be negative")
			}
		case h.Webhook != nil:
			u, err := url.Parse(h.Webhook.URL)
			if err != nil || u.Host == "" {
				v.addf(hat+".webhook.url", "want an https:// URL")
			} else if err := CheckTransport(h.Webhook.URL, false); err != nil {
				v.addf(hat+".webhook.url", "%v", err)
			}
			if h.Webhook.KeyFile == "" {
				v.addf(hat+".webhook.key_file", "required: the HMAC key the receiver checks signatures with")
			}
			h.Webhook.KeyFile = v.abs(h.Webhook.KeyFile)
			if h.Webhook.Retries < 0 || h.Webhook.Retries > 10 {
				v.addf(hat+".webhook.retries", "must be from 0 to 10")
			}
		}
	}
}
