package risk

//go:generate go run gen_ops.go

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
)

// The typed closures a compiled expression is made of. Each takes the
// evaluation context (the Input being evaluated and the first error) and
// returns an unboxed value, so evaluating a rule allocates nothing.
type (
	fnB func(*evalCtx) bool
	fnI func(*evalCtx) int64
	fnF func(*evalCtx) float64
	fnS func(*evalCtx) string
)

// evalCtx is the state of one evaluation. base points at the Input; err is
// the first evaluation error, sticky: once set, the values computed after it
// are meaningless and the rule's result is discarded (and the plan rejected).
// Closures set it instead of returning an error so that the common, error-free
// path carries no error plumbing.
type evalCtx struct {
	base unsafe.Pointer
	err  *EvalError
}

func (c *evalCtx) fail(e *EvalError) {
	if c.err == nil {
		c.err = e
	}
}

// Sentinel kinds of evaluation error, matched with errors.Is on an
// *EvalError. An evaluation error rejects the plan; it is never an allow.
var (
	ErrDivisionByZero = errors.New("division by zero")
	ErrNonFinite      = errors.New("non-finite number (NaN or Inf)")
	ErrOverflow       = errors.New("integer overflow")
)

// EvalError is an error raised while evaluating a rule on a plan: a division
// by zero, a NaN or infinite value (read from the input or computed), an
// integer overflow. It is preallocated when the rules load, one per place in
// an expression that can fail, so reporting it allocates nothing.
type EvalError struct {
	Source string // rules file (or KV key) the rule came from
	Line   int    // position in that file of the failing operation
	Col    int
	Rule   string
	Key    string // "when" or "clip_to"
	What   string // the field read or the operator that failed
	Err    error  // ErrDivisionByZero, ErrNonFinite or ErrOverflow
}

// Error formats the error with its file position.
func (e *EvalError) Error() string {
	return fmt.Sprintf("%s:%d:%d: rule %q: %s: %v in %s", e.Source, e.Line, e.Col, e.Rule, e.Key, e.Err, e.What)
}

// Unwrap returns the sentinel kind.
func (e *EvalError) Unwrap() error { return e.Err }

type vkind uint8

const (
	kInvalid vkind = iota
	kBool
	kInt
	kFloat
	kString
	kStruct
)

var kindNames = [...]string{"invalid", "bool", "int", "float", "string", "object"}

func (k vkind) String() string { return kindNames[k] }

func (k vkind) numeric() bool { return k == kInt || k == kFloat }

// val is a compiled sub-expression: a constant, a direct field read at a
// fixed offset of Input, or a typed closure. Keeping constants and fields
// apart from closures lets the compiler fold constants and pick the closure
// specialised for the operand shapes (see ops_gen.go).
type val struct {
	k vkind

	cst bool // constant: b, i, f or s holds it
	b   bool
	i   int64
	f   float64
	s   string

	fld  bool         // field read at off
	off  uintptr      // field offset in Input (also the base of a kStruct)
	path string       // rule-visible name of the field, e.g. "plan.qty"
	fe   *EvalError   // non-finite read of a float field
	st   reflect.Type // kStruct: the struct type

	fb fnB
	fi fnI
	ff fnF
	fs fnS

	// tests is set on a bool value that is a disjunction of simple tests;
	// a rule whose condition has it runs them inline (see scan).
	tests []test
	// shape records a float value that is `field op field` or `abs(field)`,
	// so that comparing it with a constant can become one inline test.
	shape *shapeInfo
}

// shapeInfo describes a float value computed from fields in one step.
type shapeInfo struct {
	op     string // "+", "-", "*", "/" or "abs"
	lo, ro uintptr
	le, re *EvalError
	de, ne *EvalError
}

// testKind selects what scan does with one test.
type testKind uint8

// test is one simple condition run inline by scan: a field at off compared
// to a constant (cst, the bits of a float64 or an int64) or to another field
// at off2, a bool field, or, for anything else, a compiled closure fn. In a
// rule set's program each test also knows its rule and where the next rule's
// tests start. It is 64 bytes so that the program is a dense array scanned
// with a shift; errors needed only by some kinds live out of line in x.
type test struct {
	kind testKind
	next int32 // index in the program of the next rule's first test
	off  uintptr
	off2 uintptr
	cst  uint64
	fe   *EvalError // non-finite read of the field at off
	fn   fnB
	x    *testExtra
	rule *rule
}

