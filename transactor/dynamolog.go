package transactor

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cespare/xxhash/v2"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/datom"
	"github.com/stratadb/strata/internal/awsconf"
)

// DynamoOptions configure the DynamoDB log and catalog (one table holds
// both).
type DynamoOptions struct {
	// Table is the table's name (required).
	Table string
	// Region; default the SDK's configuration, else us-east-1.
	Region string
	// Endpoint replaces DynamoDB's, e.g. "http://127.0.0.1:8000" for
	// DynamoDB Local.
	Endpoint string
	// Static credentials; default the SDK's chain.
	AccessKeyID, SecretAccessKey, SessionToken string
	// CreateTable creates the table (on-demand billing) if it is missing.
	CreateTable bool
	// Spill receives records too big for an item (see DynamoLog); without
	// it such records are refused.
	Spill SpillStore
}

// SpillStore keeps the payloads of log records over DynamoDB's item limit
// as immutable blobs; PutBlob returns the key to read one back by.
// SegmentSpill keeps them as segments in the segment store (S3).
type SpillStore interface {
	PutBlob(ctx context.Context, b []byte) (string, error)
	GetBlob(ctx context.Context, key string) ([]byte, error)
}

// The table: partition key "pk" (string), sort key "sk" (number).
//
//	log records      pk "log#<db id>", sk = the record's PrevT; attributes
//	                 last (its LastT), w (writer token), h (xxhash64 of the
//	                 payload), p (the payload) or s (the spill key)
//	catalog items    pk "db#<name>" | "root#<id>" | "lease#<id>" | "member#<id>", sk 0
//
// Keying a record by its PrevT makes the chain unforkable: Append puts the
// item only if no item has its key (attribute_not_exists), so of two
// writers that both follow t only one lands, and a stale writer's PrevT is
// always taken already.
const (
	attrPK = "pk"
	attrSK = "sk"
	// itemPayloadMax is the largest payload kept in the item itself
	// (DynamoDB's limit is 400 KB per item, names and other attributes
	// included).
	itemPayloadMax = 350 << 10
)

// newDynamoClient builds the SDK client. The SDK's own retries stay on
// (DynamoDB throttles); Append recognizes its own record after a retry.
func newDynamoClient(ctx context.Context, o DynamoOptions) (*dynamodb.Client, error) {
	if o.Table == "" {
		return nil, anomaly.New(anomaly.Incorrect, "dynamodb", "no table name")
	}
	cfg, err := awsconf.Load(ctx, "dynamodb", awsconf.Options{Region: o.Region, DefaultRegion: "us-east-1",
		AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey, SessionToken: o.SessionToken})
	if err != nil {
		return nil, err
	}
	c := dynamodb.NewFromConfig(cfg, func(do *dynamodb.Options) {
		if o.Endpoint != "" {
			do.BaseEndpoint = aws.String(o.Endpoint)
			// DynamoDB Local's CRC32 headers do not always match its
			// bodies; the log checks its own payloads (xxhash64).
			do.DisableValidateResponseChecksum = true
		}
	})
	if o.CreateTable {
		if err := ensureTable(ctx, c, o.Table); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func ensureTable(ctx context.Context, c *dynamodb.Client, table string) error {
	_, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err == nil {
		return nil
	}
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return dynamoErr("describe table "+table, err)
	}
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return dynamoErr("create table "+table, err)
	}
	w := dynamodb.NewTableExistsWaiter(c)
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 2*60*1e9); err != nil {
		return dynamoErr("wait for table "+table, err)
	}
	return nil
}

// dynamoErr categorizes an SDK error: throttling and transport errors are
// unavailable, a refused request is incorrect.
func dynamoErr(op string, err error) error {
	var cond *types.ConditionalCheckFailedException
	var nf *types.ResourceNotFoundException
	var thr *types.ProvisionedThroughputExceededException
	var req *types.RequestLimitExceeded
	var re *awshttp.ResponseError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	case errors.As(err, &cond):
		return anomaly.Wrap(anomaly.Conflict, op, err)
	case errors.As(err, &nf):
		return anomaly.Wrap(anomaly.NotFound, op, err)
	case errors.As(err, &thr), errors.As(err, &req):
		return anomaly.Wrap(anomaly.Busy, op, err)
	case errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 && re.HTTPStatusCode() != http.StatusTooManyRequests:
		return anomaly.Wrap(anomaly.Incorrect, op, err)
	}
	return anomaly.Wrap(anomaly.Unavailable, op, err)
}

