// Package server is strata's node: the HTTP API over a database system
// (its log, catalog and segment store, read through the cache strata), the
// writer of a primary node, the followers that serve reads, request
// signing, limits, forwarding of writes to the node that writes a
// database, and metrics. cmd/strata's `node` runs it.
package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/transactor"
)

// Server serves a Node's HTTP API.
type Server struct {
	node    *Node
	logger  *slog.Logger
	mux     *http.ServeMux
	http    *http.Server
	auth    *authorizer
	slots   chan struct{} // MaxConcurrent
	closing atomic.Bool
	client  *http.Client // forwards writes to other nodes

	metrics_ *metrics
}

// ForwardedHeader marks a request one node forwarded to another, so that
// it is not forwarded again.
const ForwardedHeader = "X-Strata-Forwarded"

// New returns the server of node n.
func New(n *Node, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{node: n, logger: logger, mux: http.NewServeMux(),
		auth:     newAuthorizer(n.catalog, n.cfg.Region, n.cfg.AllowUnsigned),
		slots:    make(chan struct{}, n.cfg.MaxConcurrent),
		client:   &http.Client{Timeout: n.cfg.QueryTimeout + 10*time.Second},
		metrics_: newMetrics()}
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	s.routes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, anomaly.New(anomaly.NotFound, "api", "%s %s: no such operation (see /v1/dbs)", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the API's handler (for tests and embedding). A path that
// is not clean (//, /./, /../) is incorrect rather than redirected, so that
// every request gets an answer with a category.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			fail(w, r, anomaly.New(anomaly.Incorrect, "api", "path %q is not clean", p))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// handle registers an operation: write says whether it changes data (a
// read-only key may not call it).
func (s *Server) handle(pattern string, write bool, fn func(*call) (fields, error)) {
	route := pattern
	open := strings.HasSuffix(pattern, "/health") || strings.HasSuffix(pattern, "/ready")
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		defer func() { s.metrics_.request(route, rec.status, time.Since(start)) }()
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			fail(rec, r, anomaly.New(anomaly.Busy, "api", "%d requests are running (max-concurrent): retry", cap(s.slots)))
			return
		}
		raw, err := readBody(r, s.node.cfg.MaxBodyBytes)
		if err != nil {
			fail(rec, r, err)
			return
		}
		c := &call{ctx: r.Context(), r: r, raw: raw, db: r.PathValue("db")}
		if !open {
			if _, err := s.auth.check(r.Context(), r, raw, c.db, write); err != nil {
				fail(rec, r, err)
				return
			}
		}
		if c.args, err = parseBody(r, raw); err != nil {
			fail(rec, r, err)
			return
		}
		out, err := fn(c)
		if err != nil {
			if holder, ok := notWriter(err); ok && r.Header.Get(ForwardedHeader) == "" {
				if ferr := s.forward(rec, r, raw, c.db, holder); ferr == nil {
					return
				} else {
					err = ferr
				}
			}
			if errors.Is(err, errNotPrimary) {
				err = anomaly.New(anomaly.Unavailable, "api", "this query-group node found no primary node to take the write")
			}
			fail(rec, r, err)
			return
		}
		respond(rec, r, http.StatusOK, out)
	})
}

// forward sends a write to the node that writes database db (holder, or
// for a query-group node the primary node preferred for the database), and
// copies its answer back.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, raw []byte, db, holder string) error {
	ctx := r.Context()
	members, err := s.node.members(ctx, PrimaryGroup)
	if err != nil {
		return err
	}
	var target transactor.Member
	found := false
	if holder == "" && db != "" {
		// A query-group node: the lease's holder if it is live, else
		// the primary node preferred for the database (it takes the lease).
		info, err := s.node.dbInfo(ctx, db)
		if err != nil {
			return err
		}
		if l, err := s.node.catalog.LeaseOf(ctx, info.ID); err == nil && l.Holder != "" && time.Now().Before(l.Expires) {
			holder = l.Holder
		} else {
			target, found = transactor.PreferredWriter(info.ID, members)
		}
	} else if holder == "" && len(members) > 0 {
		target, found = members[0], true // no database: any primary node
	}
	if holder != "" {
		for _, m := range members {
			if m.ID == holder {
				target, found = m, true
			}
		}
	}
	if !found || target.ID == s.node.cfg.NodeID {
		return anomaly.New(anomaly.Unavailable, "forward", "database %s: its writer %q is not among the live primary nodes; retry", db, holder)
	}
	scheme := "http"
	if s.node.cfg.TLSCert != "" {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, scheme+"://"+target.Addr+r.URL.RequestURI(), bytes.NewReader(raw))
	if err != nil {
		return anomaly.Wrap(anomaly.Fault, "forward", err)
	}
	req.Header = r.Header.Clone()
	req.Host = r.Host // the signature covers it
	req.Header.Set(ForwardedHeader, s.node.cfg.NodeID)
	resp, err := s.client.Do(req)
	if err != nil {
		return forwardFailed(target.ID, err)
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
	s.metrics_.forwards.Add(1)
	return nil
}

// forwardFailed is the error of a forward to target that got no answer:
// unavailable, and when the request may have reached the writer (anything
// but a failed dial) with an unknown outcome, so that no client resends a
// write that may have committed.
func forwardFailed(target string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		// Never sent (the writer is gone or moving): retry.
		return anomaly.Wrap(anomaly.Unavailable, "forward to "+target, err)
	}
	return anomaly.Wrap(anomaly.Unavailable, "forward to "+target, fmt.Errorf("%w: %w", transactor.ErrOutcomeUnknown, err))
}

// statusRecorder remembers a response's status for the metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Serve serves on l until Shutdown. With TLS configured, it serves HTTPS.
func (s *Server) Serve(l net.Listener) error {
	cfg := s.node.cfg
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return anomaly.New(anomaly.Incorrect, "tls", "tls-cert %s, tls-key %s: %v", cfg.TLSCert, cfg.TLSKey, err)
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", s.node.cfg.Listen)
	if err != nil {
		return nil, anomaly.New(anomaly.Unavailable, "listen", "%s: %v (another node running? pick another with --listen)", s.node.cfg.Listen, err)
	}
	return l, nil
}

// Shutdown stops taking requests, lets the running ones finish (within
// the grace period), and closes the node: acknowledged transactions are
// durable before their answer, so none is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	ctx, cancel := context.WithTimeout(ctx, s.node.cfg.ShutdownGrace)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if cerr := s.node.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
