package transactor

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/engine"
)

// DynamoCatalog is the Catalog on DynamoDB, in the log's table (see
// DynamoLog for the key layout): every change is one conditional write on
// the item's version attribute "v". API keys are items too:
//
//	pk "key#<id>", sk 0; attributes secret, readOnly (bool), dbs (a list of
//	names, absent: every database), created and revoked (RFC 3339 with
//	nanoseconds; revoked absent: active), note (absent: none)
//
// Anyone who can read the table can read the secrets: grant it as narrowly
// as the keys themselves.
type DynamoCatalog struct {
	c     *dynamodb.Client
	table string
}

var (
	_ Catalog = (*DynamoCatalog)(nil)
	_ Catalog = (*FileCatalog)(nil)
)

// OpenDynamoCatalog opens the catalog in o.Table.
func OpenDynamoCatalog(ctx context.Context, o DynamoOptions) (*DynamoCatalog, error) {
	c, err := newDynamoClient(ctx, o)
	if err != nil {
		return nil, err
	}
	return &DynamoCatalog{c: c, table: o.Table}, nil
}

func catKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: sAttr(pk), attrSK: nAttr(0)}
}

func (c *DynamoCatalog) get(ctx context.Context, pk, op string) (map[string]types.AttributeValue, error) {
	out, err := c.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(c.table), Key: catKey(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, dynamoErr(op, err)
	}
	return out.Item, nil
}

// put writes item under pk if its version is still v (0: absent), with
// version v+1.
func (c *DynamoCatalog) put(ctx context.Context, pk string, v uint64, item map[string]types.AttributeValue, op string) error {
	item[attrPK], item[attrSK], item["v"] = sAttr(pk), nAttr(0), nAttr(v+1)
	in := &dynamodb.PutItemInput{TableName: aws.String(c.table), Item: item}
	if v == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "v"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": nAttr(v)}
	}
	if _, err := c.c.PutItem(ctx, in); err != nil {
		return dynamoErr(op, err)
	}
	return nil
}

func sOf(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func nOf(item map[string]types.AttributeValue, name string) uint64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseUint(v.Value, 10, 64)
		return n
	}
	return 0
}

func dbInfoOf(item map[string]types.AttributeValue) DBInfo {
	created, _ := time.Parse(time.RFC3339Nano, sOf(item, "created"))
	return DBInfo{Name: strings.TrimPrefix(sOf(item, attrPK), "db#"), ID: sOf(item, "id"), Created: created}
}

// CreateDB implements Catalog.
func (c *DynamoCatalog) CreateDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	info := DBInfo{Name: name, ID: newDBID(), Created: time.Now().UTC()}
	err := c.put(ctx, "db#"+name, 0, map[string]types.AttributeValue{"id": sAttr(info.ID), "created": sAttr(info.Created.Format(time.RFC3339Nano))}, "create database")
	if errors.Is(err, anomaly.Conflict) {
		return DBInfo{}, anomaly.New(anomaly.Conflict, "create database", "%q exists", name)
	}
	return info, err
}

// GetDB implements Catalog.
func (c *DynamoCatalog) GetDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	item, err := c.get(ctx, "db#"+name, "database")
	if err != nil {
		return DBInfo{}, err
	}
	if item == nil {
		return DBInfo{}, anomaly.New(anomaly.NotFound, "database", "no database named %q", name)
	}
	return dbInfoOf(item), nil
}

