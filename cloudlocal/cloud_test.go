package cloudlocal_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/iris-oculus/iris/cloudlocal"
	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/api"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/export"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/pipeline"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/tools"
)

// jobTimeout bounds one job's trip on a busy 2-core machine. A dropped
// file's dispatch usually overtakes the status function's creation of its
// record and comes back after the jobs queue's visibility timeout (180 s
// in the template), as it would on AWS.
const jobTimeout = 5 * time.Minute

const root = ".."

// retryBackoff replaces the consumers' IRIS_RETRY_BACKOFF (a minute in
// the template), so that a message's five tries take seconds.
const retryBackoff = 2 * time.Second

// start builds the functions and gpuworker for this machine, synthesizes
// the stack (or reads CLOUDLOCAL_TEMPLATE, a template `make synth` wrote)
// and starts the deployment on it, with every S3 and EventBridge delivery
// made twice, each after a random delay below a second, so every scenario
// also runs under duplicated and reordered deliveries.
func start(t *testing.T) (*cloudlocal.Cloud, string, string) {
	t.Helper()
	ctx := context.Background()
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	t0 := time.Now()
	if err := cloudlocal.Build(ctx, root, bin, append(slices.Clone(cloudlocal.Binaries), "./cmd/iris")...); err != nil {
		t.Fatal(err)
	}
	var tpl []byte
	var err error
	if p := os.Getenv("CLOUDLOCAL_TEMPLATE"); p != "" {
		tpl, err = os.ReadFile(p)
	} else {
		tpl, err = cloudlocal.Synth(ctx, root, work)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: build + synth %.1f s", time.Since(t0).Seconds())
	issuer := startProvider(t)
	c := startDeployment(t, ctx, cloudlocal.Config{
		Template: tpl, Bin: bin, Work: work,
		OIDC: cloudlocal.OIDC{Issuer: issuer, Audience: []string{"iris-api", "iris-web"}},
	})
	return c, bin, issuer
}

// startDeployment starts the deployment cfg describes on the test's
// emulators, with the scenarios' chaos (every delivery twice, reordered
// within a second), short retries and no scheduled sweep, its log in
// cfg.Work/cloud.log, shown when the test fails.
func startDeployment(t *testing.T, ctx context.Context, cfg cloudlocal.Config) *cloudlocal.Cloud {
	t.Helper()
	logs, err := os.Create(filepath.Join(cfg.Work, "cloud.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, cfg.Dynalite = tools.Dynalite(t)
	cfg.Goaws, cfg.Logs = tools.Goaws(t), logs
	cfg.Chaos = cloudlocal.Chaos{Duplicate: true, MaxDelay: time.Second}
	cfg.AsyncRetryDelay, cfg.ScheduleEvery, cfg.MaxEnvironments, cfg.RetryBackoff = 2*time.Second, -1, 1, retryBackoff
	t1 := time.Now()
	c, err := cloudlocal.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: start %.1f s", time.Since(t1).Seconds())
	t.Cleanup(func() {
		c.Close()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("last of the deployment's log:\n%s", b)
		}
	})
	return c
}

// TestCloudLocal runs the scenarios of issue 10 on one deployment:
// (2) a DICOM series as a zip, (3) duplicated and reordered deliveries,
// (6) rejections with the codes and messages of iris serve, (4) mesher
// retries and give-up, (5) deletion while segmenting and meshing, (7) the
// sweep's cost with 1,000 finished jobs, and (8, issue 11) an upload URL
// good for one upload.
func TestCloudLocal(t *testing.T) {
	c, bin, issuer := start(t)
	ctx := context.Background()
	store := iaws.NewDynamoStore(c.Dynamo, c.Table)

	ct := testdata.Read(t, "totalsegmentator-example", "ct_3mm.nii.gz")
	labelMap := testdata.Read(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz")
	series := testdata.DICOMSeriesZip(t)
	rejects := []struct {
		name string
		data []byte
	}{
		{"truncated.nii.gz", ct[:len(ct)/2]},
		{"oversized.nii.gz", oversizedNIfTI(t)},
	}

	// The first ingest dies as if killed for memory: Lambda's asynchronous
	// retry must still bring every upload through.
	c.Functions["ingest"].Crash(1)
	t0 := time.Now()
	seriesJob := drop(t, c, "series.zip", series)
	twiceJob := drop(t, c, "twice.nii.gz", ct)
	folderJob := dropFolder(t, c, "series-folder", series)
	labelJob := drop(t, c, "ct_3mm_seg.nii.gz", labelMap)
	rejectJobs := map[string]string{}
	for _, r := range rejects {
		rejectJobs[r.name] = drop(t, c, r.name, r.data)
	}

	t.Run("2 DICOM zip ends done, original deleted", func(t *testing.T) {
		j := wait(t, store, seriesJob)
		t.Logf("figure: DICOM zip (20 slices, 512×512) upload → done %.1f s, %d organs", time.Since(t0).Seconds(), len(j.Organs))
		if j.Status != job.Done {
			t.Fatalf("status %s, error %+v", j.Status, j.Error)
		}
		if j.Input == nil || j.Input.File != "series.zip" || j.Input.Dims != [3]int{512, 512, 20} {
			t.Errorf("input %+v, want series.zip, 512×512×20", j.Input)
		}
		// A redelivered upload event re-announces the job with the facts
		// stored beside the volume (pipeline.Ingest.resume), format and
		// series included, whichever announcement the record took.
		if j.Input != nil && (j.Input.Format != "dicom" || j.Input.Series == "") {
			t.Errorf("the record's input format %q, series %q; want dicom and the series chosen", j.Input.Format, j.Input.Series)
		}
		if len(j.Organs) == 0 {
			t.Error("no organs")
		}
		checkResults(t, c, j)
		if st := c.Functions["ingest"].Stats(); st.Restarts < 1 || st.Errors < 1 {
			t.Errorf("ingest %+v: the injected crash did not happen", st)
		}
		if exists(t, c, events.PrefixUploads+"series.zip") {
			t.Error("the DICOM zip is still in uploads/ (it carries patient data)")
		}
	})

	t.Run("2b DICOM folder as separate objects ends one job, done, originals deleted", func(t *testing.T) {
		j := wait(t, store, folderJob)
		t.Logf("figure: DICOM folder (20 objects) upload → done %.1f s, %d organs", time.Since(t0).Seconds(), len(j.Organs))
		if j.Status != job.Done {
			t.Fatalf("status %s, error %+v", j.Status, j.Error)
		}
		if j.Input == nil || j.Input.Dims != [3]int{512, 512, 20} {
			t.Errorf("input %+v, want 512×512×20", j.Input)
		}
		checkResults(t, c, j)
		if !waitFor(jobTimeout, func() bool { return len(keys(t, c, events.PrefixUploads+"series-folder/")) == 0 }) {
			t.Errorf("uploads/series-folder/ still holds %v", keys(t, c, events.PrefixUploads+"series-folder/"))
		}
	})

	t.Run("3 duplicated and reordered deliveries give one job and one result set", func(t *testing.T) {
		j := wait(t, store, twiceJob)
		if j.Status != job.Done {
			t.Fatalf("status %s, error %+v", j.Status, j.Error)
		}
		// The same object again: S3 sends a second event, itself doubled.
		if again := drop(t, c, "twice.nii.gz", ct); again != twiceJob {
			t.Fatalf("the same bytes under the same key got jobs %s and %s", twiceJob, again)
		}
		if !waitFor(jobTimeout, func() bool { return !exists(t, c, events.PrefixUploads+"twice.nii.gz") }) {
			t.Fatal("the second upload was never ingested")
		}
		settle(t, c)
		j2, err := store.Get(ctx, twiceJob)
		if err != nil {
			t.Fatal(err)
		}
		if j2.Status != job.Done || !j2.UpdatedAt.Equal(j.UpdatedAt) || len(j2.Organs) != len(j.Organs) {
			t.Errorf("after the second upload: %s updated %v (was %v), %d organs (was %d)", j2.Status, j2.UpdatedAt, j.UpdatedAt, len(j2.Organs), len(j.Organs))
		}
		checkResults(t, c, j2)
		out, err := c.Dynamo.Scan(ctx, &dynamodb.ScanInput{TableName: &c.Table})
		if err != nil {
			t.Fatal(err)
		}
		if want := 4 + len(rejects); int(out.Count) != want {
			t.Errorf("%d job records for %d distinct uploads", out.Count, want)
		}
		jobsWithResults := map[string]bool{}
		for _, k := range keys(t, c, events.PrefixResults) {
			key, _ := events.ParseKey(k)
			jobsWithResults[key.JobID] = true
		}
		if len(jobsWithResults) != 4 {
			t.Errorf("results/ holds model sets of %d jobs, want 4 (the zip, the folder, the label map and this one): %v", len(jobsWithResults), jobsWithResults)
		}
		// Every delivery was doubled and the second upload re-announced the
		// job: the endpoint must still have been asked once per job.
		var perJob []string
		for _, id := range []string{seriesJob, folderJob, twiceJob} {
			wait(t, store, id)
			n := c.Endpoint.Requests(id)
			perJob = append(perJob, strconv.Itoa(n))
			if n != 1 {
				t.Errorf("job %s: %d segmentation requests at the endpoint, want exactly 1", id, n)
			}
		}
		st := c.Functions
		t.Logf("figure: events published %d; invocations ingest %d, status %d, dispatch %d, mesher %d; segmentations run %d; requests at the endpoint per job (zip, folder, twice) %s",
			c.Bus.Published(), st["ingest"].Stats().Invocations, st["status"].Stats().Invocations,
			st["dispatch"].Stats().Invocations, st["mesher"].Stats().Invocations, c.Endpoint.Invocations(), strings.Join(perJob, ", "))
	})

	t.Run("a label map goes straight to meshing and ends done with its names", func(t *testing.T) {
		j := wait(t, store, labelJob)
		if j.Status != job.Done {
			t.Fatalf("status %s, error %+v", j.Status, j.Error)
		}
		if j.Input == nil || j.Input.Kind != events.KindLabelMap || j.Engine != pipeline.NoEngine {
			t.Errorf("input %+v, engine %q; want a label map, no segmentation", j.Input, j.Engine)
		}
		if _, ok := j.Stages[job.Segmenting]; ok {
			t.Errorf("stages %v: a segmentation is recorded", j.Stages)
		}
		names := map[int]string{}
		for _, o := range j.Organs {
			names[o.Label] = o.Name
		}
		if len(j.Organs) != 41 || names[5] != "liver" || names[1] != "spleen" || names[52] != "aorta" {
			t.Errorf("%d organs, 1=%q 5=%q 52=%q", len(j.Organs), names[1], names[5], names[52])
		}
		if exists(t, c, events.VolumeKey(labelJob)) {
			t.Error("a CT volume was stored for a label map")
		}
	})

	t.Run("6 rejections fail with the codes and messages of iris serve", func(t *testing.T) {
		serve := startServe(t, filepath.Join(bin, "iris"))
		for _, r := range rejects {
			cloud := wait(t, store, rejectJobs[r.name])
			local := serve.submitAndWait(t, r.name, r.data)
			if cloud.Status != job.Failed || cloud.Error == nil || local.Status != job.Failed || local.Error == nil {
				t.Errorf("%s: cloud %s %+v, iris serve %s %+v; want both failed", r.name, cloud.Status, cloud.Error, local.Status, local.Error)
				continue
			}
			if *cloud.Error != *local.Error {
				t.Errorf("%s: cloud %+v, iris serve %+v", r.name, *cloud.Error, *local.Error)
			}
			t.Logf("figure: %s → failed at %s, code %s: %q", r.name, cloud.Error.Stage, cloud.Error.Code, cloud.Error.Message)
			if exists(t, c, events.PrefixUploads+r.name) {
				t.Errorf("%s is still in uploads/", r.name)
			}
		}
	})

	t.Run("no dead letters", func(t *testing.T) {
		settle(t, c)
		dl, err := c.DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for q, n := range dl {
			if n != 0 {
				t.Errorf("%d message(s) in %s", n, q)
			}
		}
		if n := c.Endpoint.Notifications(); len(n) != 0 {
			t.Errorf("error notifications: %+v", n)
		}
	})

	t.Run("4 a mesher failing twice ends done; one always failing ends mesh_failed", func(t *testing.T) {
		meshRetries(t, c, store, ct, retryBackoff)
	})

	t.Run("5 jobs deleted while segmenting and while meshing leave nothing", func(t *testing.T) {
		deleteLate(t, c, store, issuer, ct)
	})

	t.Run("8 an upload URL is good for one upload", func(t *testing.T) {
		uploadOnce(t, c, store, issuer, ct)
	})

	t.Run("HTTP API: public health route, JWT routes refuse requests without a valid token", func(t *testing.T) {
		for _, tc := range []struct {
			path, auth string
			want       int
		}{
			{"/api/health", "", http.StatusOK},
			{"/api/jobs", "", http.StatusUnauthorized},
			{"/api/jobs", "Bearer not.a.jwt", http.StatusUnauthorized},
			{"/nothing", "", http.StatusNotFound},
		} {
			req, _ := http.NewRequest(http.MethodGet, c.APIURL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s (%q): %d %s, want %d", tc.path, tc.auth, resp.StatusCode, b, tc.want)
			}
		}
	})

	t.Run("7 one sweep reads only the unfinished jobs", func(t *testing.T) {
		sweepCost(t, c, store, issuer, twiceJob)
	})

	t.Run("1 signed in with real tokens: upload, done, GLB; another user sees nothing", func(t *testing.T) {
		signedInFlow(t, c, issuer, ct)
	})

	t.Run("iris submit --wait with a sign-in token: done, files downloaded", func(t *testing.T) {
		submitFlow(t, c, bin, issuer, ct)
	})
}

// drop puts data at uploads/name, as `aws s3 cp` does, and returns the
// job id the pipeline derives from the key and ETag.
func drop(t *testing.T, c *cloudlocal.Cloud, name string, data []byte) string {
	t.Helper()
	key := events.PrefixUploads + name
	out, err := c.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.Bucket, Key: &key, Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	sum := md5.Sum(data)
	if got := strings.Trim(awssdk.ToString(out.ETag), `"`); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("ETag %s, want the MD5 %x", got, sum)
	}
	return events.DropJobID(key, awssdk.ToString(out.ETag))
}

// dropFolder puts the files of the zip under uploads/folder/, one object
// each, as `aws s3 cp --recursive` does, and returns the job id: the one
// derived from the member with the greatest key.
func dropFolder(t *testing.T, c *cloudlocal.Cloud, folder string, zipped []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	var leader, id string
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := folder + "/" + events.SafeName(path.Base(f.Name))
		if got := drop(t, c, name, b); events.PrefixUploads+name > leader {
			leader, id = events.PrefixUploads+name, got
		}
	}
	return id
}

func wait(t *testing.T, store *iaws.DynamoStore, id string) job.Job {
	t.Helper()
	var j job.Job
	var err error
	if !waitFor(jobTimeout, func() bool {
		j, err = store.Get(context.Background(), id)
		return err == nil && j.Status.Terminal()
	}) {
		t.Fatalf("job %s not finished after %v: status %q, err %v", id, jobTimeout, j.Status, err)
	}
	return j
}

func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// settle waits until no delivery, batch or segmentation is under way and
// the work queues are empty, three checks in a row.
func settle(t *testing.T, c *cloudlocal.Cloud) {
	t.Helper()
	quiet := 0
	if !waitFor(jobTimeout, func() bool {
		busy := c.Busy()
		for id, q := range c.Model.Queues {
			if q.DLQ == "" {
				continue
			}
			v, nv, err := c.Queues.Depth(context.Background(), id)
			busy = busy || err != nil || v+nv > 0
		}
		if busy {
			quiet = 0
			return false
		}
		quiet++
		return quiet >= 3
	}) {
		t.Fatal("the deployment did not settle")
	}
}

func exists(t *testing.T, c *cloudlocal.Cloud, key string) bool {
	t.Helper()
	_, err := c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.Bucket, Key: &key})
	return err == nil
}

