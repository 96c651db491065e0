package local

import (
	"bytes"
	"testing"
	"time"

	"notebookfs/remote"
)

func TestZZOrder(t *testing.T) {
	s := castStore(t)
	s.SetClock(func() time.Time { return time.UnixMilli(1000) })
	a := s.As("alice")
	for range 5 {
		a.Create(t.Context(), "alice", "x", bytes.NewReader(nil), 0, remote.CreateOptions{})
	}
	rows, _ := s.db.Query(`EXPLAIN QUERY PLAN SELECT ` + nbColumns + ` FROM notebooks n
		JOIN versions v ON v.notebook = n.id AND v.ts = (SELECT MAX(ts) FROM versions WHERE notebook = n.id)
		WHERE n.namespace = ? ORDER BY n.created, n.id`, "alice")
	for rows.Next() {
		var a, b, c int
		var d string
		rows.Scan(&a, &b, &c, &d)
		t.Log(d)
	}
	rows.Close()
	l, _ := a.List(t.Context(), remote.Owned, "alice")
	for _, nb := range l {
		t.Log(nb.ID, nb.Created.UnixMilli())
	}
}
