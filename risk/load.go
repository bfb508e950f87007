package risk

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
)

// Options are what a load needs besides the file itself.
type Options struct {
	// Venues names the configured venues by exchange.VenueID (index 0 is
	// unused), so that venue("okx") resolves to an index at load time. A rule
	// naming a venue not listed here fails to load.
	Venues []string
	// Now stamps Version.LoadedAt; nil means time.Now.
	Now func() time.Time
}

// Version identifies a loaded rule set: what (the content hash), from where
// and when. It is what /api/v1/status shows and what a decision records.
type Version struct {
	Hash     string    `json:"hash"`      // "sha256:" and the first 16 hex digits of the file's SHA-256
	Name     string    `json:"name"`      // the file's name: key
	Source   string    `json:"source"`    // file path, "nats-kv:bucket/key@rev", "api", ...
	LoadedAt time.Time `json:"loaded_at"` // when it was compiled
	Rules    int       `json:"rules"`
}

// String returns "name sha256:… from source at time".
func (v Version) String() string {
	return fmt.Sprintf("%s %s from %s at %s", v.Name, v.Hash, v.Source, v.LoadedAt.UTC().Format(time.RFC3339))
}

// RuleSet is a compiled, immutable rules file. It is safe to share between
// goroutines; an Engine evaluates the one it holds, and Reload swaps in a new
// one atomically.
type RuleSet struct {
	version Version
	rules   []rule // file order
	// prog is every rule's condition flattened, in file order, into one
	// sequence of tests that scan runs in a single loop: on the common path
	// (no rule fires) an evaluation is one call. Constant-false rules have
	// no tests.
	prog   []test
	limits []limitSpec
	unused []string // limits no rule reads (reported by Check)

	// evals counts evaluations run with this set. With the per-rule outcome
	// counters it gives each rule's "pass" count without a per-rule atomic
	// on the hot path (see Engine.Counters).
	evals atomic.Uint64
}

// Version returns the rule set's identity.
func (rs *RuleSet) Version() Version { return rs.version }

// Rules returns the rules' names in evaluation order.
func (rs *RuleSet) Rules() []string {
	out := make([]string, len(rs.rules))
	for i := range rs.rules {
		out[i] = rs.rules[i].name
	}
	return out
}

// outcome indexes a rule's counters; the order is the exported label order.
type outcome uint8

const (
	outReject outcome = iota
	outClip
	outHalt
	outWarn
	outError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"reject", "clip", "halt", "warn", "error"}

// terminal reports whether the outcome ends the evaluation (the plan does not
// reach later rules).
func (o outcome) terminal() bool { return o == outReject || o == outHalt || o == outError }

// rule is one compiled rule.
type rule struct {
	name    string
	message string
	action  Action
	tests   []test // the condition, as a disjunction of tests
	first   int    // the rule's tests are prog[first:end]
	end     int
	clipTo  fnF
	never   bool // `when` is the constant false: never evaluated
	always  bool // `when` is the constant true
	reads   []fieldRef
	line    int
	col     int
	whenSrc string
	clipSrc string
	nodes   int
	halt    *HaltState // preallocated kill-switch state for a halt rule

	counts [numOutcomes]atomic.Uint64
}

func (r *rule) count(o outcome) { r.counts[o].Add(1) }

