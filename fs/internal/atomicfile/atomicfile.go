// Package atomicfile writes a file so that a crash leaves either the old
// file or the new one, never a part: the content goes to a temporary file
// in the same file system, which is renamed into place.
package atomicfile

import (
	"fmt"
	"io"
	"os"
)

// Durability says whether a write must survive a power loss.
type Durability int

const (
	// Cached files (last-known listings) may be lost in a crash.
	Cached Durability = iota
	// Durable files (journal entries, records of backups, and the backups
	// themselves) are fsynced before the rename. The rename itself is
	// durable once the directory is synced (SyncDir): callers writing
	// several files sync it once.
	Durable
)

// Write creates path with the given mode from what fill writes. tmpDir
// holds the temporary file: it must be on path's file system and is not
// listed by users (the state directory, or path's own directory).
func Write(tmpDir, path string, mode os.FileMode, d Durability, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(tmpDir, ".tmp-*")
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil && d == Durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// WriteBytes is Write of data.
func WriteBytes(tmpDir, path string, data []byte, mode os.FileMode, d Durability) error {
	return Write(tmpDir, path, mode, d, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir makes the entries of dir (a rename, a removal) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
