package schema

import (
	"time"

	"github.com/prometheus/common/model"
)

// modelDuration writes d in Prometheus's syntax ("30d", "1h").
func modelDuration(d time.Duration) string { return model.Duration(d).String() }