// testExtra holds a test's less used errors.
type testExtra struct {
	fe2 *EvalError // non-finite read of the field at off2
	de  *EvalError // division by zero (tArith*)
	ne  *EvalError // non-finite result (tArith*)
}

// testsOf returns a bool value as a disjunction of tests.
func (c *compiler) testsOf(v val) []test {
	switch {
	case v.tests != nil:
		return v.tests
	case v.fld && v.k == kBool:
		return []test{{kind: tBool, off: v.off}}
	}
	return []test{{kind: tFn, fn: c.fnBool(v)}}
}

func constB(b bool) val    { return val{k: kBool, cst: true, b: b} }
func constI(i int64) val   { return val{k: kInt, cst: true, i: i} }
func constF(f float64) val { return val{k: kFloat, cst: true, f: f} }
func constS(s string) val  { return val{k: kString, cst: true, s: s} }
func (v val) asFloat() float64 { // constants only
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// fieldRef is a field an expression reads; the values of a rule's fieldRefs
// are logged when it fires so that the log shows what tripped it.
type fieldRef struct {
	path string
	off  uintptr
	k    vkind
}

// errCompile marks a compile failure already recorded in the LoadError.
var errCompile = errors.New("compile error")

// compiler turns one checked expression into typed closures. It is used for
// one expression at a time and then discarded.
type compiler struct {
	le     *LoadError
	source string
	rule   string
	key    string // "when" or "clip_to"
	spec   *exprSpec
	venues map[string]int
	reads  []fieldRef
}

// pos maps an AST node to its 1-based file line and column.
func (c *compiler) pos(n ast.Node) (int, int) {
	return c.spec.pos.at(runeToByte(c.spec.text, n.Location().From))
}

func (c *compiler) errAt(n ast.Node, format string, args ...any) (val, error) {
	line, col := c.pos(n)
	c.le.add(line, col, c.rule, "%s: %s", c.key, fmt.Sprintf(format, args...))
	return val{}, errCompile
}

// evalErr preallocates the error reported when the operation at n fails.
func (c *compiler) evalErr(n ast.Node, kind error, what string) *EvalError {
	line, col := c.pos(n)
	return &EvalError{Source: c.source, Line: line, Col: col, Rule: c.rule, Key: c.key, What: what, Err: kind}
}

func runeToByte(s string, r int) int {
	n := 0
	for i := range s {
		if n == r {
			return i
		}
		n++
	}
	return len(s)
}

// compile compiles a checked node. Node kinds outside the supported subset
// are load errors with their position; nothing falls back to expr's VM.
func (c *compiler) compile(n ast.Node) (val, error) {
	switch n := n.(type) {
	case *ast.BoolNode:
		return constB(n.Value), nil
	case *ast.IntegerNode:
		return constI(int64(n.Value)), nil
	case *ast.FloatNode:
		if math.IsNaN(n.Value) || math.IsInf(n.Value, 0) {
			return c.errAt(n, "number literal is not finite")
		}
		return constF(n.Value), nil
	case *ast.StringNode:
		return constS(n.Value), nil
	case *ast.IdentifierNode:
		return c.ident(n)
	case *ast.MemberNode:
		return c.member(n)
	case *ast.CallNode:
		return c.call(n)
	case *ast.BuiltinNode:
		return c.builtin(n)
	case *ast.UnaryNode:
		return c.unary(n)
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.ConditionalNode:
		return c.conditional(n)
	}
	return c.errAt(n, "%s is not supported in rules", describeNode(n))
}

func describeNode(n ast.Node) string {
	switch n.(type) {
	case *ast.NilNode:
		return "nil"
	case *ast.ChainNode:
		return "optional chaining (?.)"
	case *ast.SliceNode:
		return "slicing"
	case *ast.PredicateNode, *ast.PointerNode:
		return "a predicate"
	case *ast.VariableDeclaratorNode:
		return "let"
	case *ast.SequenceNode:
		return "a sequence (;)"
	case *ast.ArrayNode:
		return "an array (except on the right of `in`)"
	case *ast.MapNode, *ast.PairNode:
		return "a map"
	case *ast.BytesNode:
		return "a bytes literal"
	case *ast.ConstantNode:
		return "a constant node"
	}
	return fmt.Sprintf("%T", n)
}

// --- names -----------------------------------------------------------------

var (
	inputType = reflect.TypeFor[Input]()
	venueType = reflect.TypeFor[VenueView]()
	venuesOff = func() uintptr {
		f, _ := inputType.FieldByName("Venues")
		return f.Offset
	}()
)

// exprField finds the field of struct type t that rules call name.
func exprField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := f.Tag.Get("expr"); tag != "" && tag != "-" && tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// exprFields lists the rule-visible names of struct type t.
func exprFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

func (c *compiler) ident(n *ast.IdentifierNode) (val, error) {
	f, ok := exprField(inputType, n.Value)
	if !ok {
		return c.errAt(n, "unknown name %s%s", n.Value, suggest(n.Value, append(exprFields(inputType), "limits")))
	}
	return c.fieldVal(n, f, 0, n.Value)
}

func (c *compiler) fieldVal(n ast.Node, f reflect.StructField, base uintptr, path string) (val, error) {
	off := base + f.Offset
	switch f.Type.Kind() {
	case reflect.Struct:
		return val{k: kStruct, off: off, st: f.Type, path: path}, nil
	case reflect.Float64:
		c.read(path, off, kFloat)
		return val{k: kFloat, fld: true, off: off, path: path, fe: c.evalErr(n, ErrNonFinite, path)}, nil
	case reflect.Int64:
		c.read(path, off, kInt)
		return val{k: kInt, fld: true, off: off, path: path}, nil
	case reflect.Bool:
		c.read(path, off, kBool)
		return val{k: kBool, fld: true, off: off, path: path}, nil
	case reflect.String:
		c.read(path, off, kString)
		return val{k: kString, fld: true, off: off, path: path}, nil
	}
	return c.errAt(n, "field %s has unsupported type %s", path, f.Type)
}

func (c *compiler) read(path string, off uintptr, k vkind) {
	for _, r := range c.reads {
		if r.path == path {
			return
		}
	}
	c.reads = append(c.reads, fieldRef{path: path, off: off, k: k})
}

func (c *compiler) member(n *ast.MemberNode) (val, error) {
	if n.Optional {
		return c.errAt(n, "optional chaining (?.) is not supported in rules")
	}
	if n.Method {
		return c.errAt(n, "method calls are not supported in rules")
	}
	base, err := c.compile(n.Node)
	if err != nil {
		return val{}, err
	}
	if base.k != kStruct {
		return c.errAt(n, "%s has no fields", base.k)
	}
	prop, ok := n.Property.(*ast.StringNode)
	if !ok {
		return c.errAt(n.Property, "field names must be written out (x.name), not computed")
	}
	f, ok := exprField(base.st, prop.Value)
	if !ok {
		return c.errAt(n, "%s has no field %s%s", base.path, prop.Value, suggest(prop.Value, exprFields(base.st)))
	}
	return c.fieldVal(n, f, base.off, base.path+"."+prop.Value)
}

// call compiles venue("name"): the name is resolved to the venue's index
// now, so at run time it is a field read at a fixed offset.
func (c *compiler) call(n *ast.CallNode) (val, error) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != "venue" {
		return c.errAt(n, "only venue(\"name\") and abs, min, max, floor, ceil, round can be called in rules")
	}
	if len(n.Arguments) != 1 {
		return c.errAt(n, "venue takes one argument, the venue's name")
	}
	arg, err := c.compile(n.Arguments[0])
	if err != nil {
		return val{}, err
	}
	if arg.k != kString || !arg.cst {
		return c.errAt(n.Arguments[0], "venue needs a constant name, e.g. venue(\"binance\")")
	}
	idx, ok := c.venues[arg.s]
	if !ok {
		names := make([]string, 0, len(c.venues))
		for k := range c.venues {
			names = append(names, k)
		}
		return c.errAt(n.Arguments[0], "unknown venue %q%s", arg.s, suggest(arg.s, names))
	}
	return val{k: kStruct, st: venueType, off: venuesOff + uintptr(idx)*venueType.Size(),
		path: fmt.Sprintf("venue(%q)", arg.s)}, nil
}

