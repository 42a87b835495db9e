// Package deploy holds no code. Its directory holds rotatord's deployment
// material (systemd unit, container image, Kubernetes manifests,
// Prometheus alerts, Grafana dashboard), and its tests check that material:
// that every file parses, that the settings that matter are there, that
// the pieces agree with each other and with rotatord itself (its policy
// file parser, its metrics), and, when the tools are present, what
// promtool and systemd-analyze say.
package deploy
