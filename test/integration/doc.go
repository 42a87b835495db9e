// Package integration holds end-to-end tests that build and run the real
// rotatord and exosim binaries as separate processes: exosim serves a
// simulated Exoscale IAM API (and its /_sim/ inspection and fault
// endpoints), rotatord runs `once`, `plan`, `validate` and `run` against it
// with policy files written by each test, and the tests judge the outcome
// only from the outside: the simulator's keys and calls, the sink files,
// the state directory, the process's logs, exit codes and HTTP endpoints.
//
// The tests are skipped with -short. Built with -race, the test binary
// also builds both binaries with the race detector, and any data race they
// report fails the test that ran them.
package integration