// --- materialising operands as closures -------------------------------------

func (c *compiler) fnBool(v val) fnB {
	switch {
	case v.fb != nil:
		return v.fb
	case v.cst:
		b := v.b
		return func(*evalCtx) bool { return b }
	case v.fld:
		off := v.off
		return func(c *evalCtx) bool { return *(*bool)(unsafe.Add(c.base, off)) }
	}
	panic("risk: bool operand without value")
}

func (c *compiler) fnInt(v val) fnI {
	switch {
	case v.fi != nil:
		return v.fi
	case v.cst:
		i := v.i
		return func(*evalCtx) int64 { return i }
	case v.fld:
		off := v.off
		return func(c *evalCtx) int64 { return *(*int64)(unsafe.Add(c.base, off)) }
	}
	panic("risk: int operand without value")
}

// fnFloat returns v as a float closure, converting an int.
func (c *compiler) fnFloat(v val) fnF {
	if v.k == kInt {
		if v.cst {
			f := float64(v.i)
			return func(*evalCtx) float64 { return f }
		}
		if v.fld {
			off := v.off
			return func(c *evalCtx) float64 { return float64(*(*int64)(unsafe.Add(c.base, off))) }
		}
		fi := v.fi
		return func(c *evalCtx) float64 { return float64(fi(c)) }
	}
	switch {
	case v.ff != nil:
		return v.ff
	case v.cst:
		f := v.f
		return func(*evalCtx) float64 { return f }
	case v.fld:
		off, fe := v.off, v.fe
		return func(c *evalCtx) float64 {
			a := *(*float64)(unsafe.Add(c.base, off))
			if a-a != 0 {
				c.fail(fe)
				return 0
			}
			return a
		}
	}
	panic("risk: float operand without value")
}

