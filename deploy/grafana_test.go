package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "grafana/rotatord.json"

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// decodeJSON decodes strictly: one value, no unknown trailing data.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// labelValuesRE is Grafana's label_values(selector, label) query.
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func TestGrafanaDashboard(t *testing.T) {
	var d dashboard
	if err := decodeJSON(readFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: want both", d.Title, d.UID)
	}
	exp := exportedMetrics(t)
	const dsVar = "${datasource}"

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		var query string
		if err := json.Unmarshal(v.Query, &query); err != nil {
			t.Errorf("variable %s: query is not a string: %s", v.Name, v.Query)
			continue
		}
		switch v.Type {
		case "datasource":
			if v.Name != "datasource" || query != "prometheus" {
				t.Errorf("datasource variable %s with query %q, want datasource / prometheus", v.Name, query)
			}
		case "query":
			if v.Datasource == nil || v.Datasource.UID != dsVar {
				t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, dsVar)
			}
			m := labelValuesRE.FindStringSubmatch(query)
			if m == nil {
				t.Errorf("variable %s: query %q, want label_values(selector, label)", v.Name, query)
				continue
			}
			for _, s := range checkQuery(t, exp, "variable "+v.Name, m[1]) {
				if !exp[s.name][m[2]] && !slices.Contains(targetLabels, m[2]) {
					t.Errorf("variable %s: %s has no label %s", v.Name, s.name, m[2])
				}
			}
			if v.Name == "policy" && (m[2] != "policy" || !v.Multi || !v.IncludeAll) {
				t.Errorf("variable policy: label %s, multi %v, includeAll %v; want policy, true, true", m[2], v.Multi, v.IncludeAll)
			}
		}
	}
	for _, want := range []string{"datasource", "policy", "instance"} {
		if !vars[want] {
			t.Errorf("no template variable %s", want)
		}
	}

	ids := map[int]bool{}
	used := map[string]bool{}
	var check func(p panel)
	check = func(p panel) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: id used twice", where)
		}
		ids[p.ID] = true
		if p.GridPos.W < 1 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, p.GridPos)
		}
		if p.Type == "row" {
			for _, c := range p.Panels {
				check(c)
			}
			return
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want prometheus %s", where, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: refId %q empty or repeated", where, q.RefID)
			}
			refs[q.RefID] = true
			if q.Datasource != nil && q.Datasource.UID != dsVar {
				t.Errorf("%s: query datasource %+v, want %s", where, q.Datasource, dsVar)
			}
			for _, s := range checkQuery(t, exp, where, q.Expr) {
				used[s.name] = true
				// Every series follows the variables.
				if exp[s.name]["policy"] && !hasMatcher(s, "policy", "=~", "$policy") {
					t.Errorf("%s: %s is not filtered by policy=~\"$policy\" in %q", where, s.name, q.Expr)
				}
				if _, ok := exp[s.name]; ok && !hasMatcher(s, "instance", "=~", "$instance") {
					t.Errorf("%s: %s is not filtered by instance=~\"$instance\" in %q", where, s.name, q.Expr)
				}
			}
		}
	}
	for _, p := range d.Panels {
		check(p)
	}

	// What the dashboard is for.
	for _, want := range []string{
		"rotatord_key_created_timestamp_seconds", "rotatord_policy_max_age_seconds",
		"rotatord_rotations_total", "rotatord_rotation_duration_seconds_bucket",
		"rotatord_api_request_duration_seconds_bucket", "rotatord_api_requests_total",
		"rotatord_keys_pending_deletion", "rotatord_sink_writes_total", "rotatord_orphans_deleted_total",
		"rotatord_passes_total", "rotatord_config_last_reload_successful",
		"rotatord_ready", "rotatord_state_records", "rotatord_state_oldest_phase_timestamp_seconds",
		"rotatord_state_oldest_deletion_due_timestamp_seconds", "rotatord_build_info",
		"process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
	var missing []string
	for name := range exp {
		if !used[name] && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") && !used[name+"_bucket"] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	t.Logf("exported but not on the dashboard: %v", missing)
}

func hasMatcher(s selector, label, op, value string) bool {
	return slices.Contains(s.matchers, matcher{label: label, op: op, value: value})
}
