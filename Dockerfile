# Builds arbd and arb into a small image. The daemon's embedded default runs
# offline (simulated venues, embedded NATS); mount a config for real venues:
#   docker run -p 127.0.0.1:7420:7420 -v $PWD/my.yaml:/etc/arb/arbd.yaml arb --config /etc/arb/arbd.yaml
# (the config's http.listen must then be 0.0.0.0:7420 to be reachable from the host).
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
ENTRYPOINT ["/usr/local/bin/arbd"]
