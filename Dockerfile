# The flowmart binary on a slim Debian, run as a non-root user.
#   docker build -t flowmart .
#   docker run --rm -p 8080:8080 flowmart demo      # the embedded demo
#   docker run --rm -e FLOWMART_BROKERS=… -e FLOWMART_SCHEMA_REGISTRY_URL=… flowmart   # `flowmart run`
# deploy/README.md explains the choices below.

# The toolchain the workspace is tested with (rust-version is the floor, this is what CI runs).
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# cargo-chef reduces the workspace to its dependency graph (recipe.json), which changes only when a
# Cargo.toml or Cargo.lock does; a source-only change then reuses the cooked dependency layer below
# instead of rebuilding its ~300 dependency crates.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked -p flowmart --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p flowmart

# bookworm, like the build stage: the binary links against this glibc.
FROM debian:bookworm-slim
# ca-certificates: TLS to brokers, registries and Postgres. curl: the HEALTHCHECK below (flowmart
# has no health subcommand, and an HTTP check by hand under /bin/sh is fragile; curl -f turns any
# status >= 400 or a refused connection into a failure).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin flowmart
COPY --from=build /src/target/release/flowmart /usr/local/bin/flowmart

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# The binary's default is 127.0.0.1:8080, unreachable from outside a container. The environment
# beats a pipeline file's [api] listen (CONTRACT.md §6): change the address here, not in the file.
ENV FLOWMART_LISTEN=0.0.0.0:8080
# 8080: the API (/healthz, /readyz, /metrics). 2101: timely, between the processes of a cluster.
EXPOSE 8080 2101
# Liveness, on the port FLOWMART_LISTEN names. The start period is long because the API answers
# only once the process has recovered from Postgres (and, in a cluster, met every peer).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5m --retries=3 \
    CMD curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:${FLOWMART_LISTEN##*:}/healthz"
ENTRYPOINT ["flowmart"]
# Settings come from the environment (FLOWMART_BROKERS, FLOWMART_SCHEMA_REGISTRY_URL, DATABASE_URL,
# FLOWMART__<SECTION>__<KEY>, …) or a pipeline file named by FLOWMART_CONFIG. None is baked in: a
# missing setting exits 78 (EX_CONFIG) rather than trying a default broker that is not there.
CMD ["run"]
