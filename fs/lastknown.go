package fs

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"notebookfs/fs/internal/atomicfile"
)

// lastKnown keeps the remote's last answers about the catalog (who I am,
// each namespace's listing) in the state directory, so that a mount started
// while the remote is unreachable still shows what it showed before, and
// the saves of a previous run can be read and edited. It is a cache: a
// lost or stale file only means less to show offline.
type lastKnown struct {
	dir string
	log *logrus.Entry
}

func (l *lastKnown) path(name string) string {
	return filepath.Join(l.dir, url.PathEscape(name)+".json")
}

// save records v under name (no fsync: a crash may lose it, nothing else).
func (l *lastKnown) save(name string, v any) {
	data, err := json.Marshal(v)
	if err == nil {
		err = os.MkdirAll(l.dir, 0o700)
	}
	if err == nil {
		err = atomicfile.WriteBytes(l.dir, l.path(name), data, 0o600, atomicfile.Cached)
	}
	if err != nil {
		l.log.WithError(err).WithField("what", name).Debug("could not keep the last known answer")
	}
}

// load fills v from name's last known answer.
func (l *lastKnown) load(name string, v any) bool {
	data, err := os.ReadFile(l.path(name))
	return err == nil && json.Unmarshal(data, v) == nil
}
