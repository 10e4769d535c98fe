package job

import (
	"math"
	"time"
)

// Usage is what a finished job used and an estimate of what that cost.
// job.Apply fills it when a job reaches done or failed, from the stage
// times and the Rates its Update carries; without Rates (iris serve) the
// times are measured all the same and every cost is zero.
type Usage struct {
	// StageSeconds is the time spent in each status before the next one
	// (created: the upload and its checks; accepted: waiting in the jobs
	// queue; segmenting: the segmentation on the GPU endpoint, queueing
	// and a cold start included; meshing: the mesher).
	StageSeconds map[Status]float64 `json:"stageSeconds"`
	// TotalSeconds is from the job's creation to its end.
	TotalSeconds float64 `json:"totalSeconds"`
	// GPUSeconds is the time the job was on the segmenter: its
	// segmenting stage. On AWS it includes the time the request waited in
	// the endpoint's queue, so it is an upper bound of the GPU time the
	// job's own inference took.
	GPUSeconds float64 `json:"gpuSeconds"`
	// LambdaGBSeconds is the mesher's memory times its stage's time.
	LambdaGBSeconds float64 `json:"lambdaGbSeconds"`
	// Cost is the estimate, priced with the Rates of the deployment.
	Cost Cost `json:"cost"`
}

// Cost is an estimate in Currency, each part rounded to a millionth.
type Cost struct {
	GPU      float64 `json:"gpu"`      // GPUSeconds at the instance's price, shared by its GPUs
	Lambda   float64 `json:"lambda"`   // LambdaGBSeconds at Lambda's GB-second price
	Requests float64 `json:"requests"` // the pipeline's Lambda invocations for one job
	Total    float64 `json:"total"`
	Currency string  `json:"currency"`
	// InstanceType is the GPU endpoint's instance, whose price GPU is.
	InstanceType string `json:"instanceType,omitempty"`
	// PricesReadOn is when the prices were read (YYYY-MM-DD); "" when
	// the job ran without prices (iris serve, which costs nothing here).
	PricesReadOn string `json:"pricesReadOn,omitempty"`
}

// Rates price a job's usage on one deployment (package cost derives them
// from its price table). The zero value prices everything at zero.
type Rates struct {
	InstanceType   string
	GPUSecond      float64 // the instance's price per second, divided by its GPUs
	LambdaGBSecond float64
	MesherGB       float64 // the mesher's memory, in GB
	Request        float64 // the price of one Lambda invocation
	RequestsPerJob int     // invocations the pipeline makes for one job
	Currency       string
	PricesReadOn   string
}

// Measure is j's usage, priced with r: the stage times come from
// j.Stages, each stage lasting until the next one present (or, for the
// last, until j.UpdatedAt).
func Measure(j Job, r Rates) Usage {
	order := []Status{Created, Accepted, Segmenting, Meshing, Failed, Done}
	var seen []Status
	for _, s := range order {
		if _, ok := j.Stages[s]; ok {
			seen = append(seen, s)
		}
	}
	u := Usage{StageSeconds: map[Status]float64{}}
	for i, s := range seen {
		if s.Terminal() {
			continue
		}
		end := j.UpdatedAt
		if i+1 < len(seen) {
			end = j.Stages[seen[i+1]]
		}
		u.StageSeconds[s] = seconds(end.Sub(j.Stages[s]))
	}
	start := j.CreatedAt
	if t, ok := j.Stages[Created]; ok {
		start = t
	}
	u.TotalSeconds = seconds(j.UpdatedAt.Sub(start))
	u.GPUSeconds = u.StageSeconds[Segmenting]
	u.LambdaGBSeconds = round(u.StageSeconds[Meshing]*r.MesherGB, 1e3)
	currency := r.Currency
	if currency == "" {
		currency = "USD"
	}
	u.Cost = Cost{
		GPU:          round(u.GPUSeconds*r.GPUSecond, 1e6),
		Lambda:       round(u.LambdaGBSeconds*r.LambdaGBSecond, 1e6),
		Requests:     round(float64(r.RequestsPerJob)*r.Request, 1e6),
		Currency:     currency,
		InstanceType: r.InstanceType,
		PricesReadOn: r.PricesReadOn,
	}
	u.Cost.Total = round(u.Cost.GPU+u.Cost.Lambda+u.Cost.Requests, 1e6)
	return u
}

// seconds is d in seconds, to the millisecond; never negative.
func seconds(d time.Duration) float64 { return round(max(d, 0).Seconds(), 1e3) }

func round(v, per float64) float64 { return math.Round(v*per) / per }
