package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// CallbackPath is where the web app receives the authorization code
// (web/src/auth/auth.ts).
const CallbackPath = "/auth/callback"

// OAuthScopes are what the web app asks for; the API wants no more than
// a signed-in user.
var OAuthScopes = []string{"openid", "email", "profile"}

// api makes the user pool, its managed-login domain and web client, and
// the HTTP API: every route under /api/ passes the Cognito JWT authorizer
// (the token's subject is the owner of jobs) except GET /api/health. CORS
// admits the web app's origin only. The default stage logs every request
// and is throttled.
//
// The web client is public (a browser keeps no secret): the
// authorization-code grant with PKCE (Cognito checks PKCE when the
// request carries a code challenge, which oidc-client-ts always sends),
// callback ORIGIN/auth/callback and sign-out ORIGIN/ for the site and
// each extra origin.
func (b *builder) api() {
	b.pool = awscognito.NewUserPool(b.stack, jsii.String("Users"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(b.p.SelfSignUp),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:     awscognito.FeaturePlan_ESSENTIALS,
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	b.client = b.pool.AddClient(jsii.String("Web"), &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false), // a browser cannot keep one
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(30)),
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: b.originURLs(CallbackPath),
			LogoutUrls:   b.originURLs("/"),
		},
	})
	prefix := jsii.String(b.p.AuthDomainPrefix)
	if b.p.AuthDomainPrefix == "" {
		prefix = awscdk.Fn_Join(jsii.String("-"), jsii.Strings("iris", *awscdk.Aws_ACCOUNT_ID()))
	}
	b.authDomain = b.pool.AddDomain(jsii.String("Login"), &awscognito.UserPoolDomainOptions{
		CognitoDomain:       &awscognito.CognitoDomainOptions{DomainPrefix: prefix},
		ManagedLoginVersion: awscognito.ManagedLoginVersion_NEWER_MANAGED_LOGIN,
	})
	// Managed login (version 2) shows a client's pages only once the
	// client has a branding style; Cognito's own is enough.
	awscognito.NewCfnManagedLoginBranding(b.stack, jsii.String("LoginBranding"), &awscognito.CfnManagedLoginBrandingProps{
		UserPoolId:               b.pool.UserPoolId(),
		ClientId:                 b.client.UserPoolClientId(),
		UseCognitoProvidedValues: jsii.Bool(true),
	}).Node().AddDependency(b.authDomain)

	b.httpAPI = awsapigatewayv2.NewHttpApi(b.stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("IRIS Oculus API"),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: b.origins(),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{awsapigatewayv2.CorsHttpMethod_GET,
				awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_DELETE},
			AllowHeaders: jsii.Strings("authorization", "content-type"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
	})
	b.apiURL = b.httpAPI.ApiEndpoint()
	if b.p.APIDomain != "" {
		// A regional custom domain (its certificate in this stack's
		// region) that accepts TLS 1.2 and later only.
		b.apiDomain = awsapigatewayv2.NewDomainName(b.stack, jsii.String("ApiDomain"), &awsapigatewayv2.DomainNameProps{
			DomainName:     jsii.String(b.p.APIDomain),
			Certificate:    awscertificatemanager.Certificate_FromCertificateArn(b.stack, jsii.String("ApiCertificate"), jsii.String(b.p.APICertificateARN)),
			EndpointType:   awsapigatewayv2.EndpointType_REGIONAL,
			SecurityPolicy: awsapigatewayv2.SecurityPolicy_TLS_1_2,
		})
		awsapigatewayv2.NewApiMapping(b.stack, jsii.String("ApiDomainMapping"), &awsapigatewayv2.ApiMappingProps{
			Api: b.httpAPI, DomainName: b.apiDomain, Stage: b.httpAPI.DefaultStage(),
		})
		b.apiURL = jsii.String("https://" + b.p.APIDomain)
	}
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("Api"), b.functions[fnAPI],
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0()})
	authorizer := awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("Cognito"), b.pool,
		&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{UserPoolClients: &[]awscognito.IUserPoolClient{b.client}})
	b.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/api/{proxy+}"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET, awsapigatewayv2.HttpMethod_POST, awsapigatewayv2.HttpMethod_DELETE},
		Integration: integration,
		Authorizer:  authorizer,
	})
	health := b.httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/api/health"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: integration,
	})
	b.healthRoute = (*health)[0]

	logs := awslogs.NewLogGroup(b.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_THREE_MONTHS,
	})
	stage := b.httpAPI.DefaultStage().Node().DefaultChild().(awsapigatewayv2.CfnStage)
	stage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
			`"method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status","bytes":"$context.responseLength",` +
			`"latencyMs":"$context.responseLatency","sub":"$context.authorizer.claims.sub","authError":"$context.authorizer.error",` +
			`"integrationError":"$context.integrationErrorMessage"}`),
	})
	stage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingBurstLimit: jsii.Number(100),
		ThrottlingRateLimit:  jsii.Number(50),
	})
}
