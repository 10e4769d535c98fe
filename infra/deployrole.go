package infra

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// GitHub's OpenID Connect issuer and the audience that
// aws-actions/configure-aws-credentials asks for.
const (
	GitHubOIDCURL      = "https://token.actions.githubusercontent.com"
	GitHubOIDCAudience = "sts.amazonaws.com"
	githubOIDCHost     = "token.actions.githubusercontent.com"
)

// Defaults of DeployRoleProps' zero fields.
const (
	DefaultGitHubEnvironment  = "production"
	DefaultBootstrapQualifier = "hnb659fds" // `cdk bootstrap`'s default
	// DeployRoleSessionHours bounds one deploy: the GPU image build and
	// push and the endpoint's creation take a while, and the CDK CLI
	// re-assumes the bootstrap roles from this session as it goes.
	DeployRoleSessionHours = 2
)

// DeployRoleProps configure the deploy-role stack: the role that GitHub
// Actions assumes, through GitHub's OIDC provider, to run `make deploy`.
type DeployRoleProps struct {
	// Owner and Repo name the GitHub repository (github.com/Owner/Repo)
	// whose deploy jobs may assume the role.
	Owner, Repo string
	// Environment is the GitHub environment those jobs must run in;
	// "" means production.
	Environment string
	// ProviderARN is the account's GitHub OIDC provider when it has one
	// already (IAM holds one provider per URL); "" creates it.
	ProviderARN string
	// Qualifier is the CDK bootstrap qualifier of the environment the app
	// deploys to; "" means the default, hnb659fds.
	Qualifier string
}

// Context keys read by DeployRolePropsFromContext.
const (
	CtxGitHubOwner        = "githubOwner"
	CtxGitHubRepo         = "githubRepo"
	CtxGitHubEnvironment  = "githubEnvironment"
	CtxGitHubOIDCProvider = "githubOidcProviderArn"
	CtxBootstrapQualifier = "bootstrapQualifier"
)

