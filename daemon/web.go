package daemon

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/rotatord/rotatord/config"
	"github.com/rotatord/rotatord/secret"
)

// Defaults of the HTTP server (metrics, health, reload). Its clients are a
// Prometheus or two scraping every few tens of seconds, the kubelet's
// probes and an operator's curl: a few connections, small requests, small
// answers. The limits bound what anyone who reaches the port can make the
// process hold: about 20 kB per open connection, so at most about 1.3 MB
// for DefaultMaxConnections (6,000 idle keep-alive connections used to take
// the process from 20 MB to 132 MB).
const (
	// DefaultReadHeaderTimeout bounds the wait for a request's headers
	// (and the TLS handshake).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds the reading of a whole request.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of the answer: a scrape, or a reload (which may wait for the
	// old Vault sinks to revoke their tokens).
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection that has carried
	// no request for this long. Prometheus reconnects at the next scrape
	// when its interval is longer, which costs little.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxConnections is how many connections are served at once.
	// When all are open, a new one takes the place of the connection that
	// has sent nothing for longest (if for more than evictAfter), else it
	// waits in the kernel's accept queue until one closes: idle
	// connections cannot starve the probes.
	DefaultMaxConnections = 64
	// evictAfter is how long a connection must have sent nothing to be
	// closed for a new one when every place is taken.
	evictAfter = time.Second
	// evictSlowAfter is how long, when every place is taken and none is
	// quiet, a connection may wait for a request's headers it has not
	// sent whole before it is closed for a new one: a client sends them
	// in one go, within milliseconds of connecting (TLS handshake
	// included); the new ones wait in the accept queue, which drains at
	// MaxConnections per evictSlowAfter against clients trickling theirs.
	evictSlowAfter = 200 * time.Millisecond
	// maxHTTP2Streams is how many requests one HTTP/2 connection (TLS
	// only) carries at once, the others refused (a Go client, Prometheus,
	// waits for a free one), and maxHTTP2Window the flow-control window
	// for what a client sends, per connection and per request (HTTP/2's
	// least for a connection; no endpoint reads a body).
	maxHTTP2Streams = 4
	maxHTTP2Window  = 65535
	// maxRequestsInFlight is how many requests are handled at once,
	// basic auth's check included: the others wait for a place while
	// their client is there. The toolkit checks a new password with
	// bcrypt one request at a time, whether or not its client is still
	// there; without this bound, clients sending wrong passwords and
	// hanging up queued handlers without end (each closed connection
	// freed its place for the next).
	maxRequestsInFlight = 16
	// maxProbesInFlight is how many requests for the health endpoints
	// are handled at once, beside maxRequestsInFlight, basic auth's check
	// included.
	maxProbesInFlight = 4
	// webShutdownGrace is how long a stop waits for the requests in
	// flight of a server before it lets them be.
	webShutdownGrace = 5 * time.Second
)

// WebOptions configure the HTTP server. Zero values take the defaults.
type WebOptions struct {
	// ConfigFile is an exporter-toolkit web configuration file (TLS,
	// basic auth: the --web.config.file of Prometheus exporters); empty:
	// plain HTTP without authentication.
	ConfigFile string
	// EnableLifecycle serves POST and PUT /-/reload (Prometheus's
	// --web.enable-lifecycle); without it they answer 403.
	EnableLifecycle bool

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxConnections    int

	// listener, when set by a test, wraps the listener inside the
	// connection limit.
	listener func(net.Listener) net.Listener
	// shutdownGrace, when set by a test, replaces webShutdownGrace.
	shutdownGrace time.Duration
}

func (o WebOptions) withDefaults() WebOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.shutdownGrace, webShutdownGrace)
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	return o
}

// ValidateWebConfig checks a web configuration file (its YAML, users'
// bcrypt hashes, certificate and key), as the server will read it.
func ValidateWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := checkWebConfigFiles(path); err != nil {
		return err
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("web config file %s: %w", secret.ShownPath(path), webConfigError(path, err))
	}
	return nil
}

// unknownGoField matches the YAML library's message for an unknown field,
// which names the toolkit's Go type where the operator wrote a section.
var unknownGoField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// plainWord is a user name the error may write as it is.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// webConfigSections names the YAML section each of the toolkit's types
// reads.
var webConfigSections = map[string]string{
	"web.Config":     "at the top level",
	"web.TLSConfig":  "in tls_server_config",
	"web.HTTPConfig": "in http_server_config",
}

