# syntax=docker/dockerfile:1
# One image with every Cargowatch program (enrichment-worker, sensitivity-worker, fraud-worker,
# aggregation-worker, probe-worker, cargowatch):
#   docker build -t cargowatch:dev .
#   docker run --rm cargowatch:dev help
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 cargowatch:dev enrichment-worker
# The entrypoint (ops/container/entrypoint.sh) takes the program as its first argument. Settings
# come from CARGOWATCH_* / KAFKA_* variables or --config FILE (docs/configuration.md).
#
# Build stage: there is no official Swift image on Debian 13 "trixie" (swiftlang/swift-docker
# issue #489), and the Debian 12 / Ubuntu 24.04 ones carry librdkafka 2.0.2 / 2.3.0, older than
# the 2.8 the fleet needs. So the build stage compiles Debian trixie's librdkafka 2.8.0 source
# package into /usr/local exactly as ops/install-deps does on a developer machine, links against
# it, and the run stage (trixie) loads trixie's own librdkafka1 2.8.0 (same soname). The Swift
# runtime and Foundation are linked statically (--static-swift-stdlib), so the run stage needs no
# Swift toolchain. SWIFT_IMAGE is the toolchain the code is developed and tested with (6.3).
ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${SWIFT_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Build dependencies of librdkafka (as in ops/install-deps), then trixie's source package. Versions
# are whatever the signed Debian archive serves. apt verifies the source against the signed
# trixie index; dpkg-source has no keyring, so its own signature warning is noise (as in
# ops/install-deps).
WORKDIR /tmp/librdkafka
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential ca-certificates debian-archive-keyring dpkg-dev pkg-config \
      libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev libcurl4-openssl-dev \
 && printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      > /etc/apt/sources.list.d/trixie-src.sources \
 && apt-get update \
 && apt-get source -qq --download-only librdkafka/trixie \
 && dpkg-source -x ./*.dsc src \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/librdkafka/src
RUN ./configure --prefix=/usr/local \
 && make -j"$(nproc)" libs \
 && make -C src install \
 && ldconfig \
 && pkg-config --modversion rdkafka | tee /tmp/rdkafka-version \
 && dpkg --compare-versions "$(cat /tmp/rdkafka-version)" ge 2.8.0

WORKDIR /src
COPY . .
# One build per product (swift build takes a single --product); they share the build directory.
RUN --mount=type=cache,target=/src/.build \
    for product in enrichment-worker sensitivity-worker fraud-worker aggregation-worker probe-worker cargowatch; do \
      swift build -c release --static-swift-stdlib --product "$product" || exit 1; \
    done \
 && mkdir -p /out/bin \
 && bin="$(swift build -c release --show-bin-path)" \
 && install -m 0755 "$bin/enrichment-worker" "$bin/sensitivity-worker" "$bin/fraud-worker" "$bin/aggregation-worker" \
      "$bin/probe-worker" "$bin/cargowatch" /out/bin/

FROM ${RUNTIME_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# librdkafka1 is 2.8.0 in trixie; the check below fails the build if a rebuild ever gets an
# older one. curl serves the HEALTHCHECK. Versions are not pinned: Debian stable replaces
# package versions with security updates, and a pinned version would stop building.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 ca-certificates tzdata curl \
 && rm -rf /var/lib/apt/lists/* \
 && dpkg --compare-versions "$(dpkg-query -W -f='${Version}' librdkafka1)" ge 2.8.0 \
 && groupadd --system --gid 10001 cargowatch \
 && useradd --system --uid 10001 --gid cargowatch --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cargowatch

COPY --from=build /out/bin/ /usr/local/bin/
COPY --chmod=0755 ops/container/entrypoint.sh /usr/local/bin/cargowatch-entrypoint
COPY reference/ /opt/cargowatch/reference/
COPY policy/ /opt/cargowatch/policy/
# Every program must load (no missing shared library) and answer --help.
RUN ! ldd /usr/local/bin/enrichment-worker /usr/local/bin/sensitivity-worker /usr/local/bin/fraud-worker \
      /usr/local/bin/aggregation-worker /usr/local/bin/probe-worker /usr/local/bin/cargowatch | grep "not found" \
 && /usr/local/bin/cargowatch-entrypoint enrichment-worker --help >/dev/null \
 && /usr/local/bin/cargowatch-entrypoint sensitivity-worker --help >/dev/null \
 && /usr/local/bin/cargowatch-entrypoint fraud-worker --help >/dev/null \
 && /usr/local/bin/cargowatch-entrypoint aggregation-worker --help >/dev/null \
 && /usr/local/bin/cargowatch-entrypoint probe-worker --help >/dev/null \
 && /usr/local/bin/cargowatch-entrypoint cargowatch --help >/dev/null

LABEL org.opencontainers.image.title="cargowatch" \
      org.opencontainers.image.description="Cargowatch stream-processing workers and CLI (enrichment-worker, sensitivity-worker, fraud-worker, aggregation-worker, probe-worker, cargowatch)"
# Logs are JSON lines on stdout; the workers write no files (state lives in Kafka changelogs),
# so the root filesystem can be read-only (give /tmp a tmpfs/emptyDir).
WORKDIR /opt/cargowatch
USER 10001:10001
# /healthz /readyz /metrics: 8081 enrichment, 8082 sensitivity, 8083 fraud, 8084 aggregation,
# 8089 probe; set CARGOWATCH_HTTP_PORT for the health check when running another than enrichment.
EXPOSE 8081 8082 8083 8084
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${CARGOWATCH_HTTP_PORT:-8081}/healthz\" || exit 1"]
ENTRYPOINT ["/usr/local/bin/cargowatch-entrypoint"]
CMD ["enrichment-worker"]
