package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"notebookfs/config"
	"notebookfs/remote"
)

func TestSessionToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		switch {
		case r.URL.Path != "/v1/session" || r.URL.Query().Get("remember_me") != "true":
			http.NotFound(w, r)
		case !ok || u != "alice" || p != "secret":
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.Write([]byte(`{"token":"tok-123","name":"session","issued_at":"2026-01-01T00:00:00Z"}`))
		}
	}))
	defer srv.Close()
	creds := config.Credentials{Host: srv.URL, VerifySSL: true}
	ctx := context.Background()
	if tok, err := sessionToken(ctx, creds, "alice", "secret"); err != nil || tok != "tok-123" {
		t.Errorf("session: %q, %v", tok, err)
	}
	if _, err := sessionToken(ctx, creds, "alice", "hunter2x"); !errors.Is(err, remote.ErrUnauthenticated) || strings.Contains(err.Error(), "hunter2x") {
		t.Errorf("bad password: %v", err)
	}
	noSess := httptest.NewServer(http.NotFoundHandler())
	defer noSess.Close()
	if _, err := sessionToken(ctx, config.Credentials{Host: noSess.URL}, "alice", "secret"); !errors.Is(err, errNoSessions) {
		t.Errorf("no session endpoint: %v", err)
	}
}

func TestCheckHostURL(t *testing.T) {
	for h, ok := range map[string]bool{"https://api.tiledb.com": true, "http://127.0.0.1:8181": true, "http://localhost:1": true,
		"http://example.com": false, "ftp://x": false, "https://": false} {
		if err := checkHostURL(h); (err == nil) != ok {
			t.Errorf("checkHostURL(%q): %v", h, err)
		}
	}
}

func TestDoctorClock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer srv.Close()
	creds := config.Credentials{Host: srv.URL, VerifySSL: true}
	if c := checkClock(context.Background(), creds, time.Now); !c.OK {
		t.Errorf("same clock: %+v", c)
	}
	skewed := func() time.Time { return time.Now().Add(5 * time.Minute) }
	if c := checkClock(context.Background(), creds, skewed); c.OK || !strings.Contains(c.Fix, "timedatectl") {
		t.Errorf("5 minutes off: %+v", c)
	}
}
