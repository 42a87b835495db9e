package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestValueNeverPrints(t *testing.T) {
	const raw = "s3cr3t-very-private-value"
	v := Value(raw)
	type wrapper struct {
		Secret Value `json:"secret" yaml:"secret"`
	}
	js, err := json.Marshal(wrapper{v})
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(wrapper{v})
	if err != nil {
		t.Fatal(err)
	}
	var decoded wrapper
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	text, err := v.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%s":   fmt.Sprintf("%s", v),
		"%v":   fmt.Sprintf("%v", v),
		"%+v":  fmt.Sprintf("%+v", wrapper{v}),
		"%#v":  fmt.Sprintf("%#v", wrapper{v}),
		"%q":   fmt.Sprintf("%q", v),
		"%x":   fmt.Sprintf("%x", v),
		"%d":   fmt.Sprintf("%d", v),
		"json": string(decoded.Secret),
		"yaml": string(ym),
		"text": string(text),
		"err":  fmt.Errorf("wrap: %v", v).Error(),
	}
	for name, out := range outputs {
		if strings.Contains(out, raw) {
			t.Errorf("%s leaks the secret: %q", name, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not show %q: %q", name, Redacted, out)
		}
	}
	if v.Reveal() != raw {
		t.Errorf("Reveal() = %q, want the raw secret", v.Reveal())
	}
}

func TestEmptyValue(t *testing.T) {
	var v Value
	if !v.IsZero() || v.String() != "" {
		t.Errorf("empty value: IsZero=%v String=%q", v.IsZero(), v.String())
	}
}
