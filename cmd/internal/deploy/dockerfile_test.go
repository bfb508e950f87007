package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"arb/cmd/internal/config"
)

// repoRoot is the module root, where the Dockerfile's build context starts.
const repoRoot = "../../.."

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	line int    // first line in the file
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, lines ending in a backslash joined with the next.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continuation is dropped too, as Docker does
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continuation (line %d)", start)
	}
	return out
}

// stages splits the instructions at each FROM; the last is the image.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// shellWords splits a shell command the way sh would for the simple forms
// a Dockerfile's RUN uses: words separated by blanks, single and double
// quotes, "&&" as its own word. Anything fancier ($, backticks, ;, |) is
// refused, so the test never runs something other than what it read.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '$' || c == '`' || c == ';' || c == '|' && !strings.HasPrefix(s[i:], "||") || c == '\\':
			return nil, fmt.Errorf("unsupported shell syntax %q in %q", c, s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// goBuild is one `go build` of the Dockerfile.
type goBuild struct {
	env  []string // VAR=value words before "go"
	args []string // after "go build", -o and its value removed
	out  string   // the -o path in the image's build stage
	pkg  string
}

// goBuilds returns the Dockerfile's go build commands, from its RUN lines.
func goBuilds(t *testing.T, ins []instruction) []goBuild {
	t.Helper()
	var out []goBuild
	for _, in := range ins {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		words, err := shellWords(in.args)
		if err != nil {
			t.Fatalf("Dockerfile:%d: %v", in.line, err)
		}
		var cmds [][]string
		cur := []string{}
		for _, w := range words {
			if w == "&&" {
				cmds, cur = append(cmds, cur), []string{}
				continue
			}
			cur = append(cur, w)
		}
		cmds = append(cmds, cur)
		for _, c := range cmds {
			var b goBuild
			i := 0
			for ; i < len(c) && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(c[i]); i++ {
				b.env = append(b.env, c[i])
			}
			if len(c) < i+2 || c[i] != "go" || c[i+1] != "build" {
				continue
			}
			rest := c[i+2:]
			for j := 0; j < len(rest); j++ {
				switch {
				case rest[j] == "-o" && j+1 < len(rest):
					b.out = rest[j+1]
					j++
				case strings.HasPrefix(rest[j], "-o="):
					b.out = strings.TrimPrefix(rest[j], "-o=")
				default:
					b.args = append(b.args, rest[j])
				}
			}
			if len(b.args) == 0 || strings.HasPrefix(b.args[len(b.args)-1], "-") || b.out == "" {
				t.Fatalf("Dockerfile:%d: go build without -o or a package: %q", in.line, c)
			}
			b.pkg = b.args[len(b.args)-1]
			out = append(out, b)
		}
	}
	return out
}

// TestDockerfileImage checks the image stage: what runs, as whom, and how
// its health is probed.
func TestDockerfileImage(t *testing.T) {
	st := stages(parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile")))
	if len(st) < 2 {
		t.Fatalf("%d stages; want a build stage and a small final one", len(st))
	}
	build, final := st[0], st[len(st)-1]

	// The build stage's Go is the go.mod's (a newer language version would
	// not build, an older toolchain would silently differ from CI's).
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(string(m[1])) + `\b`).MatchString(build[0].args) {
		t.Errorf("build stage FROM %s; want golang:%s (go.mod)", build[0].args, m[1])
	}
	if !strings.HasPrefix(final[0].args, "gcr.io/distroless/static") || !strings.Contains(final[0].args, "nonroot") {
		t.Errorf("final stage FROM %s; want distroless static nonroot (no libc, no shell)", final[0].args)
	}
	var user, entry, health string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "HEALTHCHECK":
			health = in.args
		case "RUN":
			t.Errorf("Dockerfile:%d: RUN in the final stage: distroless has no shell", in.line)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u != "nonroot" && u != "65532" {
		t.Errorf("USER %q; want nonroot", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entry), &ep); err != nil || len(ep) == 0 || filepath.Base(ep[0]) != "arbd" {
		t.Errorf("ENTRYPOINT %s; want the exec form running arbd", entry)
	}
	hc := healthcheckCmd(t, health)
	if filepath.Base(hc[0]) != "arbd" || len(hc) != 3 || hc[1] != "--healthcheck" {
		t.Fatalf("HEALTHCHECK runs %q; want arbd --healthcheck URL", hc)
	}
	u, err := url.Parse(hc[2])
	if err != nil || u.Path != "/healthz" || u.Hostname() != "127.0.0.1" {
		t.Errorf("HEALTHCHECK URL %s; want http://127.0.0.1:PORT/healthz", hc[2])
	}
	// The port is the one the image serves (EXPOSE) and the embedded
	// default listens on.
	def, err := config.Parse(config.DefaultName, config.Default(), config.Known{})
	if err == nil {
		if _, port, _ := net.SplitHostPort(def.HTTP.Listen); port != u.Port() {
			t.Errorf("HEALTHCHECK probes port %s; the embedded default listens on %s", u.Port(), def.HTTP.Listen)
		}
	}
	for _, in := range final {
		if in.cmd == "EXPOSE" && in.args != u.Port() {
			t.Errorf("EXPOSE %s; the HEALTHCHECK probes %s", in.args, u.Port())
		}
	}
}

// healthcheckCmd returns the exec-form command of a HEALTHCHECK's
// arguments ("--interval=... CMD [...]").
func healthcheckCmd(t *testing.T, args string) []string {
	t.Helper()
	_, cmd, ok := strings.Cut(args, "CMD ")
	var hc []string
	if !ok || json.Unmarshal([]byte(strings.TrimSpace(cmd)), &hc) != nil || len(hc) == 0 {
		t.Fatalf("HEALTHCHECK %q is not in exec form (CMD [\"...\"]): distroless has no shell", args)
	}
	return hc
}

// TestDockerfileBuild builds the binaries exactly as the Dockerfile does,
// checks they are static, and runs arbd the way the image does.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; debug/elf checks a linux binary")
	}
	ins := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	builds := goBuilds(t, ins)
	bins := map[string]string{}
	// Not t.TempDir (0700): the image's user must reach the binaries.
	tmp, err := os.MkdirTemp("", "arb-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o755)
	for _, b := range builds {
		if !slices.Contains(b.env, "CGO_ENABLED=0") {
			t.Errorf("%s is built without CGO_ENABLED=0: it would need the libc distroless lacks", b.pkg)
		}
		for _, want := range []string{"-trimpath", "-ldflags"} {
			if !slicesContainPrefix(b.args, want) {
				t.Errorf("%s is built without %s", b.pkg, want)
			}
		}
		out := filepath.Join(tmp, filepath.Base(b.out))
		args := append([]string{"build"}, b.args[:len(b.args)-1]...)
		args = append(args, "-o", out, b.pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), b.env...)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, o)
		}
		t.Logf("built %s: %s go %s", filepath.Base(b.out), strings.Join(b.env, " "), strings.Join(args, " "))
		checkStatic(t, out)
		bins[filepath.Base(b.out)] = out
	}
	for _, want := range []string{"arbd", "arb"} {
		if bins[want] == "" {
			t.Fatalf("the Dockerfile builds no %s (builds: %v)", want, bins)
		}
	}
	if out, err := exec.Command(bins["arb"], "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "arb ") {
		t.Errorf("arb version: %v %s", err, out)
	}
	runAsImage(t, tmp, bins["arbd"], ins)
}

