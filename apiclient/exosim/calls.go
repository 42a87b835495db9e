package exosim

// CallStats counts the calls of one operation by the status answered; status
// 0 counts calls that got no response (a lost response, or a client that
// hung up during the latency).
type CallStats struct {
	Total    int         `json:"total"`
	ByStatus map[int]int `json:"by_status"`
}

func (s *Sim) record(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[op]
	if c == nil {
		c = &CallStats{ByStatus: map[int]int{}}
		s.calls[op] = c
	}
	c.Total++
	c.ByStatus[status]++
}

// Calls returns the call counts per operation id.
func (s *Sim) Calls() map[string]CallStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]CallStats, len(s.calls))
	for op, c := range s.calls {
		by := make(map[int]int, len(c.ByStatus))
		for status, n := range c.ByStatus {
			by[status] = n
		}
		out[op] = CallStats{Total: c.Total, ByStatus: by}
	}
	return out
}