func keys(t *testing.T, c *cloudlocal.Cloud, prefix string) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(c.S3, &s3.ListObjectsV2Input{Bucket: &c.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, *o.Key)
		}
	}
	sort.Strings(out)
	return out
}

// checkResults holds the job's results/ folder to exactly one model set:
// the manifest and the files it lists, each with the size and SHA-256 the
// manifest gives, and the record's artifacts among them.
func checkResults(t *testing.T, c *cloudlocal.Cloud, j job.Job) {
	t.Helper()
	prefix := events.ResultsPrefix(j.ID)
	var m export.Manifest
	if err := json.Unmarshal(get(t, c, events.ManifestKey(j.ID)), &m); err != nil {
		t.Fatalf("manifest of %s: %v", j.ID, err)
	}
	want := []string{events.ManifestKey(j.ID)}
	for _, f := range m.Files {
		want = append(want, prefix+f.Name)
		b := get(t, c, prefix+f.Name)
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: %d bytes, sha256 %x; the manifest says %d, %s", f.Name, len(b), sum, f.Bytes, f.SHA256)
		}
	}
	sort.Strings(want)
	if got := keys(t, c, prefix); !slices.Equal(got, want) {
		t.Errorf("results/%s/ holds %v; the manifest lists %v", j.ID, got, want)
	}
	for _, a := range j.Artifacts {
		if !slices.Contains(want, a.Key) {
			t.Errorf("the record lists %s, which the manifest does not", a.Key)
		}
	}
}

