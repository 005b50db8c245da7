# syntax=docker/dockerfile:1
# Multi-stage build of jenkins-event-shim (default target) and mock-jenkins (target
# `mock-jenkins`). Dependencies are locked (Cargo.lock, --locked); the final images are
# distroless, run as a non-root user, and need no writable root filesystem.
#   docker build -t jenkins-event-shim .
#   docker build --target mock-jenkins -t mock-jenkins .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY mock-jenkins ./mock-jenkins
COPY bench ./bench
COPY xtask ./xtask
# Without default features: the shim's image does not carry the demo's embedded mock Jenkins.
RUN cargo build --release --locked --no-default-features --package jenkins-event-shim --package mock-jenkins --bins

FROM gcr.io/distroless/cc-debian12:nonroot AS mock-jenkins
COPY --from=build /src/target/release/mock-jenkins /usr/local/bin/mock-jenkins
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/mock-jenkins", "--listen", "0.0.0.0:8080"]

FROM gcr.io/distroless/cc-debian12:nonroot AS shim
COPY --from=build /src/target/release/jenkins-event-shim /usr/local/bin/jenkins-event-shim
USER 65532:65532
EXPOSE 9102
ENV STATE_DIR=/var/lib/jenkins-event-shim LISTEN=0.0.0.0:9102 LOG_FORMAT=json
VOLUME ["/var/lib/jenkins-event-shim"]
ENTRYPOINT ["/usr/local/bin/jenkins-event-shim"]
CMD ["run"]
