package cachetiers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/stratadb/strata/anomaly"
	"github.com/stratadb/strata/internal/awsconf"
	"github.com/stratadb/strata/segment"
)

var _ KeySource = (*KMSKeys)(nil)

// DefaultKMSRequestTimeout bounds one KMS call (with the SDK's retries).
// KMS answers GenerateDataKey and Decrypt in milliseconds.
const DefaultKMSRequestTimeout = 10 * time.Second

// kmsContextKey is the encryption context key that binds a data key to
// its segment: KMS refuses to decrypt a wrapped key for any other segment,
// and CloudTrail records which segment each Decrypt was for.
const kmsContextKey = "strata:segment"

// KMSKeysOptions configure KMSKeys.
type KMSKeysOptions struct {
	// KeyID is the KMS key that wraps data keys: an id, ARN, alias name
	// (alias/strata-demo) or alias ARN. Required.
	KeyID string
	// Region of the key. Default: the SDK's configuration, else us-east-1.
	Region string
	// Endpoint replaces KMS's, e.g. http://127.0.0.1:5000 for moto_server.
	Endpoint string
	// AccessKeyID and SecretAccessKey (and SessionToken): static
	// credentials. Both or neither; without them the SDK's default chain
	// (the instance role on a node).
	AccessKeyID, SecretAccessKey, SessionToken string
	// RequestTimeout bounds each call. Default DefaultKMSRequestTimeout.
	RequestTimeout time.Duration
}

// KMSKeys makes data keys with KMS GenerateDataKey and opens them with
// Decrypt, both under the segment's encryption context.
type KMSKeys struct {
	client  *kms.Client
	keyID   string
	timeout time.Duration
}

// NewKMSKeys makes a key source over opts.KeyID. It does not contact KMS.
func NewKMSKeys(ctx context.Context, opts KMSKeysOptions) (*KMSKeys, error) {
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultKMSRequestTimeout
	}
	var errs []error
	if opts.KeyID == "" {
		errs = append(errs, errors.New("KeyID is required"))
	}
	if opts.Endpoint != "" {
		if u, err := url.Parse(opts.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("Endpoint %q: want an http:// or https:// URL with a host", opts.Endpoint))
		}
	}
	if (opts.AccessKeyID == "") != (opts.SecretAccessKey == "") {
		errs = append(errs, errors.New("AccessKeyID and SecretAccessKey: set both or neither"))
	}
	if opts.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("RequestTimeout %v is negative", opts.RequestTimeout))
	}
	if len(errs) > 0 {
		return nil, anomaly.Wrap(anomaly.Incorrect, "kms keys options", errors.Join(errs...))
	}
	cfg, err := awsconf.Load(ctx, "kms keys", awsconf.Options{Region: opts.Region, DefaultRegion: defaultS3Region,
		AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, SessionToken: opts.SessionToken})
	if err != nil {
		return nil, err
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
	})
	return &KMSKeys{client: client, keyID: opts.KeyID, timeout: opts.RequestTimeout}, nil
}

// Kind returns 1 (KMS).
func (k *KMSKeys) Kind() byte { return envKindKMS }

// Client returns the SDK client, for tests and tools.
func (k *KMSKeys) Client() *kms.Client { return k.client }

func segmentContext(id segment.ID) map[string]string {
	return map[string]string{kmsContextKey: id.String()}
}

// NewKey calls GenerateDataKey (AES_256) with the segment's encryption
// context. The key id it returns is the key's ARN, as KMS reports it.
func (k *KMSKeys) NewKey(ctx context.Context, id segment.ID) (plain, wrapped []byte, keyID string, err error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(k.keyID),
		KeySpec:           kmstypes.DataKeySpecAes256,
		EncryptionContext: segmentContext(id),
	})
	if err != nil {
		return nil, nil, "", kmsError("kms generate data key for "+id.Short(), id, err)
	}
	return out.Plaintext, out.CiphertextBlob, aws.ToString(out.KeyId), nil
}

// OpenKey calls Decrypt, naming the key the header names (so that a
// wrapped key of another KMS key is refused rather than tried) and the
// segment's encryption context.
func (k *KMSKeys) OpenKey(ctx context.Context, id segment.ID, keyID string, wrapped []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    wrapped,
		KeyId:             aws.String(keyID),
		EncryptionContext: segmentContext(id),
	})
	if err != nil {
		return nil, kmsError("kms decrypt data key of "+id.Short(), id, err)
	}
	return out.Plaintext, nil
}

// kmsError gives a KMS error its category. A wrapped key KMS will not
// open for this segment and key (InvalidCiphertextException,
// IncorrectKeyException) is corruption of the segment's header, as a bad
// checksum would be.
func kmsError(op string, id segment.ID, err error) error {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch code {
	case "InvalidCiphertextException", "IncorrectKeyException":
		return anomaly.Wrap(anomaly.Fault, op, &segment.CorruptError{ID: id, Block: -1, Offset: envFixedHeader,
			Msg: "KMS will not open the wrapped data key for this segment (" + code + ")"})
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidGrantTokenException":
		return anomaly.Wrap(anomaly.Forbidden, op, err)
	case "NotFoundException", "DisabledException", "KeyUnavailableException", "InvalidStateException":
		return anomaly.Wrap(anomaly.Unavailable, op, err)
	case "ThrottlingException", "LimitExceededException":
		return anomaly.Wrap(anomaly.Busy, op, err)
	}
	if errors.Is(err, context.Canceled) {
		return anomaly.Wrap(anomaly.Interrupted, op, err)
	}
	return anomaly.Wrap(anomaly.Unavailable, op, err)
}
