package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

type cursor struct {
	seg uint64
	off int64
}

func readCursor(dir string) (cursor, error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	if errors.Is(err, os.ErrNotExist) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, err
	}
	if len(b) != cursorSize || string(b[:4]) != cursorMagic ||
		crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:]) {
		return cursor{}, errors.New("spool: cursor file is corrupt")
	}
	c := cursor{seg: binary.LittleEndian.Uint64(b[4:]), off: int64(binary.LittleEndian.Uint64(b[12:]))}
	if c.off < 0 {
		return cursor{}, errors.New("spool: cursor file is corrupt")
	}
	return c, nil
}

// saveCursor replaces the cursor file atomically and durably.
func (s *Spool) saveCursor(c cursor) error {
	b := make([]byte, 0, cursorSize)
	b = append(b, cursorMagic...)
	b = binary.LittleEndian.AppendUint64(b, c.seg)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.off))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	tmp := filepath.Join(s.dir, cursorTmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, cursorName))
	}
	if err != nil {
		return fmt.Errorf("spool: cursor: %w", err)
	}
	return syncDir(s.dir)
}

// Replay hands the spooled records to handle, oldest first, in append
// order, and returns how many were handled. A record is done when handle
// returns nil. On the first error Replay stops and returns it (wrapped;
// errors.Is works): that record and the ones after it stay for the next
// Replay, which starts at it. Records appended while Replay runs go to a
// newer segment and are handed over after the older ones, in the same
// call. Segments are deleted once fully handled.
//
// Delivery is at-least-once: after a crash in the middle of Replay the
// records handled since the last checkpoint (WithCheckpointEvery) are
// handed over again, so handle must dedupe by Key. One Replay runs at a
// time; handle must not call Replay or Close.
func (s *Spool) Replay(ctx context.Context, handle func(ctx context.Context, r Record) error) (int, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	done := 0
	for {
		segs, err := s.snapshot()
		if err != nil {
			return done, err
		}
		if len(segs) == 0 {
			return done, nil
		}
		for _, seg := range segs {
			n, err := s.replaySegment(ctx, seg, handle)
			done += n
			if err != nil {
				return done, err
			}
		}
	}
}

// snapshot seals the active segment when it holds records, so that they
// are replayed too, and returns the sealed segments.
func (s *Spool) snapshot() ([]*segment, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	s.wmu.Lock()
	s.mu.Lock()
	if s.active != nil && s.active.records > 0 {
		s.mu.Unlock()
		s.seal()
		s.mu.Lock()
	}
	segs := append([]*segment(nil), s.sealed...)
	s.mu.Unlock()
	s.wmu.Unlock()
	return segs, nil
}

func (s *Spool) replaySegment(ctx context.Context, seg *segment, handle func(context.Context, Record) error) (int, error) {
	name := segName(seg.id)
	path := filepath.Join(s.dir, name)
	s.mu.Lock()
	off, size := seg.start, seg.size
	s.mu.Unlock()
	n, sinceSave := 0, 0
	// stop saves the cursor at the first record not handled.
	stop := func(err error) (int, error) {
		if sinceSave > 0 {
			if cerr := s.saveCursor(cursor{seg: seg.id, off: off}); cerr != nil {
				s.log.Warn("spool: cannot save the replay cursor; records may be handed over again after a restart", "err", cerr)
			}
		}
		return n, err
	}
	if off < size {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			s.mu.Lock()
			lost := seg.records
			s.records -= lost
			seg.records = 0
			s.mu.Unlock()
			s.log.Error("spool: segment vanished from the directory; its records are not replayed",
				"segment", name, "records_lost", lost)
			s.drop(seg)
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("spool: replay: %w", err)
		}
		defer f.Close()
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return n, fmt.Errorf("spool: replay: %w", err)
		}
		br := bufio.NewReaderSize(f, 256<<10)
		var buf []byte
		for off < size {
			if err := ctx.Err(); err != nil {
				return stop(err)
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return stop(ErrClosed)
			}
			p, fl, err := readFrame(br, size-off, buf)
			if errors.Is(err, errCorrupt) || errors.Is(err, io.EOF) {
				// Validated when written or at Open: the disk changed
				// under us. Keep the file for inspection, go on with the
				// next segment.
				return n, s.quarantine(seg, off)
			}
			if err != nil {
				return stop(fmt.Errorf("spool: replay %s: %w", name, err))
			}
			buf = p
			if err := handle(ctx, decode(p)); err != nil {
				return stop(fmt.Errorf("spool: replay %s at offset %d: %w", name, off, err))
			}
			off += fl
			n++
			sinceSave++
			s.mu.Lock()
			seg.start = off
			seg.records--
			s.records--
			s.mu.Unlock()
			s.m.replayed.Inc()
			if sinceSave >= s.ckEvery {
				if err := s.saveCursor(cursor{seg: seg.id, off: off}); err != nil {
					s.log.Warn("spool: cannot save the replay cursor; records may be handed over again after a restart", "err", err)
				} else {
					sinceSave = 0
				}
			}
		}
	}
	// Every record is handled: the segment goes. A crash before the
	// removal is durable replays it again from the saved cursor.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return stop(fmt.Errorf("spool: replay: %w", err))
	}
	if err := syncDir(s.dir); err != nil {
		return stop(err)
	}
	s.drop(seg)
	return n, nil
}

// quarantine renames a segment found corrupt during Replay to *.corrupt
// and forgets it, so the rest of the spool is not blocked.
func (s *Spool) quarantine(seg *segment, off int64) error {
	s.mu.Lock()
	lost := seg.records
	s.mu.Unlock()
	path := filepath.Join(s.dir, segName(seg.id))
	s.log.Error("spool: segment changed on disk and is corrupt; moved aside, its remaining records are not replayed",
		"segment", segName(seg.id), "offset", off, "records_lost", lost, "moved_to", path+".corrupt")
	if err := os.Rename(path, path+".corrupt"); err != nil {
		return fmt.Errorf("spool: quarantine: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.mu.Lock()
	s.records -= seg.records
	seg.records = 0
	s.mu.Unlock()
	s.drop(seg)
	return nil
}

// drop forgets the oldest sealed segment, seg.
func (s *Spool) drop(seg *segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sealed) > 0 && s.sealed[0] == seg {
		s.sealed = s.sealed[1:]
	}
	s.records -= seg.records
	s.bytes -= seg.size
	seg.records = 0
}
