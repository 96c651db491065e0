package save

// The journal: saves made durable on local disk before they are uploaded,
// so that a close can return before the network answers and a crash or
// kill of the daemon loses nothing.
//
// An entry is two files in the journal directory, named by a sequence
// number: <seq>.data holds the content, <seq>.json the header with the
// content's SHA-256. Both are written to temporary names, fsynced and
// renamed; the header last, so an entry exists exactly when its header
// does. On Open, headers whose data is missing, short or of another
// checksum are reported and moved to corrupt/, never returned.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"notebookfs/fs/internal/atomicfile"
)

// maxPrevs bounds Entry.Prevs: an older predecessor only matters after a
// crash, and forgetting it can cost a conflict copy, never a save.
const maxPrevs = 16

// Entry is one journaled save of a notebook.
type Entry struct {
	Seq uint64 `json:"seq"`
	// Key groups the saves of one notebook, which upload in order:
	// "id:<uuid>" or, for a notebook not created yet, "new:<random>".
	Key       string    `json:"key"`
	Category  string    `json:"category"`
	Namespace string    `json:"namespace"`
	ID        string    `json:"id,omitempty"` // empty: create a new notebook
	Name      string    `json:"name"`         // without .ipynb
	Size      int64     `json:"size"`
	Sum       string    `json:"sha256"`
	Time      time.Time `json:"time"` // when the save was made
	// Base is the remote version the content derives from; a newer latest
	// version that is none of Prevs (our own earlier saves since Base)
	// means someone else saved meanwhile.
	Base  time.Time `json:"base"`
	Prevs []string  `json:"prevs,omitempty"`
	// Where a new notebook is stored (TileDB Cloud storage settings).
	StoragePath       string `json:"storage_path,omitempty"`
	StorageCredential string `json:"storage_credential,omitempty"`
	// Backend and User say whose save it is: a journal is replayed only to
	// the backend and account it was made for (User "" when unknown at the
	// time: any account of the backend).
	Backend string `json:"backend,omitempty"`
	User    string `json:"user,omitempty"`
}

// AddPrev appends sum to Prevs, keeping the newest maxPrevs.
func (e *Entry) AddPrev(sum string) {
	e.Prevs = append(e.Prevs, sum)
	if len(e.Prevs) > maxPrevs {
		e.Prevs = e.Prevs[len(e.Prevs)-maxPrevs:]
	}
}

// Path is where the entry's notebook shows in a mount: category/namespace/name.ipynb.
func (e Entry) Path() string {
	return e.Category + "/" + e.Namespace + "/" + e.Name + ".ipynb"
}

// LogFields describe the entry in a (debug) log line: what tells one save
// of a notebook from another, and what it was based on.
func (e Entry) LogFields() logrus.Fields {
	return logrus.Fields{
		"path":  e.Path(),
		"seq":   e.Seq,
		"saved": e.Time.UTC().Format(time.RFC3339Nano),
		"base":  e.Base.UTC().Format(time.RFC3339Nano),
		"sum":   e.Sum[:min(12, len(e.Sum))],
		"prevs": len(e.Prevs),
	}
}

// Corrupt is an entry Open refused.
type Corrupt struct {
	Seq    uint64
	Reason string
	Path   string // where its header was moved (the data lies beside it)
}

// journal is one directory of entries.
type journal struct {
	dir string
	mu  sync.Mutex
	seq uint64 // GUARDED_BY(mu): last sequence number given
}

