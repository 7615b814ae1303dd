package main

// The commands that talk to a node through package client: db, transact,
// q, pull and datoms (import is in import.go). Each takes --endpoint and
// --key; see clientFlags.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/client"
	"github.com/stratadb/strata/edn"
)

// stdin is what FILE "-" reads (tests replace it).
var stdin io.Reader = os.Stdin

// Environment and files the client commands read.
const (
	envEndpoint     = "STRATA_ENDPOINT"
	envKey          = "STRATA_KEY"
	credentialsPath = ".strata/credentials" // under the home directory
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	endpoint string
	key      string
	timeout  time.Duration
}

func addClientFlags(flags *flag.FlagSet) *clientFlags {
	cf := &clientFlags{}
	flags.StringVar(&cf.endpoint, "endpoint", "", "the node's `url` (default $"+envEndpoint+", else "+client.DefaultEndpoint+")")
	flags.StringVar(&cf.key, "key", "", "API key `ID:SECRET` to sign with (default $"+envKey+", else the line key = ID:SECRET in ~/"+credentialsPath+"; none: unsigned)")
	flags.DurationVar(&cf.timeout, "timeout", client.DefaultTimeout, "longest one request may take, retries included")
	return cf
}

// connect resolves the endpoint and key and connects.
func (cf *clientFlags) connect(ctx context.Context) (*client.Client, error) {
	cfg, err := cf.config()
	if err != nil {
		return nil, err
	}
	return client.Connect(ctx, cfg)
}

// config is the client configuration the flags, the environment and the
// credentials file say: the endpoint and the key.
func (cf *clientFlags) config() (client.Config, error) {
	cfg := client.Config{Endpoint: cf.endpoint, Timeout: cf.timeout}
	if cfg.Endpoint == "" {
		cfg.Endpoint = os.Getenv(envEndpoint)
	}
	key, from := cf.key, "--key"
	if key == "" {
		key, from = os.Getenv(envKey), "$"+envKey
	}
	if key == "" {
		var err error
		if key, from, err = credentialsKey(); err != nil {
			return cfg, err
		}
	}
	if key != "" {
		id, secret, ok := strings.Cut(key, ":")
		if !ok || id == "" || secret == "" {
			return cfg, usagef("%s: want ID:SECRET (as strata keys create prints them)", from)
		}
		cfg.KeyID, cfg.Secret = id, secret
	}
	return cfg, nil
}

// credentialsKey reads the key from ~/.strata/credentials: lines
// `key = ID:SECRET`, blank lines and # comments. No file: no key.
func credentialsKey() (key, from string, err error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", nil // no home: no file to read
	}
	path := filepath.Join(home, credentialsPath)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", usagef("%s: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(name) != "key" {
			return "", "", usagef("%s:%d: want `key = ID:SECRET`", path, n)
		}
		key = strings.TrimSpace(value)
	}
	if err := sc.Err(); err != nil {
		return "", "", usagef("%s: %v", path, err)
	}
	return key, path, nil
}

// failClient prints err once with its category and returns the exit
// status: 2 for a usage error or incorrect input, 1 otherwise.
func failClient(c *cli, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "%s: %v\n", c.path, err)
		return exitUsage
	}
	cat := anomaly.CategoryOf(err)
	if msg := err.Error(); strings.HasPrefix(msg, cat.String()+":") {
		fmt.Fprintf(c.stderr, "%s: %s\n", c.path, msg)
	} else {
		fmt.Fprintf(c.stderr, "%s: %s: %s\n", c.path, cat, msg)
	}
	if cat == anomaly.Incorrect {
		return exitUsage
	}
	return exitFailure
}

