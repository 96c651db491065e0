package fs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"notebookfs/fs/internal/atomicfile"
	"notebookfs/remote"
)

// The moved-away records (an editor's backup of a notebook, see Namespace.moved)
// are kept in the state directory, so that after a restart the notebook
// stays hidden behind its backup and removing the backup still deletes it.

type movedRecord struct {
	Notebook remote.Notebook `json:"notebook"`
	File     string          `json:"file"`
	Rebound  bool            `json:"rebound,omitempty"`
}

// movedStore is the persisted map "cat/ns" -> backup name -> record.
type movedStore struct {
	path string
	mu   sync.Mutex
	m    map[string]map[string]movedRecord // GUARDED_BY(mu)
}

func loadMovedStore(path string) (*movedStore, error) {
	s := &movedStore{path: path, m: map[string]map[string]movedRecord{}}
	if err := readJSONFile(path, &s.m); err != nil {
		return nil, fmt.Errorf("moved-away records: %w", err)
	}
	return s, nil
}

// get returns key's records whose backup file still exists in dir.
func (s *movedStore) get(key, dir string) map[string]*movedAway {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*movedAway{}
	for name, r := range s.m[key] {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			continue // the backup is gone (a crash): the notebook shows again
		}
		out[name] = &movedAway{nb: r.Notebook, file: r.File, rebound: r.Rebound}
	}
	return out
}

// put replaces key's records and writes the file atomically.
func (s *movedStore) put(key string, moved map[string]*movedAway) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(moved) == 0 {
		if _, ok := s.m[key]; !ok {
			return nil
		}
		delete(s.m, key)
	} else {
		recs := map[string]movedRecord{}
		for name, m := range moved {
			recs[name] = movedRecord{Notebook: m.nb, File: m.file, Rebound: m.rebound}
		}
		s.m[key] = recs
	}
	return writeJSONAtomic(s.path, s.m)
}

// noteVersion updates the moved-away records of nb (a save of ours that
// was still uploading when its file was moved away): a new file of the old
// name then saves on top of this version, not of an older one, which would
// look like someone else's save.
func (f *FS) noteVersion(cat remote.Category, nb remote.Notebook) {
	key := string(cat) + "/" + nb.Namespace
	if d := f.nsOf(cat, nb.Namespace); d != nil {
		d.mu.Lock()
		changed := false
		for _, m := range d.moved {
			if m.nb.ID == nb.ID && !m.nb.Version.Equal(nb.Version) {
				m.nb, changed = nb, true
			}
		}
		if changed {
			d.saveMovedLocked()
		}
		d.mu.Unlock()
		return
	}
	f.moved.noteVersion(key, nb)
}

func (s *movedStore) noteVersion(key string, nb remote.Notebook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for name, r := range s.m[key] {
		if r.Notebook.ID == nb.ID && !r.Notebook.Version.Equal(nb.Version) {
			r.Notebook = nb
			s.m[key][name] = r
			changed = true
		}
	}
	if changed {
		writeJSONAtomic(s.path, s.m)
	}
}

// saveMovedLocked persists the directory's moved-away records (d.mu held).
func (d *Namespace) saveMovedLocked() {
	if err := d.fs.moved.put(d.key, d.moved); err != nil {
		d.fs.log.WithError(err).WithField("path", d.key).Warn("could not record an editor's backup; after a restart its notebook shows again")
	}
}

// readJSONFile decodes the JSON file at path into v; a missing file leaves
// v as it is.
func readJSONFile(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeJSONAtomic writes v as JSON beside path, fsynced, and renames it
// into place: state that must survive a crash.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Dir(path), path, data, 0o600, atomicfile.Durable)
}
