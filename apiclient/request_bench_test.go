package apiclient

import (
	"context"
	"testing"
)

// BenchmarkGetKey: one request through the client, the SDK and the
// simulator, four at a time, as a pass's requests go. allocs/op counts
// what the client and net/http set up per request.
func BenchmarkGetKey(b *testing.B) {
	f := newFixture(b, func(c *Config) { c.RateLimit, c.Burst = 1e6, 1e6 })
	keys, err := f.client.ListKeys(context.Background())
	if err != nil || len(keys) == 0 {
		b.Fatalf("list: %v", err)
	}
	id := keys[0].ID
	b.SetParallelism(2) // 4 goroutines on 2 processors
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.client.GetKey(context.Background(), id); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
