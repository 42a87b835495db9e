package metrics

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
)

// A gzip answer to a scrape is one gzip member (RFC 1952) whose deflate
// stream (RFC 1951) is made of segments: the families gathered at the
// scrape, compressed then, and the per-name family, compressed once per
// change of its lines (deflatedBlock). Each segment but the last ends with
// a sync flush: an empty stored block that leaves the stream on a byte
// boundary, and no back-reference in a segment reaches before its start,
// since each is compressed from a fresh state. Segments can therefore be
// laid one after the other; the last one ends with the final block. The
// member's trailer is the CRC-32 and size of all the segments' text, the
// CRC worked out from each segment's own (crc32Combine). Any gzip reader
// reads it as one stream.

// flateLevel is the fastest level: the per-name lines repeat so much that
// it still shrinks a scrape about thirtyfold, at a third of the default
// level's CPU.
const flateLevel = flate.BestSpeed

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flateLevel)
	return w
}}

// deflatedBlock is text compressed as a segment: sync-flushed, not final.
type deflatedBlock struct {
	gen  uint64 // what the text was made from (keySeries.gen)
	data []byte
	crc  uint32 // of the text
	size int64  // of the text
}

// deflate compresses what write writes into a segment.
func deflate(gen uint64, write func(io.StringWriter) error) (*deflatedBlock, error) {
	var out bytes.Buffer
	fw := flatePool.Get().(*flate.Writer)
	defer func() { fw.Reset(nil); flatePool.Put(fw) }() // not the buffer
	fw.Reset(&out)
	cw := &crcWriter{w: fw}
	bw := bufio.NewWriterSize(cw, 32<<10)
	if err := write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := fw.Flush(); err != nil {
		return nil, err
	}
	return &deflatedBlock{gen: gen, data: bytes.Clone(out.Bytes()), crc: cw.crc, size: cw.size}, nil
}

// crcWriter counts and checksums what passes through it.
type crcWriter struct {
	w    io.Writer
	crc  uint32
	size int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:n])
	c.size += int64(n)
	return n, err
}

// splicedGzip writes one gzip member: what is written to it compressed as
// it comes, and deflated blocks laid in with splice. Close ends it.
type splicedGzip struct {
	w       io.Writer
	fw      *flate.Writer // the segment being written
	crc     uint32        // of all the text so far, spliced blocks included
	size    int64
	started bool // the header is out
}

func newSplicedGzip(w io.Writer) *splicedGzip {
	fw := flatePool.Get().(*flate.Writer)
	fw.Reset(w)
	return &splicedGzip{w: w, fw: fw}
}

// gzipHeader is a member's header: deflate, no flags, no time, no extra
// fields, an unknown system.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}

func (z *splicedGzip) header() error {
	if z.started {
		return nil
	}
	z.started = true
	_, err := z.w.Write(gzipHeader)
	return err
}

func (z *splicedGzip) Write(p []byte) (int, error) {
	if err := z.header(); err != nil {
		return 0, err
	}
	n, err := z.fw.Write(p)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p[:n])
	z.size += int64(n)
	return n, err
}

// splice ends the segment being written and lays b after it. What is
// written next starts a fresh segment: it refers to nothing before.
func (z *splicedGzip) splice(b *deflatedBlock) error {
	if err := z.header(); err != nil {
		return err
	}
	if err := z.fw.Flush(); err != nil {
		return err
	}
	if _, err := z.w.Write(b.data); err != nil {
		return err
	}
	z.crc = crc32Combine(z.crc, b.crc, b.size)
	z.size += b.size
	z.fw.Reset(z.w)
	return nil
}

// Close ends the last segment with the final block, writes the trailer
// and gives the compressor back. z is not used after.
func (z *splicedGzip) Close() error {
	defer func() { z.fw.Reset(nil); flatePool.Put(z.fw) }() // not the answer's writer
	if err := z.header(); err != nil {
		return err
	}
	if err := z.fw.Close(); err != nil {
		return err
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(z.size)) // ISIZE is the size modulo 2^32
	_, err := z.w.Write(trailer[:])
	return err
}

// crc32Combine returns the CRC-32 (IEEE) of A followed by B from A's CRC,
// B's CRC and B's length, without B: appending len2 zero bits to A is a
// linear map over GF(2), applied by squaring the one-zero-bit operator
// (zlib's crc32_combine; the standard library has no such function).
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1
	}
	var even, odd [32]uint32 // operators for 2^k zero bits
	odd[0] = crc32.IEEE      // one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	// Apply len2 zero bytes, one bit of len2 at a time: the first square
	// is the operator for one zero byte (eight bits).
	for {
		gf2Square(&even, &odd)
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
