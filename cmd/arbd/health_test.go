package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck: --healthcheck exits 0 only on a 200 answer, 1 on any
// other answer or none, 2 on a URL it cannot probe.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok"))
		case "/redirect":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		default:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	defer srv.Close()
	tests := []struct {
		url  string
		code int
		out  string
	}{
		{srv.URL + "/healthz", 0, "200 ok"},
		{srv.URL + "/readyz", 1, "503"},
		{srv.URL + "/redirect", 1, "302"},
		{closedURL + "/healthz", 1, "connection refused"},
		{"127.0.0.1:7420/healthz", 2, "not an http(s) URL"},
		{"ftp://127.0.0.1/healthz", 2, "not an http(s) URL"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run([]string{"--healthcheck", tt.url}, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
			t.Errorf("--healthcheck %s = %d (%q %q), want %d and %q", tt.url, code, stdout.String(), stderr.String(), tt.code, tt.out)
		}
	}
}
