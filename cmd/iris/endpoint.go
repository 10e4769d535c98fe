package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/iris-oculus/iris/internal/aws/endpoint"
)

func runEndpoint(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("endpoint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iris endpoint status|start|stop [--name ENDPOINT] [--variant VARIANT]")
		fmt.Fprintln(stderr, "  status: instances, desired count and autoscaling range of the GPU endpoint")
		fmt.Fprintln(stderr, "  start:  keep at least one instance warm (autoscaling minimum 1; GPU billing starts)")
		fmt.Fprintln(stderr, "  stop:   let it scale to zero when idle (autoscaling minimum 0)")
		fs.PrintDefaults()
	}
	name := fs.String("name", os.Getenv("IRIS_ENDPOINT"), "SageMaker endpoint name (default $IRIS_ENDPOINT)")
	variant := fs.String("variant", "", "production variant (default "+endpoint.DefaultVariant+")")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if len(pos) != 1 || *name == "" {
		fs.Usage()
		return fmt.Errorf("%w: endpoint takes status, start or stop, and --name (or IRIS_ENDPOINT)", errUsage)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	c := endpoint.New(sagemaker.NewFromConfig(cfg), applicationautoscaling.NewFromConfig(cfg), *name, *variant)
	switch pos[0] {
	case "status":
	case "start":
		if err := c.Start(ctx); err != nil {
			return err
		}
	case "stop":
		if err := c.Stop(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: endpoint %q: want status, start or stop", errUsage, pos[0])
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, st)
	return nil
}
