package daemon

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// HTTP/2 frame types and settings used by the raw client below (RFC 9113).
const (
	h2FrameData         = 0x0
	h2FrameHeaders      = 0x1
	h2FrameRSTStream    = 0x3
	h2FrameSettings     = 0x4
	h2FrameGoAway       = 0x7
	h2FlagAck           = 0x1
	h2FlagEndStream     = 0x1
	h2FlagEndHeaders    = 0x4
	h2SettingMaxStreams = 0x3
	h2SettingInitWindow = 0x4
)

// TestHTTP2StreamsPerConnectionAreBounded: with a TLS web config the port
// speaks HTTP/2, where one connection carries many requests at once. The
// connection limit bounds what whoever reaches the port can make rotatord
// hold only if each connection is bounded too: Go's default of 250
// streams let 64 connections run 16,000 handlers (a wrong password waits
// for bcrypt, a client that grants no flow-control window keeps a scrape's
// handler and its answer), which took the process from 22 MB to 260 MB,
// twice the shipped Kubernetes limit. The server must advertise a small
// stream limit and small receive windows, and refuse the streams over it.
func TestHTTP2StreamsPerConnectionAreBounded(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n",
		filepath.Base(certFile), filepath.Base(keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.runWeb(WebOptions{ConfigFile: webConfig})

	c, err := tls.Dial("tcp", e.listen, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Skipf("the server does not speak HTTP/2 (ALPN %q): nothing to bound", p)
	}
	// A safety net against a server that stops answering, not a
	// measurement: every frame below comes at once.
	c.SetDeadline(time.Now().Add(30 * time.Second))

	writeFrame := func(typ, flags byte, stream uint32, payload []byte) {
		t.Helper()
		var h [9]byte
		h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
		h[3], h[4] = typ, flags
		binary.BigEndian.PutUint32(h[5:], stream)
		if _, err := c.Write(append(h[:], payload...)); err != nil {
			t.Fatal(err)
		}
	}
	type frame struct {
		typ, flags byte
		stream     uint32
		payload    []byte
	}
	readFrame := func() frame {
		t.Helper()
		var h [9]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			t.Fatal(err)
		}
		f := frame{typ: h[3], flags: h[4], stream: binary.BigEndian.Uint32(h[5:]) & 0x7fffffff}
		f.payload = make([]byte, int(h[0])<<16|int(h[1])<<8|int(h[2]))
		if _, err := io.ReadFull(c, f.payload); err != nil {
			t.Fatal(err)
		}
		return f
	}

	// The preface, then a window of 0: the server cannot send any
	// answer's body, so each request it takes stays open.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	writeFrame(h2FrameSettings, 0, 0, []byte{0, h2SettingInitWindow, 0, 0, 0, 0})

	var settings map[uint16]uint32
	for settings == nil {
		f := readFrame()
		if f.typ == h2FrameSettings && f.flags&h2FlagAck == 0 {
			settings = map[uint16]uint32{}
			for p := f.payload; len(p) >= 6; p = p[6:] {
				settings[binary.BigEndian.Uint16(p)] = binary.BigEndian.Uint32(p[2:])
			}
		}
	}
	writeFrame(h2FrameSettings, h2FlagAck, 0, nil)
	if n, ok := settings[h2SettingMaxStreams]; !ok || n > maxHTTP2Streams {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want at most %d", n, ok, maxHTTP2Streams)
	}
	if n, ok := settings[h2SettingInitWindow]; ok && n > maxHTTP2Window {
		t.Errorf("SETTINGS_INITIAL_WINDOW_SIZE = %d: a client may make each request's body buffered up to that", n)
	}

	// HPACK literal fields without indexing, no Huffman: every length
	// here is under 127.
	var block []byte
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":path", "/metrics"}, {":authority", e.listen}} {
		block = append(block, 0, byte(len(f[0])))
		block = append(block, f[0]...)
		block = append(block, byte(len(f[1])))
		block = append(block, f[1]...)
	}
	const requests = 100
	for i := range requests {
		writeFrame(h2FrameHeaders, h2FlagEndStream|h2FlagEndHeaders, uint32(2*i+1), block)
	}
	answered, refused := 0, 0
	seen := map[uint32]bool{}
	for len(seen) < requests {
		f := readFrame()
		switch f.typ {
		case h2FrameHeaders, h2FrameRSTStream:
			if seen[f.stream] || f.stream == 0 {
				continue
			}
			seen[f.stream] = true
			if f.typ == h2FrameHeaders {
				answered++
			} else {
				refused++
			}
		case h2FrameData:
			t.Fatalf("DATA on stream %d although the client granted no window", f.stream)
		case h2FrameGoAway:
			t.Fatalf("GOAWAY after %d answered and %d refused of %d requests", answered, refused, requests)
		}
	}
	if answered > maxHTTP2Streams {
		t.Errorf("one connection got %d of %d requests served at once (%d refused), want at most %d", answered, requests, refused, maxHTTP2Streams)
	}
	if answered == 0 {
		t.Error("no request served")
	}
}