// Load parses, type-checks and compiles a rules file. source names it in
// errors and in the Version (a path, or "nats-kv:bucket/key@rev"). On any
// problem it returns a *LoadError listing them with file:line:col; it never
// returns a partial rule set.
func Load(src []byte, source string, opts Options) (*RuleSet, error) {
	fs, le := parseFileSafe(src, source)
	if le != nil {
		return nil, le
	}
	le = &LoadError{Source: source}
	venues := make(map[string]int, len(opts.Venues))
	for i, v := range opts.Venues {
		if v != "" {
			venues[v] = i
		}
	}
	limits := make(map[string]*limitSpec, len(fs.limits))
	for i := range fs.limits {
		limits[fs.limits[i].name] = &fs.limits[i]
	}
	used := make(map[string]bool, len(limits))
	env := newExprConfig()

	rs := &RuleSet{rules: make([]rule, len(fs.rules)), limits: fs.limits}
	for i := range fs.rules {
		spec := &fs.rules[i]
		r := &rs.rules[i]
		r.name, r.message, r.action = spec.name, spec.message, spec.action
		r.line, r.col, r.whenSrc = spec.line, spec.col, spec.when.text
		if r.action == ActHalt {
			r.halt = &HaltState{Reason: r.message, By: "rule", Rule: r.name}
		}
		c := &compiler{le: le, source: source, rule: spec.name, key: "when", venues: venues}
		w, nodes, err := compileExpr(c, env, &spec.when, limits, used)
		if err == nil {
			if w.k != kBool {
				n := exprRoot(spec.when.text)
				line, col := spec.when.pos.at(n)
				le.add(line, col, spec.name, "when: must be a condition (bool), got %s", w.k)
			} else if w.cst && !w.b {
				r.never = true
			} else {
				r.always = w.cst
				r.tests = c.testsOf(w)
			}
		}
		r.nodes = nodes
		if spec.clipTo != nil {
			r.clipSrc = spec.clipTo.text
			c.key = "clip_to"
			v, nodes, err := compileExpr(c, env, spec.clipTo, limits, used)
			r.nodes += nodes
			if err == nil {
				if !v.k.numeric() {
					line, col := spec.clipTo.pos.at(exprRoot(spec.clipTo.text))
					le.add(line, col, spec.name, "clip_to: must be a quantity (number), got %s", v.k)
				} else {
					r.clipTo = c.fnFloat(v)
				}
			}
		}
		r.reads = c.reads
	}
	if len(le.Issues) > 0 || le.Omitted > 0 {
		return nil, le
	}
	for i := range rs.rules {
		r := &rs.rules[i]
		r.first = len(rs.prog)
		for _, t := range r.tests {
			t.rule = r
			rs.prog = append(rs.prog, t)
		}
		r.end = len(rs.prog)
		for j := r.first; j < r.end; j++ {
			rs.prog[j].next = int32(r.end)
		}
	}
	for _, l := range fs.limits {
		if !used[l.name] {
			rs.unused = append(rs.unused, l.name)
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	sum := sha256.Sum256(src)
	name := fs.name
	if name == "" {
		name = "unnamed"
	}
	rs.version = Version{Hash: "sha256:" + hex.EncodeToString(sum[:8]), Name: name, Source: source,
		LoadedAt: now(), Rules: len(rs.rules)}
	return rs, nil
}

// parseFileSafe runs the YAML parser, turning a panic inside it (third-party
// code fed outside input) into a load error rather than a crashed daemon.
func parseFileSafe(src []byte, source string) (fs *fileSpec, le *LoadError) {
	defer func() {
		if p := recover(); p != nil {
			fs, le = nil, &LoadError{Source: source}
			le.add(0, 0, "", "YAML parser failed: %v", p)
		}
	}()
	return parseFile(src, source)
}

// exprRoot is the offset of an expression's first non-space byte, where a
// whole-expression error points.
func exprRoot(s string) int { return len(s) - len(strings.TrimLeft(s, " \t\r\n")) }

// exprConfig is expr's checker configuration for rules: the Input struct as
// the environment (strict: unknown names are errors), plus the venue()
// function's signature. It is built per Load because the checker mutates its
// type cache, and loads run on different goroutines.
func newExprConfig() *conf.Config {
	cfg := conf.New(Input{})
	cfg.MaxNodes = MaxNodesPerRule
	cfg.Functions["venue"] = &builtin.Function{
		Name:  "venue",
		Types: []reflect.Type{reflect.TypeFor[func(string) VenueView]()},
		Func:  func(...any) (any, error) { return nil, errors.New("venue() is resolved by the rule compiler") },
	}
	return cfg
}

// compileExpr runs one expression through expr's parser, the limits
// substitution, expr's checker and then this package's compiler.
func compileExpr(c *compiler, cfg *conf.Config, spec *exprSpec, limits map[string]*limitSpec, used map[string]bool) (v val, nodes int, err error) {
	c.spec = spec
	tree, err := parseCheckSafe(c, cfg, spec.text, limits, used)
	if err != nil {
		return val{}, 0, err
	}
	var cnt nodeCounter
	ast.Walk(&tree.Node, &cnt)
	if cnt.n > MaxNodesPerRule {
		line, col := spec.pos.at(exprRoot(spec.text))
		c.le.add(line, col, c.rule, "%s: expression has %d nodes; the cap is %d", c.key, cnt.n, MaxNodesPerRule)
		return val{}, cnt.n, errCompile
	}
	v, err = c.compile(tree.Node)
	return v, cnt.n, err
}

func parseCheckSafe(c *compiler, cfg *conf.Config, text string, limits map[string]*limitSpec, used map[string]bool) (tree *parser.Tree, err error) {
	defer func() {
		if p := recover(); p != nil {
			line, col := c.spec.pos.at(exprRoot(text))
			c.le.add(line, col, c.rule, "%s: expression parser failed: %v", c.key, p)
			tree, err = nil, errCompile
		}
	}()
	tree, err = parser.ParseWithConfig(text, cfg)
	if err != nil {
		return nil, c.exprError(err)
	}
	lp := &limitsPatcher{c: c, limits: limits, used: used}
	ast.Walk(&tree.Node, lp)
	if lp.failed {
		return nil, errCompile
	}
	if _, err := checker.Check(tree, cfg); err != nil {
		return nil, c.exprError(err)
	}
	return tree, nil
}

// exprError records an error from expr's parser or checker at its position,
// with Go type names replaced by the names rules use.
func (c *compiler) exprError(err error) error {
	var fe *file.Error
	msg := err.Error()
	off := 0
	if errors.As(err, &fe) {
		msg = fe.Message
		off = runeToByte(c.spec.text, fe.From)
	}
	msg = typeNames.Replace(msg)
	if m := noFieldRE.FindStringSubmatch(msg); m != nil {
		if t, ok := viewTypes[m[1]]; ok {
			msg += suggest(m[2], exprFields(t))
		}
	} else if m := unknownNameRE.FindStringSubmatch(msg); m != nil {
		msg += suggest(m[1], append(exprFields(inputType), "limits"))
	}
	line, col := c.spec.pos.at(off)
	c.le.add(line, col, c.rule, "%s: %s", c.key, msg)
	return errCompile
}

var (
	typeNames = strings.NewReplacer(
		"risk.PlanView", "plan", "risk.LegView", "leg", "risk.AccountView", "account",
		"risk.ClockView", "now", "risk.VenueView", "venue", "risk.Input", "rules environment")
	viewTypes = map[string]reflect.Type{
		"plan": reflect.TypeFor[PlanView](), "leg": reflect.TypeFor[LegView](),
		"account": reflect.TypeFor[AccountView](), "now": reflect.TypeFor[ClockView](),
		"venue": reflect.TypeFor[VenueView](),
	}
	noFieldRE     = regexp.MustCompile(`^type (\w+) has no field (\w+)$`)
	unknownNameRE = regexp.MustCompile(`^unknown name (\w+)$`)
)

// limitsPatcher replaces limits.NAME with the constant from the file's
// limits block before type-checking, so limits are typed like literals and
// fold into the rule: changing a number means editing limits, not
// expressions, and costs nothing per plan.
type limitsPatcher struct {
	c      *compiler
	limits map[string]*limitSpec
	used   map[string]bool
	failed bool
}

// Visit implements ast.Visitor.
func (p *limitsPatcher) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok || id.Value != "limits" {
		return
	}
	name, ok := m.Property.(*ast.StringNode)
	if !ok {
		p.failed = true
		p.c.errAt(m.Property, "limits must be named, e.g. limits.max_notional")
		return
	}
	l, ok := p.limits[name.Value]
	if !ok {
		p.failed = true
		names := make([]string, 0, len(p.limits))
		for k := range p.limits {
			names = append(names, k)
		}
		p.c.errAt(m, "unknown limit %s (add it under limits:)%s", name.Value, suggest(name.Value, names))
		return
	}
	if p.used != nil {
		p.used[l.name] = true
	}
	var lit ast.Node
	switch l.kind {
	case limInt:
		lit = &ast.IntegerNode{Value: int(l.i)}
	case limFloat:
		lit = &ast.FloatNode{Value: l.f}
	case limBool:
		lit = &ast.BoolNode{Value: l.b}
	default:
		lit = &ast.StringNode{Value: l.s}
	}
	ast.Patch(node, lit)
}

type nodeCounter struct{ n int }

// Visit implements ast.Visitor.
func (c *nodeCounter) Visit(*ast.Node) { c.n++ }
