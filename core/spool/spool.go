// Package spool keeps inbound messages on local disk while the database is
// unreachable (issue 10, item 3) and hands them back, oldest first, when it
// returns.
//
// Append returns only once the record is written and fsynced (the file and,
// for a new segment, the directory), so a platform may be acknowledged as
// soon as it returns. Concurrent appends are group-committed: the records
// waiting while one fsync runs are written together and share the next.
// Replay hands the records over in append order; a record is done when its
// handler returns nil. Delivery is at-least-once: after a crash during
// Replay, up to one checkpoint interval of records (WithCheckpointEvery) may
// be handed over again, so the caller dedupes by Record.Key. An
// acknowledged record is never lost to a crash; a torn record at the tail
// (a write that was never acknowledged) is dropped by Open with a log line.
//
// One process at a time may open a directory (an flock on dir/LOCK); each
// replica has its own spool and replays it when it restarts.
package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Record is what is spooled.
type Record struct {
	// Key is the dedupe key (channel + gateway id + sender). It travels
	// with the message so a record handed over twice is handled once.
	Key string
	// Data is the pipeline's encoded message, opaque to the spool.
	Data json.RawMessage
}

// ErrFull is matched (errors.Is) by the error Append returns when the
// record would take the spool past its bound. The error is a *FullError.
var ErrFull = errors.New("spool: full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool: closed")

// ErrTooLarge is returned for a record above MaxRecordSize.
var ErrTooLarge = errors.New("spool: record too large")

// ErrLocked is returned by Open when another process has the directory.
var ErrLocked = errors.New("spool: directory is used by another process")

// FullError says how full the spool is. It matches ErrFull.
type FullError struct {
	Max  int64 // the bound
	Used int64 // bytes on disk and being written
	Need int64 // the refused record's size
}

func (e *FullError) Error() string {
	return fmt.Sprintf("spool: full (%d of %d bytes used, record needs %d)", e.Used, e.Max, e.Need)
}

// Is makes errors.Is(err, ErrFull) true.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// DefaultSegmentSize is the size after which a new segment file is started.
const DefaultSegmentSize = 16 << 20

// DefaultCheckpointEvery is how many replayed records go between two saves
// of the replay cursor.
const DefaultCheckpointEvery = 100

// Option configures a Spool.
type Option func(*config)

type config struct {
	log     *slog.Logger
	reg     prometheus.Registerer
	segSize int64
	ckEvery int

	beforeWrite func(n int) // test hook
}

// WithLogger sets the logger (slog.Default otherwise).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMetrics registers dvcbot_spool_records and dvcbot_spool_bytes
// (gauges), dvcbot_spool_appends_total{result="ok|full|error"} and
// dvcbot_spool_replayed_total with reg.
func WithMetrics(reg prometheus.Registerer) Option { return func(c *config) { c.reg = reg } }

// WithSegmentSize starts a new segment file once the current one holds n
// bytes or more (a group-committed batch is never split, so a segment may
// exceed n by one batch). Fully replayed segments are deleted.
func WithSegmentSize(n int64) Option { return func(c *config) { c.segSize = n } }

// WithCheckpointEvery saves the replay cursor after every n records handed
// over. n bounds how many records a crash during Replay makes the next
// Replay hand over again; each save costs two fsyncs.
func WithCheckpointEvery(n int) Option { return func(c *config) { c.ckEvery = n } }

// Spool is a durable, size-bounded, append-only queue of records in a
// directory. Its methods are safe for concurrent use.
type Spool struct {
	dir     string
	max     int64
	segSize int64
	ckEvery int
	log     *slog.Logger
	lock    *os.File
	m       metrics

	mu       sync.Mutex
	closed   bool
	queue    []*waiter
	reserved int64      // bytes queued, not yet written
	bytes    int64      // valid bytes in segment files
	records  int        // records not yet replayed
	sealed   []*segment // oldest first; read only, replayed
	active   *segment   // being appended to; nil until the next append
	nextID   uint64
	full     bool // logged as full, not yet logged as accepting again
	batches  int  // writes (one fsync each) since Open

	beforeWrite func(n int) // test hook, called by the flusher before each batch

	// wmu is held by the flusher while it writes a batch and by Replay
	// while it seals the active segment.
	wmu      sync.Mutex
	kick     chan struct{}
	stop     chan struct{}
	flushed  chan struct{}
	replayMu sync.Mutex
}

type segment struct {
	id      uint64
	size    int64    // valid bytes
	start   int64    // where Replay resumes
	records int      // records from start on
	f       *os.File // set while active
}

type waiter struct {
	frame []byte
	done  chan error
}

type metrics struct {
	appends  *prometheus.CounterVec
	ok       prometheus.Counter
	fullC    prometheus.Counter
	errC     prometheus.Counter
	replayed prometheus.Counter
}

