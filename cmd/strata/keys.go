package main

// strata keys create | list | revoke: API keys, kept in the catalog that
// the nodes read them from. These commands open the catalog directly (the
// embedded default's file under --data, or the DynamoDB table), not
// through a node: making the first key must not need one.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratadb/strata/server"
	"github.com/stratadb/strata/transactor"
)

// catalogFlags say where the catalog is.
type catalogFlags struct {
	data, table, region, endpoint string
}

func addCatalogFlags(flags *flag.FlagSet) *catalogFlags {
	cf := &catalogFlags{}
	flags.StringVar(&cf.data, "data", server.DefaultDataDir, "the embedded default node's data `dir`ectory (its catalog is DIR/catalog)")
	flags.StringVar(&cf.table, "dynamodb-table", "", "the nodes' DynamoDB `table` (instead of --data)")
	flags.StringVar(&cf.region, "region", "", "the table's AWS `region`")
	flags.StringVar(&cf.endpoint, "dynamodb-endpoint", "", "DynamoDB `url` (e.g. DynamoDB Local)")
	return cf
}

// open opens the catalog. A data directory that does not exist is
// incorrect (a mistyped --data would otherwise make a catalog nobody
// reads), unless create is set.
func (cf *catalogFlags) open(ctx context.Context, create bool) (transactor.Catalog, error) {
	if cf.table != "" {
		c, err := transactor.OpenDynamoCatalog(ctx, transactor.DynamoOptions{Table: cf.table, Region: cf.region, Endpoint: cf.endpoint})
		if err != nil {
			return nil, fmt.Errorf("dynamodb-table %s: %w", cf.table, err)
		}
		return c, nil
	}
	if cf.endpoint != "" || cf.region != "" {
		return nil, usagef("--dynamodb-endpoint and --region need --dynamodb-table")
	}
	if _, err := os.Stat(cf.data); errors.Is(err, os.ErrNotExist) && !create {
		return nil, usagef("--data %s: no such directory (the node's --data; default %s)", cf.data, server.DefaultDataDir)
	}
	return transactor.OpenFileCatalog(filepath.Join(cf.data, "catalog"))
}

// listFlag is a flag that may be given many times, or with commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func runKeysCreate(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cat := addCatalogFlags(flags)
	readOnly := flags.Bool("read-only", false, "the key may only read")
	var dbs listFlag
	flags.Var(&dbs, "db", "limit the key to database `NAME` (repeat, or NAME,NAME; default every database)")
	note := flags.String("note", "", "what the key is for, shown by list")
	pos, code := parseArgs(c, flags, args, "[--read-only] [--db NAME…] [--note TEXT] [flags]",
		"Makes an API key and stores it in the catalog the nodes read keys from. Prints the\n"+
			"key's id and its secret: the secret is shown only now. Clients sign with it:\n"+
			"--key ID:SECRET, STRATA_KEY=ID:SECRET, or the line key = ID:SECRET in ~/"+credentialsPath+".",
		`strata keys create --data /var/lib/strata --read-only --db people --note "reports"`)
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 0, 0, "flags only"); err != nil {
		return failClient(c, err)
	}
	k, err := transactor.NewAPIKey(*readOnly, dbs, *note)
	if err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	catalog, err := cat.open(ctx, true)
	if err != nil {
		return failClient(c, err)
	}
	defer catalog.Close()
	if err := catalog.PutKey(ctx, k); err != nil {
		return failClient(c, err)
	}
	fmt.Fprintf(c.stdout, "id: %s\nsecret: %s\n", k.ID, k.Secret)
	fmt.Fprintf(c.stderr, "%s: %s\nThe secret is not shown again. Sign with --key %s:SECRET, STRATA_KEY, or ~/%s.\n",
		c.path, describeKey(k), k.ID, credentialsPath)
	return exitOK
}

// describeKey says what a key may do, without its secret.
func describeKey(k transactor.APIKey) string {
	access := "read-write"
	if k.ReadOnly {
		access = "read-only"
	}
	dbs := "every database"
	if len(k.DBs) > 0 {
		dbs = "databases " + strings.Join(k.DBs, ",")
	}
	return fmt.Sprintf("key %s, %s, %s", k.ID, access, dbs)
}

func runKeysList(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cat := addCatalogFlags(flags)
	pos, code := parseArgs(c, flags, args, "[flags]",
		"Lists the API keys in the catalog, revoked ones too. Secrets are never printed.",
		"strata keys list --data /var/lib/strata")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 0, 0, "flags only"); err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	catalog, err := cat.open(ctx, false)
	if err != nil {
		return failClient(c, err)
	}
	defer catalog.Close()
	keys, err := catalog.ListKeys(ctx)
	if err != nil {
		return failClient(c, err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tACCESS\tDATABASES\tCREATED\tNOTE")
	now := time.Now()
	for _, k := range keys {
		status := "active"
		if !k.Active(now) {
			status = "revoked " + k.Revoked.UTC().Format(time.RFC3339)
		}
		access := "read-write"
		if k.ReadOnly {
			access = "read-only"
		}
		dbs := "*"
		if len(k.DBs) > 0 {
			dbs = strings.Join(k.DBs, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, status, access, dbs, k.Created.UTC().Format(time.RFC3339), cell(k.Note))
	}
	if err := tw.Flush(); err != nil {
		return failClient(c, err)
	}
	return exitOK
}

func runKeysRevoke(c *cli, args []string) int {
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	cat := addCatalogFlags(flags)
	pos, code := parseArgs(c, flags, args, "ID [flags]",
		"Revokes an API key: nodes refuse it from then on (a node may take it for a few more\n"+
			"seconds, as long as it caches keys). Revoking a revoked key changes nothing.",
		"strata keys revoke SKJ4W2X7Q3B5N8M6P2R4 --data /var/lib/strata")
	if code >= 0 {
		return code
	}
	if err := wantArgs(pos, 1, 1, "the key's ID"); err != nil {
		return failClient(c, err)
	}
	ctx := context.Background()
	catalog, err := cat.open(ctx, false)
	if err != nil {
		return failClient(c, err)
	}
	defer catalog.Close()
	k, err := catalog.RevokeKey(ctx, pos[0], time.Now())
	if err != nil {
		return failClient(c, err)
	}
	fmt.Fprintf(c.stdout, "revoked %s at %s\n", k.ID, k.Revoked.UTC().Format(time.RFC3339))
	return exitOK
}
