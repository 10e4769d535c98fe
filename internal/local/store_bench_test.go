package local

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/job"
)

// BenchmarkStoreGet is the API's poll (GET /api/jobs/{id}) at the store:
// parallel reads of finished job records, alone and while the pipeline
// writes (queue sends, claims and deletes, as the stages do). It reports
// the 99th percentile of one read besides the mean. 64 readers at once
// (on 2 cores) stand for the HTTP handlers of many pollers.
func BenchmarkStoreGet(b *testing.B) {
	for _, writing := range []bool{false, true} {
		b.Run(fmt.Sprintf("writing=%v", writing), func(b *testing.B) {
			ctx := context.Background()
			db := openDB(b)
			st := db.Store()
			ids := make([]string, 50)
			for i := range ids {
				ids[i] = fmt.Sprintf("job-%03d", i)
				if _, err := st.Create(ctx, doneJob(ids[i])); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if writing {
				wg.Go(func() { churn(b, db.Queue("bench"), stop) })
			}
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(32) // many pollers at once, as an HTTP server has
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for i := 0; pb.Next(); i++ {
					t := time.Now()
					if _, err := st.Get(ctx, ids[i%len(ids)]); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// churn sends, claims and deletes messages until stop is closed.
func churn(b *testing.B, q *Queue, stop chan struct{}) {
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if err := q.Send(ctx, []byte(`{"jobId":"job-000","volumeKey":"volumes/job-000/ct.nii.gz"}`)); err != nil {
			b.Error(err)
			return
		}
		ds, err := q.Receive(ctx, 1, time.Minute)
		if err != nil {
			b.Error(err)
			return
		}
		for _, d := range ds {
			if err := q.Delete(ctx, d.Receipt); err != nil {
				b.Error(err)
				return
			}
		}
	}
}

// doneJob is a finished job's record, the size the API reads.
func doneJob(id string) job.Job {
	j := newJob(id)
	j.Status = job.Done
	for i, name := range []string{"body", "lung_left", "lung_right", "skeleton"} {
		j.Organs = append(j.Organs, job.Organ{Label: i + 1, Name: name, DisplayName: name, System: "organs",
			Color: "#a0b0c0", VoxelCount: 123456, VolumeMl: 1234.5, MeshVolumeMl: 1230.1, SurfaceAreaCm2: 987.6, Triangles: 50000})
	}
	for _, name := range []string{"manifest.json", "scene.glb", "scene.obj", "scene.mtl", "stl/body.stl", "labels.nii.gz"} {
		j.Artifacts = append(j.Artifacts, job.Artifact{Name: name, Key: "results/" + id + "/" + name, Bytes: 1 << 20})
	}
	return j
}
