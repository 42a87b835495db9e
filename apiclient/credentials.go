package apiclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/rotatord/rotatord/secret"
)

// Environment variables the SDK and the exo CLI read; rotatord reads the same.
const (
	EnvAPIKey    = "EXOSCALE_API_KEY"
	EnvAPISecret = "EXOSCALE_API_SECRET"
)

// Credentials is the API key rotatord authenticates with.
type Credentials struct {
	Key    string
	Secret secret.Value
}

// CredentialSource says where the credential comes from: a value, a file,
// or else the environment. A value and a file for the same part conflict.
type CredentialSource struct {
	Key        string
	KeyFile    string
	Secret     secret.Value
	SecretFile string
	// PairFile, when set, is one JSON file holding both, as rotatord
	// writes its own credential: {"api_key": "EXO...", "api_secret": "..."}
	// (other fields are ignored). It excludes the four others.
	PairFile string
}

// Resolve reads the credential. getenv is os.Getenv outside tests.
func (s CredentialSource) Resolve(getenv func(string) string) (Credentials, error) {
	if s.PairFile != "" {
		return readPairFile(s.PairFile)
	}
	key, err := pick("api_key", s.Key, s.KeyFile, EnvAPIKey, getenv)
	if err != nil {
		return Credentials{}, err
	}
	sec, err := pick("api_secret", s.Secret.Reveal(), s.SecretFile, EnvAPISecret, getenv)
	if err != nil {
		return Credentials{}, err
	}
	if !ValidKeyID(key) {
		// Never quote the value: a secret put where the key belongs (two
		// swapped files) would land in logs and error replies.
		return Credentials{}, fmt.Errorf("api_key: not an Exoscale API key (want EXO followed by hex digits; got %d characters)", len(key))
	}
	return Credentials{Key: key, Secret: secret.Value(sec)}, nil
}

func pick(field, value, file, env string, getenv func(string) string) (string, error) {
	switch {
	case value != "" && file != "":
		return "", fmt.Errorf("%s and %s_file are both set: choose one", field, field)
	case value != "":
		return value, nil
	case file != "":
		b, err := readCredentialFile(file)
		if err != nil {
			// The error names the path, never the content (nor a name
			// that looks like a secret pasted where the path belongs).
			return "", fmt.Errorf("%s_file: %w", field, secret.PathError(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file %q: empty", field, secret.ShownPath(file))
		}
		return v, nil
	}
	if v := strings.TrimSpace(getenv(env)); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s: not set (set it, %s_file, or %s)", field, field, env)
}

// ValidKeyID reports whether k looks like what the API issues: "EXO" and
// hex digits. Real keys have 24; the check stays loose on length so a
// future format still loads.
func ValidKeyID(k string) bool {
	if !strings.HasPrefix(k, "EXO") || len(k) < 4 {
		return false
	}
	for _, r := range k[3:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// readPairFile reads a credential file of key and secret together. Its
// errors name the path, never the content.
func readPairFile(path string) (Credentials, error) {
	b, err := readCredentialFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("credential_file: %w", secret.PathError(err))
	}
	var pair struct {
		Key    string `json:"api_key"`
		Secret string `json:"api_secret"`
	}
	if err := json.Unmarshal(b, &pair); err != nil {
		// The decoder's message may quote the content: say where only.
		return Credentials{}, fmt.Errorf("credential_file %q: not a JSON object with api_key and api_secret", secret.ShownPath(path))
	}
	if pair.Key == "" || pair.Secret == "" {
		return Credentials{}, fmt.Errorf("credential_file %q: api_key or api_secret missing", secret.ShownPath(path))
	}
	if !ValidKeyID(pair.Key) {
		return Credentials{}, fmt.Errorf("credential_file %q: api_key is not an Exoscale API key (want EXO followed by hex digits; got %d characters)", secret.ShownPath(path), len(pair.Key))
	}
	return Credentials{Key: pair.Key, Secret: secret.Value(pair.Secret)}, nil
}

// maxCredentialFile bounds what a credential file is read for: a key and
// its secret take a few hundred bytes.
const maxCredentialFile = 1 << 20

// readCredentialFile reads a credential file that must be a regular file
// (symlinks followed, as a Kubernetes Secret volume has them), through
// secret.ReadFile: opened without blocking, its type checked before any
// read (a named pipe planted at the path would hold the read until someone
// writes to it, a device would never end), and read bounded. Its errors
// name the path as secret.ShownPath shows it.
func readCredentialFile(path string) ([]byte, error) {
	b, err := secret.ReadFile(path, secret.FileOptions{Max: maxCredentialFile})
	var tooLarge *secret.TooLargeError
	if errors.As(err, &tooLarge) {
		return nil, &fs.PathError{Op: "read", Path: secret.ShownPath(path), Err: fmt.Errorf("larger than %d bytes: not a credential", maxCredentialFile)}
	}
	return b, err
}
