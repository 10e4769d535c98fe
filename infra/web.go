package infra

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/jsii-runtime-go"
)

// WebConfigFile is what the web app fetches, next to index.html, to find
// the API and the user pool of this deployment.
const WebConfigFile = "config.json"

// web makes the web app's private bucket and the CloudFront distribution
// that serves it (origin access control, HTTPS only, security headers;
// unknown paths answer index.html, for the single-page app's router).
func (b *builder) web() {
	b.site = awss3.NewBucket(b.stack, jsii.String("Site"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		ServerAccessLogsBucket: b.logs,
		ServerAccessLogsPrefix: jsii.String("s3/site/"),
	})
	spa := func(status float64) *awscloudfront.ErrorResponse {
		return &awscloudfront.ErrorResponse{HttpStatus: jsii.Number(status), ResponseHttpStatus: jsii.Number(200),
			ResponsePagePath: jsii.String("/index.html"), Ttl: awscdk.Duration_Seconds(jsii.Number(0))}
	}
	props := &awscloudfront.DistributionProps{
		Comment: jsii.String("IRIS Oculus web app"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(b.site, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
			Compress:              jsii.Bool(true),
		},
		DefaultRootObject: jsii.String("index.html"),
		ErrorResponses:    &[]*awscloudfront.ErrorResponse{spa(403), spa(404)},
		EnableLogging:     jsii.Bool(true),
		LogBucket:         b.logs,
		LogFilePrefix:     jsii.String("cloudfront/"),
		HttpVersion:       awscloudfront.HttpVersion_HTTP2_AND_3,
		PriceClass:        awscloudfront.PriceClass_PRICE_CLASS_100,
	}
	if b.p.SiteDomain != "" {
		// A minimum protocol applies only with a certificate of one's
		// own; the default certificate's policy is fixed (see nag.go).
		props.MinimumProtocolVersion = awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021
		props.DomainNames = jsii.Strings(b.p.SiteDomain)
		props.Certificate = awscertificatemanager.Certificate_FromCertificateArn(b.stack, jsii.String("SiteCertificate"), jsii.String(b.p.SiteCertificateARN))
		b.siteOrigin = jsii.String("https://" + b.p.SiteDomain)
	}
	b.dist = awscloudfront.NewDistribution(b.stack, jsii.String("SiteDistribution"), props)
	if b.siteOrigin == nil {
		b.siteOrigin = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("https://"), b.dist.DistributionDomainName()})
	}
}

// deployWeb uploads the built web app, with the deployment's config.json,
// and invalidates the distribution's cache. Without a built web app it
// does nothing.
func (b *builder) deployWeb() {
	if b.p.WebDist == "" {
		return
	}
	// The shape internal/local.WebConfig serves from iris serve, and
	// web/src/config.ts reads. Cognito's discovery document names no
	// end_session_endpoint: its /logout takes client_id and logout_uri.
	config := map[string]interface{}{
		"apiUrl":           b.apiURL, // the custom domain's, with apiDomain
		"region":           b.stack.Region(),
		"userPoolId":       b.pool.UserPoolId(),
		"userPoolClientId": b.client.UserPoolClientId(),
		"oidc": map[string]interface{}{
			"authority":          b.pool.UserPoolProviderUrl(),
			"clientId":           b.client.UserPoolClientId(),
			"scope":              strings.Join(OAuthScopes, " "),
			"endSessionEndpoint": awscdk.Fn_Join(jsii.String(""), &[]*string{b.authDomain.BaseUrl(nil), jsii.String("/logout")}),
			"logoutParams": map[string]interface{}{
				"client_id":  b.client.UserPoolClientId(),
				"logout_uri": awscdk.Fn_Join(jsii.String(""), &[]*string{b.siteOrigin, jsii.String("/")}),
			},
		},
	}
	awss3deployment.NewBucketDeployment(b.stack, jsii.String("SiteContent"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: b.site,
		Sources: &[]awss3deployment.ISource{
			awss3deployment.Source_Asset(jsii.String(b.p.WebDist), nil),
			awss3deployment.Source_JsonData(jsii.String(WebConfigFile), config, nil),
		},
		// The build's precompressed copies are for iris serve; CloudFront
		// compresses (gzip and brotli) on its own.
		Exclude:           jsii.Strings("*.br", "*.gz"),
		Distribution:      b.dist,
		DistributionPaths: jsii.Strings("/*"),
		MemoryLimit:       jsii.Number(512),
	})
}
