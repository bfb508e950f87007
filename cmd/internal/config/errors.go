package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// maxProblems caps the problems listed by one Error; the rest are counted.
// Every problem of any real file is listed (the operator fixes them in one
// pass); the cap only bounds what a pathological input (a large generated
// file, the wrong file) can print.
const maxProblems = 500

// Problem is one thing wrong with a config file: where it is and what is wrong.
type Problem struct {
	File string // the name passed to Parse, or the path passed to Load
	Line int    // 1-based line in File; 0 when unknown (a key that is absent, a Config built in code)
	Path string // key path such as "venues[1].kind"; "" for a problem with the file as a whole
	Msg  string // what is wrong, one line

	// late marks a problem that is often a consequence of another (a
	// required key missing because it was misspelled): it sorts after the
	// others so the first line names the cause.
	late bool
}

// String formats the problem as "file:line: path: message", leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(p.Msg))
	return b.String()
}

// Error is every problem found in one config file, in file order, one line
// each: the daemon and `arb config check` print them all and exit non-zero,
// so an operator fixes them in one pass. Load and Parse return an *Error for anything wrong with the
// content; inspect it with errors.As.
type Error struct {
	Problems []Problem
	Omitted  int // problems found beyond the cap, counted but not listed
}

// Error returns one line per problem, the first problem first.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	if e.Omitted > 0 {
		b.WriteString("\n... and ")
		b.WriteString(strconv.Itoa(e.Omitted))
		b.WriteString(" more problems")
	}
	return b.String()
}

// First returns the first problem as one line: what a caller prints when it
// wants exactly one line.
func (e *Error) First() string {
	if len(e.Problems) == 0 {
		return ""
	}
	return e.Problems[0].String()
}

// problems collects Problems during decoding or validation.
type problems struct {
	file  string
	lines map[string]int // key path -> line, from the decoder; nil for a Config built in code
	list  []Problem
}

// add records a problem at path, locating it at the line of path or of its
// nearest ancestor that the file contains.
func (ps *problems) add(path, msg string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: lineOf(ps.lines, path), Path: path, Msg: msg})
}

// addAt records a problem at an explicit line.
func (ps *problems) addAt(line int, path, msg string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Path: path, Msg: msg})
}

// addLate records a problem at line that sorts after all others.
func (ps *problems) addLate(line int, path, msg string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Path: path, Msg: msg, late: true})
}

// err returns nil without problems, else an *Error sorted in file order
// (late problems after the others, problems without a line last; ties keep
// the order they were found in).
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := slices.Clone(ps.list)
	slices.SortStableFunc(list, func(a, b Problem) int {
		if a.late != b.late {
			if a.late {
				return 1
			}
			return -1
		}
		la, lb := a.Line, b.Line
		if la == 0 {
			la = int(^uint(0) >> 1)
		}
		if lb == 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Compare(la, lb)
	})
	e := &Error{Problems: list}
	if len(list) > maxProblems {
		e.Problems = list[:maxProblems]
		e.Omitted = len(list) - maxProblems
	}
	return e
}

// lineOf returns the line of path, or of its nearest ancestor present in
// lines ("venues[1].symbols.BTC-USDT" -> "venues[1].symbols" -> "venues[1]" ->
// "venues"), or else the document's first line (lines[""]), or 0 for a
// Config built in code.
func lineOf(lines map[string]int, path string) int {
	for path != "" {
		if l, ok := lines[path]; ok {
			return l
		}
		path = parentPath(path)
	}
	return lines[""]
}

// related reports whether key paths a and b are the same key or one lies
// inside the other ("venues[1]" and "venues[1].kind"): a validation problem
// related to a decoding problem is its consequence (a value that could not
// be decoded kept its default) and is not reported twice.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if a == "" {
		return true
	}
	if !strings.HasPrefix(b, a) {
		return false
	}
	return len(b) == len(a) || b[len(a)] == '.' || b[len(a)] == '['
}

// parentPath strips the last component of a key path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// oneLine folds a message onto one line: the contract is one line per problem.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	f := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return strings.Join(f, "; ")
}
