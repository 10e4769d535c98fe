package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/iris-oculus/iris/events"
	iaws "github.com/iris-oculus/iris/internal/aws"
)

// Retention of the bucket's objects. Everything expires after
// DataRetentionDays; uploads (which may carry patient data until ingest
// de-identifies and deletes them) after a day. A deleted or overwritten
// object lives on as a noncurrent version for NoncurrentRetentionDays:
// versioning is on so that every write is seen by S3's notifications, not
// to keep history, and deleted DICOM must not linger.
const (
	DataRetentionDays       = 90
	UploadRetentionDays     = 1
	NoncurrentRetentionDays = 1
	LogRetentionDays        = 90
)

func days(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(n)) }

// logBucket holds the S3 server access logs and CloudFront's standard
// logs. CloudFront's logging writes through ACLs, so the bucket keeps
// them enabled (BucketOwnerPreferred); nothing else is public or shared.
func (b *builder) logBucket() {
	b.logs = awss3.NewBucket(b.stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id: jsii.String("expire-logs"), Expiration: days(LogRetentionDays),
			AbortIncompleteMultipartUploadAfter: days(1),
		}},
	})
}

// storage makes the pipeline's bucket and the job table.
func (b *builder) storage() {
	b.bucket = awss3.NewBucket(b.stack, jsii.String("Data"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		Versioned:              jsii.Bool(true),
		EventBridgeEnabled:     jsii.Bool(true),
		ServerAccessLogsBucket: b.logs,
		ServerAccessLogsPrefix: jsii.String("s3/data/"),
		// Browsers upload with presigned PUT/POST and fetch the models
		// with presigned GETs, from the web app's origin only.
		Cors: &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_GET, awss3.HttpMethods_HEAD, awss3.HttpMethods_PUT, awss3.HttpMethods_POST},
			AllowedOrigins: b.origins(),
			AllowedHeaders: jsii.Strings("*"),
			ExposedHeaders: jsii.Strings("ETag"),
			MaxAge:         jsii.Number(3600),
		}},
		LifecycleRules: &[]*awss3.LifecycleRule{
			{
				Id:                                  jsii.String("expire-everything"),
				Expiration:                          days(DataRetentionDays),
				NoncurrentVersionExpiration:         days(NoncurrentRetentionDays),
				AbortIncompleteMultipartUploadAfter: days(1),
			},
			{
				Id:                          jsii.String("expire-uploads"),
				Prefix:                      jsii.String(events.PrefixUploads),
				Expiration:                  days(UploadRetentionDays),
				NoncurrentVersionExpiration: days(NoncurrentRetentionDays),
			},
			{
				// Expiring a current version leaves a delete marker
				// whose noncurrent version then expires: remove the
				// marker too.
				Id:                        jsii.String("remove-expired-delete-markers"),
				ExpiredObjectDeleteMarker: jsii.Bool(true),
			},
		},
	})

	str := awsdynamodb.AttributeType_STRING
	b.table = awsdynamodb.NewTableV2(b.stack, jsii.String("Jobs"), &awsdynamodb.TablePropsV2{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(iaws.JobKey), Type: str},
		GlobalSecondaryIndexes: &[]*awsdynamodb.GlobalSecondaryIndexPropsV2{{
			IndexName:      jsii.String(iaws.JobOwnerIndex),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(iaws.JobOwner), Type: str},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(iaws.JobCreated), Type: str},
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		}},
		TimeToLiveAttribute: jsii.String(iaws.JobTTL),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:    awsdynamodb.TableEncryptionV2_AwsManagedKey(),
		Billing:       awsdynamodb.Billing_OnDemand(nil),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
}

// origins are the origins CORS allows: the web app's and the extra ones.
func (b *builder) origins() *[]*string {
	o := []*string{b.siteOrigin}
	for _, e := range b.p.ExtraOrigins {
		o = append(o, jsii.String(e))
	}
	return &o
}

// originURLs are path on the web app's origin and on each extra origin.
func (b *builder) originURLs(path string) *[]*string {
	o := []*string{awscdk.Fn_Join(jsii.String(""), &[]*string{b.siteOrigin, jsii.String(path)})}
	for _, e := range b.p.ExtraOrigins {
		o = append(o, jsii.String(e+path))
	}
	return &o
}
