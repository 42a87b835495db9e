package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/rotatord/rotatord/sinks"
)

var _ sinks.Fingerprinter = (*Sink)(nil)

// fingerprintDomain is hashed before the content, so that a fingerprint is
// not the plain SHA-256 of a file that holds a secret, nor equal to a digest
// of the same bytes made for another purpose.
const fingerprintDomain = "rotatord file sink content v1\x00"

// fingerprint is the hex SHA-256 of the domain and content.
func fingerprint(content []byte) string {
	h := sha256.New()
	h.Write([]byte(fingerprintDomain))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// Fingerprint implements sinks.Fingerprinter: the digest of exactly what
// Write(c) writes. Rendering is deterministic (what Verify relies on too),
// and takes CreatedAt in UTC without its monotonic clock reading, so a
// credential rebuilt from the state after a restart has the same
// fingerprint. The template format needs it, as it cannot be read back; the
// other formats give the same guarantee. The error never holds the secret.
func (s *Sink) Fingerprint(c sinks.Credential) (string, error) {
	content, err := render(s.format, s.tmpl, c)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", s.Target(c.Name), err)
	}
	defer clear(content)
	return fingerprint(content), nil
}

// CurrentFingerprint implements sinks.Fingerprinter: the digest of the
// file's content now, read like Verify reads it (under the path's lock, a
// symlink refused), or an error matching sinks.ErrNotHeld when there is
// no file. The mode and owner are not part of it.
func (s *Sink) CurrentFingerprint(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	path, err := s.target(name)
	if err != nil {
		return "", err
	}
	data, _, err := s.readFile(path)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", path, err)
	}
	defer clear(data)
	return fingerprint(data), nil
}
