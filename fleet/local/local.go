// Package local runs strata's production topology on one machine: a
// primary group and query groups as `strata node` processes on 127.0.0.1
// sharing one storage (files under the fleet's directory, or DynamoDB and
// S3 — DynamoDB Local and MinIO — when given), so that a developer can try
// forwarding, lease hand-over and query groups without AWS. `strata fleet
// local up|down|status` drives it.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/server"
)

// Spec says what Up starts.
type Spec struct {
	// Dir is the fleet's directory: shared data (data/), each node's SSD
	// tier and log (NAME/), and the fleet's state (fleet.json).
	Dir string
	// Binary is the strata binary the nodes run (`Binary node …`).
	Binary string
	// Env is added to the nodes' environment (which is Up's caller's).
	Env []string
	// Primary is the number of primary nodes (at least 1).
	Primary int
	// QueryGroups are the query groups: name to number of nodes.
	QueryGroups map[string]int
	// Storage, when it names a table and a bucket, is shared by the nodes
	// instead of files under Dir.
	Storage Storage
	// LeaseTTL is the nodes' writer lease (0: the node's default).
	LeaseTTL time.Duration
	// ReadyTimeout bounds the wait for every node's /ready (default 60 s).
	ReadyTimeout time.Duration
}

// Storage is shared AWS-compatible storage.
type Storage struct {
	DynamoTable, DynamoEndpoint, S3Bucket, S3Prefix, S3Endpoint, Region string
	CreateTable                                                         bool
}

// Member is a node of a running fleet.
type Member struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	Addr  string `json:"addr"`
	PID   int    `json:"pid"`
	Log   string `json:"log"`
}

// State is a running fleet, as fleet.json keeps it.
type State struct {
	Dir     string    `json:"dir"`
	Started time.Time `json:"started"`
	Members []Member  `json:"members"`
}

// Endpoint is member m's API address.
func (m Member) Endpoint() string { return "http://" + m.Addr }

const stateFile = "fleet.json"

func incorrect(format string, args ...any) error {
	return anomaly.New(anomaly.Incorrect, "fleet local", format, args...)
}

// Up starts the fleet and waits until every node is ready. A fleet
// already running in Dir is a conflict; on failure, the nodes it started
// are stopped.
func Up(ctx context.Context, spec Spec) (*State, error) {
	if spec.Primary < 1 {
		return nil, incorrect("--primary %d: at least one primary node", spec.Primary)
	}
	if spec.Binary == "" || spec.Dir == "" {
		return nil, incorrect("the strata binary and the fleet's directory are required")
	}
	for name, n := range spec.QueryGroups {
		if n < 1 || name == server.PrimaryGroup {
			return nil, incorrect("--query-group %s=%d: a name other than primary, and at least one node", name, n)
		}
	}
	if (spec.Storage.DynamoTable == "") != (spec.Storage.S3Bucket == "") {
		return nil, incorrect("--dynamodb-table and --s3-bucket go together")
	}
	if st, err := read(spec.Dir); err == nil && anyAlive(st) {
		return nil, anomaly.New(anomaly.Conflict, "fleet local", "a fleet is running in %s (strata fleet local down --dir %s)", spec.Dir, spec.Dir)
	}
	if err := os.MkdirAll(filepath.Join(spec.Dir, "data"), 0o755); err != nil {
		return nil, incorrect("--dir %s: %v", spec.Dir, err)
	}
	type node struct{ name, group string }
	var nodes []node
	for i := range spec.Primary {
		nodes = append(nodes, node{fmt.Sprintf("primary-%d", i+1), server.PrimaryGroup})
	}
	groups := make([]string, 0, len(spec.QueryGroups))
	for g := range spec.QueryGroups {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		for i := range spec.QueryGroups[g] {
			nodes = append(nodes, node{fmt.Sprintf("%s-%d", g, i+1), g})
		}
	}
	st := &State{Dir: spec.Dir, Started: time.Now()}
	ok := false
	defer func() {
		if !ok {
			stop(st, 10*time.Second)
		}
	}()
	for _, n := range nodes {
		m, err := start(spec, n.name, n.group)
		if err != nil {
			return nil, err
		}
		st.Members = append(st.Members, m)
	}
	if err := write(st); err != nil {
		return nil, err
	}
	timeout := spec.ReadyTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, m := range st.Members {
		if err := waitReady(ctx, m); err != nil {
			return nil, err
		}
	}
	ok = true
	return st, nil
}