func get(t *testing.T, c *cloudlocal.Cloud, key string) []byte {
	t.Helper()
	out, err := c.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &c.Bucket, Key: &key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oversizedNIfTI is a gzipped NIfTI-1 header with its geometry, declaring
// 2048×2048×1024 int16 voxels (8 GiB), with a few bytes of data.
func oversizedNIfTI(t *testing.T) []byte {
	t.Helper()
	h := make([]byte, 352)
	le := binary.LittleEndian
	le.PutUint32(h[0:], 348)
	for i, d := range []int16{3, 2048, 2048, 1024, 1, 1, 1, 1} {
		le.PutUint16(h[40+2*i:], uint16(d))
	}
	le.PutUint16(h[70:], 4)  // datatype int16
	le.PutUint16(h[72:], 16) // bitpix
	for i := range 4 {
		le.PutUint32(h[76+4*i:], 0x3f800000) // pixdim 1.0
	}
	le.PutUint32(h[108:], 0x43b00000) // vox_offset 352.0
	le.PutUint16(h[252:], 1)          // qform_code 1: the geometry is stated (identity rotation)
	copy(h[344:], "n+1\x00")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(h)
	zw.Write(make([]byte, 4096))
	zw.Close()
	return buf.Bytes()
}

// serve is `iris serve` on a loopback port, for comparison.
type serve struct{ base string }

func startServe(t *testing.T, bin string) *serve {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "IRIS Oculus is running at "); ok {
			go io.Copy(io.Discard, out)
			return &serve{base: strings.TrimSuffix(u, "/")}
		}
	}
	t.Fatal("iris serve did not say where it runs")
	return nil
}

