package daemon

import (
	"fmt"

	"github.com/rotatord/rotatord/config"
)

// CheckSinks builds every file sink of cfg the way a start does, so that
// `rotatord validate` reports what only building them finds: a content
// template that uses a field the sink does not provide, an owner or group
// that does not exist. It makes no request and writes nothing. Sinks of
// other types are left to the start, as building them may reach their
// service.
func CheckSinks(cfg *config.Config) []error {
	var errs []error
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		for j := range p.Sinks {
			if p.Sinks[j].Type != config.SinkFile {
				continue
			}
			if _, err := newFileSink(&p.Sinks[j], p.Name); err != nil {
				errs = append(errs, fmt.Errorf("policies[%d].sinks[%d]: %w", i, j, err))
			}
		}
	}
	return errs
}
