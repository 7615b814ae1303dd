package server

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/stratadb/strata/anomaly"
)

// Config is what a node needs to start. The zero Config, with defaults
// filled, is the embedded default: everything under DataDir on this
// machine (file log and catalog, directory store, SSD cache directory,
// memory tier), listening on 127.0.0.1:4334. Naming a DynamoDB table and
// an S3 bucket moves the log, catalog and store to AWS.
type Config struct {
	// DataDir holds the embedded default's files (log, catalog, store) and,
	// unless SSDPath says otherwise, the SSD tier's cache file. Default
	// ./strata-data.
	DataDir string `json:"data-dir,omitempty"`
	// Listen is the address the HTTP API listens on. Default
	// 127.0.0.1:4334.
	Listen string `json:"listen,omitempty"`
	// Advertise is the address other nodes reach this one at (for
	// forwarded writes). Default Listen.
	Advertise string `json:"advertise,omitempty"`
	// NodeID names the node in leases and membership. Default: read from
	// DataDir/node-id, or made and written there.
	NodeID string `json:"node-id,omitempty"`
	// Group is "primary" (transactions, indexing, reads) or the name of a
	// query group (reads; writes are forwarded to the primary group).
	// Default primary.
	Group string `json:"group,omitempty"`

	// AWS (or S3/DynamoDB-compatible servers, by endpoint). Table and
	// Bucket go together: both set, the log, catalog and segments are
	// there; neither, they are under DataDir.
	Region         string `json:"region,omitempty"`
	DynamoTable    string `json:"dynamodb-table,omitempty"`
	DynamoEndpoint string `json:"dynamodb-endpoint,omitempty"`
	CreateTable    bool   `json:"create-table,omitempty"`
	S3Bucket       string `json:"s3-bucket,omitempty"`
	S3Prefix       string `json:"s3-prefix,omitempty"`
	S3Endpoint     string `json:"s3-endpoint,omitempty"`
	// EFSPath is the EFS tier's directory (a shared mount); empty: none.
	EFSPath string `json:"efs-path,omitempty"`
	// EncryptionKeyFile or KMSKeyID turn on envelope encryption of the
	// segments in the store (a data key per segment, AES-256-GCM): with a
	// local master key file (made, mode 0600, when missing), or with a KMS
	// key (GenerateDataKey). Set them when the store is new: segments
	// written without encryption do not read with it.
	EncryptionKeyFile string `json:"encryption-key-file,omitempty"`
	KMSKeyID          string `json:"kms-key-id,omitempty"`
	KMSEndpoint       string `json:"kms-endpoint,omitempty"`
	// SSDPath is the SSD tier's directory; default DataDir/ssd. "off"
	// runs without an SSD tier.
	SSDPath string `json:"ssd-path,omitempty"`
	// SSDBytes is the SSD tier's size. Default 1 GiB.
	SSDBytes int64 `json:"ssd-bytes,omitempty"`
	// MemoryBytes is the memory tier's size. Default: a share of the
	// machine's (or cgroup's) memory.
	MemoryBytes int64 `json:"memory-bytes,omitempty"`

	// TLS: a certificate and key (PEM files) make the API HTTPS.
	TLSCert string `json:"tls-cert,omitempty"`
	TLSKey  string `json:"tls-key,omitempty"`
	// AllowUnsigned lets requests without a signature in, from loopback
	// clients only, when the node itself listens on loopback only (the
	// quick start's node). Refused anywhere else.
	AllowUnsigned bool `json:"allow-unsigned,omitempty"`

	// Limits.
	MaxBodyBytes  int64         `json:"max-body-bytes,omitempty"`  // default 16 MiB
	QueryTimeout  time.Duration `json:"query-timeout,omitempty"`   // default 60 s
	MaxConcurrent int           `json:"max-concurrent,omitempty"`  // default 256
	LeaseTTL      time.Duration `json:"lease-ttl,omitempty"`       // default 10 s
	IndexDatoms   int           `json:"index-datoms,omitempty"`    // default the transactor's
	ShutdownGrace time.Duration `json:"shutdown-grace,omitempty"`  // default 30 s
	Heartbeat     time.Duration `json:"heartbeat-every,omitempty"` // default 2 s
}

// The embedded default's address and directory.
const (
	DefaultListen  = "127.0.0.1:4334"
	DefaultDataDir = "strata-data"
	PrimaryGroup   = "primary"
)