func (c *compiler) fnStr(v val) fnS {
	switch {
	case v.fs != nil:
		return v.fs
	case v.cst:
		s := v.s
		return func(*evalCtx) string { return s }
	case v.fld:
		off := v.off
		return func(c *evalCtx) string { return *(*string)(unsafe.Add(c.base, off)) }
	}
	panic("risk: string operand without value")
}

// fold evaluates a closure whose operands are all constants and returns the
// constant, so `limits.max_loss * 2` costs nothing per plan. An evaluation
// error here (1/0 with constants) is a load error at the operator.
func (c *compiler) fold(n ast.Node, v val) (val, error) {
	var ctx evalCtx
	switch v.k {
	case kBool:
		r := v.fb(&ctx)
		v = constB(r)
	case kInt:
		r := v.fi(&ctx)
		v = constI(r)
	case kFloat:
		r := v.ff(&ctx)
		v = constF(r)
	case kString:
		r := v.fs(&ctx)
		v = constS(r)
	}
	if ctx.err != nil {
		return c.errAt(n, "constant expression fails: %v", ctx.err.Err)
	}
	return v, nil
}

// --- operators ---------------------------------------------------------------

func (c *compiler) unary(n *ast.UnaryNode) (val, error) {
	x, err := c.compile(n.Node)
	if err != nil {
		return val{}, err
	}
	switch n.Operator {
	case "not", "!":
		if x.k != kBool {
			return c.errAt(n, "%s needs a bool, got %s", n.Operator, x.k)
		}
		if x.cst {
			return constB(!x.b), nil
		}
		f := c.fnBool(x)
		v := val{k: kBool, fb: func(c *evalCtx) bool { return !f(c) }}
		if x.fld {
			v.tests = []test{{kind: tNotBool, off: x.off}}
		}
		return v, nil
	case "+":
		if !x.k.numeric() {
			return c.errAt(n, "unary + needs a number, got %s", x.k)
		}
		return x, nil
	case "-":
		switch x.k {
		case kInt:
			f, oe := c.fnInt(x), c.evalErr(n, ErrOverflow, "unary -")
			v := val{k: kInt, fi: func(c *evalCtx) int64 {
				a := f(c)
				if a == math.MinInt64 {
					c.fail(oe)
					return 0
				}
				return -a
			}}
			if x.cst {
				return c.fold(n, v)
			}
			return v, nil
		case kFloat:
			if x.cst {
				return constF(-x.f), nil
			}
			f := c.fnFloat(x)
			return val{k: kFloat, ff: func(c *evalCtx) float64 { return -f(c) }}, nil
		}
		return c.errAt(n, "unary - needs a number, got %s", x.k)
	}
	return c.errAt(n, "operator %s is not supported in rules", n.Operator)
}