// webConfigError words the toolkit's error in the file's terms: the
// section of an unknown field, the user whose hash bcrypt refused (its
// message names none). It never quotes a hash that is not one: that is
// likely the password itself.
func webConfigError(path string, err error) error {
	if isBcryptError(err) {
		// Not bcrypt's message: for a value that does not start with '$'
		// it quotes its first character, of what is likely the password.
		const how = "not a bcrypt hash: write the hash of the password (htpasswd -nBC 10 \"\" | tr -d ':'), never the password"
		if user, hash := userWithoutBcryptHash(path); user != "" {
			if i := strings.IndexFunc(user, userPasswordSeparator); i > 0 && hash == "" {
				// htpasswd's "user:password" written as it is, or the
				// two apart by a space: a user with no hash whose name
				// holds the password. Named as far as the separator.
				sep, _ := utf8.DecodeRuneInString(user[i:])
				return fmt.Errorf("basic_auth_users: the user %q has no hash, and what follows %q in its name (not shown) may be the password: write the user, ': ' and the hash of the password (htpasswd -nBC 10 \"\" | tr -d ':'), never the password", user[:i], sep)
			}
			if plainWord.MatchString(user) {
				return fmt.Errorf("basic_auth_users.%s: %s", user, how)
			}
			// Quoted: a newline or an escape sequence would forge a
			// line of a log or a terminal, a dot read as a nested field.
			return fmt.Errorf("basic_auth_users[%q]: %s", user, how)
		}
		return errors.New("basic_auth_users: " + how)
	}
	msg := unknownGoField.ReplaceAllStringFunc(withoutYAMLValues(err.Error()), func(m string) string {
		sub := unknownGoField.FindStringSubmatch(m)
		where, ok := webConfigSections[sub[2]]
		if !ok {
			where = "in its section"
		}
		return fmt.Sprintf("unknown field %q %s", sub[1], where)
	})
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// isBcryptError reports whether err is bcrypt's (the toolkit returns
// bcrypt.Cost's error as it is), not one that only says "bcrypt" (an
// unknown field of that name, a cert_file under a bcrypt/ directory).
func isBcryptError(err error) bool {
	var (
		prefix  bcrypt.InvalidHashPrefixError
		cost    bcrypt.InvalidCostError
		version bcrypt.HashVersionTooNewError
	)
	return errors.Is(err, bcrypt.ErrHashTooShort) || errors.As(err, &prefix) || errors.As(err, &cost) || errors.As(err, &version) ||
		// Any other of bcrypt's, whose message may quote the hash too.
		strings.Contains(err.Error(), "crypto/bcrypt: ")
}

// userWithoutBcryptHash names the first user (in order of name) of the
// web configuration file's basic_auth_users whose hash is not a bcrypt
// hash, with that hash; "" when every one is, or the file does not parse.
func userWithoutBcryptHash(path string) (user, hash string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	var c struct {
		Users map[string]string `yaml:"basic_auth_users"`
	}
	if yaml.Unmarshal(b, &c) != nil {
		return "", ""
	}
	for _, u := range slices.Sorted(maps.Keys(c.Users)) {
		if _, err := bcrypt.Cost([]byte(c.Users[u])); err != nil {
			return u, c.Users[u]
		}
	}
	return "", ""
}

// userPasswordSeparator reports whether r may stand between a user name
// and a password written after it: htpasswd's ':', or a space.
func userPasswordSeparator(r rune) bool {
	return r == ':' || unicode.IsSpace(r)
}

// checkWebConfigFiles refuses a web configuration file, or a TLS file it
// names (cert_file, key_file, client_ca_file), that is not a regular file
// (a named pipe, a device, a directory), opening each without blocking
// (secret.OpenFile): the exporter toolkit reads them with blocking opens,
// at the start and at each connection, and a named pipe planted at one
// held the start. It also refuses any of them every user may write
// (unless on a read-only mount), and the file in a directory every user
// may write without the sticky bit (config.CheckReplaceable). A named file that cannot be opened is
// left to the toolkit, which says why.
func checkWebConfigFiles(path string) error {
	if path == "" {
		return nil
	}
	// One every user may write would let anyone on the host remove the
	// basic auth in front of /metrics and /-/reload, as the policy file
	// decides where secrets go: refused the same way (not on a read-only
	// mount, where nobody may write it). One open checks both its type
	// and its mode: a named pipe swapped in between two opens is refused
	// too.
	f, _, err := secret.OpenFile(path, secret.FileOptions{Forbid: 0o002})
	if err != nil {
		return fmt.Errorf("web config file %s: %w", secret.ShownPath(path), secret.Cause(err))
	}
	f.Close()
	// And, as the policy file, one in a directory every user may write
	// without the sticky bit: anyone could replace it there.
	if err := config.CheckReplaceable(path); err != nil {
		return fmt.Errorf("web config file %s: %w", secret.ShownPath(path), secret.Cause(err))
	}
	// So do the TLS files it names: a client_ca_file anyone may write
	// lets anyone add a CA and pass client certificate auth; a cert_file
	// or key_file, put a certificate of their own in front.
	for _, tf := range webConfigFiles(path) {
		var nr *secret.NotRegularError
		var me *secret.ModeError
		f, _, err := secret.OpenFile(tf.path, secret.FileOptions{Forbid: 0o002})
		switch {
		case errors.As(err, &nr):
			return fmt.Errorf("web config file %s: %s %s: %w", secret.ShownPath(path), tf.field, secret.ShownPath(tf.path), nr)
		case errors.As(err, &me):
			return fmt.Errorf("web config file %s: %s %s: %w", secret.ShownPath(path), tf.field, secret.ShownPath(tf.path), me)
		case err == nil:
			f.Close()
		}
	}
	return nil
}

// webServer serves the daemon's handler on a listener, with the limits and
// the TLS and basic auth of the web configuration file.
type webServer struct {
	srv   *http.Server
	ln    net.Listener
	file  string
	log   *slog.Logger
	grace time.Duration // of shutdown
}

// newWebServer wraps ln (already listening) into a server of app (the
// daemon's Handler). The web configuration file is read again at each TLS
// handshake and request, like every Prometheus exporter does: a new
// certificate or password needs no restart.
func (d *Daemon) newWebServer(ln net.Listener, app http.Handler) *webServer {
	o := d.opts.Web.withDefaults()
	log := d.log.Named("http")
	// The bound of the requests in flight must hold the toolkit's basic
	// auth too, which web.Serve wraps around srv.Handler just before it
	// serves: it is put around that at the first connection, in the
	// accept loop, before any request is served.
	var (
		srv   *http.Server
		limit sync.Once
	)
	srv = &http.Server{
		Handler:           app,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		// Over TLS the port speaks HTTP/2, where one connection carries
		// many requests: the connection limit bounds memory only if each
		// connection is bounded too (Go's default, 250 requests and a
		// 1 MiB window each, let 64 connections run 16,000 handlers).
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          maxHTTP2Streams,
			MaxReceiveBufferPerConnection: maxHTTP2Window,
			MaxReceiveBufferPerStream:     maxHTTP2Window,
		},
		// The request's connection, for holdConn.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			limit.Do(func() {
				srv.Handler = limitInFlight(refuseUnsafeWebConfig(srv.Handler, app, o.ConfigFile, log), maxRequestsInFlight)
			})
			return context.WithValue(ctx, connKey{}, c)
		},
		// Failed TLS handshakes (scanners, plain HTTP to the TLS port)
		// and the like: worth a line, not an alarm.
		ErrorLog: webErrorLog(log),
	}
	if o.listener != nil {
		ln = o.listener(ln)
	}
	return &webServer{
		srv:   srv,
		ln:    newEvictingListener(ln, o.MaxConnections, evictAfter, evictSlowAfter),
		file:  o.ConfigFile,
		log:   slog.New(zapHandler{log: log}),
		grace: o.shutdownGrace,
	}
}