// parseArgs parses flags anywhere among the arguments (strata db create
// NAME --endpoint URL), not only before the first: an argument is a flag
// if it names one of flags (or -h); "--" ends the flags. Other arguments
// that start with "-", such as -5, stay arguments.
func parseArgs(c *cli, flags *flag.FlagSet, args []string, synopsis, about, example string) ([]string, int) {
	var pos []string
	for {
		if code := parseFlags(c, flags, args, synopsis, about, example); code >= 0 {
			return nil, code
		}
		rest := flags.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), -1
		}
		i := 0
		for i < len(rest) && !isFlag(flags, rest[i]) {
			i++
		}
		pos = append(pos, rest[:i]...)
		if i == len(rest) {
			return pos, -1
		}
		args = rest[i:]
	}
}

func isFlag(flags *flag.FlagSet, arg string) bool {
	if arg == "--" {
		return true
	}
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return name == "h" || name == "help" || flags.Lookup(name) != nil
}

// wantArgs checks the number of arguments.
func wantArgs(pos []string, lo, hi int, what string) error {
	if len(pos) < lo || hi >= 0 && len(pos) > hi {
		return usagef("want %s, got %d argument(s) (see -h)", what, len(pos))
	}
	return nil
}

// ---- db create | list | delete ----

func runDBCreate(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	pos, code := parseArgs(c, flags, args, "NAME [flags]", "Creates a database.", "strata db create people")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 1, 1, "the database's NAME"); err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	if err := cl.CreateDB(ctx, pos[0]); err != nil {
		return failClient(c, err)
	}
	fmt.Fprintf(c.stdout, "created %s\n", pos[0])
	return exitOK
}

func runDBList(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	pos, code := parseArgs(c, flags, args, "[flags]", "Lists the databases, one name a line.", "strata db list --endpoint http://10.0.0.5:4334")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 0, 0, "no arguments"); err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	names, err := cl.ListDBs(ctx)
	if err != nil {
		return failClient(c, err)
	}
	for _, n := range names {
		fmt.Fprintln(c.stdout, n)
	}
	return exitOK
}

func runDBDelete(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	pos, code := parseArgs(c, flags, args, "NAME [flags]", "Deletes a database and all its data. There is no undo.", "strata db delete scratch")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 1, 1, "the database's NAME"); err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	if err := cl.DeleteDB(ctx, pos[0]); err != nil {
		return failClient(c, err)
	}
	fmt.Fprintf(c.stdout, "deleted %s\n", pos[0])
	return exitOK
}

// ---- transact ----