// Open opens the spool in dir, creating dir (0700) when needed, and
// recovers what a crash left: segments before the saved cursor are
// deleted, empty segments removed, and a torn or corrupt tail is cut off
// (logged; it was never acknowledged). maxBytes bounds the bytes the
// segment files hold.
func Open(dir string, maxBytes int64, opts ...Option) (*Spool, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("spool: max bytes must be positive, got %d", maxBytes)
	}
	cfg := config{log: slog.Default(), segSize: DefaultSegmentSize, ckEvery: DefaultCheckpointEvery}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.segSize <= 0 {
		cfg.segSize = DefaultSegmentSize
	}
	if cfg.ckEvery <= 0 {
		cfg.ckEvery = DefaultCheckpointEvery
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, max: maxBytes, segSize: cfg.segSize, ckEvery: cfg.ckEvery,
		log: cfg.log.With("spool", dir), lock: lock, beforeWrite: cfg.beforeWrite,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), flushed: make(chan struct{})}
	s.m.appends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvcbot_spool_appends_total", Help: "Records offered to the disk spool, by result (ok, full, error).",
	}, []string{"result"})
	s.m.ok, s.m.fullC, s.m.errC = s.m.appends.WithLabelValues("ok"), s.m.appends.WithLabelValues("full"), s.m.appends.WithLabelValues("error")
	s.m.replayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dvcbot_spool_replayed_total", Help: "Spooled records handed back and handled after the database returned.",
	})
	if err := s.recover(); err != nil {
		_ = unlockDir(lock)
		return nil, err
	}
	if cfg.reg != nil {
		cs := []prometheus.Collector{
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dvcbot_spool_records", Help: "Records in the disk spool waiting for replay."},
				func() float64 { n, _ := s.Len(); return float64(n) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dvcbot_spool_bytes", Help: "Bytes held by the disk spool's segment files (bounded by DVCBOT_SPOOL_MAX)."},
				func() float64 { _, b := s.Len(); return float64(b) }),
			s.m.appends, s.m.replayed,
		}
		for i, c := range cs {
			if err := cfg.reg.Register(c); err != nil {
				for _, r := range cs[:i] {
					cfg.reg.Unregister(r)
				}
				_ = unlockDir(lock)
				return nil, fmt.Errorf("spool: register metrics: %w", err)
			}
		}
	}
	if s.records > 0 {
		s.log.Info("spool holds records from before the restart", "records", s.records, "bytes", s.bytes, "segments", len(s.sealed))
	}
	if s.bytes > s.max {
		s.log.Warn("spool holds more than its bound; appends are refused until it is replayed", "bytes", s.bytes, "max", s.max)
	}
	go s.flusher()
	return s, nil
}

// recover reads the cursor and validates every segment.
func (s *Spool) recover() error {
	_ = os.Remove(filepath.Join(s.dir, cursorTmp))
	cur, err := readCursor(s.dir)
	if err != nil {
		s.log.Warn("spool cursor unreadable; replaying every segment from its start", "err", err)
		cur = cursor{}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var ids []uint64
	for _, e := range ents {
		if id, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	s.nextID = cur.seg + 1
	if len(ids) > 0 {
		s.nextID = max(s.nextID, ids[len(ids)-1]+1)
	}
	removed := false
	for i, id := range ids {
		path := filepath.Join(s.dir, segName(id))
		if id < cur.seg {
			// Fully replayed; the crash came before its deletion.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			removed = true
			continue
		}
		start := int64(0)
		if id == cur.seg {
			start = cur.off
		}
		res, err := scan(path, start)
		if err != nil {
			return err
		}
		if res.valid < res.size {
			level, msg := slog.LevelWarn, "spool: dropped a torn record at the end of the last segment (a write the crash interrupted, never acknowledged)"
			if i < len(ids)-1 {
				level, msg = slog.LevelError, "spool: dropped corrupt bytes at the end of a segment"
			}
			s.log.Log(context.Background(), level, msg, "segment", segName(id), "offset", res.valid, "dropped_bytes", res.size-res.valid)
			if err := truncateSync(path, res.valid); err != nil {
				return err
			}
		}
		if res.start != start {
			s.log.Warn("spool cursor was not at a record boundary; replaying from the previous one", "segment", segName(id), "cursor", start, "from", res.start)
		}
		if res.records == 0 {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			removed = true
			continue
		}
		s.sealed = append(s.sealed, &segment{id: id, size: res.valid, start: res.start, records: res.records})
		s.bytes += res.valid
		s.records += res.records
	}
	if removed {
		return syncDir(s.dir)
	}
	return nil
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: truncate %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: sync directory: %w", err)
	}
	return nil
}

// Append writes r to the spool and returns once it is durable. It returns
// a *FullError (errors.Is(err, ErrFull)) when r would take the spool past
// its bound, ErrTooLarge, ErrClosed, or the write's error. When ctx ends
// while the write is in progress Append returns ctx.Err() and the record
// may or may not have been spooled: the caller must not acknowledge the
// platform, whose retry is deduped by Key.
func (s *Spool) Append(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		s.m.errC.Inc()
		return err
	}
	if payloadSize(r) > MaxRecordSize {
		s.m.errC.Inc()
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, payloadSize(r), MaxRecordSize)
	}
	size := Size(r)
	w := &waiter{frame: appendFrame(make([]byte, 0, size), r), done: make(chan error, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.m.errC.Inc()
		return ErrClosed
	}
	if used := s.bytes + s.reserved; used+size > s.max {
		first := !s.full
		s.full = true
		s.mu.Unlock()
		s.m.fullC.Inc()
		err := &FullError{Max: s.max, Used: used, Need: size}
		if first {
			s.log.Error("spool full: inbound messages can no longer be kept during the database outage and are refused",
				"max_bytes", s.max, "used_bytes", used, "record_bytes", size)
		}
		return err
	}
	if s.full {
		s.full = false
		s.log.Info("spool accepts records again", "max_bytes", s.max, "used_bytes", s.bytes+s.reserved)
	}
	s.reserved += size
	s.queue = append(s.queue, w)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.done:
		if err != nil {
			s.m.errC.Inc()
			return err
		}
		s.m.ok.Inc()
		return nil
	case <-ctx.Done():
		s.m.errC.Inc()
		return ctx.Err()
	}
}

