# syntax=docker/dockerfile:1
# One image with the three service binaries (ingest, workers, broadcaster) in
# /usr/local/bin; docker-compose or Kubernetes picks which one runs.
# The RUN --mount cache mounts need BuildKit (the default builder since
# Docker 23; older engines: DOCKER_BUILDKIT=1).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directory live in cache mounts, so a rebuild after a
# source change reuses the compiled dependencies. A cache mount is gone once the
# RUN ends, so the binaries are copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins -p ingest -p workers -p broadcaster \
 && mkdir -p /out \
 && cp target/release/ingest target/release/workers target/release/broadcaster /out/

# The web pages (plain ES modules and vendor files, no bundler).
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM debian:bookworm-slim
# ca-certificates for TLS to managed databases; curl for the health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 delivertrack \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin delivertrack
COPY --from=build /out/ingest /out/workers /out/broadcaster /usr/local/bin/
COPY --from=web /web/dist /usr/share/delivertrack/web
ENV WEB_ROOT=/usr/share/delivertrack/web
# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 10001

# ingest HTTP, broadcaster WebSocket; the operations listeners (metrics and
# health) of ingest, workers and broadcaster (METRICS_LISTEN).
EXPOSE 8080 8081 9100 9101 9102

# The image's default check fits ingest; the other services override the URL
# (broadcaster: http://127.0.0.1:9102/health, workers: http://127.0.0.1:9101/health).
# Shell form on purpose: $HEALTHCHECK_URL is expanded when the check runs.
ENV HEALTHCHECK_URL=http://127.0.0.1:9100/health
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS "$HEALTHCHECK_URL" || exit 1

CMD ["ingest"]
