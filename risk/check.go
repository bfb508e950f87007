package risk

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"
)

// Report is what `arb rules check FILE` prints: the file's rules as
// compiled, each evaluated on its own against a sample input, the decision
// of the whole set on that input, and warnings about rules that cannot do
// what their author probably meant.
type Report struct {
	Version  Version
	Limits   []LimitValue
	Rules    []RuleReport
	Decision Decision // the whole rule set on the sample, as the engine runs it
	Warnings []string
}

// LimitValue is one entry of the limits block.
type LimitValue struct {
	Name  string
	Value string
	Line  int
	Used  bool // some rule reads it
}

// RuleReport is one rule evaluated on its own against the sample (before
// any clip by earlier rules).
type RuleReport struct {
	Name    string
	Action  string
	Message string
	Line    int
	When    string
	ClipTo  string
	Nodes   int    // AST nodes in its expressions
	Compile string // how it runs: "inline", "inline+closure", "closure" or "never (constant false)"
	Fired   bool   // `when` held on the sample
	ClipQty float64
	Err     error // evaluation error on the sample (the engine would reject)
	Values  []FieldValue
}

// FieldValue is a field a rule reads and its value on the sample.
type FieldValue struct {
	Path  string
	Value string
}

// Check loads src (named name in errors) offline and evaluates it against
// sample, which also supplies the venue names for venue("...") (its Venues
// table). A file that does not load returns its *LoadError. Check changes
// nothing outside the report; sample is copied.
func Check(src []byte, name string, sample Input) (*Report, error) {
	venues := make([]string, len(sample.Venues))
	for i := range sample.Venues {
		venues[i] = sample.Venues[i].Name
	}
	rs, err := Load(src, name, Options{Venues: venues})
	if err != nil {
		return nil, err
	}
	rep := &Report{Version: rs.version}
	used := make(map[string]bool)
	for _, l := range rs.limits {
		used[l.name] = true
	}
	for _, u := range rs.unused {
		used[u] = false
	}
	for _, l := range rs.limits {
		rep.Limits = append(rep.Limits, LimitValue{Name: l.name, Value: l.String(), Line: l.line, Used: used[l.name]})
		if !used[l.name] {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s:%d: limit %s is not read by any rule", name, l.line, l.name))
		}
	}

	in := sample
	in.derive()
	var ctx evalCtx
	ctx.base = unsafe.Pointer(&in)
	seenReject := ""
	for i := range rs.rules {
		r := &rs.rules[i]
		rr := RuleReport{Name: r.name, Action: r.action.String(), Message: r.message, Line: r.line,
			When: r.whenSrc, ClipTo: r.clipSrc, Nodes: r.nodes, Compile: compileKind(r)}
		ctx.err = nil
		prog := rs.prog[r.first:r.end]
		if !r.never {
			rr.Fired = ctx.scan(prog, 0) < len(prog)
			if ctx.err != nil {
				rr.Fired, rr.Err = false, ctx.err
			} else if rr.Fired && r.clipTo != nil {
				rr.ClipQty = r.clipTo(&ctx)
				if ctx.err != nil {
					rr.Err = ctx.err
				}
			}
		}
		for _, f := range r.reads {
			rr.Values = append(rr.Values, FieldValue{Path: f.path, Value: fieldString(&in, f)})
		}
		rep.Rules = append(rep.Rules, rr)

		switch {
		case r.never:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s:%d: rule %s can never fire (its condition is the constant false)", name, r.line, r.name))
		case r.always && r.action != ActWarn:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s:%d: rule %s fires on every plan (its condition is the constant true)", name, r.line, r.name))
		}
		if r.action == ActHalt && seenReject != "" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s:%d: halt rule %s comes after reject rule %s: a plan that rule rejects never reaches it", name, r.line, r.name, seenReject))
		}
		if r.action == ActReject && seenReject == "" && !r.never {
			seenReject = r.name
		}
	}

	e, _ := New(Config{Venues: venues})
	e.Swap(rs)
	in = sample
	rep.Decision = e.Evaluate(&in)
	return rep, nil
}

func compileKind(r *rule) string {
	if r.never {
		return "never (constant false)"
	}
	inline, closure := 0, 0
	for _, t := range r.tests {
		if t.kind == tFn {
			closure++
		} else {
			inline++
		}
	}
	switch {
	case closure == 0:
		return "inline"
	case inline == 0:
		return "closure"
	}
	return "inline+closure"
}

func fieldString(in *Input, f fieldRef) string {
	p := unsafe.Add(unsafe.Pointer(in), f.off)
	switch f.k {
	case kFloat:
		return strconv.FormatFloat(*(*float64)(p), 'g', -1, 64)
	case kInt:
		return strconv.FormatInt(*(*int64)(p), 10)
	case kBool:
		return strconv.FormatBool(*(*bool)(p))
	case kString:
		return strconv.Quote(*(*string)(p))
	}
	return "?"
}

// String formats a limit's value as it would be written in YAML.
func (l limitSpec) String() string {
	switch l.kind {
	case limInt:
		return strconv.FormatInt(l.i, 10)
	case limFloat:
		return strconv.FormatFloat(l.f, 'g', -1, 64)
	case limBool:
		return strconv.FormatBool(l.b)
	}
	return strconv.Quote(l.s)
}

// WriteTo prints the report for a terminal.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "rules %s: %d rules, OK\n", r.Version.Name, len(r.Rules))
	fmt.Fprintf(&b, "version %s (source %s)\n", r.Version.Hash, r.Version.Source)
	if len(r.Limits) > 0 {
		b.WriteString("\nlimits:\n")
		for _, l := range r.Limits {
			fmt.Fprintf(&b, "  %-28s %s\n", l.Name, l.Value)
		}
	}
	b.WriteString("\nrules on the sample (each on its own, in order):\n")
	for i, rr := range r.Rules {
		state := "pass"
		switch {
		case rr.Err != nil:
			state = "ERROR (rejects)"
		case rr.Fired && rr.Action == "clip":
			state = fmt.Sprintf("FIRES: clip to %g", rr.ClipQty)
		case rr.Fired:
			state = "FIRES: " + rr.Action
		}
		fmt.Fprintf(&b, "%3d. %-24s %-6s line %-4d %-22s %s\n", i+1, rr.Name, rr.Action, rr.Line, rr.Compile, state)
		if rr.Fired || rr.Err != nil {
			fmt.Fprintf(&b, "       when: %s\n", strings.Join(strings.Fields(rr.When), " "))
			if rr.Err != nil {
				fmt.Fprintf(&b, "       error: %v\n", rr.Err)
			}
			for _, v := range rr.Values {
				fmt.Fprintf(&b, "       %s = %s\n", v.Path, v.Value)
			}
		}
	}
	fmt.Fprintf(&b, "\ndecision on the sample: %s\n", r.Decision)
	if r.Decision.Verdict.Pass() {
		fmt.Fprintf(&b, "  qty %g\n", r.Decision.Qty)
	} else if m := r.Decision.Message(); m != "" {
		fmt.Fprintf(&b, "  %s\n", m)
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, wn := range r.Warnings {
			fmt.Fprintf(&b, "  %s\n", wn)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
