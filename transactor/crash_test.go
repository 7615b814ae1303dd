package transactor

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/engine"
	"github.com/stratadb/strata/internal/testenv"
)

// The crash test runs a writer in a child process (this test binary,
// re-executed), kills it with SIGKILL in the middle of group commits, and
// checks what a restarted writer recovers, many times over on the same
// files.

const crashChildEnv = "STRATA_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if dir := os.Getenv(handoverChildEnv); dir != "" {
		handoverChild(dir)
		return
	}
	os.Exit(m.Run())
}

var opSchema = []engine.Op{
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("op/id")}, {A: kw("db/valueType"), V: kw("db.type/string")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/one")}, {A: kw("db/unique"), V: kw("db.unique/value")}}},
	engine.Map{Attrs: []engine.KV{{A: kw("db/ident"), V: kw("op/n")}, {A: kw("db/valueType"), V: kw("db.type/long")},
		{A: kw("db/cardinality"), V: kw("db.cardinality/one")}}},
}

// crashChild is the child: 8 clients transact unique operations as fast as
// they can and print "ack ID" for each acknowledged one, until killed.
func crashChild(dir string) {
	ctx := context.Background()
	log, cat, err := crashBackend(ctx, dir, os.Getenv(crashChildEnv+"_TABLE"))
	if err != nil {
		panic(err)
	}
	info, err := cat.GetDB(ctx, "test")
	if err != nil {
		panic(err)
	}
	store, err := newDirStratified(dir + "/store")
	if err != nil {
		panic(err)
	}
	c, err := OpenConn(ctx, Options{Log: log, Catalog: cat, Store: store, IndexDatoms: 500,
		Tree: engine.TreeOptions{ChunkDatoms: 16, LeafDatoms: 64, Fanout: 8}}, info)
	if err != nil {
		panic(err)
	}
	if _, ok := c.DB().Schema().AttrByIdent("op/id"); !ok {
		if _, err := c.Transact(ctx, opSchema); err != nil {
			panic(err)
		}
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	round := os.Getenv(crashChildEnv + "_ROUND")
	fmt.Fprintln(os.Stdout, "ready")
	var wg sync.WaitGroup
	for client := range 8 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				id := fmt.Sprintf("r%s-c%d-%d", round, client, seq)
				_, err := c.Transact(ctx, []engine.Op{engine.Map{Attrs: []engine.KV{{A: kw("op/id"), V: id}, {A: kw("op/n"), V: int64(seq)}}}})
				if err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintln(out, "ack", id)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// crashBackend opens the log and catalog of the crash test: files in dir,
// or, with a table name, DynamoDB Local's table (the endpoint from the
// environment that make test sets).
func crashBackend(ctx context.Context, dir, table string) (Log, Catalog, error) {
	if table == "" {
		log, err := OpenFileLog(dir + "/log")
		if err != nil {
			return nil, nil, err
		}
		cat, err := OpenFileCatalog(dir + "/catalog")
		return log, cat, err
	}
	o := DynamoOptions{Table: table, Region: "us-east-1", Endpoint: os.Getenv("STRATA_TEST_DYNAMODB_ENDPOINT"),
		AccessKeyID: "stratalocal", SecretAccessKey: "stratalocal-secret", CreateTable: true}
	log, err := OpenDynamoLog(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	cat, err := OpenDynamoCatalog(ctx, o)
	return log, cat, err
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	t.Run("files", func(t *testing.T) { crashRecovery(t, "") })
	t.Run("dynamodb", func(t *testing.T) {
		testenv.Dynamo(t)
		crashRecovery(t, "strata-crash-"+newDBID()[:12])
	})
}

func crashRecovery(t *testing.T, table string) {
	ctx := context.Background()
	s := newSystem(t)
	if table != "" {
		log, cat, err := crashBackend(ctx, s.dir, table)
		if err != nil {
			t.Fatal(err)
		}
		if s.info, err = cat.CreateDB(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		s.opts.Log, s.opts.Catalog = log, cat
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rounds := 12
	rng := rand.New(rand.NewPCG(1, 2))
	acked := map[string]bool{}
	for round := range rounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+s.dir, fmt.Sprint(crashChildEnv, "_ROUND=", round),
			crashChildEnv+"_TABLE="+table)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() || lines.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the child did not start: %q", round, lines.Text())
		}
		done := make(chan struct{})
		n := 0
		go func() {
			defer close(done)
			for lines.Scan() {
				if id, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
					acked[id] = true
					n++
				}
			}
		}()
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		cmd.Wait()
		if n == 0 && round > 0 {
			t.Logf("round %d: killed before any acknowledgement", round)
		}

		// Recover as a new writer would, and check.
		db, _, err := Recover(ctx, s.opts, s.info, nil)
		if err != nil {
			t.Fatalf("round %d: recover: %v", round, err)
		}
		checkOps(t, ctx, s, db, acked, round)
	}
	t.Logf("%d rounds, %d acknowledged transactions, all present exactly once", rounds, len(acked))
}

// checkOps: every acknowledged operation is in the database, and every
// operation in the log appears once, whole.
func checkOps(t *testing.T, ctx context.Context, s *system, db *engine.DB, acked map[string]bool, round int) {
	t.Helper()
	idAttr, ok := db.Schema().AttrByIdent("op/id")
	if !ok {
		if len(acked) > 0 {
			t.Fatalf("round %d: the schema is gone", round)
		}
		return
	}
	nAttr, _ := db.Schema().AttrByIdent("op/n")
	present := map[string]int{}
	for d, err := range db.Datoms(ctx, datom.AEVT, engine.Components{A: idAttr.ID, HasA: true}) {
		if err != nil {
			t.Fatal(err)
		}
		present[d.V.Str()]++
		n := 0
		for _, err := range db.Datoms(ctx, datom.EAVT, engine.Components{E: d.E, HasE: true, A: nAttr.ID, HasA: true}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("round %d: operation %s is half applied (%d op/n datoms)", round, d.V.Str(), n)
		}
	}
	for id := range acked {
		if present[id] != 1 {
			t.Fatalf("round %d: acknowledged operation %s is present %d times", round, id, present[id])
		}
	}
	// In the log, each operation is asserted once.
	inLog := map[string]int{}
	for rec, err := range s.opts.Log.Records(ctx, s.info.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range rec.Txs {
			for _, d := range tx.Data {
				if d.A == idAttr.ID && d.Added {
					inLog[d.V.Str()]++
				}
			}
		}
	}
	for id, n := range inLog {
		if n != 1 {
			t.Fatalf("round %d: operation %s is in the log %d times", round, id, n)
		}
	}
}
