package remotetest

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"notebookfs/remote"
)

// stub is a remote.Client that succeeds at everything and counts the calls
// that reach it.
type stub struct{ calls atomic.Int64 }

var _ remote.Client = (*stub)(nil)

func (s *stub) hit() { s.calls.Add(1) }

func (s *stub) Whoami(context.Context) (remote.User, error) {
	s.hit()
	return remote.User{Username: "stub"}, nil
}

func (s *stub) Namespaces(context.Context, remote.Category) ([]string, error) {
	s.hit()
	return []string{"stub"}, nil
}

func (s *stub) List(context.Context, remote.Category, string) ([]remote.Notebook, error) {
	s.hit()
	return nil, nil
}

func (s *stub) Stat(_ context.Context, ns, id string) (remote.Notebook, error) {
	s.hit()
	return remote.Notebook{ID: id, Namespace: ns}, nil
}

func (s *stub) Latest(context.Context, string, string, time.Time) (time.Time, error) {
	s.hit()
	return time.Time{}, nil
}

func (s *stub) Read(context.Context, string, string, time.Time) (*remote.Content, error) {
	s.hit()
	return &remote.Content{ReadCloser: io.NopCloser(nil)}, nil
}

func (s *stub) Create(_ context.Context, ns, name string, _ io.Reader, size int64, _ remote.CreateOptions) (remote.Notebook, error) {
	s.hit()
	return remote.Notebook{Namespace: ns, Name: name, Size: size}, nil
}

func (s *stub) Write(_ context.Context, ns, id string, _ io.Reader, size int64) (remote.Notebook, error) {
	s.hit()
	return remote.Notebook{ID: id, Namespace: ns, Size: size}, nil
}

func (s *stub) Rename(_ context.Context, ns, id, name string) (remote.Notebook, error) {
	s.hit()
	return remote.Notebook{ID: id, Namespace: ns, Name: name}, nil
}

func (s *stub) Delete(context.Context, string, string) error { s.hit(); return nil }

func (s *stub) Versions(context.Context, string, string) ([]remote.Version, error) {
	s.hit()
	return nil, nil
}

func (s *stub) Shares(context.Context, string, string) ([]remote.Share, error) {
	s.hit()
	return nil, nil
}

func (s *stub) Share(context.Context, string, string, string, []string) error { s.hit(); return nil }

// callAll calls every method of c once, in Methods() order, and returns the
// errors by method.
func callAll(ctx context.Context, c remote.Client) map[string]error {
	errs := map[string]error{}
	_, errs["Whoami"] = c.Whoami(ctx)
	_, errs["Namespaces"] = c.Namespaces(ctx, remote.Owned)
	_, errs["List"] = c.List(ctx, remote.Owned, "ns")
	_, errs["Stat"] = c.Stat(ctx, "ns", "id")
	_, errs["Read"] = c.Read(ctx, "ns", "id", time.Time{})
	_, errs["Create"] = c.Create(ctx, "ns", "n", nil, 0, remote.CreateOptions{})
	_, errs["Write"] = c.Write(ctx, "ns", "id", nil, 0)
	_, errs["Rename"] = c.Rename(ctx, "ns", "id", "m")
	errs["Delete"] = c.Delete(ctx, "ns", "id")
	_, errs["Latest"] = c.Latest(ctx, "ns", "id", time.Time{})
	_, errs["Versions"] = c.Versions(ctx, "ns", "id")
	_, errs["Shares"] = c.Shares(ctx, "ns", "id")
	errs["Share"] = c.Share(ctx, "ns", "id", "w", nil)
	return errs
}