func slicesContainPrefix(s []string, p string) bool {
	for _, x := range s {
		if x == p || strings.HasPrefix(x, p+"=") {
			return true
		}
	}
	return false
}

// checkStatic fails unless path is a static executable: no PT_INTERP (no
// dynamic loader to run it) and no DT_NEEDED (no shared library). Stripped
// (-s) and trimmed (-trimpath) it must be too: that shows the Dockerfile's
// flags, not the defaults, made it.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: it is dynamically linked", filepath.Base(path))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && err != elf.ErrNoSymbols {
		t.Errorf("%s: %v", path, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", filepath.Base(path), libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s has a symbol table: not built with -ldflags=-s", filepath.Base(path))
	}
	abs, _ := filepath.Abs(repoRoot)
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, []byte(abs+"/")) {
		t.Errorf("%s holds the build directory %s: not built with -trimpath", filepath.Base(path), abs)
	}
}

// nonroot is the uid and gid of distroless's nonroot user, the image's USER.
const nonroot = 65532

// runAsImage runs arbd in a directory laid out like the image's
// /home/nonroot (WORKDIR: configs/rules.yaml and data/ beside it), with
// the image's bare environment, on the embedded default config (only the
// port changed, so parallel test runs do not collide), until /healthz
// answers; then it probes it with the image's HEALTHCHECK command, stops
// it with SIGTERM, as docker stop and Kubernetes do, and expects exit 0.
// As in the image (and under the Deployment's readOnlyRootFilesystem), arbd
// may write only in data/: run as root, the test runs it as nonroot, who
// owns data/ alone; otherwise the rest of the directory is made read-only.
func runAsImage(t *testing.T, tmp, arbd string, ins []instruction) {
	home := filepath.Join(tmp, "home", "nonroot")
	if err := os.MkdirAll(filepath.Join(home, "configs"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(tmp, "home"), 0o755)
	data := filepath.Join(home, "data")
	os.Mkdir(data, 0o755)
	rules, err := os.ReadFile(filepath.Join(repoRoot, "configs", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, "configs", "rules.yaml"), rules, 0o644)
	addr := freePort(t)
	def := string(config.Default())
	const listen = "http: {listen: 127.0.0.1:7420}"
	if !strings.Contains(def, listen) {
		t.Fatalf("the embedded default has no %q", listen)
	}
	cfg := filepath.Join(home, "arbd.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(def, listen, "http: {listen: "+addr+"}", 1)), 0o644)

	var logs syncBuffer
	cmd := exec.Command(arbd, "--config", cfg)
	cmd.Dir = home
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"} // distroless's
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if os.Geteuid() == 0 {
		if err := os.Chown(data, nonroot, nonroot); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonroot, Gid: nonroot}}
	} else {
		for _, d := range []string{filepath.Join(home, "configs"), home} {
			os.Chmod(d, 0o555)
		}
		t.Cleanup(func() { os.Chmod(home, 0o755); os.Chmod(filepath.Join(home, "configs"), 0o755) })
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("arbd output:\n%s", tail(logs.String(), 40))
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("arbd exited before serving /healthz: %v", waitErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("/healthz did not answer 200 within 90 s")
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, not waiting out a delay
	}

	// The image's HEALTHCHECK command, pointed at this port.
	var hcArgs []string
	for _, in := range ins {
		if in.cmd == "HEALTHCHECK" {
			hcArgs = healthcheckCmd(t, in.args)
		}
	}
	if len(hcArgs) != 3 {
		t.Fatalf("HEALTHCHECK %q", hcArgs)
	}
	u, _ := url.Parse(hcArgs[2])
	u.Host = addr
	probe := func() (int, string) {
		out, err := exec.Command(arbd, hcArgs[1], u.String()).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := probe(); code != 0 {
		t.Errorf("HEALTHCHECK on a serving arbd: exit %d %s", code, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("arbd did not exit within 30 s of SIGTERM")
	}
	if waitErr != nil {
		t.Errorf("exit after SIGTERM: %v", waitErr)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Error(`no "stopped" log line after SIGTERM`)
	}
	if code, out := probe(); code != 1 {
		t.Errorf("HEALTHCHECK on a stopped arbd: exit %d %s; want 1", code, out)
	}
	// Everything arbd wrote is under data/.
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != data && !strings.HasPrefix(path, data+"/") &&
			!slices.Contains([]string{home, filepath.Join(home, "configs"), filepath.Join(home, "configs", "rules.yaml"), cfg}, path) {
			t.Errorf("arbd wrote %s, outside data/", path)
		}
		return nil
	})
	if entries, _ := os.ReadDir(data); len(entries) == 0 {
		t.Error("arbd wrote nothing in data/ (the JetStream store and the lock belong there)")
	}
	// The log is JSON lines from the first line on: what a log collector
	// reading the container's output parses.
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("not a JSON log line: %q", sc.Text())
			break
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output for concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