// readInput reads FILE, or stdin for "-".
func readInput(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, usagef("reading stdin: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return b, nil
}

func runTransact(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	db := flags.String("db", "", "the database's `name` (required)")
	pos, code := parseArgs(c, flags, args, "--db NAME FILE|- [flags]",
		"Commits the EDN transaction data in FILE (- for stdin): each top-level value is one\n"+
			"transaction (a vector of entity maps and [:db/add …] forms), committed in order.\n"+
			"Prints each transaction's report: {:t-before T :t-after T :tempids {…} :datoms N}.\n"+
			"For large files, strata import batches and pipelines.",
		"strata transact --db people schema.edn")
	if code >= 0 {
		return code
	}
	if *db == "" {
		return failClient(c, usagef("--db is required"))
	}
	if err := wantArgs(pos, 1, 1, "one FILE (or - for stdin)"); err != nil {
		return failClient(c, err)
	}
	data, err := readInput(pos[0])
	if err != nil {
		return failClient(c, err)
	}
	txs, err := edn.ParseAll(data)
	if err != nil {
		return failClient(c, usagef("%s: %v", pos[0], err))
	}
	if len(txs) == 0 {
		return failClient(c, usagef("%s holds no transaction", pos[0]))
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	conn := cl.Conn(*db)
	for i, tx := range txs {
		rep, err := conn.Transact(ctx, tx)
		if err != nil {
			if len(txs) > 1 {
				err = fmt.Errorf("%w (transaction %d of %d; the ones before it are committed)", err, i+1, len(txs))
			}
			return failClient(c, err)
		}
		ids := make(edn.Map, 0, len(rep.TempIDs))
		for k, v := range rep.TempIDs {
			ids = append(ids, edn.Entry{Key: k, Value: v})
		}
		sortEntries(ids)
		out, err := edn.Marshal(edn.Map{{Key: kwd("t-before"), Value: rep.TBefore}, {Key: kwd("t-after"), Value: rep.TAfter},
			{Key: kwd("tempids"), Value: ids}, {Key: kwd("datoms"), Value: int64(len(rep.TxData))}})
		if err != nil {
			return failClient(c, err)
		}
		fmt.Fprintf(c.stdout, "%s\n", out)
	}
	return exitOK
}

func kwd(name string) edn.Keyword { return edn.Keyword{Name: name} }

func sortEntries(m edn.Map) {
	slices.SortFunc(m, func(a, b edn.Entry) int { return strings.Compare(fmt.Sprint(a.Key), fmt.Sprint(b.Key)) })
}

// ---- views and output, shared by q, pull and datoms ----

type viewFlags struct {
	asOf, since string
	history     bool
}

func addViewFlags(flags *flag.FlagSet) *viewFlags {
	vf := &viewFlags{}
	flags.StringVar(&vf.asOf, "as-of", "", "read the database as of `T`: a t, a transaction id or an #inst \"…\"")
	flags.StringVar(&vf.since, "since", "", "read only the datoms added after `T` (as --as-of)")
	flags.BoolVar(&vf.history, "history", false, "read every assertion and retraction")
	return vf
}

// apply makes the view of db the flags ask for.
func (vf *viewFlags) apply(db *client.DB) (*client.DB, error) {
	if vf.asOf != "" {
		p, err := timePoint("--as-of", vf.asOf)
		if err != nil {
			return nil, err
		}
		db = db.AsOf(p)
	}
	if vf.since != "" {
		p, err := timePoint("--since", vf.since)
		if err != nil {
			return nil, err
		}
		db = db.Since(p)
	}
	if vf.history {
		db = db.History()
	}
	return db, nil
}

// timePoint reads a t, a transaction id or an #inst.
func timePoint(flag, text string) (any, error) {
	p, err := edn.Parse([]byte(text))
	if err != nil {
		return nil, usagef("%s %q: %v", flag, text, err)
	}
	switch p.(type) {
	case int64, time.Time:
		return p, nil
	}
	return nil, usagef("%s %q: want a t, a transaction id or an #inst \"…\"", flag, text)
}

// parseEDNArgs reads each argument as EDN text.
func parseEDNArgs(what string, texts []string) ([]any, error) {
	out := make([]any, len(texts))
	for i, s := range texts {
		v, err := edn.Parse([]byte(s))
		if err != nil {
			return nil, usagef("%s %q: %v (strings need quotes: '\"ann\"')", what, s, err)
		}
		out[i] = v
	}
	return out, nil
}

// printEDN writes v as EDN; a top-level vector puts each element on a
// line of its own (still one EDN value).
func printEDN(w io.Writer, v any) error {
	vec, ok := v.(edn.Vector)
	if !ok || len(vec) < 2 {
		b, err := edn.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	bw := bufio.NewWriter(w)
	for i, x := range vec {
		b, err := edn.Marshal(x)
		if err != nil {
			return err
		}
		open, end := " ", "\n"
		if i == 0 {
			open = "["
		}
		if i == len(vec)-1 {
			end = "]\n"
		}
		bw.WriteString(open)
		bw.Write(b)
		bw.WriteString(end)
	}
	return bw.Flush()
}

func printJSON(w io.Writer, v any) error {
	b, err := edn.ToJSON(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// ---- q ----

func runQ(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	vf := addViewFlags(flags)
	db := flags.String("db", "", "the database's `name` (required)")
	asJSON := flags.Bool("json", false, "print the result in EDN's JSON form")
	asTable := flags.Bool("table", false, "print the result as a table, one column per :find element")
	limit := flags.Int("limit", 0, "at most `N` results (0: all)")
	offset := flags.Int("offset", 0, "skip the first `N` results")
	pos, code := parseArgs(c, flags, args, "--db NAME [--json|--table] QUERY [ARG…] [flags]",
		"Runs a query (EDN) with ARGs (each EDN: 42, '\"ann\"', :kw, '[1 2]') as its :in inputs\n"+
			"after the database, and prints the result as EDN (a relation one row a line).",
		`strata q --db people '[:find ?n ?a :in $ ?min :where [?e :person/name ?n] [?e :person/age ?a] [(> ?a ?min)]]' 30`)
	if code >= 0 {
		return code
	}
	if *db == "" {
		return failClient(c, usagef("--db is required"))
	}
	if *asJSON && *asTable {
		return failClient(c, usagef("--json and --table: pick one"))
	}
	if err := wantArgs(pos, 1, -1, "a QUERY and its ARGs"); err != nil {
		return failClient(c, err)
	}
	inputs, err := parseEDNArgs("argument", pos[1:])
	if err != nil {
		return failClient(c, err)
	}
	var find []any
	if *asTable {
		if find, err = findSpec(pos[0]); err != nil {
			return failClient(c, err)
		}
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	view, err := vf.apply(cl.Conn(*db).DB())
	if err != nil {
		return failClient(c, err)
	}
	res, err := view.Query(ctx, client.Query{Query: pos[0], Args: inputs, Limit: *limit, Offset: *offset})
	if err != nil {
		return failClient(c, err)
	}
	switch {
	case *asJSON:
		err = printJSON(c.stdout, res)
	case *asTable:
		err = printTable(c.stdout, find, res)
	default:
		err = printEDN(c.stdout, res)
	}
	if err != nil {
		return failClient(c, err)
	}
	return exitOK
}

// findSpec returns a query's :find elements, and for the shapes that are
// not a relation, the marker: "." after a scalar, "..." in a collection
// ([?x ...]), or a tuple vector.
func findSpec(query string) ([]any, error) {
	v, err := edn.Parse([]byte(query))
	if err != nil {
		return nil, usagef("the query: %v", err)
	}
	var elems []any
	switch q := v.(type) {
	case edn.Vector:
		in := false
		for _, x := range q {
			if k, ok := x.(edn.Keyword); ok {
				in = k == kwd("find")
				continue
			}
			if in {
				elems = append(elems, x)
			}
		}
	case edn.Map:
		f, _ := q.Get(kwd("find"))
		elems, _ = f.(edn.Vector)
	}
	if len(elems) == 0 {
		return nil, usagef("the query has no :find")
	}
	return elems, nil
}

// printTable prints a query result under its :find elements.
func printTable(w io.Writer, find []any, res any) error {
	var header []any
	var rows [][]any
	switch {
	case len(find) == 2 && find[1] == (edn.Symbol{Name: "."}): // scalar
		header, rows = find[:1], [][]any{{res}}
	case len(find) == 1 && isVec(find[0]):
		spec := find[0].(edn.Vector)
		if len(spec) == 2 && spec[1] == (edn.Symbol{Name: "..."}) { // collection
			header = spec[:1]
			vec, _ := res.(edn.Vector)
			for _, x := range vec {
				rows = append(rows, []any{x})
			}
		} else { // tuple
			header = spec
			if vec, ok := res.(edn.Vector); ok {
				rows = [][]any{vec}
			}
		}
	default: // relation
		header = find
		vec, _ := res.(edn.Vector)
		for _, x := range vec {
			row, ok := x.(edn.Vector)
			if !ok {
				row = edn.Vector{x}
			}
			rows = append(rows, row)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(cells []any) {
		parts := make([]string, len(cells))
		for i, c := range cells {
			parts[i] = cell(c)
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return tw.Flush()
}

func isVec(v any) bool { _, ok := v.(edn.Vector); return ok }

// cell prints a value in a table: strings as they are, the rest as EDN,
// tabs and newlines escaped so that columns stay aligned.
func cell(v any) string {
	s, ok := v.(string)
	if !ok {
		b, err := edn.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		s = string(b)
	}
	return strings.NewReplacer("\t", `\t`, "\n", `\n`).Replace(s)
}

// ---- pull ----

func runPull(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	vf := addViewFlags(flags)
	db := flags.String("db", "", "the database's `name` (required)")
	asJSON := flags.Bool("json", false, "print the result in EDN's JSON form")
	pos, code := parseArgs(c, flags, args, "--db NAME PATTERN EID [flags]",
		"Pulls entity EID (an id, an ident :kw or a lookup ref [:attr value], as EDN) as the\n"+
			"pull PATTERN (EDN) selects it, and prints the map as EDN.",
		`strata pull --db people '[:person/name {:person/friend [:person/name]}]' '[:person/name "ann"]'`)
	if code >= 0 {
		return code
	}
	if *db == "" {
		return failClient(c, usagef("--db is required"))
	}
	if err := wantArgs(pos, 2, 2, "a PATTERN and an EID"); err != nil {
		return failClient(c, err)
	}
	eid, err := parseEDNArgs("EID", pos[1:])
	if err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	view, err := vf.apply(cl.Conn(*db).DB())
	if err != nil {
		return failClient(c, err)
	}
	m, err := view.Pull(ctx, pos[0], eid[0])
	if err != nil {
		return failClient(c, err)
	}
	if *asJSON {
		err = printJSON(c.stdout, m)
	} else {
		err = printEDN(c.stdout, m)
	}
	if err != nil {
		return failClient(c, err)
	}
	return exitOK
}

// ---- datoms ----

func runDatoms(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cf := addClientFlags(flags)
	vf := addViewFlags(flags)
	db := flags.String("db", "", "the database's `name` (required)")
	index := flags.String("index", "eavt", "the `index`: eavt, aevt, avet or vaet")
	limit := flags.Int("limit", 0, "at most `N` datoms (0: all)")
	asJSON := flags.Bool("json", false, "print each datom in EDN's JSON form")
	pos, code := parseArgs(c, flags, args, "--db NAME [--index eavt] [COMPONENT…] [flags]",
		"Prints the datoms of an index, one [e a v tx added] a line, whose leading components\n"+
			"(EDN, in the index's order: for avet an attribute, then a value) are COMPONENTs.",
		`strata datoms --db people --index avet :person/age 40`)
	if code >= 0 {
		return code
	}
	if *db == "" {
		return failClient(c, usagef("--db is required"))
	}
	if err := wantArgs(pos, 0, 3, "at most 3 COMPONENTs"); err != nil {
		return failClient(c, err)
	}
	if *limit < 0 {
		return failClient(c, usagef("--limit %d must not be negative", *limit))
	}
	comps, err := parseEDNArgs("component", pos)
	if err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	cl, err := cf.connect(ctx)
	if err != nil {
		return failClient(c, err)
	}
	view, err := vf.apply(cl.Conn(*db).DB())
	if err != nil {
		return failClient(c, err)
	}
	bw := bufio.NewWriter(c.stdout)
	defer bw.Flush()
	n := 0
	for d, err := range view.Datoms(ctx, *index, comps...) {
		if err != nil {
			bw.Flush()
			return failClient(c, err)
		}
		v := edn.Vector{d.E, d.A, d.V, d.Tx, d.Added}
		var b []byte
		if *asJSON {
			b, err = edn.ToJSON(v)
		} else {
			b, err = edn.Marshal(v)
		}
		if err == nil {
			bw.Write(b)
			err = bw.WriteByte('\n')
		}
		if err != nil {
			bw.Flush()
			return failClient(c, err)
		}
		if n++; n == *limit {
			break
		}
	}
	return exitOK
}
