// Command buildinfo prints metrics.BuildInfo() as JSON. The metrics tests
// build it with a plain go build, to check what a binary built that way
// reports in rotatord_build_info (a test binary records no VCS
// information).
package main

import (
	"encoding/json"
	"os"

	"github.com/rotatord/rotatord/metrics"
)

func main() {
	if err := json.NewEncoder(os.Stdout).Encode(metrics.BuildInfo()); err != nil {
		os.Exit(1)
	}
}
