package main

import (
	"io"

	"go.uber.org/zap"
)

// common is the flag set before kingpin, for tests written against it
// (issue 11's review tests): it builds the same logger.
type common struct {
	config, logFormat, logLevel string
}

func (c *common) logger(w io.Writer) (*zap.Logger, error) {
	f := logFlags{level: c.logLevel, format: c.logFormat}
	return f.logger(w)
}
