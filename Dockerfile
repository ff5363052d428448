# Lanyard: build the release binary, then run it on a slim Debian.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN cargo build --release --locked --bin lanyard

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /nonexistent --shell /usr/sbin/nologin lanyard
COPY --from=build /src/target/release/lanyard /usr/local/bin/lanyard
COPY --from=build /src/templates /usr/share/lanyard/templates
COPY --from=build /src/static /usr/share/lanyard/static
WORKDIR /usr/share/lanyard
USER lanyard
# Inside the container Lanyard listens on every interface; publish the port to choose who reaches it.
ENV LANYARD_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["lanyard"]
CMD ["serve"]
