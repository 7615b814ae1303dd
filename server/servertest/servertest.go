// Package servertest runs a strata node in a test's process.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/stratadb/strata/server"
)

// Start runs a node with cfg and its server on a free loopback port, with
// no SSD tier (tests run several nodes at once) and a fresh data directory
// unless cfg names one, until the test ends. It returns the node and its
// base URL.
func Start(t testing.TB, cfg server.Config) (*server.Node, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.SSDPath = "off"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = l.Addr().String()
	l.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := server.Open(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := server.New(n, quiet)
	l, err = s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return n, "http://" + l.Addr().String()
}
