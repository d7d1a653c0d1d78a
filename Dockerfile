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
#   DOCKER_CLI_IMAGE  an image with the docker CLI at /usr/local/bin/docker (the official one)
#   KUBECTL_IMAGE     an image with kubectl at /bin/kubectl; by default the stage below that
#                     downloads the release binary and checks its SHA-256 (another version:
#                     registry.k8s.io/kubectl:vX.Y.Z, pinned by digest)
#   HOOKRUN_FROM      "build" compiles hookrun here; "prebuilt" takes target/image/hookrun
#                     from the build context (a binary built beforehand on a bookworm host)
#
# Everything fetched is pinned: the images by digest (the tag stays for readers; the digest
# decides), kubectl by the SHA-256 of the binary. Where each value was read:
#   debian:bookworm-slim  = debian:bookworm-20260918-slim, the multi-platform index in
#     docker-library/repo-info repos/debian/remote/bookworm-20260918-slim.md
#   rust:1.88-slim-bookworm  a build of that tag pinned by this digest in several unrelated
#     public repositories (the copies of repo-info found record only two earlier builds)
#   docker:29.7.2-cli  the multi-platform index in docker-library/repo-info
#     repos/docker/remote/29.7.2-cli.md (an image, not the static CLI archive: no checksum of
#     that archive was found published; the official image's own build fetches it unchecked)
#   kubectl v1.36.4  the SHA-256 that dl.k8s.io publishes beside each binary
#     (…/bin/linux/ARCH/kubectl.sha256), as recorded by many unrelated public repositories
# To move to newer versions, read the new digests with `docker buildx imagetools inspect
# NAME:TAG` and the kubectl checksums from dl.k8s.io, and change them here together.
ARG DEBIAN_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
ARG RUST_IMAGE=rust:1.88-slim-bookworm@sha256:38bc5a86d998772d4aec2348656ed21438d20fcdce2795b56ca434cf21430d89
ARG DOCKER_CLI_IMAGE=docker.io/library/docker:29.7.2-cli@sha256:3f4743208d2338c934d7b8bcfbe1bb54c0b2355c510ad5e0f31c0c4a54bd704e
ARG KUBECTL_IMAGE=kubectl-release
ARG HOOKRUN_FROM=build

# build.rs and perf/symbol-order.txt are what a release build links with (README "Idle memory"):
# the linker's symbol order and packed relocations (DT_RELR). build.rs applies them only when
# rustc links with its own LLD, which Rust 1.90 and newer do; the Rust 1.88 of RUST_IMAGE links
# with the system linker, so this stage's binary gets neither: in the bench's idle row such a
# binary kept 11.9 MiB resident against 5.3 for one built on a bookworm host with Rust 1.90 or
# newer and taken with HOOKRUN_FROM=prebuilt. Moving RUST_IMAGE is a separate decision (its
# digest must be read from published sources).
#
# The binary is built as every release is, by scripts/build-release: profile-guided, trained by
# scripts/lib/pgo_train.py (python3) with the llvm-profdata of rustc's LLVM (for Rust 1.88,
# LLVM 20: rustup's llvm-tools, which the script adds). If either cannot be had, the build log
# says so in a WARNING and the binary is built as `cargo build --release` builds it.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs ./
COPY perf/symbol-order.txt ./perf/
COPY scripts/build-release ./scripts/
COPY scripts/lib/pgo_train.py scripts/lib/pgo-rustc scripts/lib/perfkit.py ./scripts/lib/
COPY src ./src
RUN scripts/build-release && install -m 0755 target/release/hookrun /hookrun

FROM ${DEBIAN_IMAGE} AS prebuilt
COPY target/image/hookrun /hookrun

# kubectl v1.36.4 from Kubernetes' release downloads, refused unless its SHA-256 is the
# published one (built only when KUBECTL_IMAGE names this stage).
FROM ${DEBIAN_IMAGE} AS kubectl-release
ARG TARGETARCH
ADD https://dl.k8s.io/release/v1.36.4/bin/linux/${TARGETARCH}/kubectl /bin/kubectl
RUN case "${TARGETARCH}" in \
      amd64) sum=8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a ;; \
      arm64) sum=0ecf44450ee6063bf19dd166a103ee6df4a9034455c2abce626e6eea657d73fb ;; \
      *) echo "no published kubectl checksum recorded for ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
    && echo "${sum}  /bin/kubectl" | sha256sum -c - \
    && chmod 0755 /bin/kubectl

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
