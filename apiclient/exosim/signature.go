package exosim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the Authorization scheme of every signed Exoscale request.
const AuthScheme = "EXO2-HMAC-SHA256"

// StringToSign builds the message an EXO2-HMAC-SHA256 signature covers: five
// lines joined by "\n" with no trailing newline. The fourth line (signed
// header values) is always empty: neither the SDK nor the API signs headers.
func StringToSign(method, escapedPath, body, queryValues string, expires int64) string {
	return strings.Join([]string{
		method + " " + escapedPath,
		body,
		queryValues,
		"",
		strconv.FormatInt(expires, 10),
	}, "\n")
}

// Sign returns the base64 (standard, padded) HMAC-SHA256 of the message
// StringToSign builds, keyed with the API secret. It is a pure function so
// that the doc's test vectors can pin it.
func Sign(method, escapedPath, body, queryValues string, expires int64, secret string) string {
	return base64.StdEncoding.EncodeToString(signRaw(method, escapedPath, body, queryValues, expires, secret))
}

func signRaw(method, escapedPath, body, queryValues string, expires int64, secret string) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(StringToSign(method, escapedPath, body, queryValues, expires)))
	return mac.Sum(nil)
}

// AuthorizationHeader formats the Authorization header value the way the SDK
// does: credential, then signed-query-args when there are any, expires and
// signature, comma-separated without spaces.
func AuthorizationHeader(key string, signedQueryArgs []string, expires int64, signature string) string {
	parts := []string{AuthScheme + " credential=" + key}
	if len(signedQueryArgs) > 0 {
		parts = append(parts, "signed-query-args="+strings.Join(signedQueryArgs, ";"))
	}
	parts = append(parts, "expires="+strconv.FormatInt(expires, 10), "signature="+signature)
	return strings.Join(parts, ",")
}

// SignRequest signs req with cred exactly like the official SDK, with the
// given expiry. Tests use it to build requests by hand (and then tamper with
// them). It reads and restores req.Body.
func SignRequest(req *http.Request, cred Credential, expires time.Time) error {
	body := ""
	if req.Body != nil && req.Body != http.NoBody {
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return fmt.Errorf("read request body: %w", err)
		}
		if err := req.Body.Close(); err != nil {
			return fmt.Errorf("close request body: %w", err)
		}
		body = string(data)
		req.Body = io.NopCloser(bytes.NewReader(data))
	}
	names, values := signedQuery(req.URL.Query())
	exp := expires.Unix()
	sig := Sign(req.Method, req.URL.EscapedPath(), body, values, exp, cred.Secret)
	req.Header.Set("Authorization", AuthorizationHeader(cred.Key, names, exp, sig))
	return nil
}

// signedQuery returns the sorted names of the single-valued query parameters
// and their values concatenated in that order: multi-valued parameters are
// not signed, by the SDK's convention.
func signedQuery(q map[string][]string) (names []string, values string) {
	for name, vs := range q {
		if len(vs) == 1 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		b.WriteString(q[name][0])
	}
	return names, b.String()
}

// authorization is a parsed EXO2-HMAC-SHA256 Authorization header.
type authorization struct {
	credential      string
	signedQueryArgs []string
	expires         int64
	signature       []byte
}

var errMalformedAuthorization = errors.New("malformed authorization header")

// parseAuthorization parses the header strictly: the scheme followed by one
// space, then comma-separated name=value pairs without spaces. Order is not
// enforced (the SDK's order is fixed, but the server need not care); unknown
// or repeated names, and missing required ones, are refused.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, AuthScheme+" ")
	if !ok {
		return a, fmt.Errorf("%w: scheme is not %s", errMalformedAuthorization, AuthScheme)
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		name, value, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return a, fmt.Errorf("%w: pair %q has no name=value", errMalformedAuthorization, part)
		}
		if seen[name] {
			return a, fmt.Errorf("%w: %s repeated", errMalformedAuthorization, name)
		}
		seen[name] = true
		switch name {
		case "credential":
			a.credential = value
		case "signed-query-args":
			if value != "" {
				a.signedQueryArgs = strings.Split(value, ";")
			}
		case "expires":
			exp, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return a, fmt.Errorf("%w: expires %q is not a Unix time", errMalformedAuthorization, value)
			}
			a.expires = exp
		case "signature":
			sig, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return a, fmt.Errorf("%w: signature is not base64", errMalformedAuthorization)
			}
			a.signature = sig
		default:
			return a, fmt.Errorf("%w: unknown field %q", errMalformedAuthorization, name)
		}
	}
	for _, required := range []string{"credential", "expires", "signature"} {
		if !seen[required] || (required == "credential" && a.credential == "") {
			return a, fmt.Errorf("%w: %s missing", errMalformedAuthorization, required)
		}
	}
	return a, nil
}