func (c *compiler) binary(n *ast.BinaryNode) (val, error) {
	switch n.Operator {
	case "and", "&&", "or", "||":
		return c.logical(n)
	case "in":
		return c.in(n)
	}
	l, err := c.compile(n.Left)
	if err != nil {
		return val{}, err
	}
	r, err := c.compile(n.Right)
	if err != nil {
		return val{}, err
	}
	switch n.Operator {
	case "==", "!=", "<", "<=", ">", ">=":
		return c.compare(n, n.Operator, l, r)
	case "+", "-", "*", "/":
		return c.arith(n, n.Operator, l, r)
	case "%":
		return c.mod(n, l, r)
	case "**", "^":
		return c.pow(n, l, r)
	case "contains", "startsWith", "endsWith":
		return c.strOp(n, l, r)
	case "matches":
		return c.errAt(n, "regular expressions (matches) are not supported in rules")
	}
	return c.errAt(n, "operator %s is not supported in rules", n.Operator)
}

// logical compiles and/or with short-circuit evaluation and folding of a
// constant side (`limits.enabled and ...` with enabled: false is the
// constant false, and the rule is dropped from the evaluation loop).
func (c *compiler) logical(n *ast.BinaryNode) (val, error) {
	l, err := c.compile(n.Left)
	if err != nil {
		return val{}, err
	}
	r, err := c.compile(n.Right)
	if err != nil {
		return val{}, err
	}
	if l.k != kBool || r.k != kBool {
		return c.errAt(n, "%s needs bools, got %s and %s", n.Operator, l.k, r.k)
	}
	and := n.Operator == "and" || n.Operator == "&&"
	switch {
	case l.cst && r.cst:
		if and {
			return constB(l.b && r.b), nil
		}
		return constB(l.b || r.b), nil
	case l.cst:
		if l.b == and { // true and X = X; false or X = X
			return r, nil
		}
		return constB(l.b), nil
	case r.cst:
		// X and true = X; X or false = X. X and false is false only if X does
		// not fail; evaluate X anyway so that an error still rejects.
		if r.b == and {
			return l, nil
		}
	}
	lf, rf := c.fnBool(l), c.fnBool(r)
	if and {
		return val{k: kBool, fb: func(c *evalCtx) bool { return lf(c) && rf(c) }}, nil
	}
	return val{k: kBool, fb: func(c *evalCtx) bool { return lf(c) || rf(c) },
		tests: append(append([]test(nil), c.testsOf(l)...), c.testsOf(r)...)}, nil
}

var flipOp = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

