# Build stage: compile the release binary once, against the locked dependency versions.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin iiko-bridge && strip target/release/iiko-bridge

# Runtime stage: glibc and nothing else; TLS roots are compiled in (rustls + webpki roots).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/iiko-bridge /usr/local/bin/iiko-bridge
COPY config/bridge.example.toml /etc/iiko-bridge/bridge.example.toml
COPY templates /etc/iiko-bridge/templates
WORKDIR /var/lib/iiko-bridge
ENV IIKO_BRIDGE_CONFIG=/etc/iiko-bridge/bridge.toml \
    IIKO_BRIDGE__SERVER__LISTEN=0.0.0.0:8080 \
    IIKO_BRIDGE__TEMPLATES__DIR=/etc/iiko-bridge/templates \
    RUST_LOG=info
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/iiko-bridge"]
CMD ["serve"]
