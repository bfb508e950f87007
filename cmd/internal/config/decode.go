package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"
)

// Caps on what one file may hold. They bound decoding work and memory for
// any input; real configs are far below them.
const (
	maxListLen  = 1024 // elements of one sequence
	maxMapLen   = 1024 // entries of one mapping
	maxDecimal  = 40   // characters of one decimal literal
	maxKeyBytes = 128  // characters of one mapping key
)

var (
	decimalType     = reflect.TypeFor[decimal.Decimal]()
	nullDecimalType = reflect.TypeFor[decimal.NullDecimal]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// plainDecimal is the only decimal form accepted: no exponent, no sign but
// '-', no underscores, digits on both sides of a point. Exactly what a venue
// prints, and what num.Parse reads.
var plainDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// secretKeys are keys an operator might write to put a credential straight
// into the file. They are not part of the schema; naming them in the error
// says why they are refused and what to write instead.
var secretKeys = map[string]string{
	"api_key":        "api_key_env",
	"apikey":         "api_key_env",
	"key":            "api_key_env",
	"access_key":     "api_key_env",
	"api_secret":     "api_secret_env",
	"apisecret":      "api_secret_env",
	"secret":         "api_secret_env",
	"secret_key":     "api_secret_env",
	"private_key":    "api_secret_env",
	"passphrase":     "api_passphrase_env",
	"api_passphrase": "api_passphrase_env",
	"password":       "",
	"passwd":         "",
	"token":          "",
	"admin_token":    "",
	"auth_token":     "",
	"access_token":   "",
	"api_token":      "",
	"bearer_token":   "",
	"client_secret":  "",
	"privkey":        "",
	"signing_key":    "",
	"mnemonic":       "",
	"seed_phrase":    "",
	"nkey_seed":      "",
}

// secretPatterns are values that are key material wherever they appear,
// whatever the key: no setting of arbd takes one. A private key in a PEM
// block, and a NATS nkey seed (S, the key type, base32: the content of a
// credentials file) are recognised by their form.
var secretPatterns = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`), "a PEM private key"},
	{regexp.MustCompile(`-----BEGIN (USER )?NKEY SEED-----`), "a NATS credentials file"},
	{regexp.MustCompile(`\bS[UAONCX][A-Z2-7]{56}\b`), "a NATS nkey seed"},
}

// secretValue says what kind of key material s holds, or "".
func secretValue(s string) string {
	for _, p := range secretPatterns {
		if p.re.MatchString(s) {
			return p.what
		}
	}
	return ""
}

// decode parses data as one YAML document and walks it into c against c's
// struct tags. It replaces yaml.v3's struct decoding (Decoder.KnownFields):
// the walk enforces the same rule (a key not in the schema is an error) but
// knows the full key path of every value, so each problem names
// "venues[1].kind" and its line instead of a Go type name. It returns the
// line of every key path it saw, for Validate's messages, and the problems
// found. walked is false when there was no tree to walk (a syntax error, no
// document, several documents): then c holds only defaults and must not be
// validated. When walked is true, a value with a problem keeps its default
// and every other value is decoded, so validation can still report the
// problems of the rest of the file.
func decode(name string, data []byte, c *Config) (lines map[string]int, ps *problems, walked bool) {
	ps = &problems{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := decodeYAML(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			ps.add("", "the file holds no YAML document")
		} else {
			yamlProblem(ps, err)
		}
		return nil, ps, false
	}
	var extra yaml.Node
	if err := decodeYAML(dec, &extra); !errors.Is(err, io.EOF) {
		if err != nil {
			yamlProblem(ps, err)
		} else {
			ps.addAt(extra.Line, "", "more than one YAML document (---); a config is one document")
		}
		return nil, ps, false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	w := walker{ps: ps, lines: map[string]int{}}
	if isNull(root) {
		ps.addAt(root.Line, "", "the document is empty")
		return nil, ps, false
	}
	if root.Kind != yaml.MappingNode {
		w.value(root, reflect.ValueOf(c).Elem(), "")
		return nil, ps, false
	}
	// The document's first line stands for keys the file leaves out.
	w.lines[""] = root.Line
	w.value(root, reflect.ValueOf(c).Elem(), "")
	return w.lines, ps, true
}

// decodeYAML is yaml.Decoder.Decode with a recover: yaml.v3 has panicked on
// crafted input before (CVE-2022-28948), and a config parser must answer
// with an error, never a crash.
func decodeYAML(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed on this input (%v)", r)
		}
	}()
	return dec.Decode(n)
}

// parserErrors are the messages of libyaml's parser (as opposed to its
// scanner). yaml.v3 v3.0.1 prints their line 0-based (it adds one only for
// scanner errors), and leaves the line out when it is the first; yamlProblem
// corrects that so the line points at the construct that is not closed.
var parserErrors = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into a Problem at that line.
func yamlProblem(ps *problems, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	for _, p := range parserErrors {
		if strings.HasPrefix(msg, p) {
			line++
			break
		}
	}
	ps.addAt(line, "", "invalid YAML: "+msg)
}

// walker decodes a yaml.Node tree into Go values by reflection.
type walker struct {
	ps    *problems
	lines map[string]int
}

func (w *walker) bad(n *yaml.Node, path, format string, a ...any) {
	w.ps.addAt(n.Line, path, fmt.Sprintf(format, a...))
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// value decodes n into v, reporting problems at path. A null value sets v's
// zero value, as yaml.v3 does.
func (w *walker) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		// Anchors would let one line's mistake surface at several paths, and
		// alias expansion is how YAML bombs grow; a config needs neither.
		w.bad(n, path, "YAML anchors and aliases are not supported; write the values out")
		return
	}
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind == yaml.ScalarNode {
		if what := secretValue(n.Value); what != "" {
			// Reported without the value, and not decoded further: every
			// other message about it would quote it.
			w.bad(n, path, "holds %s; secrets are never read from the config file: pass them in environment variables or files (NAME_FILE)", what)
			return
		}
	}
	if v.Kind() == reflect.Pointer {
		// An optional value (nil = not set, inherit): set only if it
		// decodes.
		before := len(w.ps.list)
		p := reflect.New(v.Type().Elem())
		w.value(n, p.Elem(), path)
		if len(w.ps.list) == before {
			v.Set(p)
		}
		return
	}
	switch t := v.Type(); {
	case t == decimalType:
		if d, ok := w.decimal(n, path); ok {
			v.Set(reflect.ValueOf(d))
		}
		return
	case t == nullDecimalType:
		if d, ok := w.decimal(n, path); ok {
			v.Set(reflect.ValueOf(decimal.NullDecimal{Decimal: d, Valid: true}))
		}
		return
	case t == durationType:
		if !w.scalar(n, path, "a duration such as 5s") {
			return
		}
		if n.ShortTag() != "!!str" {
			w.bad(n, path, "%q is not a duration: give a unit, such as 5s or 100ms", clip(n.Value))
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			w.bad(n, path, "%q is not a duration such as 5s or 100ms", clip(n.Value))
			return
		}
		v.SetInt(int64(d))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if w.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !w.scalar(n, path, "true or false") {
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if n.ShortTag() != "!!bool" || err != nil {
			w.bad(n, path, "%q is not true or false", clip(n.Value))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		if !w.scalar(n, path, "an integer") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if tag := n.ShortTag(); (tag != "!!int" && tag != "!!str") || err != nil {
			w.bad(n, path, "%q is not an integer", clip(n.Value))
			return
		}
		v.SetInt(i)
	case reflect.Uint64:
		if !w.scalar(n, path, "an integer") {
			return
		}
		u, err := strconv.ParseUint(n.Value, 10, 64)
		if tag := n.ShortTag(); (tag != "!!int" && tag != "!!str") || err != nil {
			w.bad(n, path, "%q is not a non-negative integer", clip(n.Value))
			return
		}
		v.SetUint(u)
	case reflect.Float64:
		if !w.scalar(n, path, "a number") {
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if tag := n.ShortTag(); (tag != "!!int" && tag != "!!float") || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			w.bad(n, path, "%q is not a number", clip(n.Value))
			return
		}
		v.SetFloat(f)
	case reflect.Struct:
		w.structure(n, v, path)
	case reflect.Slice:
		w.list(n, v, path)
	case reflect.Map:
		w.mapping(n, v, path)
	default:
		// Unreachable for the Config schema; a new field type needs a case.
		w.bad(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

// scalar reports whether n is a scalar, recording a problem if not.
func (w *walker) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind == yaml.ScalarNode {
		return true
	}
	w.bad(n, path, "want %s, found %s", want, kindName(n))
	return false
}

// decimal reads a plain decimal literal, quoted or not. The literal's text
// is used, never a float64, so "0.1" is exactly 0.1.
func (w *walker) decimal(n *yaml.Node, path string) (decimal.Decimal, bool) {
	if !w.scalar(n, path, "a decimal number") {
		return decimal.Decimal{}, false
	}
	s := n.Value
	tag := n.ShortTag()
	if (tag != "!!str" && tag != "!!int" && tag != "!!float") || len(s) > maxDecimal || !plainDecimal.MatchString(s) {
		w.bad(n, path, "%q is not a plain decimal number such as \"0.01\"", clip(s))
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // unreachable after the pattern, kept as a guard
		w.bad(n, path, "%q is not a plain decimal number such as \"0.01\"", clip(s))
		return decimal.Decimal{}, false
	}
	return d, true
}

// structure decodes a mapping into a struct, field by field, by yaml tag.
func (w *walker) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.bad(n, path, "want a mapping of keys, found %s", kindName(n))
		return
	}
	t := v.Type()
	type field struct {
		index    int
		required bool
	}
	fields := map[string]field{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		fields[key] = field{index: i, required: f.Tag.Get("cfg") == "required"}
		names = append(names, key)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := w.key(k, path)
		if !ok {
			continue
		}
		kp := joinPath(path, key)
		if first, dup := seen[key]; dup {
			w.bad(k, kp, "duplicate key (first at line %d)", first)
			continue
		}
		seen[key] = k.Line
		f, ok := fields[key]
		if !ok {
			w.unknownKey(k, kp, key, names)
			continue
		}
		w.lines[kp] = k.Line
		if f.required && isNull(val) {
			w.bad(val, kp, "required, found an empty value")
			continue
		}
		w.value(val, v.Field(f.index), kp)
	}
	for _, key := range names {
		if _, ok := seen[key]; !ok && fields[key].required {
			w.ps.addLate(n.Line, joinPath(path, key), "required key is missing")
		}
	}
}

// unknownKey reports a key that is not in the schema, explaining a key that
// looks like a credential.
func (w *walker) unknownKey(k *yaml.Node, path, key string, known []string) {
	if key == "<<" {
		w.bad(k, path, "YAML merge keys (<<) are not supported; write the values out")
		return
	}
	if instead, ok := secretKeys[strings.ToLower(key)]; ok {
		if instead != "" && !slices.Contains(known, instead) && slices.Contains(known, "key_env") {
			instead = "key_env" // a chain section: its key comes from key_env
		}
		if instead != "" && slices.Contains(known, instead) {
			w.bad(k, path, "secrets are never read from the config file: set %s to the NAME of an environment variable that holds the secret", instead)
		} else {
			w.bad(k, path, "secrets are never read from the config file: pass them in environment variables")
		}
		return
	}
	if guess := closest(key, known); guess != "" {
		w.bad(k, path, "unknown key; did you mean %s?", guess)
		return
	}
	w.bad(k, path, "unknown key (known: %s)", strings.Join(known, ", "))
}

// closest returns the known key within edit distance 2 of key (the first
// of the nearest), or "" if there is none: a typo gets a suggestion.
func closest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k, bestD); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or max when it is at
// least max (which bounds the work for long keys).
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}

// key reads a mapping key, which must be a plain string.
func (w *walker) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind != yaml.ScalarNode || isNull(k) || k.Anchor != "" {
		w.bad(k, path, "a key must be a plain string, found %s", kindName(k))
		return "", false
	}
	if len(k.Value) > maxKeyBytes {
		w.bad(k, path, "key %q is longer than %d characters", clip(k.Value), maxKeyBytes)
		return "", false
	}
	return k.Value, true
}

// list decodes a sequence into a slice.
func (w *walker) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		w.bad(n, path, "want a list, found %s", kindName(n))
		return
	}
	if len(n.Content) > maxListLen {
		w.bad(n, path, "more than %d entries", maxListLen)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		ep := path + "[" + strconv.Itoa(i) + "]"
		w.lines[ep] = e.Line
		elem := s.Index(i)
		if d, ok := elem.Addr().Interface().(interface{ setDefaults() }); ok {
			d.setDefaults()
		}
		w.value(e, elem, ep)
	}
	v.Set(s)
}

// mapping decodes a mapping into a map with string keys.
func (w *walker) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		w.bad(n, path, "want a mapping, found %s", kindName(n))
		return
	}
	if len(n.Content)/2 > maxMapLen {
		w.bad(n, path, "more than %d entries", maxMapLen)
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := w.key(k, path)
		if !ok {
			continue
		}
		kp := joinPath(path, key)
		if key == "<<" {
			w.bad(k, kp, "YAML merge keys (<<) are not supported; write the values out")
			continue
		}
		if first, dup := seen[key]; dup {
			w.bad(k, kp, "duplicate key (first at line %d)", first)
			continue
		}
		seen[key] = k.Line
		w.lines[kp] = k.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		w.value(val, elem, kp)
		m.SetMapIndex(reflect.ValueOf(key), elem)
	}
	v.Set(m)
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// kindName describes a node for "want X, found Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(clip(n.Value))
	}
	return "a YAML document"
}

// clip shortens a value quoted in a message so that one line stays short.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
