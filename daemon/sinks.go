package daemon

import (
	"fmt"
	"os/user"
	"strconv"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/sinks"
	"github.com/rotatord/rotatord/sinks/file"
)

// buildSinks turns a policy's sink configs into sinks. An explicit switch:
// two kinds do not need a registry.
func buildSinks(p *config.Policy) ([]sinks.Sink, error) {
	out := make([]sinks.Sink, 0, len(p.Sinks))
	for i := range p.Sinks {
		sc := &p.Sinks[i]
		var (
			s   sinks.Sink
			err error
		)
		switch sc.Type {
		case config.SinkFile:
			s, err = newFileSink(sc)
		default:
			err = fmt.Errorf("sink type %q is not supported by this build", sc.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("policy %q: sinks[%d]: %w", p.Name, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func newFileSink(sc *config.Sink) (sinks.Sink, error) {
	uid, err := lookupID(sc.Owner, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return nil, fmt.Errorf("owner %q: %w", sc.Owner, err)
	}
	gid, err := lookupID(sc.Group, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", sc.Group, err)
	}
	return file.New(file.Options{
		Path:     sc.PathTemplate(),
		Format:   string(sc.Format),
		Template: sc.ContentTemplate(),
		Mode:     sc.Mode.Perm(),
		UID:      uid,
		GID:      gid,
	})
}

// lookupID resolves a user or group given by name or number; "" is -1 (unchanged).
func lookupID(v string, byName func(string) (string, error)) (int, error) {
	if v == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	id, err := byName(v)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(id)
}
