package cloudlocal

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// bucketCORS answers CORS for the S3 emulator as S3 does from each
// bucket's CORS configuration in the template, in place of gofakes3's
// own, which allows every origin: a preflight is answered from the first
// rule that allows its origin, method and headers (403 when none does),
// and a request's response carries the CORS headers of the first rule
// that allows its origin and method, or none.
type bucketCORS struct {
	next  http.Handler
	rules map[string][]corsRule // by bucket name
}

// corsRule is a CORSRule with its origins resolved.
type corsRule struct {
	CORSRule
	origins []string
}

func (r corsRule) allows(origin, method string) bool {
	okOrigin := false
	for _, o := range r.origins {
		okOrigin = okOrigin || o == "*" || o == origin
	}
	return okOrigin && slices.Contains(r.AllowedMethods, method)
}

func (r corsRule) allowsHeader(h string) bool {
	for _, a := range r.AllowedHeaders {
		if a == "*" || strings.EqualFold(a, h) {
			return true
		}
	}
	return false
}

func (b *bucketCORS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	if r.Method == http.MethodOptions && origin != "" && method != "" {
		var asked []string
		for _, h := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
			if h = strings.TrimSpace(h); h != "" {
				asked = append(asked, strings.ToLower(h))
			}
		}
		for _, rule := range b.rules[bucket] {
			if !rule.allows(origin, method) || slices.ContainsFunc(asked, func(h string) bool { return !rule.allowsHeader(h) }) {
				continue
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
			if len(asked) > 0 {
				h.Set("Access-Control-Allow-Headers", strings.Join(asked, ", "))
			}
			if len(rule.ExposedHeaders) > 0 {
				h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposedHeaders, ", "))
			}
			if rule.MaxAge > 0 {
				h.Set("Access-Control-Max-Age", fmt.Sprint(rule.MaxAge))
			}
			h.Set("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.</Message></Error>`)
		return
	}
	var match *corsRule
	if origin != "" {
		for i, rule := range b.rules[bucket] {
			if rule.allows(origin, r.Method) {
				match = &b.rules[bucket][i]
				break
			}
		}
	}
	cw := &corsWriter{ResponseWriter: w, fix: func(h http.Header) {
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				delete(h, k)
			}
		}
		if match == nil {
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", strings.Join(match.AllowedMethods, ", "))
		if len(match.ExposedHeaders) > 0 {
			h.Set("Access-Control-Expose-Headers", strings.Join(match.ExposedHeaders, ", "))
		}
		if match.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", fmt.Sprint(match.MaxAge))
		}
		h.Add("Vary", "Origin")
	}}
	b.next.ServeHTTP(cw, r)
	if !cw.done { // nothing written: an implicit 200, its header still to go
		cw.done = true
		cw.fix(w.Header())
	}
}

// corsWriter sets the CORS headers when the response's header is
// written, over whatever the handler set.
type corsWriter struct {
	http.ResponseWriter
	fix  func(http.Header)
	done bool
}

func (w *corsWriter) WriteHeader(code int) {
	if !w.done {
		w.done = true
		w.fix(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *corsWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}
