package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratadb/strata/engine"
)

// Metrics in Prometheus's text format at GET /metrics:
//
//	strata_http_requests_total{route,code}        counter
//	strata_http_request_seconds{route}            histogram
//	strata_transactions_total                     counter (acknowledged here)
//	strata_transaction_seconds                    histogram (transact requests)
//	strata_forwarded_total                        counter (writes sent to the writer)
//	strata_stratum_{hits,misses,errors}_total{stratum}  counters per cache stratum
//	strata_stratum_read_seconds{stratum,quantile} summary of reads each stratum served
//	strata_chunk_cache_{hits,misses}_total        the decoded-chunk cache
//	strata_memindex_datoms{db}                    memory-index size of the databases written here
//	strata_indexing_lag_t{db}                     t not yet in the persistent trees
//	strata_writer_{transactions,batches,failed,busy}_total{db}
//	strata_follower_lag_t{db}                     how far a follower is behind the log

// latencyBuckets are the histograms' upper bounds, in seconds.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type histogram struct {
	counts []atomic.Int64 // per bucket, then +Inf
	sum    atomic.Int64   // nanoseconds
	n      atomic.Int64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]atomic.Int64, len(latencyBuckets)+1)}
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i, _ := slices.BinarySearch(latencyBuckets, s)
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
	h.n.Add(1)
}

func (h *histogram) write(w io.Writer, name, labels string) {
	var cum int64
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, b := range latencyBuckets {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s%sle=\"%g\"} %d\n", name, labels, sep, b, cum)
	}
	cum += h.counts[len(latencyBuckets)].Load()
	fmt.Fprintf(w, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, cum)
	fmt.Fprintf(w, "%s_sum{%s} %g\n", name, labels, time.Duration(h.sum.Load()).Seconds())
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, h.n.Load())
}

type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // route, code
	latency  map[string]*histogram
	txs      atomic.Int64
	txTime   *histogram
	forwards atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, latency: map[string]*histogram{}, txTime: newHistogram()}
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.mu.Lock()
	m.requests[[2]string{route, fmt.Sprint(code)}]++
	h := m.latency[route]
	if h == nil {
		h = newHistogram()
		m.latency[route] = h
	}
	m.mu.Unlock()
	h.observe(d)
	if strings.HasSuffix(route, "/transact") && code == http.StatusOK {
		m.txTime.observe(d)
	}
}

func (s *Server) writeMetrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	m := s.metrics_
	fmt.Fprintln(w, "# TYPE strata_http_requests_total counter")
	m.mu.Lock()
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
	for _, k := range keys {
		fmt.Fprintf(w, "strata_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	hs := make([]*histogram, len(routes))
	for i, r := range routes {
		hs[i] = m.latency[r]
	}
	m.mu.Unlock()
	fmt.Fprintln(w, "# TYPE strata_http_request_seconds histogram")
	for i, r := range routes {
		hs[i].write(w, "strata_http_request_seconds", fmt.Sprintf("route=%q", r))
	}
	fmt.Fprintf(w, "# TYPE strata_transactions_total counter\nstrata_transactions_total %d\n", m.txs.Load())
	fmt.Fprintln(w, "# TYPE strata_transaction_seconds histogram")
	m.txTime.write(w, "strata_transaction_seconds", "")
	fmt.Fprintf(w, "# TYPE strata_forwarded_total counter\nstrata_forwarded_total %d\n", m.forwards.Load())

	st := s.node.strata.Stats()
	for _, kind := range []string{"hits", "misses", "errors"} {
		fmt.Fprintf(w, "# TYPE strata_stratum_%s_total counter\n", kind)
		for _, t := range st.Tiers {
			v := map[string]int64{"hits": t.Hits, "misses": t.Misses, "errors": t.Errors}[kind]
			fmt.Fprintf(w, "strata_stratum_%s_total{stratum=%q} %d\n", kind, t.Name, v)
		}
	}
	fmt.Fprintln(w, "# TYPE strata_stratum_read_seconds summary")
	for _, t := range st.Tiers {
		l := t.Latency
		for _, q := range []struct {
			q string
			d time.Duration
		}{{"0.5", l.P50}, {"0.99", l.P99}, {"0.999", l.P999}} {
			fmt.Fprintf(w, "strata_stratum_read_seconds{stratum=%q,quantile=%q} %g\n", t.Name, q.q, q.d.Seconds())
		}
		fmt.Fprintf(w, "strata_stratum_read_seconds_sum{stratum=%q} %g\n", t.Name, (time.Duration(l.Count) * l.Mean).Seconds())
		fmt.Fprintf(w, "strata_stratum_read_seconds_count{stratum=%q} %d\n", t.Name, l.Count)
	}
	hits, misses := engine.ChunkCacheStats()
	fmt.Fprintf(w, "# TYPE strata_chunk_cache_hits_total counter\nstrata_chunk_cache_hits_total %d\n", hits)
	fmt.Fprintf(w, "# TYPE strata_chunk_cache_misses_total counter\nstrata_chunk_cache_misses_total %d\n", misses)

	conns, followers := s.node.tracked()
	fmt.Fprintln(w, "# TYPE strata_memindex_datoms gauge")
	for _, c := range conns {
		fmt.Fprintf(w, "strata_memindex_datoms{db=%q} %d\n", c.Info().Name, c.DB().MemDatoms())
	}
	fmt.Fprintln(w, "# TYPE strata_indexing_lag_t gauge")
	for _, c := range conns {
		db := c.DB()
		fmt.Fprintf(w, "strata_indexing_lag_t{db=%q} %d\n", c.Info().Name, db.BasisT()-db.IndexedT())
	}
	for _, kind := range []string{"transactions", "batches", "failed", "busy"} {
		fmt.Fprintf(w, "# TYPE strata_writer_%s_total counter\n", kind)
		for _, c := range conns {
			cs := c.Stats()
			v := map[string]int64{"transactions": cs.Transactions, "batches": cs.Batches, "failed": cs.Failed, "busy": cs.Busy}[kind]
			fmt.Fprintf(w, "strata_writer_%s_total{db=%q} %d\n", kind, c.Info().Name, v)
		}
	}
	fmt.Fprintln(w, "# TYPE strata_follower_lag_t gauge")
	for name, f := range followers {
		fmt.Fprintf(w, "strata_follower_lag_t{db=%q} %d\n", name, f.Lag())
	}
}