// scan returns the catalog items whose pk starts with prefix.
func (c *DynamoCatalog) scan(ctx context.Context, prefix, op string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		page, err := c.c.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(c.table),
			FilterExpression:          aws.String("begins_with(pk, :p)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": sAttr(prefix)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, dynamoErr(op, err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// ListDBs implements Catalog.
func (c *DynamoCatalog) ListDBs(ctx context.Context) ([]DBInfo, error) {
	items, err := c.scan(ctx, "db#", "list databases")
	if err != nil {
		return nil, err
	}
	out := make([]DBInfo, 0, len(items))
	for _, it := range items {
		out = append(out, dbInfoOf(it))
	}
	slices.SortFunc(out, func(a, b DBInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteDB implements Catalog.
func (c *DynamoCatalog) DeleteDB(ctx context.Context, name string) (DBInfo, error) {
	if err := validName(name); err != nil {
		return DBInfo{}, err
	}
	out, err := c.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(c.table), Key: catKey("db#" + name),
		ConditionExpression: aws.String("attribute_exists(pk)"), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		if errors.Is(dynamoErr("", err), anomaly.Conflict) {
			return DBInfo{}, anomaly.New(anomaly.NotFound, "delete database", "no database named %q", name)
		}
		return DBInfo{}, dynamoErr("delete database", err)
	}
	info := dbInfoOf(out.Attributes)
	for _, pk := range []string{"root#" + info.ID, "lease#" + info.ID} {
		if _, err := c.c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(c.table), Key: catKey(pk)}); err != nil {
			return info, dynamoErr("delete database", err)
		}
	}
	return info, nil
}

func rootOf(item map[string]types.AttributeValue) (RootRecord, error) {
	if item == nil {
		return RootRecord{}, nil
	}
	r := RootRecord{Version: nOf(item, "v")}
	if err := json.Unmarshal([]byte(sOf(item, "root")), &r.Root); err != nil {
		return RootRecord{}, anomaly.Wrap(anomaly.Fault, "catalog root", err)
	}
	return r, nil
}

// Root implements Catalog.
func (c *DynamoCatalog) Root(ctx context.Context, id string) (RootRecord, error) {
	item, err := c.get(ctx, "root#"+id, "root")
	if err != nil {
		return RootRecord{}, err
	}
	return rootOf(item)
}

// SwapRoot implements Catalog.
func (c *DynamoCatalog) SwapRoot(ctx context.Context, id string, old uint64, root engine.IndexRoot) (RootRecord, error) {
	cur, err := c.Root(ctx, id)
	if err != nil {
		return RootRecord{}, err
	}
	if cur.Version != old {
		return RootRecord{}, anomaly.New(anomaly.Conflict, "swap root", "database %s: root version is %d, not %d", id, cur.Version, old)
	}
	if root.T < cur.Root.T {
		return RootRecord{}, anomaly.New(anomaly.Incorrect, "swap root", "database %s: root t %d is before the current %d", id, root.T, cur.Root.T)
	}
	b, err := json.Marshal(root)
	if err != nil {
		return RootRecord{}, anomaly.Wrap(anomaly.Fault, "swap root", err)
	}
	if err := c.put(ctx, "root#"+id, old, map[string]types.AttributeValue{"root": sAttr(string(b))}, "swap root"); err != nil {
		return RootRecord{}, err
	}
	return RootRecord{Version: old + 1, Root: root}, nil
}

func leaseOf(item map[string]types.AttributeValue) Lease {
	if item == nil {
		return Lease{}
	}
	l := Lease{Holder: sOf(item, "holder"), Epoch: nOf(item, "epoch")}
	if ns := nOf(item, "expires"); ns != 0 {
		l.Expires = time.Unix(0, int64(ns)).UTC()
	}
	return l
}

// LeaseOf implements Catalog.
func (c *DynamoCatalog) LeaseOf(ctx context.Context, id string) (Lease, error) {
	item, err := c.get(ctx, "lease#"+id, "lease")
	return leaseOf(item), err
}

// AcquireLease implements Catalog.
func (c *DynamoCatalog) AcquireLease(ctx context.Context, id, holder string, ttl time.Duration, now time.Time) (Lease, error) {
	if err := validLeaseRequest(holder, ttl); err != nil {
		return Lease{}, err
	}
	item, err := c.get(ctx, "lease#"+id, "lease")
	if err != nil {
		return Lease{}, err
	}
	l, err := nextLease(leaseOf(item), id, holder, ttl, now)
	if err != nil {
		return Lease{}, err
	}
	err = c.put(ctx, "lease#"+id, nOf(item, "v"), map[string]types.AttributeValue{
		"holder": sAttr(l.Holder), "expires": nAttr(uint64(l.Expires.UnixNano())), "epoch": nAttr(l.Epoch)}, "lease")
	if errors.Is(err, anomaly.Conflict) {
		return Lease{}, anomaly.New(anomaly.Conflict, "lease", "database %s: the lease changed while %s took it", id, holder)
	}
	return l, err
}

// ReleaseLease implements Catalog.
func (c *DynamoCatalog) ReleaseLease(ctx context.Context, id, holder string) error {
	item, err := c.get(ctx, "lease#"+id, "lease")
	if err != nil || leaseOf(item).Holder != holder {
		return err
	}
	err = c.put(ctx, "lease#"+id, nOf(item, "v"), map[string]types.AttributeValue{
		"holder": sAttr(""), "expires": nAttr(0), "epoch": nAttr(leaseOf(item).Epoch)}, "release lease")
	if errors.Is(err, anomaly.Conflict) {
		return nil // changed meanwhile: not ours to release any more
	}
	return err
}

// Heartbeat implements Catalog.
func (c *DynamoCatalog) Heartbeat(ctx context.Context, m Member) error {
	if err := validMember(m); err != nil {
		return err
	}
	_, err := c.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(c.table), Item: map[string]types.AttributeValue{
		attrPK: sAttr("member#" + m.ID), attrSK: nAttr(0), "group": sAttr(m.Group), "addr": sAttr(m.Addr),
		"seen": nAttr(uint64(m.Seen.UnixNano()))}})
	if err != nil {
		return dynamoErr("heartbeat", err)
	}
	return nil
}

// Members implements Catalog.
func (c *DynamoCatalog) Members(ctx context.Context, group string, since time.Time) ([]Member, error) {
	items, err := c.scan(ctx, "member#", "members")
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, it := range items {
		m := Member{ID: strings.TrimPrefix(sOf(it, attrPK), "member#"), Group: sOf(it, "group"), Addr: sOf(it, "addr"),
			Seen: time.Unix(0, int64(nOf(it, "seen"))).UTC()}
		if m.Group == group && !m.Seen.Before(since) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func keyItem(k APIKey) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{"secret": sAttr(k.Secret), "readOnly": &types.AttributeValueMemberBOOL{Value: k.ReadOnly},
		"created": sAttr(k.Created.UTC().Format(time.RFC3339Nano))}
	if len(k.DBs) > 0 {
		dbs := make([]types.AttributeValue, len(k.DBs))
		for i, db := range k.DBs {
			dbs[i] = sAttr(db)
		}
		item["dbs"] = &types.AttributeValueMemberL{Value: dbs}
	}
	if !k.Revoked.IsZero() {
		item["revoked"] = sAttr(k.Revoked.UTC().Format(time.RFC3339Nano))
	}
	if k.Note != "" {
		item["note"] = sAttr(k.Note)
	}
	return item
}

func keyOf(item map[string]types.AttributeValue) (APIKey, error) {
	k := APIKey{ID: strings.TrimPrefix(sOf(item, attrPK), "key#"), Secret: sOf(item, "secret"), Note: sOf(item, "note")}
	if ro, ok := item["readOnly"].(*types.AttributeValueMemberBOOL); ok {
		k.ReadOnly = ro.Value
	}
	if l, ok := item["dbs"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			s, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				return APIKey{}, anomaly.New(anomaly.Fault, "catalog api key", "%s: a database that is not a string", k.ID)
			}
			k.DBs = append(k.DBs, s.Value)
		}
	}
	var err error
	if k.Created, err = time.Parse(time.RFC3339Nano, sOf(item, "created")); err != nil {
		return APIKey{}, anomaly.Wrap(anomaly.Fault, "catalog api key "+k.ID, err)
	}
	if r := sOf(item, "revoked"); r != "" {
		if k.Revoked, err = time.Parse(time.RFC3339Nano, r); err != nil {
			return APIKey{}, anomaly.Wrap(anomaly.Fault, "catalog api key "+k.ID, err)
		}
	}
	return k, nil
}

