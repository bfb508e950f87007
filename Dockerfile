# Builds arbd and arb into a small image. The daemon's embedded default runs
# offline (simulated venues, embedded NATS); mount a config for real venues:
#   docker run -p 127.0.0.1:7420:7420 -v $PWD/my.yaml:/etc/arb/arbd.yaml arb --config /etc/arb/arbd.yaml
# (the config's http.listen must then be 0.0.0.0:7420 to be reachable from the host).
# Kubernetes manifests: configs/k8s/. cmd/internal/deploy's tests build the
# binaries with this file's go build line and check they are static and start.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/arbd ./cmd/arbd \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/arb ./cmd/arb \
 && mkdir -p /out/data

# nonroot owns /home/nonroot, where the default data_dir (./data) is created.
FROM gcr.io/distroless/static-debian12:nonroot
WORKDIR /home/nonroot
COPY --from=build /out/arbd /out/arb /usr/local/bin/
COPY configs/rules.yaml /home/nonroot/configs/rules.yaml
# The data directory exists in the image, owned by nonroot, so a named
# volume mounted there (compose.yaml) starts with that owner.
COPY --from=build --chown=65532:65532 /out/data /home/nonroot/data
USER nonroot:nonroot
EXPOSE 7420
# distroless has no shell and no curl: the daemon's binary probes itself
# (exit 0 on a 200 from /healthz). The URL is inside the container, so it
# holds for http.listen 127.0.0.1:7420 and 0.0.0.0:7420 alike; a config on
# another port overrides it (docker run --health-cmd). Kubernetes ignores
# HEALTHCHECK and uses the probes of configs/k8s/deployment.yaml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/arbd", "--healthcheck", "http://127.0.0.1:7420/healthz"]
ENTRYPOINT ["/usr/local/bin/arbd"]
