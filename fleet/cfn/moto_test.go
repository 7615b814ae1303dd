package cfn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The package's tests share one moto_server, started by the first test
// that needs it and stopped by TestMain; tests keep apart by system name.
var moto struct {
	once     sync.Once
	endpoint string
	skip     string // why tests that need it skip
	err      error
	stop     func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.stop != nil {
		moto.stop()
	}
	os.Exit(code)
}

// startMoto returns the endpoint of the shared moto_server (e.g.
// http://127.0.0.1:41234), starting it on a free 127.0.0.1 port the first
// time; it skips the test when moto_server is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting moto_server")
	}
	moto.once.Do(func() { moto.endpoint, moto.stop, moto.skip, moto.err = runMoto() })
	if moto.skip != "" {
		t.Skip(moto.skip)
	}
	if moto.err != nil {
		t.Fatal(moto.err)
	}
	return moto.endpoint
}

// runMoto starts moto_server. The port is found by listening on :0 and
// closing; another process could take it in between, in which case
// moto_server fails to bind and the error carries its output, which says so.
func runMoto() (endpoint string, stop func(), skip string, err error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", nil, "moto_server is not installed (pip install 'moto[server]'): skipping the tests against it", nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, "", err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, "", err
	}
	var log strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if log.Len() < 1<<16 {
				log.WriteString(sc.Text() + "\n")
			}
		}
		io.Copy(io.Discard, out)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		<-logDone
		if os.Getenv("MOTO_LOG") != "" {
			fmt.Fprintf(os.Stderr, "moto_server output:\n%s", log.String())
		}
	}
	endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", endpoint+"/moto-api/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return endpoint, stop, "", nil
		}
		select {
		case werr := <-exited:
			<-logDone
			return "", nil, "", fmt.Errorf("moto_server exited: %v\n%s", werr, log.String())
		case <-ctx.Done():
			stop()
			return "", nil, "", fmt.Errorf("moto_server did not answer on %s within 30s: %v", endpoint, err)
		case <-time.After(50 * time.Millisecond):
			// Polling a process that gives no readiness signal: there is
			// no condition to wait on but the port answering.
		}
	}
}

// motoClient returns a Client for a moto_server endpoint.
func motoClient(t *testing.T, endpoint string) *Client {
	t.Helper()
	c, err := NewClient(context.Background(), ClientOptions{
		Region: "us-east-1", Endpoint: endpoint,
		AccessKeyID: "testing", SecretAccessKey: "testing",
		PollInterval: 10 * time.Millisecond, StackTimeout: 30 * time.Second, MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