func (c *compiler) compare(n ast.Node, op string, l, r val) (val, error) {
	switch {
	case l.k.numeric() && r.k.numeric():
	case l.k == kString && r.k == kString:
	case l.k == kBool && r.k == kBool && (op == "==" || op == "!="):
	default:
		return c.errAt(n, "cannot compare %s %s %s", l.k, op, r.k)
	}
	if l.cst && !r.cst { // keep the constant on the right: one shape fewer
		l, r, op = r, l, flipOp[op]
	}
	switch {
	case l.k == kBool:
		lf, rf := c.fnBool(l), c.fnBool(r)
		v := val{k: kBool, fb: func(c *evalCtx) bool { return lf(c) == rf(c) }}
		if op == "!=" {
			v.fb = func(c *evalCtx) bool { return lf(c) != rf(c) }
		}
		if l.cst && r.cst {
			return c.fold(n, v)
		}
		return v, nil
	case l.k == kString:
		var v val
		if l.fld && r.cst {
			v = val{k: kBool, fb: cmpStrFC(op, l.off, r.s)}
		} else {
			v = val{k: kBool, fb: cmpStrXX(op, c.fnStr(l), c.fnStr(r))}
		}
		if l.cst && r.cst {
			return c.fold(n, v)
		}
		return v, nil
	case l.k == kInt && r.k == kInt:
		var v val
		switch {
		case l.fld && r.cst:
			v.fb = cmpIntFC(op, l.off, r.i)
			v.tests = []test{{kind: cmpTestKinds[op][2], off: l.off, cst: uint64(r.i)}}
		case l.fld && r.fld:
			v.fb = cmpIntFF(op, l.off, r.off)
		case r.cst:
			v.fb = cmpIntXC(op, c.fnInt(l), r.i)
		default:
			v.fb = cmpIntXX(op, c.fnInt(l), c.fnInt(r))
		}
		v.k = kBool
		if l.cst && r.cst {
			return c.fold(n, v)
		}
		return v, nil
	}
	// Float (or mixed int and float, compared as float like expr does).
	var v val
	lF, rF := l.fld && l.k == kFloat, r.fld && r.k == kFloat
	switch {
	case lF && r.cst:
		v.fb = cmpFloatFC(op, l.off, r.asFloat(), l.fe)
		v.tests = []test{{kind: cmpTestKinds[op][0], off: l.off, cst: math.Float64bits(r.asFloat()), fe: l.fe}}
	case lF && rF:
		v.fb = cmpFloatFF(op, l.off, r.off, l.fe, r.fe)
		v.tests = []test{{kind: cmpTestKinds[op][1], off: l.off, off2: r.off, fe: l.fe, x: &testExtra{fe2: r.fe}}}
	case r.cst:
		v.fb = cmpFloatXC(op, c.fnFloat(l), r.asFloat())
		if sh := l.shape; sh != nil && sh.op == "abs" {
			v.tests = []test{{kind: absTestKinds[op], off: sh.lo, fe: sh.le, cst: math.Float64bits(r.asFloat())}}
		} else if sh != nil {
			v.tests = []test{{kind: arithTestKinds[[2]string{sh.op, op}], off: sh.lo, off2: sh.ro,
				fe: sh.le, x: &testExtra{fe2: sh.re, de: sh.de, ne: sh.ne}, cst: math.Float64bits(r.asFloat())}}
		}
	default:
		v.fb = cmpFloatXX(op, c.fnFloat(l), c.fnFloat(r))
	}
	v.k = kBool
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) arith(n ast.Node, op string, l, r val) (val, error) {
	if !l.k.numeric() || !r.k.numeric() {
		if op == "+" && l.k == kString && r.k == kString {
			return c.errAt(n, "string concatenation is not supported in rules")
		}
		return c.errAt(n, "%s needs numbers, got %s and %s", op, l.k, r.k)
	}
	if l.k == kInt && r.k == kInt && op != "/" {
		return c.intArith(n, op, l, r)
	}
	if op == "/" && r.cst && r.asFloat() == 0 {
		return c.errAt(n, "division by a constant zero")
	}
	de, ne := c.evalErr(n, ErrDivisionByZero, op), c.evalErr(n, ErrNonFinite, "result of "+op)
	shape := func(v val) byte {
		switch {
		case v.cst:
			return 'C'
		case v.fld && v.k == kFloat:
			return 'F'
		}
		return 'X'
	}
	var f fnF
	switch string([]byte{shape(l), shape(r)}) {
	case "FF":
		f = arithFF(op, l.off, l.fe, r.off, r.fe, de, ne)
		v := val{k: kFloat, ff: f, shape: &shapeInfo{op: op, lo: l.off, ro: r.off, le: l.fe, re: r.fe, de: de, ne: ne}}
		return v, nil
	case "FC":
		f = arithFC(op, l.off, l.fe, r.asFloat(), de, ne)
	case "CF":
		f = arithCF(op, l.asFloat(), r.off, r.fe, de, ne)
	case "FX":
		f = arithFX(op, l.off, l.fe, c.fnFloat(r), de, ne)
	case "XF":
		f = arithXF(op, c.fnFloat(l), r.off, r.fe, de, ne)
	case "XC":
		f = arithXC(op, c.fnFloat(l), r.asFloat(), de, ne)
	case "CX":
		f = arithCX(op, l.asFloat(), c.fnFloat(r), de, ne)
	default: // XX and CC (folded below)
		f = arithXX(op, c.fnFloat(l), c.fnFloat(r), de, ne)
	}
	v := val{k: kFloat, ff: f}
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

// intArith is + - * on integers, with overflow an evaluation error rather
// than a silent wrap.
func (c *compiler) intArith(n ast.Node, op string, l, r val) (val, error) {
	lf, rf, oe := c.fnInt(l), c.fnInt(r), c.evalErr(n, ErrOverflow, op)
	var f fnI
	switch op {
	case "+":
		f = func(c *evalCtx) int64 {
			a, b := lf(c), rf(c)
			s := a + b
			if (s > a) != (b > 0) {
				c.fail(oe)
				return 0
			}
			return s
		}
	case "-":
		f = func(c *evalCtx) int64 {
			a, b := lf(c), rf(c)
			s := a - b
			if (s < a) != (b > 0) {
				c.fail(oe)
				return 0
			}
			return s
		}
	case "*":
		f = func(c *evalCtx) int64 {
			a, b := lf(c), rf(c)
			if a == 0 || b == 0 {
				return 0
			}
			p := a * b
			if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
				c.fail(oe)
				return 0
			}
			return p
		}
	default:
		return c.errAt(n, "operator %s is not supported on integers", op)
	}
	v := val{k: kInt, fi: f}
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) mod(n ast.Node, l, r val) (val, error) {
	if l.k != kInt || r.k != kInt {
		return c.errAt(n, "%% needs integers, got %s and %s", l.k, r.k)
	}
	lf, rf, de := c.fnInt(l), c.fnInt(r), c.evalErr(n, ErrDivisionByZero, "%")
	v := val{k: kInt, fi: func(c *evalCtx) int64 {
		a, b := lf(c), rf(c)
		if b == 0 {
			c.fail(de)
			return 0
		}
		return a % b
	}}
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) pow(n ast.Node, l, r val) (val, error) {
	if !l.k.numeric() || !r.k.numeric() {
		return c.errAt(n, "** needs numbers, got %s and %s", l.k, r.k)
	}
	lf, rf, ne := c.fnFloat(l), c.fnFloat(r), c.evalErr(n, ErrNonFinite, "result of **")
	v := val{k: kFloat, ff: func(c *evalCtx) float64 {
		p := math.Pow(lf(c), rf(c))
		if p-p != 0 {
			c.fail(ne)
			return 0
		}
		return p
	}}
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) strOp(n *ast.BinaryNode, l, r val) (val, error) {
	if l.k != kString || r.k != kString {
		return c.errAt(n, "%s needs strings, got %s and %s", n.Operator, l.k, r.k)
	}
	lf, rf := c.fnStr(l), c.fnStr(r)
	var f fnB
	switch n.Operator {
	case "contains":
		f = func(c *evalCtx) bool { return strings.Contains(lf(c), rf(c)) }
	case "startsWith":
		f = func(c *evalCtx) bool { return strings.HasPrefix(lf(c), rf(c)) }
	default:
		f = func(c *evalCtx) bool { return strings.HasSuffix(lf(c), rf(c)) }
	}
	v := val{k: kBool, fb: f}
	if l.cst && r.cst {
		return c.fold(n, v)
	}
	return v, nil
}

