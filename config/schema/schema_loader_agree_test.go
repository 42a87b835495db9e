package schema

import (
	"testing"

	"github.com/rotatord/rotatord/config"
)

// TestSchemaAcceptsWhatLoaderAccepts: the schema marks as errors
// files that `rotatord validate` and run accept, so an editor with
// yaml-language-server shows red squiggles on a working policy file:
//   - `owner: 0` / `group: 0` (a uid/gid, as the schema's own description
//     invites, written unquoted): loader takes it, schema wants a string;
//   - `grace_period: ~` / `mode: ~` (null): the loader keeps the default,
//     the schema rejects null.
//
// Fix: owner/group: type [string, integer]; durations and mode: allow
// null, or make the loader refuse null (better: an explicit null that
// silently means "default" is surprising).
func TestSchemaAcceptsWhatLoaderAccepts(t *testing.T) {
	s := compile(t)
	for _, doc := range []string{
		"policies:\n  - name: p\n    match: {name: x}\n    sinks: [{type: file, path: /x, owner: 0, group: 0}]\n",
		"policies:\n  - name: p\n    match: {name: x}\n    grace_period: ~\n    sinks: [{type: file, path: /x}]\n",
		"policies:\n  - name: p\n    match: {name: x}\n    sinks: [{type: file, path: /x, mode: ~}]\n",
	} {
		_, perr := config.Parse([]byte(doc), "d.yml", "/")
		serr := s.Validate(instance(t, "d", []byte(doc)))
		if (perr == nil) != (serr == nil) {
			t.Errorf("loader error: %v; schema error: %v; for\n%s", perr, serr, doc)
		}
	}
}

// TestSchemaRefusesWhatLoaderAlwaysRefuses: values the loader
// refuses on every host and that JSON Schema can express pass the schema,
// so the editor says nothing: a negative grace_period or max_age ("-1h";
// the duration pattern allows a leading "-" everywhere), max_age 0, a mode
// with bits above 0777 ("04600"), a listen port above 65535, and an empty
// duration string ("" matches the pattern, whose parts are all optional).
// Fix: a non-negative duration pattern for grace_period, a positive one for
// max_age/timeout, at least one unit required, mode pattern
// ^(0[oO]?)?[0-7]{1,3}$, and a port pattern bounded to 65535.
func TestSchemaRefusesWhatLoaderAlwaysRefuses(t *testing.T) {
	s := compile(t)
	for _, doc := range []string{
		"policies:\n  - name: p\n    match: {name: x}\n    grace_period: -1h\n    sinks: [{type: file, path: /x}]\n",
		"policies:\n  - name: p\n    match: {name: x}\n    max_age: -1h\n    sinks: [{type: file, path: /x}]\n",
		"policies:\n  - name: p\n    match: {name: x}\n    max_age: ''\n    sinks: [{type: file, path: /x}]\n",
		"policies:\n  - name: p\n    match: {name: x}\n    sinks: [{type: file, path: /x, mode: '04600'}]\n",
		"listen: ':99999'\npolicies:\n  - name: p\n    match: {name: x}\n    sinks: [{type: file, path: /x}]\n",
	} {
		if _, err := config.Parse([]byte(doc), "d.yml", "/"); err == nil {
			t.Fatalf("the loader accepts\n%s", doc)
		}
		if err := s.Validate(instance(t, "d", []byte(doc))); err == nil {
			t.Errorf("the schema accepts what the loader refuses:\n%s", doc)
		}
	}
}

// TestSchemaTakesEveryEndpointSpellingTheLoaderTakes: since e34cc88 an
// endpoint given as a bare host (http://127.0.0.1:8080, with or without
// the final slash) means its /v2 to the loader, and the schema's own
// description says so; its pattern (^https?://.*/v2/?$) still marked it
// an error, so an editor showed red on a file run accepts. A path ending
// in another segment is refused by both.
func TestSchemaTakesEveryEndpointSpellingTheLoaderTakes(t *testing.T) {
	s := compile(t)
	for _, ep := range []string{
		"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v2", "http://127.0.0.1:8080/v2/",
		"https://proxy.example/exoscale/v2", "http://127.0.0.1:8080/api", "http://127.0.0.1:8080/v2/x",
	} {
		doc := "exoscale:\n  endpoint: " + ep + "\npolicies:\n  - name: p\n    match: {name: x}\n    sinks: [{type: file, path: /x}]\n"
		_, perr := config.Parse([]byte(doc), "d.yml", "/")
		serr := s.Validate(instance(t, "d", []byte(doc)))
		if (perr == nil) != (serr == nil) {
			t.Errorf("endpoint %s: loader error: %v; schema error: %v", ep, perr, serr)
		}
	}
}

// The same for an account's endpoint, which had no pattern: the schema
// took a path the loader refuses.
func TestSchemaTakesTheAccountEndpointsTheLoaderTakes(t *testing.T) {
	s := compile(t)
	for _, ep := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v2/", "http://127.0.0.1:8080/api"} {
		doc := "accounts:\n  - name: b\n    api_key: EXO0123456789abcdef01234567\n    api_secret: s\n    endpoint: " + ep +
			"\npolicies:\n  - name: p\n    account: b\n    match: {name: x}\n    sinks: [{type: file, path: /x}]\n"
		_, perr := config.Parse([]byte(doc), "d.yml", "/")
		serr := s.Validate(instance(t, "d", []byte(doc)))
		if (perr == nil) != (serr == nil) {
			t.Errorf("endpoint %s: loader error: %v; schema error: %v", ep, perr, serr)
		}
	}
}
