# Two images of one binary:
#   docker build .                  distroless/cc (glibc): the gpu check can dlopen NVML
#   docker build --target static .  scratch, fully static (musl), no NVML: CPU pods only
# Both hold only /bootgate and run as 65532. The build runs scripts/build-release, which
# checks size and linkage, so a binary that would not start in these images fails here.

# The toolchain the size and linkage figures in docs/performance.md come from, on the Debian
# release distroless/cc-debian12 ships, so the glibc the binary links against is the one it
# runs on.
FROM rust:1.95.0-bookworm AS source
WORKDIR /src
COPY . .

FROM source AS build
RUN scripts/build-release glibc

FROM source AS build-static
RUN scripts/build-release static

FROM scratch AS static
LABEL org.opencontainers.image.title="bootgate" \
      org.opencontainers.image.description="Keeps GPU model-serving pods from taking traffic before they can really serve it (static, without NVML)" \
      org.opencontainers.image.source="https://github.com/bootgate/bootgate" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=build-static /src/target/dist/bootgate-static /bootgate
# Numeric, so the kubelet can verify runAsNonRoot without an /etc/passwd to look the name up in.
USER 65532:65532
EXPOSE 8081
# Only answers where the guard serves (sidecar, run); /livez never depends on the model.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bootgate", "probe", "--timeout", "2s", "http://127.0.0.1:8081/livez"]
ENTRYPOINT ["/bootgate"]

# Last, so a build without --target gives this image.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="bootgate" \
      org.opencontainers.image.description="Keeps GPU model-serving pods from taking traffic before they can really serve it" \
      org.opencontainers.image.source="https://github.com/bootgate/bootgate" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=build /src/target/dist/bootgate /bootgate
# Numeric, so the kubelet can verify runAsNonRoot without an /etc/passwd to look the name up in.
USER 65532:65532
EXPOSE 8081
# Only answers where the guard serves (sidecar, run); /livez never depends on the model.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/bootgate", "probe", "--timeout", "2s", "http://127.0.0.1:8081/livez"]
ENTRYPOINT ["/bootgate"]
