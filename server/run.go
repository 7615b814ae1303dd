package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/stratadb/strata/internal/cliutil"
)

// Exit statuses of RunNode, as every strata command's.
const (
	exitOK      = cliutil.ExitOK
	exitFailure = cliutil.ExitFailure
)

// cli is what RunNode needs from its invocation.
type cli struct {
	stdout, stderr io.Writer
	path           string
}

func usagef(format string, args ...any) error { return cliutil.Usagef(format, args...) }

func parseFlags(c *cli, flags *flag.FlagSet, args []string, synopsis, about, example string) int {
	return cliutil.ParseFlags(c.stdout, c.stderr, c.path, flags, args, synopsis, about, example)
}

func failWith(c *cli, err error) int { return cliutil.Fail(c.stderr, c.path, err) }

// RunNode is `strata node`: it parses the node's flags (path names the
// command in messages), runs a node until SIGINT or SIGTERM and returns the
// exit status: 0, 1 when it fails while running, 2 for a bad command line
// or configuration.
func RunNode(path string, args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, path: path}
	flags := flag.NewFlagSet(c.path, flag.ContinueOnError)
	configPath := flags.String("config", "", "read the configuration from a JSON `file` (flags override it)")
	var cfg Config
	flags.StringVar(&cfg.DataDir, "data", "", "`dir`ectory of the embedded default's files (default "+DefaultDataDir+")")
	flags.StringVar(&cfg.Listen, "listen", "", "`address` to serve the API on (default "+DefaultListen+")")
	flags.StringVar(&cfg.Advertise, "advertise", "", "`address` other nodes reach this one at (default --listen)")
	flags.StringVar(&cfg.NodeID, "node-id", "", "this node's `id` (default: kept in the data directory)")
	flags.StringVar(&cfg.Group, "group", "", "primary, or a query group's `name` (default primary)")
	flags.StringVar(&cfg.Region, "region", "", "AWS `region` (and the region requests are signed for)")
	flags.StringVar(&cfg.DynamoTable, "dynamodb-table", "", "DynamoDB `table` for the log and catalog (with --s3-bucket)")
	flags.StringVar(&cfg.DynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB `url` (e.g. DynamoDB Local)")
	flags.BoolVar(&cfg.CreateTable, "create-table", false, "create the DynamoDB table if it is missing")
	flags.StringVar(&cfg.S3Bucket, "s3-bucket", "", "S3 `bucket` for segments (with --dynamodb-table)")
	flags.StringVar(&cfg.S3Prefix, "s3-prefix", "", "key `prefix` in the bucket, ending in /")
	flags.StringVar(&cfg.S3Endpoint, "s3-endpoint", "", "S3 `url` (e.g. MinIO)")
	flags.StringVar(&cfg.EFSPath, "efs-path", "", "`dir`ectory of the EFS tier (a shared mount)")
	flags.StringVar(&cfg.SSDPath, "ssd-path", "", "`dir`ectory of the SSD tier (default DATA/ssd; off for none)")
	flags.Int64Var(&cfg.SSDBytes, "ssd-bytes", 0, "size of the SSD tier in `bytes` (default 1 GiB)")
	flags.Int64Var(&cfg.MemoryBytes, "memory-bytes", 0, "size of the memory tier in `bytes` (default a share of memory)")
	flags.StringVar(&cfg.EncryptionKeyFile, "encryption-key-file", "", "encrypt segments in the store with a master key `file` (made when missing; new stores only)")
	flags.StringVar(&cfg.KMSKeyID, "kms-key-id", "", "encrypt segments in the store with data keys from this KMS `key` (new stores only)")
	flags.StringVar(&cfg.KMSEndpoint, "kms-endpoint", "", "KMS `url` (a stand-in such as moto)")
	flags.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM), with --tls-key")
	flags.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key `file` (PEM)")
	unsigned := flags.String("allow-unsigned", "auto", "take unsigned requests from loopback: true, false, or auto (true when listening on loopback)")
	flags.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 0, "largest request body in `bytes` (default 16 MiB)")
	flags.DurationVar(&cfg.QueryTimeout, "query-timeout", 0, "longest a query may run (default 60s)")
	flags.IntVar(&cfg.MaxConcurrent, "max-concurrent", 0, "requests served at once; past it, busy (default 256)")
	flags.DurationVar(&cfg.LeaseTTL, "lease-ttl", 0, "how long a writer's lease lasts without renewal: another primary node takes over a database this long after its writer dies (default 10s)")
	if code := parseFlags(c, flags, args, "[flags]",
		"Starts a strata node. With no flags: the embedded default, data under ./"+DefaultDataDir+",\n"+
			"serving http://"+DefaultListen+" and taking unsigned requests from loopback only.\n"+
			"--dynamodb-table and --s3-bucket put the log, catalog and segments on AWS (or, with\n"+
			"the endpoints, on DynamoDB Local and MinIO).",
		"strata node --data /var/lib/strata --listen 127.0.0.1:4334"); code >= 0 {
		return code
	}
	if flags.NArg() > 0 {
		return failWith(c, usagef("unexpected argument %q (flags only; see -h)", flags.Arg(0)))
	}
	if *configPath != "" {
		file, err := LoadConfig(*configPath)
		if err != nil {
			return failWith(c, err)
		}
		cfg = mergeConfig(file, cfg, flags)
	}
	switch *unsigned {
	case "auto":
		listen := cfg.Listen
		if listen == "" {
			listen = DefaultListen
		}
		cfg.AllowUnsigned = cfg.AllowUnsigned || LoopbackOnly(listen)
	default:
		b, err := strconv.ParseBool(*unsigned)
		if err != nil {
			return failWith(c, usagef("--allow-unsigned %q: true, false or auto", *unsigned))
		}
		cfg.AllowUnsigned = b
	}
	logger := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	n, err := Open(ctx, cfg, logger)
	if err != nil {
		return failWith(c, err)
	}
	s := New(n, logger)
	l, err := s.Listen()
	if err != nil {
		n.Close()
		return failWith(c, err)
	}
	cfg = n.Config()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	endpoint := scheme + "://" + l.Addr().String()
	fmt.Fprintf(c.stdout, "strata node %s (%s) serving %s\n", cfg.NodeID, cfg.Group, endpoint)
	if cfg.DynamoTable == "" {
		fmt.Fprintf(c.stdout, "data in %s\n", cfg.DataDir)
	} else {
		fmt.Fprintf(c.stdout, "log and catalog in DynamoDB table %s, segments in s3://%s/%s\n", cfg.DynamoTable, cfg.S3Bucket, cfg.S3Prefix)
	}
	if cfg.AllowUnsigned {
		fmt.Fprintf(c.stdout, "unsigned requests from loopback are allowed (--allow-unsigned=false to require keys)\n")
	}
	fmt.Fprintf(c.stdout, "try: STRATA_ENDPOINT=%s strata db create demo\n", endpoint)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	select {
	case err := <-served:
		n.Close()
		if err != nil {
			return failWith(c, err)
		}
		return exitOK
	case sig := <-sigs:
		fmt.Fprintf(c.stderr, "%s: %s: finishing requests and stopping\n", c.path, sig)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace+5*time.Second)
	defer cancel()
	if err := s.Shutdown(shutdownCtx); err != nil {
		return failWith(c, err)
	}
	return exitOK
}

