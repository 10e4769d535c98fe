package infra

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
)

// Defaults of Props' zero fields.
const (
	DefaultInstanceType      = "ml.g5.xlarge" // 1 × NVIDIA A10G (24 GB), 16 GB RAM
	DefaultMaxInstances      = 2
	DefaultGPUsPerInstance   = 1
	DefaultMesherMemoryMB    = 3008
	DefaultMesherConcurrency = 5
	DefaultBucketAlarmGB     = 100
)

// Props configure the stack. The zero value, with RepoRoot set, is a
// complete deployment on the defaults.
type Props struct {
	// RepoRoot is the repository's root: gpuworker/Dockerfile is built
	// from it. "" means the working directory (where `cdk` runs).
	RepoRoot string
	// LambdaDir holds the functions' zips, <function>.zip each, as
	// infra/build-lambdas.sh makes them; "" means RepoRoot/bin/lambda.
	LambdaDir string
	// WebDist is the built web app (web/dist) served by CloudFront; ""
	// deploys no web app (the distribution and its bucket still exist).
	WebDist string

	// InstanceType is the SageMaker instance type of the GPU endpoint.
	InstanceType string
	// MaxInstances caps the endpoint's autoscaling (its minimum is 0).
	MaxInstances int
	// GPUsPerInstance is the GPUs of InstanceType: the worker runs one
	// segmentation per GPU, and SageMaker sends as many at once.
	GPUsPerInstance int
	// MesherMemoryMB is the mesher Lambda's memory (and so its CPU share).
	MesherMemoryMB int
	// MesherConcurrency caps the mesher Lambdas running at once.
	MesherConcurrency int

	// SiteDomain and SiteCertificateARN give the web app a domain of its
	// own (the certificate in ACM, us-east-1); without them it is served
	// on the distribution's cloudfront.net name.
	SiteDomain         string
	SiteCertificateARN string
	// ExtraOrigins are allowed by CORS besides the site's own origin, for
	// instance http://localhost:5173 while developing the web app.
	ExtraOrigins []string
	// AlarmEmail, when set, is subscribed to the alarms and to the
	// endpoint's error notifications.
	AlarmEmail string
	// SelfSignUp lets anyone create an account in the user pool; by
	// default an administrator creates the users.
	SelfSignUp bool
	// AuthDomainPrefix names the user pool's managed-login domain,
	// https://PREFIX.auth.REGION.amazoncognito.com; unique in the region.
	// Empty means "iris-ACCOUNT".
	AuthDomainPrefix string

	// BucketAlarmGB is the size of the pipeline's bucket (in GB, 10^9
	// bytes) above which an alarm fires.
	BucketAlarmGB int
	// APIDomain and APICertificateARN give the HTTP API a custom domain
	// (the certificate in ACM, in the stack's region), served with TLS
	// 1.2; the web app's config.json then names it. Without them the API
	// is served on its execute-api name.
	APIDomain         string
	APICertificateARN string
	// WAF attaches AWS WAF web ACLs (AWS managed rule groups and a rate
	// limit per client IP) to CloudFront and to the user pool; see waf.go
	// for the HTTP API, which WAF cannot protect.
	WAF bool
}

// Context keys read by PropsFromContext (`cdk synth -c key=value` or
// cdk.json's "context").
const (
	CtxLambdaDir         = "lambdaDir"
	CtxWebDist           = "webDist"
	CtxInstanceType      = "instanceType"
	CtxMaxInstances      = "maxInstances"
	CtxGPUsPerInstance   = "gpusPerInstance"
	CtxMesherMemoryMB    = "mesherMemoryMB"
	CtxMesherConcurrency = "mesherConcurrency"
	CtxSiteDomain        = "siteDomain"
	CtxSiteCertificate   = "siteCertificateArn"
	CtxExtraOrigins      = "extraOrigins"
	CtxAlarmEmail        = "alarmEmail"
	CtxSelfSignUp        = "selfSignUp"
	CtxAuthDomainPrefix  = "authDomainPrefix"
	CtxBucketAlarmGB     = "bucketAlarmGB"
	CtxAPIDomain         = "apiDomain"
	CtxAPICertificate    = "apiCertificateArn"
	CtxWAF               = "waf"
)

// PropsFromContext reads Props from node's context. The web app is
// deployed from RepoRoot/web/dist when it has been built and webDist is
// not set; webDist="" turns that off.
func PropsFromContext(node constructs.Node, repoRoot string) (Props, error) {
	p := Props{RepoRoot: repoRoot}
	var errs []error
	str := func(key string) string {
		v := node.TryGetContext(&key)
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	num := func(key string) int {
		s := str(key)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("context %s=%q: want a whole number of at least 1", key, s))
		}
		return n
	}
	p.LambdaDir = str(CtxLambdaDir)
	if key := CtxWebDist; node.TryGetContext(&key) != nil {
		p.WebDist = str(CtxWebDist)
	} else if dist := filepath.Join(repoRoot, "web", "dist"); fileExists(filepath.Join(dist, "index.html")) {
		p.WebDist = dist
	}
	p.InstanceType = str(CtxInstanceType)
	p.MaxInstances = num(CtxMaxInstances)
	p.GPUsPerInstance = num(CtxGPUsPerInstance)
	p.MesherMemoryMB = num(CtxMesherMemoryMB)
	p.MesherConcurrency = num(CtxMesherConcurrency)
	p.SiteDomain = str(CtxSiteDomain)
	p.SiteCertificateARN = str(CtxSiteCertificate)
	for _, o := range strings.Split(str(CtxExtraOrigins), ",") {
		if o = strings.TrimSpace(o); o != "" {
			p.ExtraOrigins = append(p.ExtraOrigins, o)
		}
	}
	p.AlarmEmail = str(CtxAlarmEmail)
	p.AuthDomainPrefix = str(CtxAuthDomainPrefix)
	p.BucketAlarmGB = num(CtxBucketAlarmGB)
	p.APIDomain = str(CtxAPIDomain)
	p.APICertificateARN = str(CtxAPICertificate)
	flag := func(key string) bool {
		switch s := str(key); s {
		case "", "false":
		case "true":
			return true
		default:
			errs = append(errs, fmt.Errorf("context %s=%q: want true or false", key, s))
		}
		return false
	}
	p.SelfSignUp = flag(CtxSelfSignUp)
	p.WAF = flag(CtxWAF)
	return p, errors.Join(errs...)
}

