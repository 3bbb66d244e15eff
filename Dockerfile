# syntax=docker/dockerfile:1
#
# transferwatch container image: a static binary on distroless, running as nonroot (65532).
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg REVISION=$(git rev-parse --short HEAD) -t transferwatch .
#
# The binary embeds the tz database (time/tzdata), so Asia/Shanghai works on the bare image.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Dependencies first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X github.com/transferwatch/transferwatch/internal/buildinfo.Version=${VERSION} -X github.com/transferwatch/transferwatch/internal/buildinfo.Revision=${REVISION}" \
      -o /out/transferwatch ./cmd/transferwatch

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="transferwatch" \
      org.opencontainers.image.description="Counts distinct data subjects in outbound personal-data transfers and decides allow/warn/block per legal entity" \
      org.opencontainers.image.source="https://github.com/transferwatch/transferwatch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/transferwatch /transferwatch
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/transferwatch"]
CMD ["run", "--config", "/etc/transferwatch/config.yaml"]
