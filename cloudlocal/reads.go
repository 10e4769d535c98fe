package cloudlocal

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// TableReads count what the functions' DynamoDB reads of one operation
// returned, as dynalite answered them: calls, items returned (Count) and
// items read (ScannedCount; for GetItem, 1 when an item came back).
type TableReads struct{ Calls, Items, Scanned int }

// tableReads is a reverse proxy in front of dynalite that counts the
// functions' reads.
type tableReads struct {
	mu   sync.Mutex
	byOp map[string]TableReads
}

type ddbProxy struct {
	addr  string
	close func()
}

func (t *tableReads) proxy(target string) (*ddbProxy, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		op := strings.TrimPrefix(resp.Request.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		switch op {
		case "Query", "Scan", "GetItem":
		default:
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			return err
		}
		var out struct {
			Count, ScannedCount int
			Item                json.RawMessage
		}
		json.Unmarshal(body, &out)
		if op == "GetItem" && len(out.Item) > 0 {
			out.Count, out.ScannedCount = 1, 1
		}
		t.mu.Lock()
		r := t.byOp[op]
		r.Calls++
		r.Items += out.Count
		r.Scanned += out.ScannedCount
		t.byOp[op] = r
		t.mu.Unlock()
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &ddbProxy{addr: ln.Addr().String(), close: func() { srv.Close() }}, nil
}

// TableReads reports the functions' DynamoDB reads so far, by operation
// (Query, Scan, GetItem).
func (c *Cloud) TableReads() map[string]TableReads {
	c.reads.mu.Lock()
	defer c.reads.mu.Unlock()
	out := make(map[string]TableReads, len(c.reads.byOp))
	for k, v := range c.reads.byOp {
		out[k] = v
	}
	return out
}