// mergeConfig lays the flags that were set over the file's configuration.
func mergeConfig(file, flagCfg Config, flags *flag.FlagSet) Config {
	out := file
	flags.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data":
			out.DataDir = flagCfg.DataDir
		case "listen":
			out.Listen = flagCfg.Listen
		case "advertise":
			out.Advertise = flagCfg.Advertise
		case "node-id":
			out.NodeID = flagCfg.NodeID
		case "group":
			out.Group = flagCfg.Group
		case "region":
			out.Region = flagCfg.Region
		case "dynamodb-table":
			out.DynamoTable = flagCfg.DynamoTable
		case "dynamodb-endpoint":
			out.DynamoEndpoint = flagCfg.DynamoEndpoint
		case "create-table":
			out.CreateTable = flagCfg.CreateTable
		case "s3-bucket":
			out.S3Bucket = flagCfg.S3Bucket
		case "s3-prefix":
			out.S3Prefix = flagCfg.S3Prefix
		case "s3-endpoint":
			out.S3Endpoint = flagCfg.S3Endpoint
		case "efs-path":
			out.EFSPath = flagCfg.EFSPath
		case "ssd-path":
			out.SSDPath = flagCfg.SSDPath
		case "ssd-bytes":
			out.SSDBytes = flagCfg.SSDBytes
		case "memory-bytes":
			out.MemoryBytes = flagCfg.MemoryBytes
		case "encryption-key-file":
			out.EncryptionKeyFile = flagCfg.EncryptionKeyFile
		case "kms-key-id":
			out.KMSKeyID = flagCfg.KMSKeyID
		case "kms-endpoint":
			out.KMSEndpoint = flagCfg.KMSEndpoint
		case "tls-cert":
			out.TLSCert = flagCfg.TLSCert
		case "tls-key":
			out.TLSKey = flagCfg.TLSKey
		case "max-body-bytes":
			out.MaxBodyBytes = flagCfg.MaxBodyBytes
		case "query-timeout":
			out.QueryTimeout = flagCfg.QueryTimeout
		case "max-concurrent":
			out.MaxConcurrent = flagCfg.MaxConcurrent
		case "lease-ttl":
			out.LeaseTTL = flagCfg.LeaseTTL
		}
	})
	return out
}
