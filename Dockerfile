# The in-cluster controller image: `capstan-controller` only (no CLI, no
# embedded local API server), static-ish on distroless, non-root.
#
#   docker build -t capstan-controller .
#
# Stage 1 builds the controller (the `builtin:` plugins it embeds are the
# committed components in plugins/dist/); stage 2 is the runtime.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p capstan-controller --bin capstan-controller \
 && cp target/release/capstan-controller /capstan-controller

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /capstan-controller /usr/local/bin/capstan-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/capstan-controller"]
