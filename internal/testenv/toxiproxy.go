package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
)

// Toxiproxy is the toxiproxy server that `make test` starts (exported as
// STRATA_TEST_TOXIPROXY, its API's address), driven through its HTTP API.
type Toxiproxy struct {
	API string // e.g. http://127.0.0.1:8474
	t   testing.TB
}

// Toxi returns the toxiproxy server, or skips or fails t as S3 does.
func Toxi(t testing.TB) *Toxiproxy {
	t.Helper()
	if testing.Short() {
		t.Skip("needs toxiproxy: skipped under -short")
	}
	api := os.Getenv("STRATA_TEST_TOXIPROXY")
	if api == "" {
		msg := "needs toxiproxy: STRATA_TEST_TOXIPROXY is not set (run the tests with `make test`, which starts it)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return &Toxiproxy{API: api, t: t}
}

func (p *Toxiproxy) call(method, path string, body any, out any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			p.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.API+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("toxiproxy %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		p.t.Fatalf("toxiproxy %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("toxiproxy %s %s: %v", method, path, err)
		}
	}
}

// Proxy creates a proxy named name to upstream (host:port) on a free
// loopback port, removed when the test ends, and returns its address.
func (p *Toxiproxy) Proxy(name, upstream string) string {
	p.t.Helper()
	var out struct {
		Listen string `json:"listen"`
	}
	p.call("POST", "/proxies", map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream}, &out)
	p.t.Cleanup(func() { p.call("DELETE", "/proxies/"+name, nil, nil) })
	return out.Listen
}

// AddToxic adds a toxic (type "latency", "timeout", "reset_peer", …) on
// stream "upstream" (client to server) or "downstream" (server to client).
func (p *Toxiproxy) AddToxic(proxy, name, typ, stream string, attrs map[string]any) {
	p.t.Helper()
	p.call("POST", fmt.Sprintf("/proxies/%s/toxics", proxy),
		map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs}, nil)
}

// RemoveToxic removes a toxic.
func (p *Toxiproxy) RemoveToxic(proxy, name string) {
	p.t.Helper()
	p.call("DELETE", fmt.Sprintf("/proxies/%s/toxics/%s", proxy, name), nil, nil)
}
