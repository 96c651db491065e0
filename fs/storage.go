package fs

import (
	"fmt"
	"strings"
	"sync"
	"syscall"

	"notebookfs/remote"
)

// Where new notebooks of a namespace are stored: TileDB Cloud's storage
// location and credentials name for uploads, set per namespace directory
// with user.tiledb.storage_path and user.tiledb.storage_credential and
// remembered locally per mount (a JSON file in the state directory).
const (
	xattrStoragePath       = "user.tiledb.storage_path"
	xattrStorageCredential = "user.tiledb.storage_credential"
	maxStorageValue        = 4096
)

// storageSettings is the persisted map "cat/ns" -> attribute -> value.
type storageSettings struct {
	path string
	mu   sync.Mutex
	m    map[string]map[string]string // GUARDED_BY(mu)
}

func loadStorageSettings(path string) (*storageSettings, error) {
	s := &storageSettings{path: path, m: map[string]map[string]string{}}
	if err := readJSONFile(path, &s.m); err != nil {
		return nil, fmt.Errorf("storage settings: %w", err)
	}
	return s, nil
}

func (s *storageSettings) get(key, attr string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key][attr]
	return v, ok
}

func (s *storageSettings) names(key string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range []string{xattrStorageCredential, xattrStoragePath} {
		if _, ok := s.m[key][a]; ok {
			out = append(out, a)
		}
	}
	return out
}

// set stores one value and writes the file atomically before answering.
func (s *storageSettings) set(key, attr, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == nil {
		s.m[key] = map[string]string{}
	}
	s.m[key][attr] = value
	return writeJSONAtomic(s.path, s.m)
}

// unset deletes one value, likewise.
func (s *storageSettings) unset(key, attr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m[key], attr)
	if len(s.m[key]) == 0 {
		delete(s.m, key)
	}
	return writeJSONAtomic(s.path, s.m)
}

// createOptions are what a new notebook of this namespace is created with.
func (d *Namespace) createOptions() remote.CreateOptions {
	p, _ := d.fs.storage.get(d.key, xattrStoragePath)
	c, _ := d.fs.storage.get(d.key, xattrStorageCredential)
	return remote.CreateOptions{StoragePath: p, StorageCredential: c}
}

func isStorageXattr(attr string) bool {
	return attr == xattrStoragePath || attr == xattrStorageCredential
}

// Getxattr answers the storage settings; no remote call.
func (d *Namespace) Getxattr(attr string) ([]byte, error) {
	switch {
	case isSystemXattr(attr), isAppleXattr(attr):
		return nil, errNoAttr
	case !isStorageXattr(attr):
		return nil, syscall.ENOTSUP
	}
	v, ok := d.fs.storage.get(d.key, attr)
	if !ok {
		return nil, errNoAttr
	}
	return []byte(v), nil
}

// Listxattr lists the storage settings that are set: they say where new
// notebooks go, and copying them to another directory shares nothing.
func (d *Namespace) Listxattr() []byte {
	return nameList(d.fs.storage.names(d.key))
}

// Setxattr sets a storage setting. A path must be a URI (s3://bucket/x);
// values are at most 4 KiB of printable text.
func (d *Namespace) Setxattr(attr string, data []byte, flags uint32) error {
	if isAppleXattr(attr) {
		return nil // Finder's folder info: dropped, as on notebooks
	}
	if !isStorageXattr(attr) {
		return syscall.ENOTSUP
	}
	if d.cat != remote.Owned {
		return syscall.EPERM
	}
	v := strings.TrimSpace(strings.TrimRight(string(data), "\x00"))
	if v == "" || len(v) > maxStorageValue || strings.ContainsAny(v, "\x00\n\r") ||
		(attr == xattrStoragePath && !strings.Contains(v, "://")) {
		return syscall.EINVAL
	}
	_, exists := d.fs.storage.get(d.key, attr)
	if flags&XattrCreate != 0 && exists {
		return syscall.EEXIST
	}
	if flags&XattrReplace != 0 && !exists {
		return errNoAttr
	}
	return d.fs.storage.set(d.key, attr, v)
}

// Removexattr clears a storage setting.
func (d *Namespace) Removexattr(attr string) error {
	switch {
	case isSystemXattr(attr), isAppleXattr(attr):
		return errNoAttr
	case !isStorageXattr(attr):
		return syscall.ENOTSUP
	}
	if _, ok := d.fs.storage.get(d.key, attr); !ok {
		return errNoAttr
	}
	return d.fs.storage.unset(d.key, attr)
}
