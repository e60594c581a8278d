package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/spf13/cobra"
)

// defaultEndpoint is where `cutover server` listens by default.
const defaultEndpoint = "http://127.0.0.1:7700"

// clientFlags are shared by every subcommand that talks to a server. They
// find the server (--endpoint-url, else CUTOVER_ENDPOINT, else the default
// address) and sign with the standard AWS credential chain, so the same
// environment that drives the AWS CLI drives these commands.
type clientFlags struct {
	endpoint string
	region   string
	profile  string
	caBundle string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint-url", "", "server URL (default $CUTOVER_ENDPOINT, else "+defaultEndpoint+")")
	fl.StringVar(&f.region, "region", "", "region to sign for (default from the AWS config chain, else us-east-1)")
	fl.StringVar(&f.profile, "profile", "", "AWS shared-config profile to take credentials from")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM CA bundle to trust for https endpoints (e.g. <data-dir>/tls/ca.pem)")
}

// endpointURL resolves the server to talk to.
func (f *clientFlags) endpointURL() string {
	if f.endpoint != "" {
		return f.endpoint
	}
	if e := os.Getenv("CUTOVER_ENDPOINT"); e != "" {
		return e
	}
	return defaultEndpoint
}

// awsConfig loads the AWS SDK configuration the way the AWS CLI would, with
// the flags layered on top.
func (f *clientFlags) awsConfig(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if f.region != "" {
		opts = append(opts, config.WithRegion(f.region))
	}
	if f.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(f.profile))
	}
	if f.caBundle != "" {
		pem, err := os.ReadFile(f.caBundle)
		if err != nil {
			return aws.Config{}, fmt.Errorf("reading --ca-bundle: %w", err)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		// A local server has one region; not making people configure one
		// removes a step from the first run.
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// codeDeploy returns a CodeDeploy client aimed at the server.
func (f *clientFlags) codeDeploy(ctx context.Context) (*codedeploy.Client, error) {
	cfg, err := f.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	ep := f.endpointURL()
	return codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(ep) }), nil
}
