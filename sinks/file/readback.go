package file

import "github.com/rotatord/rotatord/sinks"

var _ sinks.ReadBacker = (*Sink)(nil)

// CanReadBack implements sinks.ReadBacker: every format but a free-form
// template can be parsed back into a key id and secret.
func (s *Sink) CanReadBack() bool { return s.format != FormatTemplate }