func sAttr(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func nAttr(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

func logKey(db string, prev datom.T) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: sAttr("log#" + db), attrSK: nAttr(uint64(prev))}
}

// DynamoLog is the Log on DynamoDB.
type DynamoLog struct {
	c     *dynamodb.Client
	table string
	spill SpillStore
}

// OpenDynamoLog opens the log in o.Table.
func OpenDynamoLog(ctx context.Context, o DynamoOptions) (*DynamoLog, error) {
	c, err := newDynamoClient(ctx, o)
	if err != nil {
		return nil, err
	}
	return &DynamoLog{c: c, table: o.Table, spill: o.Spill}, nil
}

// Append implements Log: one conditional PutItem. After a lost response
// the SDK retries, and the retry finds its own item: Append compares the
// item at the key with its record (writer token, last t and payload hash)
// and reports success.
func (l *DynamoLog) Append(ctx context.Context, db string, rec *Record) error {
	if err := validDB(db); err != nil {
		return err
	}
	if err := rec.Valid(); err != nil {
		return err
	}
	payload := AppendRecord(nil, rec)
	if len(payload) > MaxRecordBytes {
		return anomaly.New(anomaly.Incorrect, "log append", "record of %d bytes (max %d)", len(payload), MaxRecordBytes)
	}
	h := xxhash.Sum64(payload)
	item := logKey(db, rec.PrevT)
	item["last"] = nAttr(uint64(rec.LastT()))
	item["w"] = sAttr(rec.Writer)
	item["h"] = nAttr(h)
	if len(payload) <= itemPayloadMax {
		item["p"] = &types.AttributeValueMemberB{Value: payload}
	} else {
		if l.spill == nil {
			return anomaly.New(anomaly.Incorrect, "log append", "record of %d bytes is over the item limit and no spill store is configured", len(payload))
		}
		// A fresh blob per attempt: two writers racing for the same PrevT
		// never overwrite each other's.
		key, err := l.spill.PutBlob(ctx, payload)
		if err != nil {
			return err
		}
		item["s"] = sAttr(key)
	}
	_, err := l.c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(l.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err == nil {
		return nil
	}
	var cond *types.ConditionalCheckFailedException
	if !errors.As(err, &cond) {
		return dynamoErr("log append "+db, err)
	}
	// Someone's record follows PrevT: ours (an earlier attempt of this
	// call that the SDK retried), or another writer's.
	got, gerr := l.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.table), Key: logKey(db, rec.PrevT), ConsistentRead: aws.Bool(true)})
	if gerr != nil {
		return dynamoErr("log append "+db+": read back", gerr)
	}
	if w, _ := got.Item["w"].(*types.AttributeValueMemberS); w != nil && w.Value == rec.Writer {
		if hv, _ := got.Item["h"].(*types.AttributeValueMemberN); hv != nil && hv.Value == strconv.FormatUint(h, 10) {
			return nil
		}
	}
	head, herr := l.Head(ctx, db)
	if herr != nil {
		return herr
	}
	return &HeadError{DB: db, Head: head, Want: rec.PrevT}
}

// Head implements Log.
func (l *DynamoLog) Head(ctx context.Context, db string) (datom.T, error) {
	if err := validDB(db); err != nil {
		return 0, err
	}
	out, err := l.c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr("log#" + db)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
		ConsistentRead:            aws.Bool(true),
		ProjectionExpression:      aws.String("#l"),
		ExpressionAttributeNames:  map[string]string{"#l": "last"},
	})
	if err != nil {
		return 0, dynamoErr("log head "+db, err)
	}
	if len(out.Items) == 0 {
		return 0, nil
	}
	return nAttrOf(out.Items[0], "last")
}

func nAttrOf(item map[string]types.AttributeValue, name string) (datom.T, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, anomaly.New(anomaly.Fault, "dynamodb", "item without number attribute %q", name)
	}
	n, err := strconv.ParseUint(v.Value, 10, 64)
	if err != nil {
		return 0, anomaly.Wrap(anomaly.Fault, "dynamodb: attribute "+name, err)
	}
	return datom.T(n), nil
}