// flusher writes what Append queued: everything that queued up while the
// previous fsync ran goes out in one write and one fsync.
func (s *Spool) flusher() {
	defer close(s.flushed)
	var buf []byte
	var batch []*waiter
	for {
		stopping := false
		select {
		case <-s.kick:
		case <-s.stop:
			stopping = true
		}
		for {
			s.mu.Lock()
			batch, s.queue = s.queue, batch[:0]
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			if s.beforeWrite != nil {
				s.beforeWrite(len(batch))
			}
			buf = buf[:0]
			for _, w := range batch {
				buf = append(buf, w.frame...)
			}
			err := s.write(buf, len(batch))
			for i, w := range batch {
				w.done <- err
				batch[i] = nil
			}
		}
		if stopping {
			return
		}
	}
}

// write appends a batch of frames to the active segment, rolling to a new
// one when it is full, and makes it durable.
func (s *Spool) write(buf []byte, n int) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	size := int64(len(buf))
	seg := s.active
	if seg != nil && seg.size >= s.segSize {
		s.seal()
		seg = nil
	}
	created := false
	if seg == nil {
		s.mu.Lock()
		id := s.nextID
		s.mu.Unlock()
		f, err := os.OpenFile(filepath.Join(s.dir, segName(id)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err != nil {
			s.mu.Lock()
			s.reserved -= size
			s.mu.Unlock()
			s.log.Error("spool: cannot create segment", "segment", segName(id), "err", err)
			return fmt.Errorf("spool: %w", err)
		}
		seg, created = &segment{id: id, f: f}, true
		s.mu.Lock()
		s.nextID++
		s.active = seg
		s.mu.Unlock()
	}
	_, err := seg.f.Write(buf)
	if err == nil {
		err = seg.f.Sync()
	}
	if err == nil && created {
		err = syncDir(s.dir)
	}
	if err != nil {
		s.log.Error("spool: write failed; starting a new segment", "segment", segName(seg.id), "err", err)
		// What reached the file is unknown (and after a failed fsync the
		// kernel may have dropped it): cut it off and never write to this
		// file again.
		if terr := seg.f.Truncate(seg.size); terr == nil {
			_ = seg.f.Sync()
		}
		s.mu.Lock()
		s.reserved -= size
		s.mu.Unlock()
		s.seal()
		return fmt.Errorf("spool: write: %w", err)
	}
	s.mu.Lock()
	seg.size += size
	seg.records += n
	s.bytes += size
	s.records += n
	s.reserved -= size
	s.batches++
	s.mu.Unlock()
	return nil
}

// seal closes the active segment; it becomes readable by Replay. The
// caller holds wmu.
func (s *Spool) seal() {
	seg := s.active
	if seg == nil {
		return
	}
	_ = seg.f.Close()
	seg.f = nil
	s.mu.Lock()
	s.active = nil
	if seg.records > 0 {
		s.sealed = append(s.sealed, seg)
	}
	s.mu.Unlock()
	if seg.records == 0 {
		_ = os.Remove(filepath.Join(s.dir, segName(seg.id)))
	}
}

// Len returns the records waiting for replay and the bytes the segment
// files hold (the quantity bounded by maxBytes; it includes the already
// replayed part of a segment Replay stopped in).
func (s *Spool) Len() (records int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.bytes
}

// Close waits for queued appends to be written, then for a running Replay
// to return (it stops after the record being handled; cancel its context
// first if the handler may block), and releases the directory.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.flushed
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	s.wmu.Lock()
	s.seal()
	s.wmu.Unlock()
	return unlockDir(s.lock)
}
