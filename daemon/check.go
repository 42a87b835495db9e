package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/rotation"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/state"
)

// CheckSinks builds every file sink of cfg the way a start does, so that
// `rotatord validate` reports what only building them finds: a content
// template that uses a field the sink does not provide, an owner or group
// that does not exist. It makes no request and writes nothing. Sinks of
// other types are left to the start, as building them may reach their
// service.
//
// host false leaves out what depends on this host (`validate
// --file-only`): the owner and group names, which another host resolves.
func CheckSinks(cfg *config.Config, host bool) []error {
	var errs []error
	for i := range cfg.Policies {
		p := &cfg.Policies[i]
		for j := range p.Sinks {
			if p.Sinks[j].Type != config.SinkFile {
				continue
			}
			sc := p.Sinks[j]
			if !host {
				sc.Owner, sc.Group = "", ""
			}
			if _, err := newFileSink(&sc, p.Name, nil, protection{}); err != nil {
				errs = append(errs, fmt.Errorf("policies[%d].sinks[%d]: %w", i, j, err))
			}
		}
	}
	return errs
}

// CheckStranded reports what `run` refuses to start with, and a reload
// refuses, because of the journal in the state directory: a policy change
// that strands a rotation in flight (its policy removed or no longer
// matching its name), or an account left out with rotations in flight. It
// reads the journals without their lock and writes nothing. A journal in
// the Kubernetes API is left to the start.
func CheckStranded(cfg *config.Config) error {
	if cfg.State.Kubernetes() {
		return nil
	}
	errs := []error{checkAbandoned(cfg)}
	for _, a := range cfg.AccountsInUse() {
		store, err := state.OpenReadOnly(cfg.AccountStateDir(a.Name))
		if err != nil {
			continue // nothing readable there: nothing in flight we know of
		}
		var policies []rotation.Policy
		for i := range cfg.Policies {
			p := &cfg.Policies[i]
			if p.AccountOf() != a.Name {
				continue
			}
			policies = append(policies, rotation.Policy{Name: p.Name, Match: p.Matches})
		}
		if a.OwnKey != nil {
			policies = append(policies, rotation.Policy{Name: config.SelfPolicyName(a.Name), Self: noSelf{}})
		}
		if err := rotation.Stranded(store, policies); err != nil {
			if len(cfg.AccountsInUse()) > 1 {
				err = fmt.Errorf("account %s: %w", a.Name, err)
			}
			errs = append(errs, err)
		}
		store.Close()
	}
	return errors.Join(errs...)
}

// noSelf stands for an own key's policy in a check that acts on nothing.
type noSelf struct{}

func (noSelf) Use(sinks.Credential) (func(), error)          { return nil, errors.New("not in a check") }
func (noSelf) Current() sinks.Credential                     { return sinks.Credential{} }
func (noSelf) Check(context.Context, sinks.Credential) error { return errors.New("not in a check") }
