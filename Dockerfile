# The shopping-cart node as a container image. Both stages only call the scripts CI runs
# (install-deps.sh, build.sh; check-runtime-deps.sh verifies in CI that the runtime packages suffice).
#   docker build -t actorstate .
#   docker run -p 9000:9000 -p 9099:9099 -v actorstate-data:/data actorstate
FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN ./scripts/install-deps.sh \
 && ./scripts/build.sh /src/build -DCMAKE_BUILD_TYPE=Release -DACTORSTATE_BUILD_TESTS=OFF

FROM debian:bookworm-slim
COPY scripts/install-deps.sh /usr/local/lib/actorstate/install-deps.sh
RUN /usr/local/lib/actorstate/install-deps.sh --runtime \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin actorstate \
 && mkdir -p /data && chown actorstate:actorstate /data
COPY --from=build /src/build/samples/shopping-cart/shopping-cart /usr/local/bin/shopping-cart
USER actorstate
WORKDIR /data
VOLUME /data
ENV HTTP_PORT=9000 MANAGEMENT_PORT=9099 ACTORSTATE_DATA_DIR=/data
# 9300: the node-to-node port when the node runs as a cluster member (--cluster).
EXPOSE 9000 9099 9300
ENTRYPOINT ["/usr/local/bin/shopping-cart"]
