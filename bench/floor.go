package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"github.com/exoscale/egoscale/v3/credentials"
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

// apiFloor is what the API calls of a rotation cost a client that does
// nothing else: the official SDK, with rotatord's requests in flight
// (workers making create, get and delete one after the other per key, as
// rotatord's rotation does), against a simulator with the same latency.
// Its CPU includes the kernel's share of each call on the loopback (a
// send runs the receiver's TCP input), as rotatord's does.
type apiFloor struct {
	n        int
	workers  int           // rotations at once
	cpu      time.Duration // the bench process's, over the n rotations
	wall     time.Duration
	latBound time.Duration // latency × (3 n / workers)
}

func (a apiFloor) perRotation() time.Duration { return a.cpu / time.Duration(a.n) }

func (a apiFloor) vsBound() float64 { return ratio(a.wall, a.latBound) }

// measureAPIFloor makes the three calls of a rotation for every key of a
// simulator seeded with n, with workers at once, and returns the CPU the
// bench process spent on them. The bench does nothing else meanwhile.
func measureAPIFloor(ctx context.Context, s *sim, n, workers int, latency time.Duration) (apiFloor, error) {
	client, err := v3.NewClient(
		credentials.NewStaticCredentials(s.Key, s.Secret),
		v3.ClientOptWithEndpoint(v3.Endpoint(s.Endpoint)),
		// A connection kept for every worker, as rotatord keeps one for
		// every request that may be in flight.
		v3.ClientOptWithHTTPClient(&http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}),
	)
	if err != nil {
		return apiFloor{}, err
	}
	list, err := client.ListAPIKeys(ctx)
	if err != nil {
		return apiFloor{}, fmt.Errorf("list: %w", err)
	}
	keys := make(chan v3.IAMAPIKey)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	c0, start := processCPU(), time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				created, err := client.CreateAPIKey(ctx, v3.CreateAPIKeyRequest{Name: k.Name, RoleID: k.RoleID})
				if err == nil {
					_, err = client.GetAPIKey(ctx, created.Key)
				}
				if err == nil {
					err = deleteKey(ctx, client, k.Key)
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", k.Name, err)
					for range keys { // let the feeder finish
					}
					return
				}
			}
		}()
	}
	rotated := 0
	for _, k := range list.APIKeys {
		if strings.HasPrefix(k.Name, keyPrefix) {
			keys <- k
			rotated++
		}
	}
	close(keys)
	wg.Wait()
	a := apiFloor{n: rotated, workers: workers, cpu: processCPU() - c0, wall: time.Since(start),
		latBound: time.Duration(float64(latency) * 3 * float64(rotated) / float64(workers))}
	close(errs)
	if err := <-errs; err != nil {
		return a, err
	}
	if rotated != n {
		return a, fmt.Errorf("rotated %d keys, want %d", rotated, n)
	}
	if live, _, err := s.liveManaged(); err != nil || live != n {
		return a, fmt.Errorf("%d managed keys alive after rotating %d (%v)", live, n, err)
	}
	return a, nil
}

// deleteKey deletes a key and waits for the operation, as rotatord does.
func deleteKey(ctx context.Context, client *v3.Client, id string) error {
	op, err := client.DeleteAPIKey(ctx, id)
	if err != nil {
		return err
	}
	if op.State != v3.OperationStateSuccess {
		if _, err := client.Wait(ctx, op, v3.OperationStateSuccess); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
	}
	return nil
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
