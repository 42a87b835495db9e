package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	v3 "github.com/exoscale/egoscale/v3"
	"github.com/exoscale/egoscale/v3/credentials"
)

// naiveRotate is the program an operator would write in an afternoon with
// the official SDK: list the keys, then one key at a time create its
// replacement, write the new credential to a file and delete the old key.
// No state, no read-back, no recovery: a crash between create and delete
// leaves two keys, and a failed write leaves a consumer with a revoked key.
// It returns the number of keys rotated.
func naiveRotate(ctx context.Context, endpoint, key, secret, outDir string) (int, error) {
	client, err := v3.NewClient(
		credentials.NewStaticCredentials(key, secret),
		v3.ClientOptWithEndpoint(v3.Endpoint(endpoint)),
		v3.ClientOptWithHTTPClient(&http.Client{Timeout: 60 * time.Second}),
	)
	if err != nil {
		return 0, err
	}
	list, err := client.ListAPIKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list: %w", err)
	}
	n := 0
	for _, k := range list.APIKeys {
		if !strings.HasPrefix(k.Name, keyPrefix) {
			continue
		}
		created, err := client.CreateAPIKey(ctx, v3.CreateAPIKeyRequest{Name: k.Name, RoleID: k.RoleID})
		if err != nil {
			return n, fmt.Errorf("create %s: %w", k.Name, err)
		}
		body, _ := json.Marshal(map[string]string{"api_key": created.Key, "api_secret": created.Secret, "name": created.Name})
		if err := os.WriteFile(filepath.Join(outDir, k.Name+".json"), body, 0o600); err != nil {
			return n, fmt.Errorf("write %s: %w", k.Name, err)
		}
		op, err := client.DeleteAPIKey(ctx, k.Key)
		if err != nil {
			return n, fmt.Errorf("delete %s: %w", k.Key, err)
		}
		if _, err := client.Wait(ctx, op, v3.OperationStateSuccess); err != nil {
			return n, fmt.Errorf("delete %s: %w", k.Key, err)
		}
		n++
	}
	return n, nil
}

// timeListing lists the keys with the official SDK, as naiveRotate does,
// times times, one after the other, and returns the median: what one
// listing costs a client that does nothing else.
func timeListing(ctx context.Context, endpoint, key, secret string, times int) (time.Duration, error) {
	list, err := newLister(ctx, endpoint, key, secret)
	if err != nil {
		return 0, err
	}
	var took []time.Duration
	for range times {
		d, err := list()
		if err != nil {
			return 0, err
		}
		took = append(took, d)
	}
	return median(took), nil
}

// newLister returns a function that lists the keys once with the official
// SDK, as naiveRotate does, always with the same client, and says how long
// the call took.
func newLister(ctx context.Context, endpoint, key, secret string) (func() (time.Duration, error), error) {
	client, err := v3.NewClient(
		credentials.NewStaticCredentials(key, secret),
		v3.ClientOptWithEndpoint(v3.Endpoint(endpoint)),
		v3.ClientOptWithHTTPClient(&http.Client{Timeout: 60 * time.Second}),
	)
	if err != nil {
		return nil, err
	}
	return func() (time.Duration, error) {
		start := time.Now()
		if _, err := client.ListAPIKeys(ctx); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}, nil
}
