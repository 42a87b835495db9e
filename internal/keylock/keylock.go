// Package keylock owns a set of mutexes keyed by string: one lock per key
// name or path, so work on different keys runs in parallel and work on the
// same key runs one at a time.
package keylock

import "sync"

// Set is a set of named mutexes. The zero value is ready to use. It holds
// an entry only for a key someone holds or waits for: a pass over 10,000
// names leaves no 10,000 mutexes behind.
type Set struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	mu    sync.Mutex
	users int // holders and waiters, guarded by Set.mu
}

// Lock locks the mutex of key and returns its unlock function, to be
// called once.
func (s *Set) Lock(key string) (unlock func()) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]*entry{}
	}
	l, ok := s.locks[key]
	if !ok {
		l = new(entry)
		s.locks[key] = l
	}
	l.users++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
}

// held returns the number of keys with an entry: for tests.
func (s *Set) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.locks)
}
