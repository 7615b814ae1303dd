package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratadb/strata/cachetiers"
	"github.com/stratadb/strata/internal/testenv"
)

// A node on AWS-compatible storage (DynamoDB Local for the log and catalog,
// MinIO for segments), configured as a node on AWS is: the API works, a
// second node on the same table and bucket forwards its writes and reads
// what the first wrote.
func TestNodeOnDynamoAndS3(t *testing.T) {
	ddb := testenv.Dynamo(t)
	minio := testenv.S3(t)
	// The SDK's default chain: MinIO needs its keys; DynamoDB Local takes any.
	t.Setenv("AWS_ACCESS_KEY_ID", minio.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minio.SecretKey)
	var r [6]byte
	rand.Read(r[:])
	name := "strata-node-" + hex.EncodeToString(r[:])
	st, err := cachetiers.NewS3Store(context.Background(), cachetiers.S3Options{Bucket: name, Endpoint: minio.Endpoint, UsePathStyle: true, Region: minio.Region})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Region: ddb.Region, DynamoTable: name, DynamoEndpoint: ddb.Endpoint, CreateTable: true,
		S3Bucket: name, S3Prefix: "segments/", S3Endpoint: minio.Endpoint, AllowUnsigned: true, IndexDatoms: 50}
	a := startNode(t, withID(cfg, "a"))
	a.ok("POST", "/v1/dbs", `{"name": "aws"}`)
	a.ok("POST", "/v1/dbs/aws/transact", schemaTx)
	for i := range 20 {
		a.ok("POST", "/v1/dbs/aws/transact", `{"tx-data": "[{:person/name \"p`+string(rune('a'+i))+`\" :person/age 1}]"}`)
	}
	cfg.CreateTable = false
	b := startNode(t, withID(cfg, "b"))
	b.ok("POST", "/v1/dbs/aws/transact", `{"tx-data": "[{:person/name \"from-b\"}]"}`)
	b.ok("POST", "/v1/dbs/aws/sync", "")
	q := b.ok("POST", "/v1/dbs/aws/q", `{"query": "[:find (count ?e) . :where [?e :person/name]]"}`)
	if q["result"] != float64(21) {
		t.Fatalf("node b counts %v", q)
	}
	if b.srv.metrics_.forwards.Load() != 1 {
		t.Fatalf("node b forwarded %d writes", b.srv.metrics_.forwards.Load())
	}
}

func withID(c Config, id string) Config {
	c.NodeID = id
	return c
}
