package fs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

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

// set stores (or with remove, deletes) one value and writes the file
// atomically before answering.
func (s *storageSettings) set(key, attr, value string, remove bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if remove {
		delete(s.m[key], attr)
		if len(s.m[key]) == 0 {
			delete(s.m, key)
		}
	} else {
		if s.m[key] == nil {
			s.m[key] = map[string]string{}
		}
		s.m[key][attr] = value
	}
	return writeJSONAtomic(s.path, s.m)
}

// createOptions are what a new notebook of this namespace is created with.
func (d *nsDir) createOptions() remote.CreateOptions {
	p, _ := d.root.storage.get(d.key, xattrStoragePath)
	c, _ := d.root.storage.get(d.key, xattrStorageCredential)
	return remote.CreateOptions{StoragePath: p, StorageCredential: c}
}

var _ = (gofs.NodeGetxattrer)((*nsDir)(nil))
var _ = (gofs.NodeSetxattrer)((*nsDir)(nil))
var _ = (gofs.NodeRemovexattrer)((*nsDir)(nil))
var _ = (gofs.NodeListxattrer)((*nsDir)(nil))

func isStorageXattr(attr string) bool {
	return attr == xattrStoragePath || attr == xattrStorageCredential
}

// Getxattr answers the storage settings; no remote call.
func (d *nsDir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	switch {
	case isSystemXattr(attr):
		return 0, gofs.ENOATTR
	case !isStorageXattr(attr):
		return 0, syscall.ENOTSUP
	}
	v, ok := d.root.storage.get(d.key, attr)
	if !ok {
		return 0, gofs.ENOATTR
	}
	return xattrReply(dest, v)
}

// Listxattr lists the storage settings that are set: they say where new
// notebooks go, and copying them to another directory shares nothing.
func (d *nsDir) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return xattrListReply(dest, d.root.storage.names(d.key))
}

// Setxattr sets a storage setting. A path must be a URI (s3://bucket/x);
// values are at most 4 KiB of printable text.
func (d *nsDir) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
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
	_, exists := d.root.storage.get(d.key, attr)
	if flags&xattrCreate != 0 && exists {
		return syscall.EEXIST
	}
	if flags&xattrReplace != 0 && !exists {
		return gofs.ENOATTR
	}
	return toErrno(d.root.log, "setxattr", d.key, d.root.storage.set(d.key, attr, v, false))
}

// Removexattr clears a storage setting.
func (d *nsDir) Removexattr(ctx context.Context, attr string) syscall.Errno {
	switch {
	case isSystemXattr(attr):
		return gofs.ENOATTR
	case !isStorageXattr(attr):
		return syscall.ENOTSUP
	}
	if _, ok := d.root.storage.get(d.key, attr); !ok {
		return gofs.ENOATTR
	}
	return toErrno(d.root.log, "removexattr", d.key, d.root.storage.set(d.key, attr, "", true))
}