func (w *webServer) serve() error {
	file := w.file
	err := web.Serve(w.ln, w.srv, &web.FlagConfig{WebConfigFile: &file}, w.log)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown stops the server: it waits up to its grace for the requests in
// flight to end.
func (w *webServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), w.grace)
	defer cancel()
	_ = w.srv.Shutdown(ctx)
	_ = w.ln.Close() // when Serve failed before it took the listener
}

// refuseUnsafeWebConfig answers 500, before h (the toolkit's TLS and
// basic auth, which read the web configuration file again at each
// request) sees the request, while the file or a TLS file it names is one
// checkWebConfigFiles refuses: one made writable by every user after the
// start would otherwise let anyone remove the basic auth at once, whatever
// a reload reports. Logged once each time it becomes refused.
//
// The health endpoints are served all the same, by app (the daemon's own
// handler), not through h: what such a file says is what anyone may have
// written, and the toolkit would apply it to them too (users of the
// writer's own would fail the probes; a bcrypt cost of 31 would hold a
// probe, its place and the toolkit's one bcrypt lock for a day).
func refuseUnsafeWebConfig(h, app http.Handler, path string, log *zap.Logger) http.Handler {
	if path == "" {
		return h
	}
	var refused atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkWebConfigFiles(path); err != nil {
			if !refused.Swap(true) {
				log.Error("web config file refused: serving nothing but the health endpoints until it is fixed", zap.Error(err))
			}
			if isProbe(r) {
				// The health endpoints tell nothing. Failing them
				// would have a kubelet restart rotatord into a start
				// that refuses the same file, rotations stopped;
				// /metrics failing shows the scrape target down
				// already.
				app.ServeHTTP(w, r)
				return
			}
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		if refused.Swap(false) {
			log.Info("web config file accepted again")
		}
		h.ServeHTTP(w, r)
	})
}

