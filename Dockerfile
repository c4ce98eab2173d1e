# Build stage: compile the release binary once, against the locked dependency versions.
# The COPY lines below are exactly what the build reads; CI assembles the same set in an empty
# folder and builds it there (scripts/check-docker-context.sh), so a missing one fails CI.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The manifest declares the benches, the test binaries and the tests' `bed` macro crate (a
# dev-dependency cargo reads even for a release build); migrations, templates and the example
# config are compiled into the binary.
COPY benches ./benches
COPY tests ./tests
COPY migrations ./migrations
COPY templates ./templates
COPY config/bridge.example.toml ./config/bridge.example.toml
COPY src ./src
# /data becomes the data volume, owned by distroless's nonroot user (65532) below: the runtime
# image has no shell to make it.
RUN cargo build --release --locked --bin iiko-bridge && strip target/release/iiko-bridge \
    && mkdir -p /data/export

# Runtime stage: glibc and nothing else; TLS roots are compiled in (rustls + webpki roots).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/iiko-bridge /usr/local/bin/iiko-bridge
COPY config/bridge.example.toml /etc/iiko-bridge/bridge.example.toml
COPY templates /etc/iiko-bridge/templates
COPY --from=build --chown=65532:65532 /data /data
# The store (and its lock file) and the catalog exports live here; mount a volume to keep them.
VOLUME ["/data"]
WORKDIR /data
ENV IIKO_BRIDGE_CONFIG=/etc/iiko-bridge/bridge.toml \
    IIKO_BRIDGE__SERVER__LISTEN=0.0.0.0:8080 \
    IIKO_BRIDGE__STORE__URL=sqlite:///data/bridge.db \
    IIKO_BRIDGE__MENU__EXPORT_DIR=/data/export \
    IIKO_BRIDGE__TEMPLATES__DIR=/etc/iiko-bridge/templates \
    RUST_LOG=info
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/iiko-bridge"]
CMD ["serve"]