// LoadConfig reads a JSON configuration file (the keys are the json names
// of Config's fields; durations as Go durations, "30s"). Unknown keys are
// refused, so that a misspelt one does not pass unnoticed.
func LoadConfig(path string) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if err != nil {
		return c, anomaly.Wrap(anomaly.Incorrect, "config", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return c, anomaly.New(anomaly.Incorrect, "config", "%s: not a JSON object: %v", path, err)
	}
	// Durations arrive as strings.
	for _, k := range []string{"query-timeout", "lease-ttl", "shutdown-grace", "heartbeat-every"} {
		if s, ok := raw[k].(string); ok {
			d, err := time.ParseDuration(s)
			if err != nil {
				return c, anomaly.New(anomaly.Incorrect, "config", "%s: %s: %v", path, k, err)
			}
			raw[k] = int64(d)
		}
	}
	norm, _ := json.Marshal(raw)
	dec := json.NewDecoder(strings.NewReader(string(norm)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, anomaly.New(anomaly.Incorrect, "config", "%s: %v", path, err)
	}
	return c, nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Advertise == "" {
		c.Advertise = c.Listen
	}
	if c.Group == "" {
		c.Group = PrimaryGroup
	}
	if c.SSDBytes == 0 {
		c.SSDBytes = 1 << 30
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 60 * time.Second
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 256
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = min(2*time.Second, c.LeaseTTL/3)
	}
	return c
}

// Validate says what is wrong with c (after defaults), one problem per
// line, each with what to do about it.
func (c Config) Validate() error {
	c = c.withDefaults()
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		add("listen %q: want host:port, e.g. 127.0.0.1:4334", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
		add("advertise %q: want host:port that other nodes can reach", c.Advertise)
	}
	if (c.DynamoTable == "") != (c.S3Bucket == "") {
		add("dynamodb-table %q and s3-bucket %q: set both (AWS) or neither (files under data-dir)", c.DynamoTable, c.S3Bucket)
	}
	if c.S3Prefix != "" && !strings.HasSuffix(c.S3Prefix, "/") {
		add("s3-prefix %q: end it with /", c.S3Prefix)
	}
	if c.S3Prefix != "" && c.S3Bucket == "" || c.S3Endpoint != "" && c.S3Bucket == "" {
		add("s3-prefix and s3-endpoint need s3-bucket")
	}
	if c.DynamoEndpoint != "" && c.DynamoTable == "" || c.CreateTable && c.DynamoTable == "" {
		add("dynamodb-endpoint and create-table need dynamodb-table")
	}
	if c.Group != PrimaryGroup && !validGroup(c.Group) {
		add("group %q: primary, or a query group's name of letters, digits and -", c.Group)
	}
	if c.EncryptionKeyFile != "" && c.KMSKeyID != "" {
		add("encryption-key-file and kms-key-id: one or the other")
	}
	if c.KMSEndpoint != "" && c.KMSKeyID == "" {
		add("kms-endpoint needs kms-key-id")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("tls-cert and tls-key: give both or neither")
	}
	if c.AllowUnsigned && !LoopbackOnly(c.Listen) {
		add("allow-unsigned: only a node listening on loopback (127.0.0.1, ::1, localhost) may take unsigned requests; listen is %q", c.Listen)
	}
	if c.SSDBytes < 0 || c.MemoryBytes < 0 {
		add("ssd-bytes %d, memory-bytes %d: must not be negative", c.SSDBytes, c.MemoryBytes)
	}
	if c.MaxBodyBytes < 1024 {
		add("max-body-bytes %d: at least 1024", c.MaxBodyBytes)
	}
	if c.MaxConcurrent < 1 {
		add("max-concurrent %d: at least 1", c.MaxConcurrent)
	}
	if c.QueryTimeout < 0 || c.ShutdownGrace < 0 {
		add("query-timeout %s, shutdown-grace %s: must not be negative", c.QueryTimeout, c.ShutdownGrace)
	}
	if c.LeaseTTL < time.Second {
		add("lease-ttl %s: at least 1s", c.LeaseTTL)
	}
	if c.Heartbeat <= 0 || c.Heartbeat >= c.LeaseTTL {
		add("heartbeat-every %s: positive and under lease-ttl %s", c.Heartbeat, c.LeaseTTL)
	}
	if len(bad) == 0 {
		return nil
	}
	return anomaly.New(anomaly.Incorrect, "config", "%s", strings.Join(bad, "\n  "))
}

func validGroup(g string) bool {
	if g == "" || len(g) > 64 {
		return false
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// LoopbackOnly reports whether addr (host:port) listens on loopback only.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
