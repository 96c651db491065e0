package main

import (
	"context"
	"crypto/tls"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"notebookfs/remote/local"
	"notebookfs/remote/server"
)

// shutdownGrace is how long in-flight requests get after SIGINT/SIGTERM.
const shutdownGrace = 10 * time.Second

func serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve --data DIR [flags]",
		Short: "serve the TileDB Cloud API over a local store (for tests)",
		Long: `Serves the TileDB Cloud REST API subset over the local store in DIR, for
the users made with 'notebookfs user add'. Runs until SIGINT or SIGTERM.
Prints "listening on http://ADDR" to stderr once listening (with port 0,
the port chosen). With --tls it serves HTTPS, HTTP/2 included, with a
self-signed certificate kept in DIR/tls/cert.pem (made at the first start;
give it to clients as TILEDB_SSL_CA_FILE), and prints "listening on
https://ADDR".`,
		Example: `  notebookfs user add --data /tmp/nb alice > alice.token
  notebookfs serve --data /tmp/nb --listen 127.0.0.1:8181 &
  curl -H "X-TILEDB-REST-API-KEY: $(cat alice.token)" http://127.0.0.1:8181/v1/user`,
		Args: cobra.ArbitraryArgs,
	}
	set := cmd.Flags()
	listen := set.String("listen", "127.0.0.1:8181", "address to listen on (host:port; port 0 picks one)")
	data := set.String("data", "", "directory of the store (created if missing; required)")
	allowRemote := set.Bool("allow-remote", false, "allow a non-loopback listen address (plain HTTP: tokens travel in the clear)")
	faultRate := set.Float64("fault-rate", 0, "fraction of API requests to fail (503 or dropped connection), for tests")
	latency := set.Duration("latency", 0, "delay added before every API request, for tests")
	useTLS := set.Bool("tls", false, "serve HTTPS and HTTP/2 with a self-signed certificate (DIR/tls/cert.pem)")
	seed := set.Int64("seed", 0, "seed of the fault injection (0: from the clock)")
	logLevel := set.String("log-level", "info", "log level: trace, debug (one line per request), info, warn, error")
	logFormat := set.String("log-format", "text", "log format: text or json")
	completeCommon(cmd)
	cmd.RunE = func(_ *cobra.Command, pos []string) error {
		return runServe(pos, *listen, *data, *allowRemote, *faultRate, *latency, *seed, *logLevel, *logFormat, *useTLS)
	}
	return cmd
}

func runServe(pos []string, listen, data string, allowRemote bool, faultRate float64, latency time.Duration, seed int64, logLevel, logFormat string, useTLS bool) error {
	switch {
	case len(pos) != 0:
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	case data == "":
		return usageError{"--data DIR is required"}
	case faultRate < 0 || faultRate > 1:
		return usageError{fmt.Sprintf("--fault-rate %v: want a number from 0 to 1", faultRate)}
	case latency < 0:
		return usageError{fmt.Sprintf("--latency %v: want a duration of 0 or more", latency)}
	}
	log, err := newLogger(logLevel, logFormat, os.Stderr)
	if err != nil {
		return err
	}
	if err := checkListen(listen, allowRemote); err != nil {
		return err
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}

	store, err := local.Open(data, log.WithField("component", "store"))
	if err != nil {
		return err
	}
	defer store.Close()
	handler := server.New(store, server.Options{
		Log:       log.WithField("component", "server"),
		FaultRate: faultRate,
		Latency:   latency,
		Seed:      seed,
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          newStdLogger(log.WithField("component", "http")),
		// HTTP/2's default receive windows (1 MiB a connection) would
		// hold concurrent uploads on one connection to a window per
		// round trip.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 20, MaxReceiveBufferPerStream: 16 << 20},
	}
	scheme := "http"
	if useTLS {
		cert, path, err := serveCertificate(filepath.Join(data, "tls"), listen)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
		log.WithField("certificate", path).Info("serving HTTPS")
	}
	// Tests parse this line: keep its form.
	fmt.Fprintf(os.Stderr, "listening on %s://%s\n", scheme, ln.Addr())
	log.WithFields(logrus.Fields{"data": data, "fault_rate": faultRate, "latency": latency}).Info("serving")

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case err := <-done:
		return err
	case sig := <-sigs:
		log.WithField("signal", sig.String()).Info("shutting down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.WithError(err).Warn("requests still running at shutdown were cut")
		srv.Close()
	}
	<-done
	log.Info("stopped")
	return nil
}

// checkListen refuses a non-loopback address unless allowed: the API is
// plain HTTP and every request carries a token.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Sprintf("--listen %q: %v", addr, err)}
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usageError{fmt.Sprintf("--listen %q is not a loopback address: tokens would cross the network in plain HTTP; "+
		"use 127.0.0.1 or pass --allow-remote", addr)}
}

// newStdLogger routes net/http's own messages (bad requests, panics) to
// log at warn level.
func newStdLogger(log *logrus.Entry) *stdlog.Logger {
	return stdlog.New(log.WriterLevel(logrus.WarnLevel), "", 0)
}
