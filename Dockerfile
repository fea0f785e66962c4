# syntax=docker/dockerfile:1
#
# liuyan API image.
#   docker build -t liuyan .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=postgres://... -e LIUYAN_JWT_KEYS=k1:<32+ bytes> liuyan
# or `docker compose up` with docker-compose.yml. The image runs `liuyan serve` in the production
# profile, which refuses to start without DATABASE_URL and your own LIUYAN_JWT_KEYS; migrations
# run at start (LIUYAN_MIGRATE_ON_START). Other subcommands: `docker run ... liuyan migrate`,
# `... liuyan seed-demo`, `... liuyan openapi`. `seed-bench` is not in the image (cargo feature
# `bench-seed`, off here).

# ---- build --------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
# diesel's PostgreSQL backend links libpq.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cargo registry and target folder are BuildKit caches, so a rebuild after a source change
# does not recompile every dependency. The binary is copied out of the cached target folder.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin liuyan \
    && install -D -m 0755 target/release/liuyan /out/liuyan

# ---- run ----------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 liuyan \
    && useradd --system --uid 10001 --gid liuyan --home-dir /var/lib/liuyan --create-home \
        --shell /usr/sbin/nologin liuyan
COPY --from=builder /out/liuyan /usr/local/bin/liuyan

USER liuyan
WORKDIR /var/lib/liuyan
ENV LIUYAN_HOST=0.0.0.0 \
    LIUYAN_PORT=8080 \
    LIUYAN_PROFILE=production \
    LIUYAN_LOG_FORMAT=json
EXPOSE 8080

# Liveness through bash's /dev/tcp (no curl in the slim image): one HTTP/1.1 request to
# /healthz, healthy when the status line says 200.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${LIUYAN_PORT:-8080} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

ENTRYPOINT ["liuyan"]
CMD ["serve"]