// PutKey implements Catalog.
func (c *DynamoCatalog) PutKey(ctx context.Context, k APIKey) error {
	if err := validAPIKey(k); err != nil {
		return err
	}
	err := c.put(ctx, "key#"+k.ID, 0, keyItem(k), "put api key")
	if errors.Is(err, anomaly.Conflict) {
		return anomaly.New(anomaly.Conflict, "put api key", "%s exists", k.ID)
	}
	return err
}

// GetKey implements Catalog.
func (c *DynamoCatalog) GetKey(ctx context.Context, id string) (APIKey, error) {
	if err := validKeyID(id); err != nil {
		return APIKey{}, err
	}
	item, err := c.get(ctx, "key#"+id, "api key")
	if err != nil {
		return APIKey{}, err
	}
	if item == nil {
		return APIKey{}, anomaly.New(anomaly.NotFound, "api key", "no key %s", id)
	}
	return keyOf(item)
}

// ListKeys implements Catalog.
func (c *DynamoCatalog) ListKeys(ctx context.Context) ([]APIKey, error) {
	items, err := c.scan(ctx, "key#", "list api keys")
	if err != nil {
		return nil, err
	}
	out := make([]APIKey, 0, len(items))
	for _, it := range items {
		k, err := keyOf(it)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b APIKey) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RevokeKey implements Catalog: one update, on condition that the key
// exists and is not revoked yet. When the condition fails, a read tells a
// missing key from one revoked before (which keys never leave).
func (c *DynamoCatalog) RevokeKey(ctx context.Context, id string, now time.Time) (APIKey, error) {
	if err := validRevocation(id, now); err != nil {
		return APIKey{}, err
	}
	out, err := c.c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(c.table),
		Key:                      catKey("key#" + id),
		UpdateExpression:         aws.String("SET revoked = :r, #v = #v + :one"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND attribute_not_exists(revoked)"),
		ExpressionAttributeNames: map[string]string{"#v": "v"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":r": sAttr(now.UTC().Format(time.RFC3339Nano)), ":one": nAttr(1)},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err == nil {
		return keyOf(out.Attributes)
	}
	if err = dynamoErr("revoke api key", err); !errors.Is(err, anomaly.Conflict) {
		return APIKey{}, err
	}
	item, err := c.get(ctx, "key#"+id, "revoke api key")
	if err != nil {
		return APIKey{}, err
	}
	if item == nil {
		return APIKey{}, anomaly.New(anomaly.NotFound, "revoke api key", "no key %s", id)
	}
	k, err := keyOf(item)
	if err == nil && k.Revoked.IsZero() {
		// Nothing clears a revocation, so the condition failed on
		// something else: say so rather than report the key revoked.
		return APIKey{}, anomaly.New(anomaly.Conflict, "revoke api key", "%s: the key changed while it was revoked", id)
	}
	return k, err
}

// Close implements Catalog.
func (c *DynamoCatalog) Close() error { return nil }