// limitInFlight serves at most n requests of h at once. A request waits
// for a place as long as its client is there: one that hung up (its
// connection closed, its HTTP/2 stream reset) leaves at once. A handler
// that waits on purpose (a reload waiting for the pass in flight) gives
// its place back with leaveInFlight.
//
// The health endpoints have places of their own (maxProbesInFlight):
// scrapes that take long (a slow gather, a client that does not read its
// answer, up to the write timeout) would otherwise keep the kubelet's
// liveness probe waiting past its timeout, and a pod restarted in the
// middle of a pass.
func limitInFlight(h http.Handler, n int) http.Handler {
	main := make(chan struct{}, n)
	probes := make(chan struct{}, maxProbesInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer startRequest(r)()
		places := main
		if isProbe(r) {
			places = probes
		}
		select {
		case places <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		var once sync.Once
		leave := func() { once.Do(func() { <-places }) }
		defer leave()
		if r.Context().Err() != nil {
			return // left while it waited: nobody to answer
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), inFlightKey{}, leave)))
	})
}

// isProbe reports whether r asks for a health endpoint (newHandler's):
// cheap, answered at once.
func isProbe(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/-/healthy", "/-/ready":
		return true
	}
	return false
}

// inFlightKey is the request context's key to its leave function.
type inFlightKey struct{}

// leaveInFlight gives the request's place among those in flight back; a
// no-op for a request limitInFlight did not count.
func leaveInFlight(r *http.Request) {
	if leave, ok := r.Context().Value(inFlightKey{}).(func()); ok {
		leave()
	}
}

// zapHandler passes the exporter toolkit's slog records to zap.
type zapHandler struct {
	log    *zap.Logger
	prefix string // of attribute keys, from groups
}

func (h zapHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

func (h zapHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, h.field(a))
		return true
	})
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h zapHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, 0, len(attrs))
	for _, a := range attrs {
		fields = append(fields, h.field(a))
	}
	return zapHandler{log: h.log.With(fields...), prefix: h.prefix}
}

func (h zapHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return zapHandler{log: h.log, prefix: h.prefix + name + "."}
}

// field passes a as it is, but for a string without the values the YAML
// library quotes: the toolkit logs its error at each request whose web
// configuration file does not parse (withoutYAMLValues).
func (h zapHandler) field(a slog.Attr) zap.Field {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindString {
		return zap.String(h.prefix+a.Key, withoutYAMLValues(v.String()))
	}
	return zap.Any(h.prefix+a.Key, v.Any())
}

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	default:
		return zapcore.DebugLevel
	}
}

// webErrorLog is the server's ErrorLog (failed TLS handshakes and the
// like), into log, without the values the YAML library quotes: a
// handshake reads the web configuration file again, and its error is
// that library's.
func webErrorLog(log *zap.Logger) *stdlog.Logger {
	return stdlog.New(errorLogWriter{log.WithOptions(zap.AddCallerSkip(3))}, "", 0)
}

type errorLogWriter struct{ log *zap.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Info(withoutYAMLValues(strings.TrimSuffix(string(p), "\n")))
	return len(p), nil
}

// yamlValue matches a value the YAML library (the toolkit's, yaml.v2)
// quotes in a type error, "cannot unmarshal !!str `hunter2...` into
// map[string]config.Secret": whole up to 10 bytes, its first 7 and "..."
// beyond. Greedy: the value itself may hold "` into ".
var yamlValue = regexp.MustCompile("(cannot unmarshal \\S+) `(?s:.{0,10})` into ")

// yamlAlias matches the YAML library's message for an alias it has no
// anchor for, which quotes the alias whole: a password written unquoted
// after a user name, starting with '*' ("prometheus: *hunter2"), is one.
var yamlAlias = regexp.MustCompile(`unknown anchor '(?s:.*?)' referenced`)

// yamlTagged matches its message for a value that does not decode as the
// type its tag names ("prometheus: !!int hunter2"), which quotes the value
// whole. Greedy, as yamlValue.
var yamlTagged = regexp.MustCompile("(cannot decode \\S+) `(?s:.*)` (as a )")

// withoutYAMLValues drops the values yamlValue, yamlAlias and yamlTagged
// match: such a value may be a password written where the map of users
// is wanted ("basic_auth_users: hunter2"), or unquoted where YAML reads
// it as something else than a string.
func withoutYAMLValues(msg string) string {
	msg = yamlValue.ReplaceAllString(msg, "$1 into ")
	msg = yamlAlias.ReplaceAllLiteralString(msg, "unknown anchor referenced (a value starting with '*' is an alias: quote it)")
	return yamlTagged.ReplaceAllString(msg, "$1 $2")
}
