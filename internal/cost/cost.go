// Package cost holds the one table of the AWS prices the stack's jobs are
// priced with, the date they were read and where, and turns a
// deployment's choices (its GPU instance type, GPUs per instance, the
// mesher's memory) into job.Rates. The status function prices each job
// with them, and infra/README.md's cost section prints the same table
// (Markdown; a test holds the two together).
//
// It does not read prices from AWS (the Price List API needs credentials
// and a network the functions do not have): the table is updated by hand,
// with its date, when prices change.
package cost

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iris-oculus/iris/internal/job"
)

// Prices are on-demand prices in one region, as read on ReadOn.
type Prices struct {
	ReadOn   string // YYYY-MM-DD
	Region   string
	Currency string
	// InstanceHour is a SageMaker hosting instance's price per hour (real-
	// time and asynchronous inference bill the same instance hours).
	InstanceHour map[string]float64
	// LambdaGBSecond is Lambda's duration price on arm64, which every
	// function of the stack runs on.
	LambdaGBSecond float64
	// LambdaRequest is the price of one invocation.
	LambdaRequest float64
	// Sources say where each price was read.
	Sources []string
}

// Table is the price table. The official pricing pages render their
// prices in the browser and could not be read as text here; each price
// is the one stated by the sources listed, which agree except where said.
var Table = Prices{
	ReadOn:   "2026-12-05",
	Region:   "us-east-1",
	Currency: "USD",
	InstanceHour: map[string]float64{
		"ml.g5.xlarge":   1.41,
		"ml.g4dn.xlarge": 0.736,
	},
	LambdaGBSecond: 0.0000133334,
	LambdaRequest:  0.20 / 1e6,
	Sources: []string{
		"ml.g5.xlarge $1.41/h: zircon.tech, \"The real cost of running AI models on AWS SageMaker\" (us-east-1, October 2025), and cloudmess.io; wring.co (March 2026) says $1.21: check aws.amazon.com/sagemaker/pricing before budgeting",
		"ml.g4dn.xlarge $0.736/h: several public cost tables (shared/design/facts/aws.md, section 8)",
		"Lambda arm64 $0.0000133334 per GB-second: aws.amazon.com/lambda/pricing as tabulated in artillery's lib/platform/aws-lambda/prices.js (base arm64 1333340e-11)",
		"Lambda $0.20 per million requests: aws.amazon.com/lambda/pricing, as tabulated for us-east-1 in the gist thiagozs/019a25fbcbd987209ef1d25e10d0dde9 (PerRequestPrice 0.20)",
	},
}

// RequestsPerJob are the Lambda invocations the pipeline makes for one
// job: ingest, dispatch and the mesher once each, and the status function
// for "Job Accepted", "Segmentation Started", the label map's "Object
// Created" and "Meshes Ready". The user's API calls are not counted.
const RequestsPerJob = 7

// Deployment is what a job's price depends on.
type Deployment struct {
	InstanceType    string
	GPUsPerInstance int
	MesherMemoryMB  int
}

// Rates prices d with p. An instance type the table lacks is an error
// (the rates are returned anyway, with its GPU price at zero).
func (p Prices) Rates(d Deployment) (job.Rates, error) {
	r := job.Rates{
		InstanceType:   d.InstanceType,
		LambdaGBSecond: p.LambdaGBSecond,
		MesherGB:       float64(d.MesherMemoryMB) / 1024,
		Request:        p.LambdaRequest,
		RequestsPerJob: RequestsPerJob,
		Currency:       p.Currency,
		PricesReadOn:   p.ReadOn,
	}
	if d.GPUsPerInstance < 1 {
		return r, fmt.Errorf("price %s: %d GPUs per instance, want at least 1", d.InstanceType, d.GPUsPerInstance)
	}
	hour, ok := p.InstanceHour[d.InstanceType]
	if !ok {
		return r, fmt.Errorf("the price table (internal/cost, read %s) has no price for %s: add it", p.ReadOn, d.InstanceType)
	}
	r.GPUSecond = hour / 3600 / float64(d.GPUsPerInstance)
	return r, nil
}

// Markdown is the table as infra/README.md shows it.
func (p Prices) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Prices read on %s, %s, in %s:\n\n", p.ReadOn, p.Region, p.Currency)
	b.WriteString("| what | price |\n| --- | --- |\n")
	types := make([]string, 0, len(p.InstanceHour))
	for t := range p.InstanceHour {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(&b, "| SageMaker %s, per hour | %s |\n", t, num(p.InstanceHour[t]))
	}
	fmt.Fprintf(&b, "| Lambda (arm64), per GB-second | %s |\n", num(p.LambdaGBSecond))
	fmt.Fprintf(&b, "| Lambda, per million requests | %s |\n", num(p.LambdaRequest*1e6))
	b.WriteString("\nSources:\n\n")
	for _, s := range p.Sources {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	return b.String()
}

func num(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.10f", v), "0"), ".")
}
