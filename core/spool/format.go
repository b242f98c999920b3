package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// On-disk format.
//
// A segment file (000000000001.spool, …) is a sequence of frames and
// nothing else:
//
//	frame   = length u32 LE | crc u32 LE | payload
//	payload = uvarint(len(key)) | key | data
//	crc     = CRC-32C (Castagnoli) of the 4 length bytes followed by payload
//
// The length counts the payload only, so a frame takes 8+length bytes. A
// frame whose length is 0 or above MaxRecordSize, whose bytes run past the
// end of the file, or whose checksum does not match ends the valid part of
// the segment: a crash can only tear the tail, because every acknowledged
// frame was fsynced before any later frame was written.
//
// The cursor file holds where Replay stopped:
//
//	"DVCC" | segment id u64 LE | offset u64 LE | crc u32 LE (CRC-32C of the first 20 bytes)
//
// Every segment with a smaller id is done, and so is the part of that
// segment before the offset. It is replaced atomically (write, fsync,
// rename, fsync directory).

const (
	headerSize = 8
	// MaxRecordSize bounds one record's encoded payload (key, data and a
	// few bytes of framing). A message from any channel is far smaller.
	MaxRecordSize = 16 << 20

	segSuffix   = ".spool"
	cursorName  = "cursor"
	cursorTmp   = "cursor.tmp"
	lockName    = "LOCK"
	cursorMagic = "DVCC"
	cursorSize  = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a frame that is not a complete, valid record.
var errCorrupt = errors.New("spool: torn or corrupt record")

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func payloadSize(r Record) int {
	return uvarintLen(uint64(len(r.Key))) + len(r.Key) + len(r.Data)
}

// Size is how many bytes r takes in the spool, framing included; it is
// what counts against the spool's bound.
func Size(r Record) int64 { return int64(headerSize + payloadSize(r)) }

// appendFrame appends r's frame to dst.
func appendFrame(dst []byte, r Record) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payloadSize(r)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	dst = append(dst, r.Data...)
	crc := crc32.Update(crc32.Checksum(dst[start:start+4], castagnoli), castagnoli, dst[start+headerSize:])
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// readFrame reads the next frame. remaining is how many bytes of the
// segment are left from the reader's position; buf is reused for the
// payload when large enough. It returns io.EOF at a clean end, errCorrupt
// for a torn or invalid frame, and any read error as is.
func readFrame(br *bufio.Reader, remaining int64, buf []byte) (payload []byte, size int64, err error) {
	if remaining == 0 {
		return nil, 0, io.EOF
	}
	if remaining < headerSize {
		return nil, 0, errCorrupt
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, 0, readErr(err)
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n == 0 || n > MaxRecordSize || int64(n) > remaining-headerSize {
		return nil, 0, errCorrupt
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, 0, readErr(err)
	}
	crc := crc32.Update(crc32.Checksum(h[:4], castagnoli), castagnoli, buf)
	if crc != binary.LittleEndian.Uint32(h[4:]) {
		return nil, 0, errCorrupt
	}
	if _, _, err := splitPayload(buf); err != nil {
		return nil, 0, err
	}
	return buf, headerSize + int64(n), nil
}

// readErr maps a short read (the file shrank under us) to errCorrupt.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errCorrupt
	}
	return err
}

func splitPayload(p []byte) (key, data []byte, err error) {
	kl, k := binary.Uvarint(p)
	if k <= 0 || kl > uint64(len(p)-k) {
		return nil, nil, errCorrupt
	}
	return p[k : k+int(kl)], p[k+int(kl):], nil
}

// decode copies a validated payload into a Record the caller may keep.
func decode(p []byte) Record {
	key, data, _ := splitPayload(p)
	r := Record{Key: string(key)}
	if len(data) > 0 {
		r.Data = append([]byte(nil), data...)
	}
	return r
}

func segName(id uint64) string { return fmt.Sprintf("%012d%s", id, segSuffix) }

// parseSegName returns the id of a segment file name.
func parseSegName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segSuffix)
	if !ok || base == "" {
		return 0, false
	}
	for _, c := range base {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(base, 10, 64)
	return id, err == nil && id > 0
}

// scanResult is what a segment holds.
type scanResult struct {
	valid   int64 // length of the valid prefix
	size    int64 // file size
	records int   // valid records at or after start
	start   int64 // start moved back to a frame boundary if needed
}

// scan validates a segment file from its beginning. Records before start
// (already replayed) are validated but not counted.
func scan(path string, start int64) (scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanResult{}, err
	}
	res := scanResult{size: st.Size()}
	br := bufio.NewReaderSize(f, 256<<10)
	var buf []byte
	var off, boundary int64
	var total, done int
	for {
		p, n, err := readFrame(br, res.size-off, buf)
		if err == io.EOF || errors.Is(err, errCorrupt) {
			break
		}
		if err != nil {
			return scanResult{}, fmt.Errorf("spool: read %s: %w", filepath.Base(path), err)
		}
		buf = p
		off += n
		total++
		if off <= start {
			boundary, done = off, done+1
		}
	}
	// start is the largest frame boundary not after the requested start:
	// a cursor that points past the valid data, or into the middle of a
	// frame, is moved back (at-least-once: that frame is replayed again).
	res.valid, res.start, res.records = off, boundary, total-done
	return res, nil
}