// DeployRolePropsFromContext reads DeployRoleProps from node's context.
// ok is false when neither the owner nor the repository is given: the app
// then has no deploy-role stack (it is deployed once, by an
// administrator, with both).
func DeployRolePropsFromContext(node constructs.Node) (p DeployRoleProps, ok bool, err error) {
	str := func(key string) string {
		if v := node.TryGetContext(&key); v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	p = DeployRoleProps{
		Owner: str(CtxGitHubOwner), Repo: str(CtxGitHubRepo), Environment: str(CtxGitHubEnvironment),
		ProviderARN: str(CtxGitHubOIDCProvider), Qualifier: str(CtxBootstrapQualifier),
	}
	if p.Owner == "" && p.Repo == "" {
		return p, false, nil
	}
	_, err = p.withDefaults()
	return p, true, err
}

var (
	githubOwnerRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	githubRepoRe  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	githubEnvRe   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
	qualifierRe   = regexp.MustCompile(`^[a-z0-9]{1,10}$`)
	oidcARNRe     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/` + regexp.QuoteMeta(githubOIDCHost) + `$`)
)

// withDefaults fills the zero fields and checks the rest. Every value
// ends up inside the role's trust policy or its resources, so nothing
// that could widen them (a wildcard, a colon, a slash) is accepted.
func (p DeployRoleProps) withDefaults() (DeployRoleProps, error) {
	if p.Environment == "" {
		p.Environment = DefaultGitHubEnvironment
	}
	if p.Qualifier == "" {
		p.Qualifier = DefaultBootstrapQualifier
	}
	var errs []error
	if !githubOwnerRe.MatchString(p.Owner) {
		errs = append(errs, fmt.Errorf("context %s=%q: want a GitHub user or organisation name", CtxGitHubOwner, p.Owner))
	}
	if !githubRepoRe.MatchString(p.Repo) || p.Repo == "." || p.Repo == ".." {
		errs = append(errs, fmt.Errorf("context %s=%q: want a GitHub repository name", CtxGitHubRepo, p.Repo))
	}
	if !githubEnvRe.MatchString(p.Environment) {
		errs = append(errs, fmt.Errorf("context %s=%q: want a GitHub environment name of letters, digits, '.', '_' or '-'", CtxGitHubEnvironment, p.Environment))
	}
	if p.ProviderARN != "" && !oidcARNRe.MatchString(p.ProviderARN) {
		errs = append(errs, fmt.Errorf("context %s=%q: want arn:aws:iam::ACCOUNT:oidc-provider/%s", CtxGitHubOIDCProvider, p.ProviderARN, githubOIDCHost))
	}
	if !qualifierRe.MatchString(p.Qualifier) {
		errs = append(errs, fmt.Errorf("context %s=%q: want the CDK bootstrap qualifier (lower-case letters and digits, at most 10)", CtxBootstrapQualifier, p.Qualifier))
	}
	return p, errors.Join(errs...)
}

// Subject is the `sub` claim of a GitHub Actions job in the repository's
// environment, the one subject the role trusts.
func (p DeployRoleProps) Subject() string {
	env := p.Environment
	if env == "" {
		env = DefaultGitHubEnvironment
	}
	return "repo:" + p.Owner + "/" + p.Repo + ":environment:" + env
}

// bootstrapRoles are the CDK bootstrap roles that `cdk deploy` assumes
// (for CloudFormation, the file and image assets, and context lookups),
// by the suffix of their names: cdk-QUALIFIER-<suffix>-ACCOUNT-REGION.
var bootstrapRoles = []string{"deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role"}

// DeployRoleStack is the deploy-role stack.
type DeployRoleStack struct {
	awscdk.Stack
	Role     awsiam.Role
	Provider awsiam.IOidcProvider
}

// NewDeployRoleStack is GitHub's OIDC identity provider (created, or the
// existing one) and the deploy role. The role trusts only web identities
// from that provider whose audience is sts.amazonaws.com and whose subject
// is the repository's environment, and it may do one thing: assume the
// CDK bootstrap roles of its account and region, which hold the actual
// deployment permissions. Deploy it in the region the app deploys to.
func NewDeployRoleStack(scope constructs.Construct, id string, sp *awscdk.StackProps, p DeployRoleProps) (*DeployRoleStack, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	if sp == nil {
		sp = &awscdk.StackProps{}
	}
	if sp.Description == nil {
		sp.Description = jsii.String("IRIS Oculus: the role GitHub Actions assumes (OIDC, no stored keys) to deploy the Iris stack from " +
			p.Owner + "/" + p.Repo + "'s " + p.Environment + " environment")
	}
	stack := awscdk.NewStack(scope, &id, sp)

	var provider awsiam.IOidcProvider
	if p.ProviderARN != "" {
		provider = awsiam.OidcProviderNative_FromOidcProviderArn(stack, jsii.String("GitHubOidc"), &p.ProviderARN)
	} else {
		// No thumbprints: IAM verifies GitHub's certificate against its
		// own trusted CAs.
		provider = awsiam.NewOidcProviderNative(stack, jsii.String("GitHubOidc"), &awsiam.OidcProviderNativeProps{
			Url:       jsii.String(GitHubOIDCURL),
			ClientIds: jsii.Strings(GitHubOIDCAudience),
		})
	}

	role := awsiam.NewRole(stack, jsii.String("DeployRole"), &awsiam.RoleProps{
		Description: jsii.String("GitHub Actions deploys of " + p.Owner + "/" + p.Repo + " (" + p.Environment + " environment): may only assume the CDK bootstrap roles"),
		AssumedBy: awsiam.NewOpenIdConnectPrincipal(provider, &map[string]interface{}{
			"StringEquals": map[string]interface{}{
				githubOIDCHost + ":aud": GitHubOIDCAudience,
				githubOIDCHost + ":sub": p.Subject(),
			},
		}),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(DeployRoleSessionHours)),
	})
	var arns []*string
	for _, suffix := range bootstrapRoles {
		arns = append(arns, jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/cdk-%s-%s-%s-%s",
			*stack.Partition(), *stack.Account(), p.Qualifier, suffix, *stack.Account(), *stack.Region())))
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AssumeCdkBootstrapRoles"),
		Actions:   jsii.Strings("sts:AssumeRole"),
		Resources: &arns,
	}))

	awscdk.NewCfnOutput(stack, jsii.String("DeployRoleArn"), &awscdk.CfnOutputProps{
		Value:       role.RoleArn(),
		Description: jsii.String("Set it as the repository variable AWS_DEPLOY_ROLE_ARN (see infra/README.md)"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("OidcProviderArn"), &awscdk.CfnOutputProps{
		Value:       provider.OidcProviderArn(),
		Description: jsii.String("GitHub's OIDC identity provider in this account"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("TrustedSubject"), &awscdk.CfnOutputProps{
		Value:       jsii.String(p.Subject()),
		Description: jsii.String("The only GitHub token subject the role accepts"),
	})
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return &DeployRoleStack{Stack: stack, Role: role, Provider: provider}, nil
}
