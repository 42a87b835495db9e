package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// counterSum gathers reg and returns the sum of the counter name's series
// whose labels include every one of labels (nil: all its series), and
// whether there was any such series.
func counterSum(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (sum float64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
			found = true
		}
	}
	return sum, found
}
