package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// logfmtEncoder writes each entry as a logfmt line (key=value pairs, as
// the Prometheus tools' --log.format logfmt): it encodes the entry with
// zap's JSON encoder, then rewrites that object's members in their order.
// A nested object or list is its compact JSON, quoted.
type logfmtEncoder struct {
	zapcore.Encoder // the JSON encoder, which also accumulates With fields
}

var logfmtPool = buffer.NewPool()

func newLogfmtEncoder(cfg zapcore.EncoderConfig) zapcore.Encoder {
	cfg.LineEnding = "\n"
	return logfmtEncoder{zapcore.NewJSONEncoder(cfg)}
}

func (e logfmtEncoder) Clone() zapcore.Encoder { return logfmtEncoder{e.Encoder.Clone()} }

func (e logfmtEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	js, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	defer js.Free()
	out := logfmtPool.Get()
	dec := json.NewDecoder(bytes.NewReader(js.Bytes()))
	if _, err := dec.Token(); err != nil { // {
		out.Free()
		return nil, err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			out.Free()
			return nil, err
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			out.Free()
			return nil, err
		}
		if out.Len() > 0 {
			out.AppendByte(' ')
		}
		out.AppendString(logfmtKey(key))
		out.AppendByte('=')
		out.AppendString(logfmtValue(raw))
	}
	out.AppendByte('\n')
	return out, nil
}

// logfmtKey keeps a key's letters, digits and _.-/; anything else
// becomes _.
func logfmtKey(k string) string {
	if k == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r > ' ' && r != '=' && r != '"' && r < unicode.MaxASCII {
			return r
		}
		return '_'
	}, k)
}

// logfmtValue writes a JSON value as a logfmt value: a string as itself,
// quoted when empty or holding a space, '=', '"' or what is not printable;
// a number, true, false or null as written; an object or a list as its
// compact JSON, quoted.
func logfmtValue(raw json.RawMessage) string {
	var s string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw)
		}
	case len(raw) > 0 && (raw[0] == '{' || raw[0] == '['):
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return strconv.Quote(string(raw))
		}
		return strconv.Quote(b.String())
	default:
		return string(raw)
	}
	if s == "" || strings.ContainsAny(s, " =\"\\") || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}
