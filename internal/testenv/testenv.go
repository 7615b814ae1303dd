// Package testenv tells tests where the external servers that `make test`
// starts are listening, and decides whether a test that needs one skips or fails.
//
// `make test` starts MinIO on a free 127.0.0.1 port and exports:
//
//	STRATA_TEST_S3_ENDPOINT    http://127.0.0.1:PORT
//	STRATA_TEST_S3_ACCESS_KEY  access key
//	STRATA_TEST_S3_SECRET_KEY  secret key
//	STRATA_TEST_REQUIRE_SERVERS=1
//
// With STRATA_TEST_REQUIRE_SERVERS=1 a test whose server is missing fails with
// a message that says what to start; otherwise (and always under -short) it skips.
package testenv

import (
	"os"
	"testing"
)

// S3Server is an S3-compatible server reachable from the tests.
type S3Server struct {
	Endpoint  string // e.g. http://127.0.0.1:9000
	AccessKey string
	SecretKey string
	Region    string // MinIO accepts any region; the SDK needs one
}

// Required reports whether missing servers must fail tests rather than skip them.
func Required() bool { return os.Getenv("STRATA_TEST_REQUIRE_SERVERS") == "1" }

// S3 returns the S3-compatible server started by `make test` (MinIO), or
// skips t when there is none (always under -short), or fails t when servers
// are required and the server is missing.
func S3(t testing.TB) S3Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MinIO: skipped under -short")
	}
	s := S3Server{
		Endpoint:  os.Getenv("STRATA_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("STRATA_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("STRATA_TEST_S3_SECRET_KEY"),
		Region:    "us-east-1",
	}
	if s.Endpoint == "" {
		msg := "needs MinIO: STRATA_TEST_S3_ENDPOINT is not set (run the tests with `make test`, which starts MinIO)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return s
}

// DynamoServer is a DynamoDB-compatible server reachable from the tests.
type DynamoServer struct {
	Endpoint string // e.g. http://127.0.0.1:8000
	Region   string
	// DynamoDB Local accepts any credentials; the SDK needs some.
	AccessKey, SecretKey string
}

// Dynamo returns the DynamoDB Local server started by `make test`
// (exported as STRATA_TEST_DYNAMODB_ENDPOINT), or skips t when there is
// none (always under -short), or fails t when servers are required and it
// is missing.
func Dynamo(t testing.TB) DynamoServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs DynamoDB Local: skipped under -short")
	}
	s := DynamoServer{Endpoint: os.Getenv("STRATA_TEST_DYNAMODB_ENDPOINT"), Region: "us-east-1",
		AccessKey: "stratalocal", SecretKey: "stratalocal-secret"}
	if s.Endpoint == "" {
		msg := "needs DynamoDB Local: STRATA_TEST_DYNAMODB_ENDPOINT is not set (run the tests with `make test`, which starts it)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return s
}
