# pipelab in a container (used by docker-compose.yml). Two stages: the builder compiles
# the dependencies in a layer of their own, from the manifests alone, so a change to
# pipelab's code rebuilds only pipelab's crates; the image holds the binary.
FROM rust:1.95-slim-bookworm AS builder
# A C toolchain, make and zlib for librdkafka (rdkafka-sys), OpenSSL and SQLite for the
# database catalogs, libclang for bindgen.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake pkg-config zlib1g-dev libssl-dev libsqlite3-dev libclang-dev perl python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# The dependency layer: manifests and empty crates.
COPY Cargo.toml Cargo.lock ./
COPY crates/bench/Cargo.toml crates/bench/
COPY crates/cli/Cargo.toml crates/cli/
COPY crates/dbsink/Cargo.toml crates/dbsink/
COPY crates/devstack/Cargo.toml crates/devstack/
COPY crates/federate/Cargo.toml crates/federate/
COPY crates/ingest/Cargo.toml crates/ingest/
COPY crates/lab/Cargo.toml crates/lab/
COPY crates/lake/Cargo.toml crates/lake/
COPY crates/pipeline/Cargo.toml crates/pipeline/
COPY crates/scenario/Cargo.toml crates/scenario/
COPY crates/serve/Cargo.toml crates/serve/
COPY crates/ship/Cargo.toml crates/ship/
COPY crates/transform/Cargo.toml crates/transform/
RUN for crate in bench dbsink devstack federate ingest lab lake pipeline scenario serve ship transform; do \
        mkdir -p "crates/$crate/src" && touch "crates/$crate/src/lib.rs"; \
    done \
    && mkdir -p crates/cli/src tests \
    && echo 'fn main() {}' > crates/cli/src/main.rs \
    && touch tests/e2e.rs \
    && cargo build --release --locked -p pipelab-cli --bin pipelab \
    && rm -rf crates tests

# pipelab itself.
COPY crates crates
COPY tests tests
RUN touch crates/*/src/*.rs \
    && cargo build --release --locked -p pipelab-cli --bin pipelab \
    && cp target/release/pipelab /usr/local/bin/pipelab

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g libssl3 libsqlite3-0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/pipelab /usr/local/bin/pipelab
COPY docker/clickstream.toml /etc/pipelab/clickstream.toml
# `pipelab scenario` finds its scenarios here.
COPY scenarios /usr/share/pipelab/scenarios
ENV PIPELAB_SCENARIOS=/usr/share/pipelab/scenarios
ENTRYPOINT ["pipelab"]
CMD ["--help"]
