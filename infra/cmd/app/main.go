// Command app is the CDK app (cdk.json: "go run ./infra/cmd/app"): it
// reads the context into infra.Props and synthesizes the stack, and the
// deploy-role stack when the context names a GitHub repository. Run it
// through the CDK CLI from the repository root (make synth, make deploy).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/iris-oculus/iris/infra"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	props, err := infra.PropsFromContext(app.Node(), ".")
	if err != nil {
		fail(err)
	}
	// The account and region come from the CLI's profile when it has
	// them; otherwise the stack is environment-agnostic.
	var env *awscdk.Environment
	if account, region := os.Getenv("CDK_DEFAULT_ACCOUNT"), os.Getenv("CDK_DEFAULT_REGION"); account != "" && region != "" {
		env = &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
	}
	if _, err := infra.NewStack(app, "Iris", &awscdk.StackProps{Env: env}, props); err != nil {
		fail(err)
	}
	// The deploy role for GitHub Actions, deployed once by an
	// administrator with -c githubOwner=… -c githubRepo=… (make deploy-role).
	if rp, ok, err := infra.DeployRolePropsFromContext(app.Node()); err != nil {
		fail(err)
	} else if ok {
		if _, err := infra.NewDeployRoleStack(app, "IrisDeployRole", &awscdk.StackProps{Env: env}, rp); err != nil {
			fail(err)
		}
	}
	app.Synth(nil)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "iris infra:", err)
	jsii.Close()
	os.Exit(1)
}
