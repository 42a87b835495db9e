package daemon

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/internal/printable"
	"github.com/rotatord/rotatord/metrics"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/state"
)

// keyIDs matches API key ids, which error texts name: the page is often
// served without authentication, so it shows none.
var keyIDs = regexp.MustCompile(`EXO[0-9a-fA-F]+`)

// The landing page at /: the exporter toolkit's page (the look of every
// Prometheus exporter's) with links to the endpoints, and the plan as the
// state journal sees it. It is drawn from the state records in memory and
// the policies in force: a page view costs no API call and no disk read.
// Record fields are free text as far as the page is concerned (a key name
// is whatever the organization named it, a last error quotes the API):
// html/template escapes every one, and the Content-Security-Policy lets the
// page run no script at all.
const (
	// landingTTL is how long a rendered page is served again: whoever
	// reaches the port cannot make rotatord render more than once per TTL.
	landingTTL = 2 * time.Second
	// landingMaxRows bounds the table; `rotatord plan` lists everything.
	landingMaxRows = 1000
	// landingCSP allows the page's inline style and nothing else: no
	// script, image, frame, form or base URL, whatever ends up in it.
	landingCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// landingPage serves / and caches the rendered page for ttl.
type landingPage struct {
	d   *Daemon
	ttl time.Duration

	mu       sync.Mutex
	rendered []byte
	at       time.Time // wall clock of the rendering
}

func newLandingPage(d *Daemon) *landingPage {
	return &landingPage{d: d, ttl: landingTTL}
}

func (p *landingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	page, err := p.page()
	if err != nil {
		p.d.log.Named("http").Error("landing page", zap.Error(err))
		http.Error(w, "the landing page failed; /metrics, /healthz and /readyz still answer", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", landingCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(page)
}

func (p *landingPage) page() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rendered != nil && time.Since(p.at) < p.ttl {
		return p.rendered, nil
	}
	b, err := renderLanding(p.d.landingView())
	if err != nil {
		return nil, err
	}
	p.rendered, p.at = b, time.Now()
	return b, nil
}

// landingView is what the page shows.
type landingView struct {
	Now      time.Time
	Ready    bool
	Why      string
	Build    metrics.Build
	Policies []landingPolicy
	Rows     []landingRow
	Total    int // rows before the cut to landingMaxRows
	// Skipped: key names the policies match and rotatord leaves alone
	// (unsafe characters, too long), as the last pass saw them.
	Skipped []landingSkipped
}

type landingSkipped struct {
	Policy, Name, Reason string
}

type landingPolicy struct {
	Name, Schedule, MaxAge, GracePeriod string
	Names, InFlight, Due                int
}

type landingRow struct {
	Policy, Name string
	KeyAge       string
	NextRotation string
	Phase        string // none, intent, created, delivered
	PhaseDetail  string
	LastError    string
	Overdue      bool
}

// landingView reads the policies in force and the state records.
func (d *Daemon) landingView() landingView {
	now := d.Now()
	ready, why := d.Ready()
	v := landingView{Now: now, Ready: ready, Why: why, Build: metrics.BuildInfo()}
	s := d.setup()
	schedules := map[string]string{}
	for _, p := range d.Config().Policies {
		schedules[p.Name] = p.Schedule
	}
	for _, a := range d.Config().AccountsInUse() {
		if a.OwnKey != nil {
			schedules[config.SelfPolicyName(a.Name)] = a.OwnKey.Schedule
		}
	}
	for _, pol := range s.allPolicies() {
		lp := landingPolicy{
			Name: pol.Name, Schedule: schedules[pol.Name],
			MaxAge: humanDuration(pol.MaxAge), GracePeriod: humanDuration(pol.GracePeriod),
		}
		for _, r := range d.List(pol.Name) {
			row := landingRowOf(r, pol, now)
			lp.Names++
			if r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered {
				lp.InFlight++
			}
			if row.Overdue {
				lp.Due++
			}
			v.Total++
			if len(v.Rows) < landingMaxRows {
				v.Rows = append(v.Rows, row)
			}
		}
		v.Policies = append(v.Policies, lp)
		for _, sk := range d.Skipped(pol.Name) {
			// Escaped twice: printable.Line for what HTML would pass
			// through (control characters, bidirectional overrides that
			// reorder the table), html/template for markup.
			v.Skipped = append(v.Skipped, landingSkipped{Policy: pol.Name, Name: printable.Line(sk.Name), Reason: string(sk.Reason)})
		}
	}
	return v
}

func landingRowOf(r state.Record, pol rotation.Policy, now time.Time) landingRow {
	row := landingRow{Policy: r.Policy, Name: r.Name, Phase: metrics.PhaseNone, KeyAge: "unknown"}
	if !r.CurrentSince.IsZero() {
		row.KeyAge = humanDuration(now.Sub(r.CurrentSince))
	}
	retry := time.Time{}
	if r.Failures > 0 {
		row.LastError = fmt.Sprintf("%d failure(s), last %s ago: %s", r.Failures, humanDuration(now.Sub(r.LastFailure)), keyIDs.ReplaceAllString(r.LastError, "EXO…"))
		if t := r.LastFailure.Add(rotation.Backoff(r.Failures)); now.Before(t) {
			retry = t
		}
	}
	if rot := r.Rotation; rot != nil {
		row.Phase = string(rot.Phase)
		row.PhaseDetail = "since " + humanDuration(now.Sub(metrics.PhaseSince(rot))) + " ago"
		switch rot.Phase {
		case state.PhaseDelivered:
			if at := rot.DeleteAt(pol.GracePeriod); now.Before(at) {
				row.PhaseDetail += "; old key deleted in " + humanDuration(at.Sub(now))
			} else {
				row.PhaseDetail += "; old key due for deletion since " + humanDuration(now.Sub(at))
			}
		default:
			row.PhaseDetail += "; finished or rolled back at the next pass"
		}
	}
	switch {
	case r.Rotation != nil && r.Rotation.Phase != state.PhaseDelivered:
		row.NextRotation = "in flight"
	case r.CurrentSince.IsZero():
		row.NextRotation, row.Overdue = "at the next pass (age unknown)", true
	default:
		// As the pass decides (rotation.Decide): max_age and then the
		// name's share of the jitter, added one after the other.
		due := r.CurrentSince.Add(pol.MaxAge).Add(rotation.JitterOffset(r.Name, pol.Jitter))
		if now.Before(due) {
			row.NextRotation = "in " + humanDuration(due.Sub(now)) + " (" + due.UTC().Format(time.RFC3339) + ")"
		} else {
			row.NextRotation, row.Overdue = "at the next pass (due "+humanDuration(now.Sub(due))+" ago)", true
		}
	}
	if !retry.IsZero() {
		row.NextRotation += "; backing off until " + retry.UTC().Format(time.RFC3339)
	}
	return row
}

// humanDuration rounds a duration for people: 45s, 12m, 5h3m, 12d4h.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

// landingTables is the page's own part, escaped by html/template.
var landingTables = template.Must(template.New("landing").Parse(`
<section id="status">
<p>Ready: <strong id="ready">{{if .Ready}}yes{{else}}no{{end}}</strong> ({{.Why}}). Shown at {{.Now.UTC.Format "2006-01-02T15:04:05Z07:00"}}, from rotatord's state records: no call to the Exoscale API; <code>rotatord plan</code> asks the API.</p>
</section>
<h3>Policies</h3>
<table id="policies">
<thead><tr><th>policy</th><th>schedule</th><th>max_age</th><th>grace_period</th><th>key names</th><th>rotations in flight (intent, created)</th><th>due now</th></tr></thead>
<tbody>
{{- range .Policies}}
<tr><td>{{.Name}}</td><td>{{.Schedule}}</td><td>{{.MaxAge}}</td><td>{{.GracePeriod}}</td><td>{{.Names}}</td><td>{{.InFlight}}</td><td>{{.Due}}</td></tr>
{{- end}}
</tbody>
</table>
<h3>Plan</h3>
{{- if gt .Total (len .Rows)}}
<p id="cut">The first {{len .Rows}} of {{.Total}} key names; <code>rotatord plan</code> lists them all.</p>
{{- end}}
<table id="plan">
<thead><tr><th>policy</th><th>name</th><th>key age</th><th>next rotation</th><th>rotation in flight</th><th>last failure</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr class="phase-{{.Phase}}{{if .Overdue}} overdue{{end}}"><td class="policy">{{.Policy}}</td><td class="name">{{.Name}}</td><td class="age">{{.KeyAge}}</td><td class="next">{{.NextRotation}}</td><td class="phase">{{.Phase}}{{with .PhaseDetail}} ({{.}}){{end}}</td><td class="error">{{.LastError}}</td></tr>
{{- else}}
<tr><td colspan="6">No key name yet: the first pass records the keys each policy matches.</td></tr>
{{- end}}
</tbody>
</table>
{{- with .Skipped}}
<h3>Key names left alone</h3>
<p>Matched by a policy, but never rotated, deleted or written anywhere: their names could be read as something else than a name (see the README's Security model). As the last pass saw them, at most 100 a policy.</p>
<table id="skipped">
<thead><tr><th>policy</th><th>name</th><th>reason</th></tr></thead>
<tbody>
{{- range .}}
<tr><td class="policy">{{.Policy}}</td><td class="name">{{.Name}}</td><td class="reason">{{.Reason}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
`))

const landingCSS = `
table { border-collapse: collapse; margin-bottom: 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.name { font-family: monospace; white-space: pre-wrap; word-break: break-all; }
tr.overdue td.next { color: #b00; }
tr.phase-intent td.phase, tr.phase-created td.phase { color: #b60; }
`

// renderLanding renders the whole page: the toolkit's frame around the
// tables. The toolkit renders with text/template, which escapes nothing:
// every string given to it is escaped here, and the tables by
// html/template.
func renderLanding(v landingView) ([]byte, error) {
	var tables bytes.Buffer
	if err := landingTables.Execute(&tables, v); err != nil {
		return nil, err
	}
	b := v.Build
	lp, err := web.NewLandingPage(web.LandingConfig{
		Name:        "rotatord",
		Description: "Exoscale IAM API key rotation",
		Version:     html.EscapeString(fmt.Sprintf("%s (revision %s, branch %s, %s %s/%s)", b.Version, b.Revision, b.Branch, b.GoVersion, b.GoOS, b.GoArch)),
		Links: []web.LandingLinks{
			{Address: "metrics", Text: "Metrics", Description: "Prometheus metrics"},
			{Address: "healthz", Text: "Health", Description: "200 while the process runs"},
			{Address: "readyz", Text: "Readiness", Description: "200 once a pass has listed the API keys, 503 while the last listing failed"},
		},
		ExtraHTML: tables.String(),
		ExtraCSS:  landingCSS,
		Profiling: "false",
	})
	if err != nil {
		return nil, err
	}
	rec := &bufferWriter{header: http.Header{}}
	lp.ServeHTTP(rec, &http.Request{Method: http.MethodGet, URL: rootURL})
	if rec.code != 0 && rec.code != http.StatusOK {
		return nil, fmt.Errorf("the toolkit's landing page answered %d", rec.code)
	}
	return rec.body.Bytes(), nil
}

var rootURL = &url.URL{Path: "/"}

// bufferWriter collects what the toolkit's handler writes.
type bufferWriter struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (w *bufferWriter) Header() http.Header         { return w.header }
func (w *bufferWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *bufferWriter) WriteHeader(code int)        { w.code = code }
