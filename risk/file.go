package risk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Caps on a rules file. They bound load time and memory and keep a typo (or
// hostile input on the NATS KV bucket) from producing a rule set that is slow
// to evaluate.
const (
	MaxFileBytes    = 256 << 10 // bytes in one rules file
	MaxRules        = 128       // rules in one file
	MaxLimits       = 256       // entries in the limits block
	MaxNodesPerRule = 128       // AST nodes in one expression (when or clip_to)
	MaxExprBytes    = 2048      // bytes in one expression
	MaxMessageBytes = 256       // bytes in one rule message
	maxIssues       = 50        // problems reported per load; the rest are counted
)

// FormatVersion is the only rules-file format version this package reads.
const FormatVersion = 1

// Issue is one problem found in a rules file, located at Source:Line:Col
// (1-based; Col is 0 when the YAML parser gives only a line).
type Issue struct {
	Source string `json:"source"`
	Line   int    `json:"line"`
	Col    int    `json:"col"`
	Rule   string `json:"rule,omitempty"`
	Msg    string `json:"msg"`
}

// String formats the issue as "file:line:col: rule "name": message".
func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.Source)
	if i.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(i.Line))
		if i.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(i.Col))
		}
	}
	b.WriteString(": ")
	if i.Rule != "" {
		b.WriteString("rule ")
		b.WriteString(strconv.Quote(i.Rule))
		b.WriteString(": ")
	}
	b.WriteString(i.Msg)
	return b.String()
}

// LoadError is a rules file that failed to parse, type-check or compile. It
// lists every problem found (up to a cap) so that an operator fixes them in
// one pass. A rule set that produced a LoadError is never installed.
type LoadError struct {
	Source  string
	Issues  []Issue
	Omitted int // problems beyond the cap, counted but not listed
}

// Error returns one line per issue.
func (e *LoadError) Error() string {
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(is.String())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n%s: %d more problems not shown", e.Source, e.Omitted)
	}
	if len(e.Issues) == 0 {
		b.WriteString(e.Source + ": invalid rules file")
	}
	return b.String()
}

func (e *LoadError) add(line, col int, rule, format string, args ...any) {
	if len(e.Issues) >= maxIssues {
		e.Omitted++
		return
	}
	e.Issues = append(e.Issues, Issue{Source: e.Source, Line: line, Col: col, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (e *LoadError) addAt(n *yaml.Node, rule, format string, args ...any) {
	e.add(n.Line, n.Column, rule, format, args...)
}

// Action is what a rule does when its `when` expression is true.
type Action uint8

// Actions. The zero value is invalid so that a missing action is caught.
const (
	ActReject Action = iota + 1 // reject the plan
	ActClip                     // lower plan.qty to clip_to; reject if that is ≤ 0
	ActHalt                     // reject the plan and engage the kill switch
	ActWarn                     // count and log, let the plan pass
)

var actionNames = [...]string{"", "reject", "clip", "halt", "warn"}

// String returns the action's YAML spelling.
func (a Action) String() string {
	if int(a) < len(actionNames) && a != 0 {
		return actionNames[a]
	}
	return "invalid"
}

func parseAction(s string) (Action, bool) {
	for i := 1; i < len(actionNames); i++ {
		if actionNames[i] == s {
			return Action(i), true
		}
	}
	return 0, false
}

// fileSpec is a rules file after YAML parsing and before compilation.
type fileSpec struct {
	version int
	name    string
	limits  []limitSpec
	rules   []ruleSpec
}

type limitKind uint8

const (
	limInt limitKind = iota + 1
	limFloat
	limBool
	limString
)

// limitSpec is one entry of the limits block: a named constant.
type limitSpec struct {
	name string
	kind limitKind
	i    int64
	f    float64
	b    bool
	s    string
	line int
	col  int
}

// exprSpec is an expression's text and where it sits in the file.
type exprSpec struct {
	text string
	pos  scalarPos
}

type ruleSpec struct {
	name    string
	action  Action
	when    exprSpec
	clipTo  *exprSpec
	message string
	line    int
	col     int
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parseFile turns the YAML text into a fileSpec, collecting every structural
// problem with its position. Unknown keys, duplicate keys, aliases and
// multiple documents are errors: a rules file should mean exactly what it
// looks like.
func parseFile(src []byte, source string) (*fileSpec, *LoadError) {
	le := &LoadError{Source: source}
	if len(src) > MaxFileBytes {
		le.add(0, 0, "", "file is %d bytes; the cap is %d", len(src), MaxFileBytes)
		return nil, le
	}
	if !utf8.Valid(src) {
		le.add(0, 0, "", "file is not valid UTF-8")
		return nil, le
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			le.add(0, 0, "", "empty rules file")
		} else {
			addYAMLError(le, err)
		}
		return nil, le
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			addYAMLError(le, err)
		} else {
			le.add(extra.Line, extra.Column, "", "more than one YAML document; a rules file holds one")
		}
		return nil, le
	}
	if noAliases(&root, le); len(le.Issues) > 0 {
		return nil, le
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) != 1 {
			le.add(doc.Line, doc.Column, "", "empty rules file")
			return nil, le
		}
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		le.addAt(doc, "", "the top level must be a mapping with version, name, limits and rules")
		return nil, le
	}
	lines := strings.Split(string(src), "\n")
	fs := &fileSpec{}
	var haveVersion, haveRules bool
	for _, kv := range pairs(doc, le, "") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "version":
			haveVersion = true
			n, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || n != FormatVersion {
				le.addAt(v, "", "version must be %d", FormatVersion)
			}
			fs.version = n
		case "name":
			fs.name = scalarString(v, le, "", "name")
		case "description":
			scalarString(v, le, "", "description")
		case "limits":
			fs.limits = parseLimits(v, le)
		case "rules":
			haveRules = true
			fs.rules = parseRules(v, le, lines)
		default:
			le.addAt(k, "", "unknown key %q (expected version, name, description, limits, rules)", k.Value)
		}
	}
	if !haveVersion {
		le.addAt(doc, "", "missing key \"version\" (use version: %d)", FormatVersion)
	}
	if !haveRules {
		le.addAt(doc, "", "missing key \"rules\"")
	}
	if len(le.Issues) > 0 || le.Omitted > 0 {
		return nil, le
	}
	return fs, nil
}

