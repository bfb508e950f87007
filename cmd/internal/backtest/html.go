package backtest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

//go:embed report.html
var htmlTemplate string

// writeFiles writes report.json and report.html into dir.
func writeFiles(dir string, r *Report) error {
	var jb bytes.Buffer
	if err := r.WriteJSON(&jb); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), jb.Bytes(), 0o644); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	h, err := HTML(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.html"), h, 0o644); err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	return nil
}

// HTML renders the report as one self-contained page: the report's JSON
// embedded (encoding/json escapes <, > and &, so it cannot close its
// script element), and inline script that draws the tables and the SVG
// charts from it. It loads nothing from the network.
func HTML(r *Report) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	title := "arb backtest " + r.Recording.ID
	for _, p := range r.Params {
		title += " " + p.Key + "=" + p.Value
	}
	out := strings.Replace(htmlTemplate, "{{DATA}}", string(data), 1)
	out = strings.Replace(out, "{{TITLE}}", htmlEscape(title), 2)
	return []byte(out), nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
