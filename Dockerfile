# hookrun's container image: hookrun, the three deploy scripts and what they call (a current
# docker CLI without a daemon, a current kubectl, curl, jq), run as a non-root user (uid and
# gid 10001) under tini, which reaps orphaned grandchildren of hook commands.
#
#   docker build -t registry.example.com/ops/hookrun:0.1.0 .      # BuildKit (Docker 23+)
#
# Build arguments (the defaults are what a release uses; the tests, which cannot pull, pass
# local stand-ins):
#   DEBIAN_IMAGE      the base of the final stage
#   RUST_IMAGE        the toolchain that builds hookrun (Rust 1.88 or newer)
#   DOCKER_CLI_IMAGE  the official docker CLI image; /usr/local/bin/docker is copied from it
#   KUBECTL_IMAGE     the official kubectl image; /bin/kubectl is copied from it
#   HOOKRUN_FROM      "build" compiles hookrun here; "prebuilt" takes target/image/hookrun
#                     from the build context (a binary built beforehand on a bookworm host)
# Pin DOCKER_CLI_IMAGE and KUBECTL_IMAGE by digest for reproducible releases
# (NAME:TAG@sha256:…, see README "The container image").
ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG RUST_IMAGE=rust:1.88-slim-bookworm
ARG DOCKER_CLI_IMAGE=docker.io/library/docker:29.7.2-cli
ARG KUBECTL_IMAGE=registry.k8s.io/kubectl:v1.36.4
ARG HOOKRUN_FROM=build

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked && install -m 0755 target/release/hookrun /hookrun

FROM ${DEBIAN_IMAGE} AS prebuilt
COPY target/image/hookrun /hookrun

FROM ${HOOKRUN_FROM} AS hookrun
FROM ${DOCKER_CLI_IMAGE} AS docker-cli
FROM ${KUBECTL_IMAGE} AS kubectl

# Everything the image adds to Debian, gathered here and copied as one layer.
FROM scratch AS files
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=hookrun /hookrun /usr/local/bin/hookrun
COPY scripts/swarm-update.sh scripts/kubectl-set-image.sh scripts/container-swap.sh /usr/local/bin/
COPY contrib/docker/entrypoint.sh /usr/local/bin/hookrun-entrypoint
# Rancher's webhook image (registry.cn-shenzhen.aliyuncs.com/rancher/webhook) calls /webhooks.sh.
COPY contrib/docker/webhooks.sh /webhooks.sh
COPY hooks.example.json /usr/share/doc/hookrun/hooks.example.json

FROM ${DEBIAN_IMAGE}
# curl and jq are what the deploy scripts call besides docker and kubectl; no dockerd, no
# containerd: the engine is the host's, reached through its socket.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates curl jq \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && groupadd --gid 10001 hookrun \
    && useradd --uid 10001 --gid 10001 --no-create-home --no-log-init --home-dir /nonexistent \
        --shell /usr/sbin/nologin hookrun \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/hookrun \
    && install -d -m 0755 /etc/hookrun/hooks
COPY --from=files / /
USER 10001:10001
# Job and deploy history (SQLite); mount a volume here to keep it across containers.
VOLUME ["/var/lib/hookrun"]
EXPOSE 9000
# Alive as long as hookrun answers on its port (-port or HOOKRUN_PORT, 9000 by default).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${HOOKRUN_PORT:-9000}/healthz" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/hookrun-entrypoint"]
