package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// readRecordFiles reads and decodes the record files names of dir, on as
// many goroutines as there are processors: at 10,000 names a load with
// os.ReadFile on one took 0.4 s of a forced pass's start, and this takes
// 0.16 s (bench/README.md). The result is in the order of names; a file
// that is gone (a read-only view racing a checkpoint) is a nil record.
// The error, if any, is the first file's in that order.
func readRecordFiles(dir string, names []string) ([]*Record, error) {
	out := make([]*Record, len(names))
	errs := make([]error, len(names))
	workers := min(runtime.GOMAXPROCS(0), 1+len(names)/256)
	per := (len(names) + workers - 1) / max(workers, 1)
	var wg sync.WaitGroup
	for lo := 0; lo < len(names); lo += per {
		hi := min(lo+per, len(names))
		wg.Go(func() {
			var buf []byte
			for i := lo; i < hi; i++ {
				out[i], buf, errs[i] = readRecordFile(filepath.Join(dir, names[i]), names[i], buf)
				if errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readRecordFile reads one record file (named name) at path into buf (grown
// as needed, and returned for the next), and decodes it. It makes the
// system calls itself: os.ReadFile's file also asks the poller about the
// descriptor, two more calls a file. It follows no symlink and never
// waits on a FIFO.
func readRecordFile(path, name string, buf []byte) (*Record, []byte, error) {
	fail := func(err error) (*Record, []byte, error) {
		return nil, buf, fmt.Errorf("state record %s: %w", path, err)
	}
	fd, err := ignoringEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil, buf, nil // deleted since the listing
	}
	if errors.Is(err, syscall.ELOOP) {
		return fail(errors.New("a symbolic link: not followed"))
	}
	if err != nil {
		return fail(err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fail(err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fail(errors.New("not a regular file"))
	}
	if st.Size > maxRecordFile {
		return fail(fmt.Errorf("%d bytes: a record is a few hundred", st.Size))
	}
	// Sized from fstat, so a file is read in one call (and one more that
	// finds its end): the buffer kept from a smaller file would read it in
	// pieces.
	if need := int(st.Size) + 1; cap(buf) < need {
		buf = make([]byte, 0, max(need, 512))
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxRecordFile {
				return fail(errors.New("grows past the size of a record"))
			}
			buf = append(buf, 0)[:len(buf)] // grown by append's rule
		}
		n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	var r Record
	if err := json.Unmarshal(buf, &r); err != nil {
		return fail(err)
	}
	if r.Policy == "" || r.Name == "" || fileName(r.Policy, r.Name) != name {
		return nil, buf, fmt.Errorf("state record %s: policy or name does not match the file", path)
	}
	return &r, buf, nil
}

// maxRecordFile bounds a record file. A file is its record indented: at
// most about 3.3 times as long as the record's frame in the log (for its
// most deeply nested lists; twice for its deliveries), which Put keeps
// within maxFrameSize, so no file the store wrote is refused.
const maxRecordFile = 4 * maxFrameSize

func ignoringEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
