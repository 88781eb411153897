# The flowmart binary on a slim Debian. Build: docker build -t flowmart .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p flowmart

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/flowmart /usr/local/bin/flowmart
COPY pipelines/flowmart.toml /etc/flowmart/flowmart.toml
EXPOSE 8080
ENTRYPOINT ["flowmart"]
CMD ["run", "--config", "/etc/flowmart/flowmart.toml"]