func (s *serve) do(t *testing.T, method, url, ct string, body []byte, v any) int {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = s.base + url
	}
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// submitAndWait uploads through the API, as the web app does, and waits
// for the job to finish.
func (s *serve) submitAndWait(t *testing.T, name string, data []byte) job.Job {
	t.Helper()
	var cr struct {
		Job    api.JobView  `json:"job"`
		Upload ports.Upload `json:"upload"`
	}
	body, _ := json.Marshal(map[string]any{"filename": name, "bytes": len(data)})
	if code := s.do(t, http.MethodPost, "/api/jobs", "application/json", body, &cr); code != http.StatusCreated {
		t.Fatalf("iris serve: POST /api/jobs: %d", code)
	}
	if code := s.do(t, cr.Upload.Method, cr.Upload.URL, cr.Upload.Headers["Content-Type"], data, nil); code != http.StatusOK {
		t.Fatalf("iris serve: upload: %d", code)
	}
	var v api.JobView
	if !waitFor(jobTimeout, func() bool {
		return s.do(t, http.MethodGet, "/api/jobs/"+cr.Job.ID, "", nil, &v) == http.StatusOK && v.Status.Terminal()
	}) {
		t.Fatalf("iris serve: job %s not finished", cr.Job.ID)
	}
	return job.Job{ID: v.ID, Status: v.Status, Error: v.Error}
}