func addYAMLError(le *LoadError, err error) {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if s := yamlLineRE.FindStringSubmatch(strings.TrimPrefix(m, "yaml: ")); s != nil {
			line, _ := strconv.Atoi(s[1])
			le.add(line, 0, "", "%s", s[2])
			continue
		}
		le.add(0, 0, "", "%s", m)
	}
}

// noAliases rejects anchors' aliases anywhere: they make a file mean more
// than it shows, and unbounded alias expansion is the classic YAML bomb.
func noAliases(n *yaml.Node, le *LoadError) {
	if n.Kind == yaml.AliasNode {
		le.addAt(n, "", "YAML aliases are not allowed in a rules file")
		return
	}
	for _, c := range n.Content {
		noAliases(c, le)
	}
}

// pairs returns a mapping's key/value pairs, reporting duplicate and
// non-scalar keys.
func pairs(m *yaml.Node, le *LoadError, rule string) [][2]*yaml.Node {
	out := make([][2]*yaml.Node, 0, len(m.Content)/2)
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			le.addAt(k, rule, "mapping keys must be plain names")
			continue
		}
		if seen[k.Value] {
			le.addAt(k, rule, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func scalarString(v *yaml.Node, le *LoadError, rule, key string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		le.addAt(v, rule, "%s must be a string", key)
		return ""
	}
	return v.Value
}

func parseLimits(v *yaml.Node, le *LoadError) []limitSpec {
	if v.Kind != yaml.MappingNode {
		le.addAt(v, "", "limits must be a mapping of name: value")
		return nil
	}
	kvs := pairs(v, le, "")
	if len(kvs) > MaxLimits {
		le.addAt(v, "", "%d limits; the cap is %d", len(kvs), MaxLimits)
		return nil
	}
	out := make([]limitSpec, 0, len(kvs))
	for _, kv := range kvs {
		k, val := kv[0], kv[1]
		if !nameRE.MatchString(k.Value) {
			le.addAt(k, "", "limit name %q must match %s", k.Value, nameRE)
			continue
		}
		l := limitSpec{name: k.Value, line: val.Line, col: val.Column}
		if val.Kind != yaml.ScalarNode {
			le.addAt(val, "", "limit %q must be a number, a boolean or a string", k.Value)
			continue
		}
		switch val.Tag {
		case "!!int":
			l.kind = limInt
			if err := val.Decode(&l.i); err != nil {
				le.addAt(val, "", "limit %q: %q is not a 64-bit integer", k.Value, val.Value)
				continue
			}
		case "!!float":
			l.kind = limFloat
			if err := val.Decode(&l.f); err != nil || math.IsNaN(l.f) || math.IsInf(l.f, 0) {
				le.addAt(val, "", "limit %q: %q is not a finite number", k.Value, val.Value)
				continue
			}
		case "!!bool":
			l.kind = limBool
			if err := val.Decode(&l.b); err != nil {
				le.addAt(val, "", "limit %q: %q is not a boolean", k.Value, val.Value)
				continue
			}
		case "!!str":
			l.kind = limString
			l.s = val.Value
		default:
			le.addAt(val, "", "limit %q must be a number, a boolean or a string (got %s)", k.Value, strings.TrimPrefix(val.Tag, "!!"))
			continue
		}
		out = append(out, l)
	}
	return out
}

func parseRules(v *yaml.Node, le *LoadError, lines []string) []ruleSpec {
	if v.Kind != yaml.SequenceNode {
		le.addAt(v, "", "rules must be a list")
		return nil
	}
	if len(v.Content) > MaxRules {
		le.addAt(v, "", "%d rules; the cap is %d", len(v.Content), MaxRules)
		return nil
	}
	if len(v.Content) == 0 {
		le.addAt(v, "", "rules is empty; a rule set must have at least one rule")
		return nil
	}
	out := make([]ruleSpec, 0, len(v.Content))
	names := make(map[string]int, len(v.Content))
	for _, rn := range v.Content {
		if rn.Kind != yaml.MappingNode {
			le.addAt(rn, "", "each rule must be a mapping with name, when, action and message")
			continue
		}
		r := ruleSpec{line: rn.Line, col: rn.Column}
		// Find the name first so that every other problem names the rule.
		for i := 0; i+1 < len(rn.Content); i += 2 {
			if rn.Content[i].Value == "name" && rn.Content[i+1].Kind == yaml.ScalarNode {
				r.name = rn.Content[i+1].Value
			}
		}
		var haveWhen, haveAction, haveMessage, haveName bool
		var clipNode *yaml.Node
		for _, kv := range pairs(rn, le, r.name) {
			k, val := kv[0], kv[1]
			switch k.Value {
			case "name":
				haveName = true
				s := scalarString(val, le, "", "name")
				if s != "" && !nameRE.MatchString(s) {
					le.addAt(val, "", "rule name %q must match %s (it becomes a metric label)", s, nameRE)
				} else if prev, dup := names[s]; dup && s != "" {
					le.addAt(val, "", "duplicate rule name %q (first at line %d)", s, prev)
				} else if s != "" {
					names[s] = val.Line
				}
			case "when":
				haveWhen = true
				r.when = exprOf(val, le, r.name, "when", lines)
			case "action":
				haveAction = true
				s := scalarString(val, le, r.name, "action")
				a, ok := parseAction(s)
				if !ok && s != "" {
					le.addAt(val, r.name, "unknown action %q (expected reject, clip, halt or warn)", s)
				}
				r.action = a
			case "clip_to":
				clipNode = val
				e := exprOf(val, le, r.name, "clip_to", lines)
				r.clipTo = &e
			case "message":
				haveMessage = true
				r.message = scalarString(val, le, r.name, "message")
				if len(r.message) > MaxMessageBytes {
					le.addAt(val, r.name, "message is %d bytes; the cap is %d", len(r.message), MaxMessageBytes)
				}
			default:
				le.addAt(k, r.name, "unknown key %q (expected name, when, action, clip_to, message)", k.Value)
			}
		}
		for _, m := range []struct {
			have bool
			key  string
		}{{haveName, "name"}, {haveWhen, "when"}, {haveAction, "action"}, {haveMessage, "message"}} {
			if !m.have {
				le.addAt(rn, r.name, "missing key %q", m.key)
			}
		}
		if haveMessage && strings.TrimSpace(r.message) == "" {
			le.addAt(rn, r.name, "message must not be empty: it is what the operator reads when the rule fires")
		}
		switch {
		case r.action == ActClip && clipNode == nil:
			le.addAt(rn, r.name, "action clip needs clip_to: the new quantity")
		case r.action != ActClip && r.action != 0 && clipNode != nil:
			le.addAt(clipNode, r.name, "clip_to is only for action clip")
		}
		out = append(out, r)
	}
	return out
}

func exprOf(v *yaml.Node, le *LoadError, rule, key string, lines []string) exprSpec {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || strings.TrimSpace(v.Value) == "" {
		le.addAt(v, rule, "%s must be an expression", key)
		return exprSpec{}
	}
	if len(v.Value) > MaxExprBytes {
		le.addAt(v, rule, "%s is %d bytes; the cap is %d", key, len(v.Value), MaxExprBytes)
		return exprSpec{}
	}
	return exprSpec{text: v.Value, pos: scalarPos{node: v, lines: lines}}
}

// scalarPos maps an offset inside a YAML scalar's value back to a line and
// column of the file, so that an expression error points into the file and
// not into the expression. It is exact for single-line scalars (plain or
// quoted, barring escapes) and literal blocks (|), and follows folding for
// folded (>) and multi-line plain scalars.
type scalarPos struct {
	node  *yaml.Node
	lines []string
}

// at maps a byte offset in the value to a 1-based file line and column.
func (p scalarPos) at(off int) (line, col int) {
	n := p.node
	if n == nil {
		return 0, 0
	}
	val := n.Value
	if off < 0 {
		off = 0
	}
	if off > len(val) {
		off = len(val)
	}
	quoted := 0
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		quoted = 1
	}
	if n.Style&yaml.LiteralStyle != 0 {
		k := strings.Count(val[:off], "\n")
		start := strings.LastIndexByte(val[:off], '\n') + 1
		line = n.Line + 1 + k
		return line, p.indent(n.Line) + utf8.RuneCountInString(val[start:off]) + 1
	}
	if !strings.Contains(val, "\n") && p.singleLine(n) {
		return n.Line, n.Column + quoted + utf8.RuneCountInString(val[:off])
	}
	// Folded or multi-line flow scalar: walk the source lines, each contributing
	// its trimmed text plus one joining space.
	first := n.Line
	firstCol := n.Column + quoted
	if n.Style&yaml.FoldedStyle != 0 {
		first, firstCol = n.Line+1, 0
	}
	acc := 0
	for ln := first; ln <= len(p.lines); ln++ {
		raw := p.lines[ln-1]
		startCol := 0
		if ln == first && firstCol > 0 {
			startCol = byteIndexOfRune(raw, firstCol-1)
		} else {
			startCol = len(raw) - len(strings.TrimLeft(raw, " \t"))
		}
		seg := strings.TrimRight(raw[startCol:], " \t\r")
		if off <= acc+len(seg) {
			return ln, utf8.RuneCountInString(raw[:startCol]) + utf8.RuneCountInString(seg[:off-acc]) + 1
		}
		acc += len(seg) + 1
	}
	return n.Line, n.Column
}

// singleLine reports whether the scalar's text sits on its own line in the
// source, i.e. the value has not been folded from several lines.
func (p scalarPos) singleLine(n *yaml.Node) bool {
	if n.Line < 1 || n.Line > len(p.lines) {
		return false
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return false
	}
	raw := p.lines[n.Line-1]
	i := byteIndexOfRune(raw, n.Column-1)
	return i < len(raw) && strings.Contains(raw[i:], firstWord(n.Value))
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i > 0 {
		return s[:i]
	}
	return s
}

func (p scalarPos) indent(header int) int {
	for ln := header + 1; ln <= len(p.lines); ln++ {
		raw := p.lines[ln-1]
		if strings.TrimSpace(raw) == "" {
			continue
		}
		return len(raw) - len(strings.TrimLeft(raw, " "))
	}
	return 0
}

// byteIndexOfRune returns the byte index of the rune at rune index r in s
// (len(s) when r is past the end).
func byteIndexOfRune(s string, r int) int {
	if r <= 0 {
		return 0
	}
	n := 0
	for i := range s {
		if n == r {
			return i
		}
		n++
	}
	return len(s)
}
