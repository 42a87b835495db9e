package rotation

import "github.com/rotatord/rotatord/sinks"

func toSinks(s ...*memSink) []sinks.Sink {
	out := make([]sinks.Sink, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}