// in compiles `x in [constants...]`, a membership test in a set fixed at
// load time (`buy.venue in ["binance", "okx"]`).
func (c *compiler) in(n *ast.BinaryNode) (val, error) {
	l, err := c.compile(n.Left)
	if err != nil {
		return val{}, err
	}
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return c.errAt(n.Right, "`in` needs a list of constants on its right, e.g. [\"binance\", \"okx\"]")
	}
	var strs []string
	var nums []float64
	for _, e := range arr.Nodes {
		v, err := c.compile(e)
		if err != nil {
			return val{}, err
		}
		switch {
		case !v.cst:
			return c.errAt(e, "`in` lists must hold constants")
		case l.k == kString && v.k == kString:
			strs = append(strs, v.s)
		case l.k.numeric() && v.k.numeric():
			nums = append(nums, v.asFloat())
		default:
			return c.errAt(e, "cannot look for a %s in a list holding a %s", l.k, v.k)
		}
	}
	var f fnB
	switch {
	case l.k == kString:
		lf := c.fnStr(l)
		f = func(c *evalCtx) bool {
			s := lf(c)
			for _, x := range strs {
				if s == x {
					return true
				}
			}
			return false
		}
	case l.k.numeric():
		lf := c.fnFloat(l)
		f = func(c *evalCtx) bool {
			a := lf(c)
			for _, x := range nums {
				if a == x {
					return true
				}
			}
			return false
		}
	default:
		return c.errAt(n.Left, "`in` needs a string or a number on its left, got %s", l.k)
	}
	v := val{k: kBool, fb: f}
	if l.cst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) conditional(n *ast.ConditionalNode) (val, error) {
	cond, err := c.compile(n.Cond)
	if err != nil {
		return val{}, err
	}
	a, err := c.compile(n.Exp1)
	if err != nil {
		return val{}, err
	}
	b, err := c.compile(n.Exp2)
	if err != nil {
		return val{}, err
	}
	if cond.k != kBool {
		return c.errAt(n.Cond, "condition must be a bool, got %s", cond.k)
	}
	k := a.k
	switch {
	case a.k == b.k && a.k != kStruct:
	case a.k.numeric() && b.k.numeric():
		k = kFloat
	default:
		return c.errAt(n, "the branches have different types, %s and %s", a.k, b.k)
	}
	if cond.cst {
		pick := b
		if cond.b {
			pick = a
		}
		if k == kFloat && pick.k == kInt { // mixed branches are float
			if pick.cst {
				return constF(float64(pick.i)), nil
			}
			return val{k: kFloat, ff: c.fnFloat(pick)}, nil
		}
		return pick, nil
	}
	cf := c.fnBool(cond)
	switch k {
	case kBool:
		x, y := c.fnBool(a), c.fnBool(b)
		return val{k: k, fb: func(c *evalCtx) bool {
			if cf(c) {
				return x(c)
			}
			return y(c)
		}}, nil
	case kInt:
		x, y := c.fnInt(a), c.fnInt(b)
		return val{k: k, fi: func(c *evalCtx) int64 {
			if cf(c) {
				return x(c)
			}
			return y(c)
		}}, nil
	case kFloat:
		x, y := c.fnFloat(a), c.fnFloat(b)
		return val{k: k, ff: func(c *evalCtx) float64 {
			if cf(c) {
				return x(c)
			}
			return y(c)
		}}, nil
	default:
		x, y := c.fnStr(a), c.fnStr(b)
		return val{k: k, fs: func(c *evalCtx) string {
			if cf(c) {
				return x(c)
			}
			return y(c)
		}}, nil
	}
}

