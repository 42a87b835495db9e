// Package keylock owns a set of mutexes keyed by string: one lock per key
// name or path, so work on different keys runs in parallel and work on the
// same key runs one at a time.
package keylock

import "sync"

// Set is a set of named mutexes. The zero value is ready to use.
type Set struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Lock locks the mutex of key and returns its unlock function.
func (s *Set) Lock(key string) (unlock func()) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	l, ok := s.locks[key]
	if !ok {
		l = new(sync.Mutex)
		s.locks[key] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}
