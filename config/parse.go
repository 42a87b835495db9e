package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Parse parses, applies defaults to and validates a policy file. filename
// only labels problems; relative paths resolve against baseDir (the working
// directory when baseDir is empty). Any problem with the file comes back as
// a *Errors listing all of them.
func Parse(data []byte, filename, baseDir string) (*Config, error) {
	base, err := filepath.Abs(baseDir)
	if err != nil {
		return nil, fmt.Errorf("config directory: %w", err)
	}
	root, errs := document(data, filename)
	if errs != nil {
		return nil, errs
	}
	cfg, errs := decode(data, filename, root)
	if errs != nil {
		return nil, errs
	}
	v := validator{file: filename, root: root, base: base}
	v.config(cfg)
	if len(v.errs) > 0 {
		return nil, &v.errs
	}
	return cfg, nil
}

// document parses data as exactly one YAML document whose top level is a
// mapping, and returns its node tree for line lookups.
func document(data []byte, file string) (*yaml.Node, *Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Errors{{File: file, Msg: "empty file: want a mapping with at least policies"}}
		}
		return nil, yamlErrors(file, err, nil)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		// A second document would be silently ignored by a plain decode;
		// it is more likely a mistake (two files concatenated) than intent.
		return nil, &Errors{{File: file, Line: extra.Line, Msg: "a second YAML document starts here: a policy file holds exactly one"}}
	case !errors.Is(err, io.EOF):
		return nil, yamlErrors(file, err, nil)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &Errors{{File: file, Line: top.Line, Msg: fmt.Sprintf("top level is a %s: want a mapping with at least policies", kindName(top))}}
	}
	return &root, nil
}

// decode decodes data strictly into a Config that starts from the defaults.
func decode(data []byte, file string, root *yaml.Node) (*Config, *Errors) {
	cfg := DefaultConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, yamlErrors(file, err, root)
	}
	if err := applyListDefaults(&cfg, root.Content[0]); err != nil {
		return nil, yamlErrors(file, err, root)
	}
	return &cfg, nil
}

// applyListDefaults decodes each policy and sink again, this time into a
// copy of its defaults. The strict decode above cannot do that because
// yaml.v3 builds list elements from zero values, and telling "absent" from
// zero afterwards would be wrong for grace_period, where 0 is valid. This
// second decode goes through Node.Decode, which is not strict, so it runs
// only after the strict decode has accepted the same document.
func applyListDefaults(cfg *Config, top *yaml.Node) error {
	var raw struct {
		Policies []yaml.Node `yaml:"policies"`
	}
	if err := top.Decode(&raw); err != nil {
		return err
	}
	if len(raw.Policies) != len(cfg.Policies) {
		return fmt.Errorf("yaml: policies decoded twice to different lengths (%d, %d)", len(raw.Policies), len(cfg.Policies))
	}
	for i := range raw.Policies {
		p := DefaultPolicy
		if err := raw.Policies[i].Decode(&p); err != nil {
			return err
		}
		var rawSinks struct {
			Sinks []yaml.Node `yaml:"sinks"`
		}
		if err := raw.Policies[i].Decode(&rawSinks); err != nil {
			return err
		}
		if len(rawSinks.Sinks) != len(cfg.Policies[i].Sinks) {
			return fmt.Errorf("yaml: policies[%d].sinks decoded twice to different lengths", i)
		}
		for j := range rawSinks.Sinks {
			var s Sink
			switch cfg.Policies[i].Sinks[j].Type {
			case SinkFile:
				s = DefaultFileSink
			case SinkVault:
				s = DefaultVaultSink
			}
			if err := rawSinks.Sinks[j].Decode(&s); err != nil {
				return err
			}
			p.Sinks[j] = s
		}
		cfg.Policies[i] = p
	}
	return nil
}
