# One image with the three service binaries; docker-compose picks the command.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ingest /src/target/release/workers /src/target/release/broadcaster /usr/local/bin/
USER nobody
