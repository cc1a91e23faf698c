# The Remedy image: the `remedy` binary, linked statically, alone on an empty base and run as
# a non-root user (65532, as deploy/ sets runAsUser). deploy/ names it ghcr.io/remedy/remedy.
#
#   docker build -t ghcr.io/remedy/remedy:0.1.0 .        # or: buildah bud -t … .
#   docker push ghcr.io/remedy/remedy:0.1.0
#   kubectl apply -k deploy/
#
# The build stage needs the Rust image (1.89 or newer, Debian, with glibc's static
# libraries, as rust:*-bookworm has). Templates are not baked in: the Deployment mounts
# them from the ConfigMap remedy-templates.

ARG RUST_IMAGE=docker.io/library/rust:1.89-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# +crt-static: glibc linked in, so the binary needs no libc in the final image. In the
# cluster the operator reaches the API server by the IP in KUBERNETES_SERVICE_HOST, so no
# name service (NSS) is needed either.
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin remedy --target x86_64-unknown-linux-gnu \
 && mkdir -p /out/etc \
 && cp target/x86_64-unknown-linux-gnu/release/remedy /out/remedy \
 && echo 'remedy:x:65532:65532:remedy:/nonexistent:/sbin/nologin' > /out/etc/passwd \
 && echo 'remedy:x:65532:' > /out/etc/group

FROM scratch
COPY --from=build /out/etc/passwd /out/etc/group /etc/
# The CA bundle of the build image: the client trusts the cluster's CA from the kubeconfig or
# the ServiceAccount, and falls back to these when a kubeconfig names none.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/remedy /remedy
USER 65532:65532
ENTRYPOINT ["/remedy"]
CMD ["operator"]