// Records implements Log: the record holding after (if after is inside
// one), then every record after it, in pages.
func (l *DynamoLog) Records(ctx context.Context, db string, after datom.T) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if err := validDB(db); err != nil {
			yield(nil, err)
			return
		}
		// The record that starts at or before after may end past it.
		out, err := l.c.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(l.table),
			KeyConditionExpression:    aws.String("pk = :pk AND sk <= :sk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr("log#" + db), ":sk": nAttr(uint64(after))},
			ScanIndexForward:          aws.Bool(false),
			Limit:                     aws.Int32(1),
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			yield(nil, dynamoErr("log read "+db, err))
			return
		}
		// The rest follow from where the last record yielded ends: records
		// are keyed by the t they follow, so the next one's key is that t.
		// (Reading the ones after `after` instead would miss a record that
		// follows `after` exactly and was appended between the two reads.)
		next := after
		if len(out.Items) == 1 {
			rec, err := l.decode(ctx, out.Items[0])
			if err != nil {
				yield(nil, err)
				return
			}
			if rec.LastT() > after {
				if !yield(rec, nil) {
					return
				}
				next = rec.LastT()
			}
		}
		if recordsBetweenReads != nil {
			recordsBetweenReads()
		}
		var start map[string]types.AttributeValue
		for {
			out, err := l.c.Query(ctx, &dynamodb.QueryInput{
				TableName:                 aws.String(l.table),
				KeyConditionExpression:    aws.String("pk = :pk AND sk >= :sk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr("log#" + db), ":sk": nAttr(uint64(next))},
				ConsistentRead:            aws.Bool(true),
				ExclusiveStartKey:         start,
			})
			if err != nil {
				yield(nil, dynamoErr("log read "+db, err))
				return
			}
			for _, it := range out.Items {
				rec, err := l.decode(ctx, it)
				if err != nil {
					yield(nil, err)
					return
				}
				if !yield(rec, nil) {
					return
				}
			}
			if len(out.LastEvaluatedKey) == 0 {
				return
			}
			start = out.LastEvaluatedKey
		}
	}
}

// recordsBetweenReads, when set (tests), runs between Records' two reads.
var recordsBetweenReads func()

// decode reads a record item (fetching a spilled payload) and checks it.
func (l *DynamoLog) decode(ctx context.Context, item map[string]types.AttributeValue) (*Record, error) {
	var payload []byte
	switch {
	case item["p"] != nil:
		b, ok := item["p"].(*types.AttributeValueMemberB)
		if !ok {
			return nil, anomaly.New(anomaly.Fault, "log read", "record item with a non-binary payload")
		}
		payload = b.Value
	case item["s"] != nil:
		s, ok := item["s"].(*types.AttributeValueMemberS)
		if !ok || l.spill == nil {
			return nil, anomaly.New(anomaly.Fault, "log read", "a spilled record and no spill store to read it from")
		}
		var err error
		if payload, err = l.spill.GetBlob(ctx, s.Value); err != nil {
			return nil, err
		}
	default:
		return nil, anomaly.New(anomaly.Fault, "log read", "record item without payload")
	}
	if hv, _ := item["h"].(*types.AttributeValueMemberN); hv == nil || hv.Value != strconv.FormatUint(xxhash.Sum64(payload), 10) {
		return nil, anomaly.New(anomaly.Fault, "log read", "record payload fails its checksum")
	}
	rec, err := DecodeRecord(payload)
	if err != nil {
		return nil, anomaly.Wrap(anomaly.Fault, "log read", err)
	}
	prev, err := nAttrOf(item, attrSK)
	if err != nil {
		return nil, err
	}
	if rec.PrevT != prev {
		return nil, anomaly.New(anomaly.Fault, "log read", "record under key %d follows t %d", prev, rec.PrevT)
	}
	return rec, nil
}

// Drop implements Log: deletes every record item of db (spilled blobs
// stay: a store sweep removes what nothing names).
func (l *DynamoLog) Drop(ctx context.Context, db string) error {
	if err := validDB(db); err != nil {
		return err
	}
	var start map[string]types.AttributeValue
	for {
		out, err := l.c.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(l.table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr("log#" + db)},
			ProjectionExpression:      aws.String("pk, sk"),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return dynamoErr("drop log "+db, err)
		}
		for _, it := range out.Items {
			if _, err := l.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.table), Key: it}); err != nil {
				return dynamoErr("drop log "+db, err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
}

// Close implements Log.
func (l *DynamoLog) Close() error { return nil }

// RawPut is one conditional PutItem of b under a key of its own, as Append
// puts a record: the reference that benchmarks compare Append with.
func (l *DynamoLog) RawPut(ctx context.Context, key string, b []byte) error {
	item := map[string]types.AttributeValue{attrPK: sAttr("raw#" + key), attrSK: nAttr(0),
		"p": &types.AttributeValueMemberB{Value: b}}
	_, err := l.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if err != nil {
		return dynamoErr("raw put", err)
	}
	return nil
}
