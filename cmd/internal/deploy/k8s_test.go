package deploy

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"arb/cmd/internal/config"
	"arb/cmd/internal/wire"
)

// k8sDir holds the Kubernetes manifests, one object per file.
var k8sDir = filepath.Join(repoRoot, "configs", "k8s")

// manifests are the decoded objects of configs/k8s.
type manifests struct {
	deploy    *appsv1.Deployment
	service   *corev1.Service
	configMap *corev1.ConfigMap
	pvc       *corev1.PersistentVolumeClaim
}

// loadManifests decodes every file of configs/k8s strictly into its
// Kubernetes API type: a field the type does not have, or one given
// twice, is an error (sigs.k8s.io/yaml.UnmarshalStrict), as are a kind
// the test does not know and a second object of a kind.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", k8sDir, err)
	}
	var m manifests
	for _, f := range files {
		if ext := filepath.Ext(f); ext != ".yaml" {
			t.Errorf("%s: not a .yaml manifest", f)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains("\n"+string(b), "\n---") {
			t.Errorf("%s: one object per file", f)
		}
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			obj = setOnce(t, f, &m.deploy)
		case "v1 Service":
			obj = setOnce(t, f, &m.service)
		case "v1 ConfigMap":
			obj = setOnce(t, f, &m.configMap)
		case "v1 PersistentVolumeClaim":
			obj = setOnce(t, f, &m.pvc)
		default:
			t.Fatalf("%s: unexpected %s %s", f, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(b, obj); err != nil {
			t.Fatalf("%s: strict decoding: %v", f, err)
		}
	}
	if m.deploy == nil || m.service == nil || m.configMap == nil || m.pvc == nil {
		t.Fatalf("configs/k8s lacks an object: deployment %v, service %v, configmap %v, pvc %v",
			m.deploy != nil, m.service != nil, m.configMap != nil, m.pvc != nil)
	}
	return m
}

// setOnce allocates *p for decoding, failing on a second object of a kind.
func setOnce[T any](t *testing.T, file string, p **T) *T {
	t.Helper()
	if *p != nil {
		t.Fatalf("%s: a second object of its kind", file)
	}
	*p = new(T)
	return *p
}

// TestStrictDecodingRejects: the decoder used on the manifests refuses
// what kubectl's strict validation refuses, so the checks below are not
// reading a half-decoded object.
func TestStrictDecodingRejects(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(k8sDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"misspelled field": {"readinessProbe:", "readynessProbe:"},
		"duplicate field":  {"\n  replicas: 1\n", "\n  replicas: 1\n  replicas: 2\n"},
		"wrong type":       {"\n  replicas: 1\n", "\n  replicas: one\n"},
	} {
		s := string(b)
		if !strings.Contains(s, edit[0]) {
			t.Fatalf("deployment.yaml has no %q", edit[0])
		}
		if err := yaml.UnmarshalStrict([]byte(strings.Replace(s, edit[0], edit[1], 1)), &appsv1.Deployment{}); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// TestKubernetesManifests checks the invariants of configs/k8s.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	d := m.deploy

	// Never two engines trading the same accounts: one replica, and an
	// update that stops the old pod before starting the new one.
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v; want exactly 1", d.Spec.Replicas)
	}
	switch s := d.Spec.Strategy; s.Type {
	case appsv1.RecreateDeploymentStrategyType:
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxSurge.String() != "0" {
			t.Errorf("RollingUpdate without maxSurge 0: a second engine would start beside the first")
		}
		if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "1" {
			t.Errorf("RollingUpdate with maxSurge 0 needs maxUnavailable 1 to make progress")
		}
	default:
		t.Errorf("strategy %q (the default is a RollingUpdate with a surge); want Recreate", s.Type)
	}
	sel := d.Spec.Selector
	pod := d.Spec.Template
	if sel == nil || len(sel.MatchLabels) == 0 {
		t.Fatal("Deployment without a selector")
	}
	for k, v := range sel.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels %v", k, v, pod.Labels)
		}
	}

	// Non-root, no privilege, read-only root.
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Error("pod securityContext: want runAsNonRoot true and a non-zero runAsUser")
	}
	if ps == nil || ps.FSGroup == nil || ps.RunAsUser == nil || *ps.FSGroup != *ps.RunAsUser {
		t.Error("pod securityContext: want fsGroup = runAsUser, so the data volume is writable")
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers; want arbd alone", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if ref := c.Image; imageRepo(ref) != "arb" {
		t.Errorf("image %q; want the image the Dockerfile builds (repository arb)", ref)
	}
	if len(c.Command) != 0 {
		t.Errorf("command %q overrides the image's ENTRYPOINT (arbd)", c.Command)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container: want readOnlyRootFilesystem true")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container: want allowPrivilegeEscalation false")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("container: want capabilities drop ALL")
	}
	if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Error("container runs as root")
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
		t.Errorf("resources: want cpu and memory requests and a memory limit, have %v / %v", req, lim)
	}
	if lim.Memory().Cmp(*req.Memory()) < 0 {
		t.Errorf("memory limit %v below the request %v", lim.Memory(), req.Memory())
	}

	// The config the pod runs: the ConfigMap's arbd.yaml, mounted where
	// the args point, accepted by arbd's own validation.
	cfgPath := argAfter(c.Args, "--config")
	if cfgPath == "" {
		t.Fatalf("args %q: no --config", c.Args)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	cfgMount, cfgVol := findMount(c.VolumeMounts, vols, filepath.Dir(cfgPath))
	if cfgVol.ConfigMap == nil || cfgVol.ConfigMap.Name != m.configMap.Name {
		t.Fatalf("%s is not mounted from ConfigMap %s", filepath.Dir(cfgPath), m.configMap.Name)
	}
	if !cfgMount.ReadOnly {
		t.Error("the config volume is mounted writable")
	}
	cfg := loadConfigMap(t, m.configMap, filepath.Base(cfgPath))

	// Probes: /healthz for liveness, /readyz for readiness, on the port
	// the config's http.listen serves, on all interfaces (the kubelet
	// probes the pod IP).
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("http.listen %s: the kubelet and the Service reach the pod IP, not its loopback", cfg.HTTP.Listen)
	}
	var httpPort *corev1.ContainerPort
	for i, p := range c.Ports {
		if strconv.Itoa(int(p.ContainerPort)) == port {
			httpPort = &c.Ports[i]
		}
	}
	if httpPort == nil {
		t.Fatalf("no containerPort %s (http.listen %s)", port, cfg.HTTP.Listen)
	}
	probe := func(what string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", what, path)
			return
		}
		if p.HTTPGet.Path != path {
			t.Errorf("%s probes %s; want %s", what, p.HTTPGet.Path, path)
		}
		if !portIs(p.HTTPGet.Port, *httpPort) {
			t.Errorf("%s probes port %s; arbd serves %s", what, p.HTTPGet.Port.String(), port)
		}
		if p.HTTPGet.Scheme != "" && p.HTTPGet.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s: scheme %s; arbd serves HTTP", what, p.HTTPGet.Scheme)
		}
	}
	probe("livenessProbe", c.LivenessProbe, "/healthz")
	probe("readinessProbe", c.ReadinessProbe, "/readyz")
	if c.StartupProbe != nil {
		probe("startupProbe", c.StartupProbe, "/healthz")
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 15 {
		t.Errorf("terminationGracePeriodSeconds %v: arbd may take 10 s to shut down", g)
	}

	// data_dir on the claimed volume, one pod at a time.
	_, dataVol := findMount(c.VolumeMounts, vols, cfg.DataDir)
	if dataVol.PersistentVolumeClaim == nil || dataVol.PersistentVolumeClaim.ClaimName != m.pvc.Name {
		t.Errorf("data_dir %s is not on PersistentVolumeClaim %s: a halt would not survive the pod", cfg.DataDir, m.pvc.Name)
	}
	if !slices.Contains(m.pvc.Spec.AccessModes, corev1.ReadWriteOncePod) {
		t.Errorf("PVC access modes %v; want ReadWriteOncePod (one engine on the state)", m.pvc.Spec.AccessModes)
	}
	for _, vm := range c.VolumeMounts {
		if v := vols[vm.Name]; v.Name == "" {
			t.Errorf("volumeMount %s has no volume", vm.Name)
		}
	}

	// Secrets reach the pod from a Secret, never from the ConfigMap (which
	// arbd's validation already refuses to hold one).
	for _, e := range c.Env {
		if e.Value != "" && secretName(e.Name) {
			t.Errorf("env %s is written in the manifest; take it from a Secret", e.Name)
		}
	}

	// The Service sends to the pods of the Deployment, on arbd's port.
	s := m.service
	if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type %s; arbd serves plain HTTP with admin routes: ClusterIP only", s.Spec.Type)
	}
	for k, v := range s.Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("Service selector %s=%s matches no pod of the Deployment", k, v)
		}
	}
	if len(s.Spec.Selector) == 0 || len(s.Spec.Ports) == 0 {
		t.Fatal("Service without a selector or a port")
	}
	for _, sp := range s.Spec.Ports {
		if !portIs(sp.TargetPort, *httpPort) {
			t.Errorf("Service port %d targets %s; arbd serves %s", sp.Port, sp.TargetPort.String(), port)
		}
	}
	if !slices.Contains(cfg.HTTP.AllowedHosts, s.Name) {
		t.Errorf("http.allowed_hosts %v lacks the Service name %s: requests through it would be refused", cfg.HTTP.AllowedHosts, s.Name)
	}
}

