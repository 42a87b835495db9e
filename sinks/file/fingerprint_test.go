package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/rotatord/rotatord/sinks"
)

func TestFingerprint(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatEnv, FormatExoscaleTOML, FormatTemplate} {
		t.Run(format, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s := newSink(t, dir, format)
			c := cred("k", "EXO1", testSecret)

			if _, err := s.CurrentFingerprint(ctx, "k"); !errors.Is(err, sinks.ErrNotHeld) {
				t.Fatalf("CurrentFingerprint of a missing file = %v, want ErrNotHeld", err)
			}
			want, err := s.Fingerprint(c)
			if err != nil {
				t.Fatalf("Fingerprint: %v", err)
			}
			if again, _ := s.Fingerprint(c); again != want {
				t.Fatalf("Fingerprint not deterministic: %s, then %s", want, again)
			}
			if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
				t.Errorf("Fingerprint %q is not a hex SHA-256", want)
			}
			if err := s.Write(ctx, c); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := s.CurrentFingerprint(ctx, "k")
			if err != nil {
				t.Fatalf("CurrentFingerprint: %v", err)
			}
			if got != want {
				t.Errorf("CurrentFingerprint after Write = %s, want Fingerprint %s", got, want)
			}
			// Domain separation: not the bare digest of the file.
			content, err := os.ReadFile(filepath.Join(dir, "k.cred"))
			if err != nil {
				t.Fatal(err)
			}
			if bare := sha256.Sum256(content); got == hex.EncodeToString(bare[:]) {
				t.Error("fingerprint is the bare SHA-256 of the file")
			}

			// Another key, or only another secret: another fingerprint.
			for _, other := range []struct {
				what string
				c    sinks.Credential
			}{
				{"key id and secret", cred("k", "EXO2", "another-secret")},
				{"secret", cred("k", "EXO1", "another-secret")},
			} {
				f, err := s.Fingerprint(other.c)
				if err != nil {
					t.Fatal(err)
				}
				if f == want {
					t.Errorf("another %s has the same fingerprint", other.what)
				}
			}
			next := cred("k", "EXO2", "another-secret")
			if err := s.Write(ctx, next); err != nil {
				t.Fatal(err)
			}
			if cur, _ := s.CurrentFingerprint(ctx, "k"); cur == want {
				t.Error("CurrentFingerprint unchanged after writing another credential")
			}
		})
	}
}

// TestFingerprintStableAcrossRestart: the engine records a fingerprint and
// compares it after a restart, with the credential rebuilt from its state
// file: no monotonic clock reading, another time zone.
func TestFingerprintStableAcrossRestart(t *testing.T) {
	content := template.Must(template.New("content").Parse("{{.APIKey}} {{.APISecret}} {{.CreatedAt}} {{.CreatedAt.Unix}}"))
	s := newSink(t, t.TempDir(), FormatTemplate, func(o *Options) { o.Template = content })
	c := cred("k", "EXO1", testSecret)
	c.CreatedAt = time.Now() // with a monotonic reading
	restored := c
	var err error
	restored.CreatedAt, err = time.Parse(time.RFC3339Nano, c.CreatedAt.In(time.FixedZone("X", -7*3600)).Format(time.RFC3339Nano))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Fingerprint(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Fingerprint(restored)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("fingerprint changed with the credential's clock reading or zone: %s, then %s", a, b)
	}
}

func TestFingerprintErrors(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := newSink(t, dir, FormatEnv)
	var errs []error
	// Unrenderable (a control character in the secret).
	_, err := s.Fingerprint(cred("k", "EXO1", testSecret+"\n"))
	errs = append(errs, err)
	// A symlink is not followed, and is not "nothing held".
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(dir, "k.cred")); err != nil {
		t.Fatal(err)
	}
	_, err = s.CurrentFingerprint(ctx, "k")
	if errors.Is(err, sinks.ErrNotHeld) {
		t.Errorf("CurrentFingerprint of a symlink = %v, want an error other than ErrNotHeld", err)
	}
	errs = append(errs, err)
	// A path the template refuses.
	_, err = s.CurrentFingerprint(ctx, "../k")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		if strings.Contains(err.Error(), testSecret) {
			t.Errorf("error contains the secret: %v", err)
		}
	}
}
