package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// floor is the least CPU that making one rotation durable costs on the
// disk the bench works on, measured with plain system calls: a file sink
// replaces its file durably (a new file written and synced, renamed over
// the old one, its directory synced), and the journal syncs at least one
// log append. On a virtual disk these system calls cost far more CPU than
// on bare metal (exits to the hypervisor), so CPU per rotation is only
// comparable with the floor measured in the same run.
type floor struct {
	replace time.Duration // one durable file replacement
	sync    time.Duration // one fdatasync of a small append
}

func (f floor) perRotation() time.Duration { return f.replace + f.sync }

// measureFloor times n durable replacements and n synced appends in dir,
// in CPU time of the calling thread (user + system).
func measureFloor(dir string, n int) (floor, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return floor{}, err
	}
	defer os.RemoveAll(dir)
	content := make([]byte, 300) // about a credential file
	d, err := os.Open(dir)
	if err != nil {
		return floor{}, err
	}
	defer d.Close()

	var f floor
	c0 := threadCPU()
	for i := range n {
		tmp, target := filepath.Join(dir, fmt.Sprintf("t%d", i%16)), filepath.Join(dir, fmt.Sprintf("f%d", i%16))
		g, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return floor{}, err
		}
		_, err = g.Write(content)
		if err == nil {
			err = g.Sync()
		}
		if cerr := g.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, target)
		}
		if err == nil {
			err = d.Sync()
		}
		if err != nil {
			return floor{}, err
		}
	}
	f.replace = (threadCPU() - c0) / time.Duration(n)

	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return floor{}, err
	}
	defer log.Close()
	c0 = threadCPU()
	for range n {
		if _, err := log.Write(content[:200]); err != nil {
			return floor{}, err
		}
		if err := syscall.Fdatasync(int(log.Fd())); err != nil {
			return floor{}, err
		}
	}
	f.sync = (threadCPU() - c0) / time.Duration(n)
	return f, nil
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
