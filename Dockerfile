# syntax=docker/dockerfile:1
# gitgate image: built on Debian bookworm from Debian packages only; the runtime stage holds the stripped
# binary, the shared libraries it links (checked with ldd) and CA certificates for https:// Git remotes.
#   docker build -t gitgate:0.1.0 .

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost-dev libssl-dev libsimdjson-dev libyaml-cpp-dev libgit2-dev libcli11-dev nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGITGATE_TESTS=OFF -DGITGATE_BENCH=OFF \
 && cmake --build /build --target gitgate \
 && install -D -m 0755 -s /build/cli/gitgate /out/usr/local/bin/gitgate

FROM debian:bookworm-slim
# Runtime libraries of the binary (ldd on the build): libssl3, libgit2-1.5 (which pulls libssh2, mbedtls,
# http-parser, pcre2, zlib, krb5), libyaml-cpp0.7, libsimdjson14; ca-certificates for https:// remotes.
# No git or ssh client: libgit2 does the Git I/O. No kubectl either: policies with `render: kustomize`
# need an image that adds one.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libgit2-1.5 libyaml-cpp0.7 libsimdjson14 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 gitgate \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin gitgate
COPY --from=build /out/usr/local/bin/gitgate /usr/local/bin/gitgate
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/gitgate"]
CMD ["serve"]