// start launches one node, detached (its own session), its output in its
// log.
func start(spec Spec, name, group string) (Member, error) {
	dir := filepath.Join(spec.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Member{}, incorrect("%s: %v", dir, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return Member{}, err
	}
	args := []string{"node", "--data", filepath.Join(spec.Dir, "data"), "--listen", addr, "--node-id", name, "--group", group,
		"--ssd-path", filepath.Join(dir, "ssd"), "--ssd-bytes", strconv.Itoa(64 << 20), "--allow-unsigned", "true"}
	if spec.LeaseTTL > 0 {
		args = append(args, "--lease-ttl", spec.LeaseTTL.String())
	}
	s := spec.Storage
	for _, f := range [][2]string{{"--dynamodb-table", s.DynamoTable}, {"--dynamodb-endpoint", s.DynamoEndpoint}, {"--s3-bucket", s.S3Bucket},
		{"--s3-prefix", s.S3Prefix}, {"--s3-endpoint", s.S3Endpoint}, {"--region", s.Region}} {
		if f[1] != "" {
			args = append(args, f[0], f[1])
		}
	}
	if s.CreateTable {
		args = append(args, "--create-table")
	}
	logPath := filepath.Join(dir, "node.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Member{}, incorrect("%s: %v", logPath, err)
	}
	defer logf.Close()
	cmd := exec.Command(spec.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Member{}, anomaly.New(anomaly.Unavailable, "fleet local", "starting %s: %v", name, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it if it exits while this process lives
	return Member{Name: name, Group: group, Addr: addr, PID: pid, Log: logPath}, nil
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", anomaly.Wrap(anomaly.Unavailable, "fleet local", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls m's /ready until it answers 200, its process dies, or
// ctx ends.
func waitReady(ctx context.Context, m Member) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", m.Endpoint()+"/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if !alive(m.PID) {
			return anomaly.New(anomaly.Unavailable, "fleet local", "node %s exited while starting; see %s", m.Name, m.Log)
		}
		select {
		case <-ctx.Done():
			return anomaly.New(anomaly.Unavailable, "fleet local", "node %s not ready: %v; see %s", m.Name, ctx.Err(), m.Log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive reports whether process pid exists (and is not a zombie).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name in parentheses.
	for i := len(stat) - 1; i > 0; i-- {
		if stat[i] == ')' {
			return i+2 >= len(stat) || stat[i+2] != 'Z'
		}
	}
	return true
}

func anyAlive(st *State) bool {
	for _, m := range st.Members {
		if alive(m.PID) {
			return true
		}
	}
	return false
}

func write(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(st.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return incorrect("%v", err)
	}
	return os.Rename(tmp, filepath.Join(st.Dir, stateFile))
}

func read(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, anomaly.New(anomaly.NotFound, "fleet local", "no fleet in %s (strata fleet local up --dir %s)", dir, dir)
		}
		return nil, anomaly.Wrap(anomaly.Unavailable, "fleet local", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, anomaly.New(anomaly.Fault, "fleet local", "%s: %v", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// Read returns the fleet running in dir.
func Read(dir string) (*State, error) { return read(dir) }

// Down stops the fleet in dir: SIGTERM to every node (each finishes its
// requests; acknowledged transactions are durable), SIGKILL to those still
// running after grace, then forgets the fleet (its data stays in dir).
func Down(dir string, grace time.Duration) error {
	st, err := read(dir)
	if err != nil {
		return err
	}
	stop(st, grace)
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return anomaly.Wrap(anomaly.Unavailable, "fleet local", err)
	}
	return nil
}

func stop(st *State, grace time.Duration) {
	for _, m := range st.Members {
		if alive(m.PID) {
			syscall.Kill(m.PID, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(grace)
	for _, m := range st.Members {
		for alive(m.PID) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(m.PID) {
			syscall.Kill(m.PID, syscall.SIGKILL)
		}
	}
}

// MemberStatus is a node's state.
type MemberStatus struct {
	Member
	Alive, Ready bool
}

// Status reports each node of the fleet in dir: whether its process runs
// and whether it answers /ready.
func Status(ctx context.Context, dir string) ([]MemberStatus, error) {
	st, err := read(dir)
	if err != nil {
		return nil, err
	}
	out := make([]MemberStatus, len(st.Members))
	for i, m := range st.Members {
		out[i] = MemberStatus{Member: m, Alive: alive(m.PID)}
		if out[i].Alive {
			c, cancel := context.WithTimeout(ctx, 2*time.Second)
			req, _ := http.NewRequestWithContext(c, "GET", m.Endpoint()+"/ready", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				out[i].Ready = resp.StatusCode == 200
			}
			cancel()
		}
	}
	return out, nil
}
