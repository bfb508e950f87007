// Package deploy holds the tests of the deployment files at the top of the
// repository: the Dockerfile and the Kubernetes manifests in configs/k8s.
// It has no code of its own; it lives under cmd/ because the tests read
// those files with the daemon's own config loader (cmd/internal/config),
// which only cmd/ may import.
//
// No container engine runs where the tests run, so they check what can be
// checked without one:
//
//   - TestDockerfileBuild builds arbd and arb with the Dockerfile's own
//     go build lines (flags and environment parsed from the file, not
//     copied), checks with debug/elf that the binaries are static (no
//     program interpreter, no shared library needed: they run on distroless
//     static, which has no libc), and runs arbd as the image would — as a
//     plain process as the image's non-root user, in a directory laid out
//     like the image's /home/nonroot where it may write only data/ — until
//     /healthz answers, probes it with the image's HEALTHCHECK command,
//     stops it with SIGTERM and expects a clean exit with nothing written
//     outside data/.
//   - TestDockerfileImage checks the final stage: distroless static, a
//     non-root USER, a HEALTHCHECK in exec form running arbd --healthcheck
//     on /healthz, arbd as the ENTRYPOINT.
//   - TestKubernetesManifests decodes every file of configs/k8s strictly
//     into the Kubernetes API types (an unknown or duplicated field fails,
//     as kubectl apply --validate=strict would), and checks the invariants
//     an operator relies on: one replica that is never doubled during an
//     update, probes on the paths and port arbd serves per the ConfigMap's
//     config, a non-root read-only container, the data volume where the
//     config puts data_dir, and a ConfigMap that arbd's validation accepts.
package deploy
