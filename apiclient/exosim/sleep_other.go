//go:build !linux

package exosim

import (
	"context"
	"errors"
	"time"
)

// sleepTimerFD has no timer file to wait on here: sleep falls back to
// sleepSpinning.
func sleepTimerFD(context.Context, time.Duration) (bool, error) {
	return false, errors.ErrUnsupported
}