// loadConfigMap writes the ConfigMap's files into a directory, as the
// kubelet mounts them, and loads key with arbd's config loader and checks
// (the rules file included). It also checks that the config is the
// embedded default apart from data_dir, http and rules_file, and the rules
// are configs/rules.yaml, so the shipped manifests do not drift from what
// the tests of the daemon run.
func loadConfigMap(t *testing.T, cm *corev1.ConfigMap, key string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	for k, v := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := cm.Data[key]; !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Name, key)
	}
	cfg, err := config.Load(filepath.Join(dir, key), wire.Known())
	if err != nil {
		t.Fatalf("the ConfigMap's %s does not pass arbd's validation:\n%v", key, err)
	}
	if !strings.HasPrefix(cfg.Risk.RulesFile, dir+string(filepath.Separator)) {
		t.Errorf("rules_file %s is not one of the ConfigMap's files", cfg.Risk.RulesFile)
	}
	rules, _ := os.ReadFile(filepath.Join(repoRoot, "configs", "rules.yaml"))
	if got := cm.Data[filepath.Base(cfg.Risk.RulesFile)]; got != string(rules) {
		t.Errorf("the ConfigMap's %s differs from configs/rules.yaml", filepath.Base(cfg.Risk.RulesFile))
	}
	// Compared as YAML trees: the same settings, whatever the comments.
	var def, got map[string]any
	if err := yaml.Unmarshal(config.Default(), &def); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(cm.Data[key]), &got); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]any{def, got} {
		delete(m, "data_dir")
		delete(m, "http")
		if r, ok := m["risk"].(map[string]any); ok {
			delete(r, "rules_file")
		}
	}
	for k := range def {
		if !reflect.DeepEqual(def[k], got[k]) {
			t.Errorf("the ConfigMap's %s differs from the embedded default in %s (only data_dir, http and risk.rules_file may)", key, k)
		}
	}
	for k := range got {
		if _, ok := def[k]; !ok {
			t.Errorf("the ConfigMap's %s sets %s, which the embedded default does not", key, k)
		}
	}
	return cfg
}

// findMount returns the mount (and its volume) holding path: the longest
// mountPath that is path or one of its parents.
func findMount(mounts []corev1.VolumeMount, vols map[string]corev1.Volume, path string) (corev1.VolumeMount, corev1.Volume) {
	var best corev1.VolumeMount
	for _, vm := range mounts {
		mp := strings.TrimSuffix(vm.MountPath, "/")
		if (path == mp || strings.HasPrefix(path, mp+"/")) && len(mp) > len(best.MountPath) {
			best = vm
		}
	}
	return best, vols[best.Name]
}

// portIs reports whether a probe's or Service's port names p, by name or
// number.
func portIs(v intstr.IntOrString, p corev1.ContainerPort) bool {
	if v.Type == intstr.String {
		return p.Name != "" && v.StrVal == p.Name
	}
	return v.IntVal == p.ContainerPort
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// imageRepo returns the last path element of an image reference without
// tag or digest: "registry.example/team/arb:1.2" → "arb".
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	last := ref[strings.LastIndex(ref, "/")+1:]
	name, _, _ := strings.Cut(last, ":")
	return name
}

// secretName reports whether an environment variable's name says it holds
// a secret.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "SECRET", "PASSWORD", "PASSPHRASE", "KEY", "DSN"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
