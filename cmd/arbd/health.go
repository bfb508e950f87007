package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// healthTimeout bounds one health probe. Docker's HEALTHCHECK --timeout
// kills a probe that takes longer anyway; this makes the probe say why.
const healthTimeout = 5 * time.Second

// healthcheck GETs rawURL once and returns the exit code of a container
// health probe: 0 for a 200 answer, 1 for anything else (no answer, another
// status), 2 for a URL that is not http(s). It follows no redirects: a
// health endpoint that redirects is not the one meant.
func healthcheck(rawURL string, stdout, stderr io.Writer) int {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "arbd --healthcheck: %q is not an http(s) URL\n", rawURL)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "arbd --healthcheck: %v\n", err)
		return 2
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "arbd --healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "arbd --healthcheck: %s answered %d %q\n", u.Redacted(), resp.StatusCode, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d %s\n", u.Redacted(), resp.StatusCode, body)
	return 0
}