var (
	instanceTypeRe = regexp.MustCompile(`^ml\.[a-z0-9]+\.[a-z0-9]+$`)
	originRe       = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]+)?$`)
	domainRe       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$`)
	acmARNRe       = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	// Cognito's rule for a domain prefix, and the words it reserves.
	authPrefixRe       = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	authPrefixReserved = regexp.MustCompile(`aws|amazon|cognito`)
)

// withDefaults fills the zero fields and checks the rest, naming every
// problem. The Lambda zips and the Dockerfile must exist: synthesis
// hashes them.
func (p Props) withDefaults() (Props, error) {
	if p.RepoRoot == "" {
		p.RepoRoot = "."
	}
	if p.LambdaDir == "" {
		p.LambdaDir = filepath.Join(p.RepoRoot, "bin", "lambda")
	}
	if p.InstanceType == "" {
		p.InstanceType = DefaultInstanceType
	}
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&p.MaxInstances, DefaultMaxInstances}, {&p.GPUsPerInstance, DefaultGPUsPerInstance},
		{&p.MesherMemoryMB, DefaultMesherMemoryMB}, {&p.MesherConcurrency, DefaultMesherConcurrency},
		{&p.BucketAlarmGB, DefaultBucketAlarmGB},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	var errs []error
	if !instanceTypeRe.MatchString(p.InstanceType) {
		errs = append(errs, fmt.Errorf("instance type %q is not a SageMaker instance type such as %s", p.InstanceType, DefaultInstanceType))
	}
	if p.MaxInstances < 1 || p.GPUsPerInstance < 1 {
		errs = append(errs, fmt.Errorf("max instances %d and GPUs per instance %d must be at least 1", p.MaxInstances, p.GPUsPerInstance))
	}
	if p.MesherMemoryMB < 128 || p.MesherMemoryMB > 10240 {
		errs = append(errs, fmt.Errorf("mesher memory %d MB is outside Lambda's 128–10240 MB", p.MesherMemoryMB))
	}
	// The event source mapping's MaximumConcurrency ranges 2–1000.
	if p.MesherConcurrency < 2 || p.MesherConcurrency > 1000 {
		errs = append(errs, fmt.Errorf("mesher concurrency %d is outside the 2–1000 an SQS event source allows", p.MesherConcurrency))
	}
	if (p.SiteDomain == "") != (p.SiteCertificateARN == "") {
		errs = append(errs, errors.New("site domain and site certificate go together: set both or neither"))
	}
	if p.SiteDomain != "" && !domainRe.MatchString(p.SiteDomain) {
		errs = append(errs, fmt.Errorf("site domain %q is not a lower-case DNS name", p.SiteDomain))
	}
	if p.BucketAlarmGB < 1 {
		errs = append(errs, fmt.Errorf("bucket alarm %d GB: want at least 1", p.BucketAlarmGB))
	}
	if (p.APIDomain == "") != (p.APICertificateARN == "") {
		errs = append(errs, errors.New("API domain and API certificate go together: set both or neither"))
	}
	if p.APIDomain != "" && !domainRe.MatchString(p.APIDomain) {
		errs = append(errs, fmt.Errorf("API domain %q is not a lower-case DNS name", p.APIDomain))
	}
	if p.APICertificateARN != "" && !acmARNRe.MatchString(p.APICertificateARN) {
		errs = append(errs, fmt.Errorf("API certificate %q is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)", p.APICertificateARN))
	}
	for _, o := range p.ExtraOrigins {
		if !originRe.MatchString(o) {
			errs = append(errs, fmt.Errorf("CORS origin %q is not scheme://host[:port]", o))
		}
	}
	if p.AuthDomainPrefix != "" && (!authPrefixRe.MatchString(p.AuthDomainPrefix) || authPrefixReserved.MatchString(p.AuthDomainPrefix)) {
		errs = append(errs, fmt.Errorf("auth domain prefix %q: want lower-case letters, digits and hyphens, without aws, amazon or cognito", p.AuthDomainPrefix))
	}
	for _, fn := range functionNames {
		if zip := filepath.Join(p.LambdaDir, fn+".zip"); !fileExists(zip) {
			errs = append(errs, fmt.Errorf("%s is missing: build the functions first (infra/build-lambdas.sh, or make build-lambdas)", zip))
		}
	}
	for _, f := range []string{dockerfile, dockerignore} {
		if f := filepath.Join(p.RepoRoot, f); !fileExists(f) {
			errs = append(errs, fmt.Errorf("%s is missing: RepoRoot %q is not the repository's root", f, p.RepoRoot))
		}
	}
	if p.WebDist != "" && !fileExists(filepath.Join(p.WebDist, "index.html")) {
		errs = append(errs, fmt.Errorf("web app %s has no index.html: build it (npm run build in web/) or set webDist to \"\"", p.WebDist))
	}
	return p, errors.Join(errs...)
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
