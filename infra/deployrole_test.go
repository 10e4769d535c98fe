package infra

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
)

// roleSynth is a synthesized deploy-role stack.
type roleSynth struct {
	template map[string]any
	messages []*cxapi.SynthesisMessage
	report   [][]string // cdk-nag's AwsSolutions report
}

// synthDeployRole synthesizes the deploy-role stack alone, with cdk.json's
// feature flags, in an app of its own (it is deployed on its own).
func synthDeployRole(t *testing.T, p DeployRoleProps) *roleSynth {
	t.Helper()
	ctx, err := cdkContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx["@aws-cdk/core:annotationsInValidationReport"] = false
	outdir := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(outdir)})
	if _, err := NewDeployRoleStack(app, "IrisDeployRole", nil, p); err != nil {
		t.Fatal(err)
	}
	art := app.Synth(nil).GetStackArtifact(jsii.String("IrisDeployRole"))
	raw, err := os.ReadFile(*art.TemplateFullPath())
	if err != nil {
		t.Fatal(err)
	}
	s := &roleSynth{}
	if err := json.Unmarshal(raw, &s.template); err != nil {
		t.Fatal(err)
	}
	if m := art.Messages(); m != nil {
		s.messages = *m
	}
	reports, _ := filepath.Glob(filepath.Join(outdir, "AwsSolutions-*IrisDeployRole-NagReport.csv"))
	if len(reports) != 1 {
		t.Fatalf("cdk-nag reports in %s: %v, want one for IrisDeployRole", outdir, reports)
	}
	f, err := os.Open(reports[0])
	if err != nil {
		t.Fatalf("cdk-nag report: %v", err)
	}
	defer f.Close()
	if s.report, err = csv.NewReader(f).ReadAll(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *roleSynth) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.template["Resources"].(map[string]any) {
		if r := r.(map[string]any); r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// pseudo are the values the deploy-role tests give CloudFormation's
// pseudo parameters when they evaluate an ARN.
var pseudo = map[string]string{"AWS::Partition": "aws", "AWS::AccountId": "111122223333", "AWS::Region": "eu-west-1"}

// evalString evaluates a template string expression (a literal, Ref of a
// pseudo parameter or a resource, Fn::Join) to a string; a resource
// reference becomes "<logicalId>".
func evalString(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			if p, ok := pseudo[ref]; ok {
				return p
			}
			return "<" + ref + ">"
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, evalString(t, p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	t.Fatalf("cannot evaluate %s", jsonOf(v))
	return ""
}

func TestDeployRole(t *testing.T) {
	const existing = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
	for _, c := range []struct {
		name        string
		props       DeployRoleProps
		wantCreated bool
		wantSub     string
	}{
		{"creates the provider", DeployRoleProps{Owner: "iris-oculus", Repo: "iris"}, true,
			"repo:iris-oculus/iris:environment:production"},
		{"uses the existing provider", DeployRoleProps{Owner: "iris-oculus", Repo: "iris", ProviderARN: existing, Environment: "prod-eu", Qualifier: "abc123"}, false,
			"repo:iris-oculus/iris:environment:prod-eu"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := synthDeployRole(t, c.props)
			qualifier := c.props.Qualifier
			if qualifier == "" {
				qualifier = DefaultBootstrapQualifier
			}

			// The provider: GitHub's issuer, one audience.
			providers := s.ofType("AWS::IAM::OIDCProvider")
			var federated string
			if c.wantCreated {
				if len(providers) != 1 {
					t.Fatalf("%d OIDC providers, want 1", len(providers))
				}
				for id, r := range providers {
					p := props(r)
					if p["Url"] != GitHubOIDCURL || jsonOf(p["ClientIdList"]) != `["sts.amazonaws.com"]` {
						t.Errorf("provider %s: Url %v, ClientIdList %v", id, p["Url"], jsonOf(p["ClientIdList"]))
					}
					federated = "<" + id + ">"
				}
			} else {
				if len(providers) != 0 {
					t.Fatalf("%d OIDC providers created, want none (the existing one is used)", len(providers))
				}
				federated = existing
			}

			// The role: one, trusting one subject of that provider.
			roles := s.ofType("AWS::IAM::Role")
			if len(roles) != 1 {
				t.Fatalf("%d roles, want 1", len(roles))
			}
			var roleID string
			var role map[string]any
			for id, r := range roles {
				roleID, role = id, props(r)
			}
			stmts := list(role["AssumeRolePolicyDocument"].(map[string]any)["Statement"])
			if len(stmts) != 1 {
				t.Fatalf("trust policy has %d statements, want 1: %s", len(stmts), jsonOf(stmts))
			}
			st := stmts[0].(map[string]any)
			if st["Effect"] != "Allow" || st["Action"] != "sts:AssumeRoleWithWebIdentity" {
				t.Errorf("trust statement: %s", jsonOf(st))
			}
			principal := st["Principal"].(map[string]any)
			if len(principal) != 1 || evalString(t, principal["Federated"]) != federated {
				t.Errorf("trust principal %s, want Federated %s", jsonOf(principal), federated)
			}
			wantCond := map[string]any{"StringEquals": map[string]any{
				"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
				"token.actions.githubusercontent.com:sub": c.wantSub,
			}}
			if !reflect.DeepEqual(st["Condition"], wantCond) {
				t.Errorf("trust condition %s, want %s", jsonOf(st["Condition"]), jsonOf(wantCond))
			}
			if role["MaxSessionDuration"] != float64(DeployRoleSessionHours*3600) {
				t.Errorf("MaxSessionDuration %v", role["MaxSessionDuration"])
			}
			for _, k := range []string{"ManagedPolicyArns", "Policies", "PermissionsBoundary"} {
				if role[k] != nil {
					t.Errorf("role has %s: %s", k, jsonOf(role[k]))
				}
			}

			// Its only permission: assume the four CDK bootstrap roles of
			// its account and region.
			var granted []string
			for id, r := range s.ofType("AWS::IAM::Policy") {
				p := props(r)
				if refs := jsonOf(p["Roles"]); refs != fmt.Sprintf(`[{"Ref":%q}]`, roleID) {
					t.Errorf("policy %s attaches to %s", id, refs)
				}
				for _, st := range list(p["PolicyDocument"].(map[string]any)["Statement"]) {
					st := st.(map[string]any)
					if st["Effect"] != "Allow" || st["Action"] != "sts:AssumeRole" || st["Condition"] != nil || st["NotResource"] != nil {
						t.Errorf("policy %s statement %s", id, jsonOf(st))
					}
					for _, r := range list(st["Resource"]) {
						granted = append(granted, evalString(t, r))
					}
				}
			}
			sort.Strings(granted)
			var want []string
			for _, suffix := range []string{"deploy-role", "file-publishing-role", "image-publishing-role", "lookup-role"} {
				want = append(want, "arn:aws:iam::111122223333:role/cdk-"+qualifier+"-"+suffix+"-111122223333-eu-west-1")
			}
			if !reflect.DeepEqual(granted, want) {
				t.Errorf("the role may assume\n%s\nwant exactly\n%s", strings.Join(granted, "\n"), strings.Join(want, "\n"))
			}
			// Nothing else in the stack can act: no functions, no other
			// roles or users (the provider resource is native, with no
			// custom-resource Lambda).
			for id, r := range s.template["Resources"].(map[string]any) {
				switch typ := r.(map[string]any)["Type"]; typ {
				case "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::OIDCProvider", "AWS::CDK::Metadata":
				default:
					t.Errorf("unexpected resource %s (%v)", id, typ)
				}
			}
			outputs, _ := s.template["Outputs"].(map[string]any)
			for _, o := range []string{"DeployRoleArn", "OidcProviderArn", "TrustedSubject"} {
				if outputs[o] == nil {
					t.Errorf("no output %s", o)
				}
			}
			if got := outputs["TrustedSubject"].(map[string]any)["Value"]; got != c.wantSub {
				t.Errorf("TrustedSubject output %v", got)
			}

			// cdk-nag ran and found nothing to accept or fix.
			var errs int
			for _, m := range s.messages {
				if m.Level == cxapi.SynthesisMessageLevel_ERROR {
					errs++
					t.Errorf("%s: %v", *m.Id, m.Entry.Data)
				}
			}
			checked := map[string]bool{}
			for _, row := range s.report[1:] {
				checked[row[0]] = true
				if row[2] == "Suppressed" {
					t.Errorf("suppressed finding %s on %s", row[0], row[1])
				}
			}
			for _, rule := range []string{"AwsSolutions-IAM4", "AwsSolutions-IAM5"} {
				if !checked[rule] {
					t.Errorf("the nag report does not list %s", rule)
				}
			}
			t.Logf("cdk-nag: %d errors, %d report rows", errs, len(s.report)-1)
		})
	}
}

// TestDeployRoleProps: context that could widen the trust or the grants
// is refused, with the key named.
func TestDeployRoleProps(t *testing.T) {
	for _, c := range []struct {
		name string
		p    DeployRoleProps
		want string // "" = valid
	}{
		{"plain", DeployRoleProps{Owner: "iris-oculus", Repo: "iris.web_2"}, ""},
		{"wildcard owner", DeployRoleProps{Owner: "*", Repo: "iris"}, CtxGitHubOwner},
		{"wildcard repo", DeployRoleProps{Owner: "o", Repo: "ir*"}, CtxGitHubRepo},
		{"repo with a colon", DeployRoleProps{Owner: "o", Repo: "iris:ref"}, CtxGitHubRepo},
		{"owner with a slash", DeployRoleProps{Owner: "o/x", Repo: "iris"}, CtxGitHubOwner},
		{"dot repo", DeployRoleProps{Owner: "o", Repo: ".."}, CtxGitHubRepo},
		{"missing repo", DeployRoleProps{Owner: "o"}, CtxGitHubRepo},
		{"environment with a colon", DeployRoleProps{Owner: "o", Repo: "r", Environment: "production:x"}, CtxGitHubEnvironment},
		{"environment wildcard", DeployRoleProps{Owner: "o", Repo: "r", Environment: "prod*"}, CtxGitHubEnvironment},
		{"provider of another issuer", DeployRoleProps{Owner: "o", Repo: "r", ProviderARN: "arn:aws:iam::111122223333:oidc-provider/example.com"}, CtxGitHubOIDCProvider},
		{"qualifier wildcard", DeployRoleProps{Owner: "o", Repo: "r", Qualifier: "*"}, CtxBootstrapQualifier},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.p.withDefaults()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("accepted %+v", c.p)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not name %s", err, c.want)
			}
		})
	}
	if got := (DeployRoleProps{Owner: "o", Repo: "r"}).Subject(); got != "repo:o/r:environment:production" {
		t.Errorf("Subject %q", got)
	}
}