// openJournal opens (creating) the journal in dir and returns its valid entries
// in sequence order, and the corrupt ones it moved aside.
func openJournal(dir string) (*journal, []Entry, []Corrupt, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	j := &journal{dir: dir}
	// Data of uploads whose outcome the last run never used.
	os.RemoveAll(filepath.Join(dir, "uploaded"))
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	var entries []Entry
	var corrupt []Corrupt
	headers := map[uint64]bool{}
	for _, de := range names {
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// An entry whose writing never finished: its close did not
			// return, so it is not a save anyone was told about.
			os.Remove(filepath.Join(dir, name))
			continue
		}
		seq, ext, ok := parseName(name)
		if !ok {
			continue
		}
		if seq > j.seq {
			j.seq = seq
		}
		if ext != "json" {
			continue
		}
		headers[seq] = true
		e, err := j.load(seq)
		if err != nil {
			c, merr := j.moveAside(seq, err.Error())
			if merr != nil {
				return nil, nil, nil, merr
			}
			corrupt = append(corrupt, c)
			continue
		}
		entries = append(entries, e)
	}
	// Data without a header: the crash came before the header's rename.
	for _, de := range names {
		if seq, ext, ok := parseName(de.Name()); ok && ext == "data" && !headers[seq] {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
	sort.Slice(entries, func(a, b int) bool { return entries[a].Seq < entries[b].Seq })
	return j, entries, corrupt, nil
}

func parseName(name string) (uint64, string, bool) {
	base, ext, ok := strings.Cut(name, ".")
	if !ok || (ext != "json" && ext != "data") {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, ext, err == nil
}

func (j *journal) path(seq uint64, ext string) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d.%s", seq, ext))
}

// load reads a header and verifies its data against it.
func (j *journal) load(seq uint64) (Entry, error) {
	var e Entry
	b, err := os.ReadFile(j.path(seq, "json"))
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("header: %w", err)
	}
	if e.Seq != seq || e.Key == "" || e.Namespace == "" || e.Name == "" || len(e.Sum) != sha256.Size*2 {
		return e, fmt.Errorf("header: incomplete")
	}
	f, err := os.Open(j.path(seq, "data"))
	if err != nil {
		return e, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return e, fmt.Errorf("data: %w", err)
	}
	if n != e.Size {
		return e, fmt.Errorf("data is %d bytes, header says %d", n, e.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != e.Sum {
		return e, fmt.Errorf("data checksum %s, header says %s", sum[:12], e.Sum[:12])
	}
	return e, nil
}

func (j *journal) moveAside(seq uint64, reason string) (Corrupt, error) {
	cdir := filepath.Join(j.dir, "corrupt")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return Corrupt{}, fmt.Errorf("journal: %w", err)
	}
	// Numbers restart once the journal is empty: a time stamp keeps an
	// earlier corrupt entry of the same number.
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	for _, ext := range []string{"json", "data"} {
		err := os.Rename(j.path(seq, ext), filepath.Join(cdir, stamp+"-"+filepath.Base(j.path(seq, ext))))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return Corrupt{}, fmt.Errorf("journal: moving a corrupt entry aside: %w", err)
		}
	}
	return Corrupt{Seq: seq, Reason: reason, Path: filepath.Join(cdir, stamp+"-"+filepath.Base(j.path(seq, "json")))}, nil
}

// Add makes a save durable: size bytes of r as the content of e, which
// gets its sequence number, size and checksum. It returns once both files
// are fsynced and in place.
func (j *journal) Add(e Entry, r io.ReaderAt, size int64) (Entry, error) {
	j.mu.Lock()
	j.seq++
	e.Seq = j.seq
	j.mu.Unlock()
	e.Size = size
	h := sha256.New()
	if err := j.writeFile(j.path(e.Seq, "data"), func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(r, 0, size))
		return err
	}); err != nil {
		return e, fmt.Errorf("journal: writing content: %w", err)
	}
	e.Sum = hex.EncodeToString(h.Sum(nil))
	if err := j.writeHeader(e); err != nil {
		os.Remove(j.path(e.Seq, "data"))
		return e, err
	}
	return e, nil
}

// Update rewrites an entry's header (the id of a notebook created since).
func (j *journal) Update(e Entry) error { return j.writeHeader(e) }

func (j *journal) writeHeader(e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.writeFile(j.path(e.Seq, "json"), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}); err != nil {
		return fmt.Errorf("journal: writing header: %w", err)
	}
	return j.syncDir()
}

// writeFile writes a temporary file, fsyncs it and renames it to path.
func (j *journal) writeFile(path string, fill func(io.Writer) error) error {
	return atomicfile.Write(j.dir, path, 0o600, atomicfile.Durable, fill)
}

