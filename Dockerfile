# syntax=docker/dockerfile:1
#
# transferwatch container image: a static binary on distroless, running as nonroot (65532), for
# every platform Go compiles to, from one builder:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse --short HEAD) -t transferwatch .
#
# The build stage runs on the builder's own platform ($BUILDPLATFORM) and cross-compiles for
# each target platform (TARGETOS, TARGETARCH, TARGETVARIANT): no emulation, one module
# download shared by every platform. The binary embeds the tz database (time/tzdata), so
# Asia/Shanghai works on the bare image.
#
# Base images. GO_IMAGE names the exact Go release of go.mod's go line (internal/deploycheck
# tests that they agree); GOTOOLCHAIN=local keeps the build on it.
#
# TODO(digests): pin both by digest, GO_IMAGE=golang:1.26.8-bookworm@sha256:… and
# BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:…. No registry could be reached
# where this file was written, so no digest is given here rather than an unverified one. To pin
# (and later to refresh) them, take the "Digest:" line of
#
#   docker buildx imagetools inspect golang:1.26.8-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
#
# which is the digest of the multi-platform index (MediaType: a manifest list or an OCI image
# index), never the digest of one platform's manifest listed below it: the index digest is what
# lets --platform pick each target's image. Pass them with --build-arg GO_IMAGE=… and
# --build-arg BASE_IMAGE=… until they are written here.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
# Dependencies first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG VERSION=dev
ARG REVISION=unknown
# GOARM is the variant of linux/arm/v6 and v7 (v7 → 7); empty elsewhere, as Go wants.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} GOARM=${TARGETVARIANT#v} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/transferwatch/transferwatch/internal/buildinfo.Version=${VERSION} -X github.com/transferwatch/transferwatch/internal/buildinfo.Revision=${REVISION}" \
      -o /out/transferwatch ./cmd/transferwatch

FROM ${BASE_IMAGE}
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
