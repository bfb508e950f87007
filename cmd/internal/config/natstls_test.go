package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNATSTLS: nats.tls files resolve against the config file's
// directory; TLS without nats.url, and a certificate without its key, are
// problems naming nats.tls.
func TestNATSTLS(t *testing.T) {
	dir := t.TempDir()
	load := func(nats string) (*Config, error) {
		src := edit(t, validYAML(t), [][2]string{{`nats: {url: ""}`, nats}})
		path := filepath.Join(dir, "arbd.yaml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(path, kinds)
	}
	c, err := load(`nats: {url: "tls://nats.example:4222", tls: {ca_file: ca.pem, cert_file: /etc/arb/c.pem, key_file: k.pem}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.NATS.TLS; got.CAFile != filepath.Join(dir, "ca.pem") || got.CertFile != "/etc/arb/c.pem" || got.KeyFile != filepath.Join(dir, "k.pem") {
		t.Fatalf("tls paths %+v", got)
	}
	for nats, want := range map[string]string{
		`nats: {url: "", tls: {ca_file: ca.pem}}`:                         "nats.tls: is set but nats.url is empty",
		`nats: {url: "tls://n:4222", tls: {cert_file: c.pem}}`:            "nats.tls: cert_file and key_file go together",
		`nats: {url: "tls://n:4222", tls: {ca_file: a, key_file: k.pem}}`: "nats.tls: cert_file and key_file go together",
	} {
		if _, err := load(nats); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", nats, err, want)
		}
	}
}