func (j *journal) syncDir() error {
	if err := atomicfile.SyncDir(j.dir); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// DataPath is the file holding an entry's content (for linking it into a
// cache; it is removed with the entry).
func (j *journal) DataPath(e Entry) string { return j.path(e.Seq, "data") }

// openData opens an entry's data: in the journal, or in uploaded/ once
// its upload handed it over and until its result is released (a reader
// that took the entry just before the hand-over still finds it).
func (j *journal) openData(e Entry) (*os.File, error) {
	f, err := os.Open(j.path(e.Seq, "data"))
	if errors.Is(err, os.ErrNotExist) {
		if g, err2 := os.Open(filepath.Join(j.dir, "uploaded", filepath.Base(j.path(e.Seq, "data")))); err2 == nil {
			return g, nil
		}
	}
	return f, err
}

// Content opens an entry's data.
func (j *journal) Content(e Entry) (*os.File, error) {
	f, err := j.openData(e)
	if err != nil {
		return nil, fmt.Errorf("journal: entry %d: %w", e.Seq, err)
	}
	return f, nil
}

// ErrCorrupt is an entry whose data no longer matches its checksum.
var ErrCorrupt = errors.New("journal entry does not match its checksum")

// checked reads an entry's data as an upload body and checks it against
// the entry's checksum before it hands out the last byte: content changed
// on disk since it was journaled never becomes a version. It can be
// rewound (the client sends a body again after a lost connection).
type checked struct {
	ra     io.ReaderAt
	e      Entry
	pos    int64
	hashed int64 // bytes [0, hashed) are in h
	h      hash.Hash
}

func newChecked(ra io.ReaderAt, e Entry) *checked {
	return &checked{ra: ra, e: e, h: sha256.New()}
}

func (c *checked) Read(p []byte) (int, error) {
	if c.pos >= c.e.Size {
		if c.e.Size == 0 {
			if err := c.finish(); err != nil {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.e.Size-c.pos {
		p = p[:c.e.Size-c.pos]
	}
	n, err := c.ra.ReadAt(p, c.pos)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if c.pos == c.hashed {
		c.h.Write(p[:n])
		c.hashed += int64(n)
	}
	if c.pos+int64(n) == c.e.Size {
		if cerr := c.finish(); cerr != nil {
			return 0, cerr
		}
	}
	c.pos += int64(n)
	return n, err
}

// finish hashes what was skipped by seeks and compares.
func (c *checked) finish() error {
	if c.hashed < c.e.Size {
		if _, err := io.Copy(c.h, io.NewSectionReader(c.ra, c.hashed, c.e.Size-c.hashed)); err != nil {
			return fmt.Errorf("journal: entry %d: %w", c.e.Seq, err)
		}
		c.hashed = c.e.Size
	}
	if sum := hex.EncodeToString(c.h.Sum(nil)); sum != c.e.Sum {
		return fmt.Errorf("journal: entry %d: data checksum %s, header says %s: %w", c.e.Seq, sum[:12], c.e.Sum[:min(12, len(c.e.Sum))], ErrCorrupt)
	}
	return nil
}

func (c *checked) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += c.pos
	case io.SeekEnd:
		off += c.e.Size
	}
	if off < 0 {
		return 0, errors.New("journal: seek before the start")
	}
	c.pos = off
	return off, nil
}

// ReadAll returns an entry's data, checked against its checksum.
func (j *journal) ReadAll(e Entry) ([]byte, error) {
	var b []byte
	f, err := j.openData(e)
	if err == nil {
		b, err = io.ReadAll(f)
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("journal: entry %d: %w", e.Seq, err)
	}
	if int64(len(b)) != e.Size || Sum(b) != e.Sum {
		return nil, fmt.Errorf("journal: entry %d: content does not match its checksum", e.Seq)
	}
	return b, nil
}

// handOver removes an uploaded entry but keeps its data, moved to
// uploaded/, for whoever caches it as the version it became.
func (j *journal) handOver(e Entry) (string, error) {
	dir := filepath.Join(j.dir, "uploaded")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	to := filepath.Join(dir, filepath.Base(j.path(e.Seq, "data")))
	if err := os.Remove(j.path(e.Seq, "json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(j.path(e.Seq, "data"), to); err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	return to, nil
}

// Remove deletes an entry: header first, so a crash leaves no entry.
func (j *journal) Remove(e Entry) error {
	if err := os.Remove(j.path(e.Seq, "json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Remove(j.path(e.Seq, "data")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Sum is the checksum Entry.Sum holds for data.
func Sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// NewHash is the hash behind Sum, for streamed content.
func NewHash() hash.Hash { return sha256.New() }
