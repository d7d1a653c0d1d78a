# hookrun container image: a static-ish Rust build, run as a non-root user under tini so
# orphaned grandchildren of hook commands are reaped.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini ca-certificates curl jq docker.io kubernetes-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin hookrun \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/hookrun
COPY --from=build /src/target/release/hookrun /usr/local/bin/hookrun
COPY scripts/swarm-update.sh scripts/kubectl-set-image.sh scripts/container-swap.sh /usr/local/bin/
COPY hooks.example.json /usr/share/doc/hookrun/hooks.example.json
USER 10001
# Job and deploy history (SQLite); mount a volume here to keep it across containers.
VOLUME ["/var/lib/hookrun"]
EXPOSE 9000
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/hookrun"]
# Mount your hooks (a file or a folder, e.g. a ConfigMap) at /etc/hookrun/hooks; for the
# dashboard, an admin token file as a credential (CREDENTIALS_DIRECTORY/hookrun-admin-token)
# or with -admin-token-file.
CMD ["-hooks", "/etc/hookrun/hooks", "-hotreload", "-verbose", "-state", "/var/lib/hookrun"]