func (c *compiler) builtin(n *ast.BuiltinNode) (val, error) {
	switch n.Name {
	case "abs", "floor", "ceil", "round", "min", "max":
	default:
		return c.errAt(n, "function %s is not supported in rules (supported: abs, min, max, floor, ceil, round, venue)", n.Name)
	}
	args := make([]val, len(n.Arguments))
	allConst := true
	for i, a := range n.Arguments {
		v, err := c.compile(a)
		if err != nil {
			return val{}, err
		}
		if !v.k.numeric() {
			return c.errAt(a, "%s needs numbers, got %s", n.Name, v.k)
		}
		args[i] = v
		allConst = allConst && v.cst
	}
	if len(args) == 0 || (n.Name != "min" && n.Name != "max" && len(args) != 1) {
		return c.errAt(n, "wrong number of arguments to %s", n.Name)
	}
	var v val
	switch n.Name {
	case "abs":
		if args[0].k == kInt {
			f, oe := c.fnInt(args[0]), c.evalErr(n, ErrOverflow, "abs")
			v = val{k: kInt, fi: func(c *evalCtx) int64 {
				a := f(c)
				if a < 0 {
					if a == math.MinInt64 {
						c.fail(oe)
						return 0
					}
					return -a
				}
				return a
			}}
		} else {
			f := c.fnFloat(args[0])
			v = val{k: kFloat, ff: func(c *evalCtx) float64 { return math.Abs(f(c)) }}
			if a := args[0]; a.fld {
				v.shape = &shapeInfo{op: "abs", lo: a.off, le: a.fe}
			}
		}
	case "floor", "ceil", "round":
		g := map[string]func(float64) float64{"floor": math.Floor, "ceil": math.Ceil, "round": math.Round}[n.Name]
		f := c.fnFloat(args[0])
		v = val{k: kFloat, ff: func(c *evalCtx) float64 { return g(f(c)) }}
	case "min", "max":
		v = c.minMax(n.Name == "max", args)
	}
	if allConst {
		return c.fold(n, v)
	}
	return v, nil
}

func (c *compiler) minMax(isMax bool, args []val) val {
	allInt := true
	for _, a := range args {
		allInt = allInt && a.k == kInt
	}
	if allInt {
		fs := make([]fnI, len(args))
		for i, a := range args {
			fs[i] = c.fnInt(a)
		}
		return val{k: kInt, fi: func(c *evalCtx) int64 {
			m := fs[0](c)
			for _, f := range fs[1:] {
				x := f(c)
				if (x > m) == isMax && x != m {
					m = x
				}
			}
			return m
		}}
	}
	fs := make([]fnF, len(args))
	for i, a := range args {
		fs[i] = c.fnFloat(a)
	}
	if len(fs) == 2 {
		a, b := fs[0], fs[1]
		if isMax {
			return val{k: kFloat, ff: func(c *evalCtx) float64 { return max(a(c), b(c)) }}
		}
		return val{k: kFloat, ff: func(c *evalCtx) float64 { return min(a(c), b(c)) }}
	}
	return val{k: kFloat, ff: func(c *evalCtx) float64 {
		m := fs[0](c)
		for _, f := range fs[1:] {
			if isMax {
				m = max(m, f(c))
			} else {
				m = min(m, f(c))
			}
		}
		return m
	}}
}

// suggest returns ` (did you mean "x"?)` for the closest known name within an
// edit distance of 2, or "".
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
