# syntax=docker/dockerfile:1
# logsieve: multi-stage build. The build stage compiles TypeScript and the native SQLite
# module; the runtime stage carries only production dependencies and dist/src, runs as the
# unprivileged `node` user, and reports health from /healthz.

# Node 24, the active LTS line (Node 20 left LTS on 2026-04-30); the whole suite passes on
# 24 and 22 (README, Node.js versions). There the SQLite driver is better-sqlite3 13, whose
# Node-API binaries come inside its npm package; better-sqlite3 12 (Node 20's driver) is
# still installed and built in the first stage, which is why that stage has a toolchain.
# --build-arg NODE_IMAGE=node:22-bookworm-slim builds on 22. Both stages use the same line.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Toolchain for better-sqlite3 when no prebuilt binary matches (kept out of the runtime image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm ci runs `prepare`, which builds only when src/ is there: not yet in this layer.
COPY scripts/build-if-stale.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY proto ./proto
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The OTLP .proto files POST /v1/logs compiles at start-up (src/otlp/schema.ts).
COPY --from=build /app/proto ./proto
# The embedded mode's data dir; cluster mode keeps nothing on local disk.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Liveness only (the process serves HTTP); readiness of Redis/PostgreSQL is /readyz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM: stop intake (503), drain, close. Run with an init (compose: init: true) so the
# signal reaches node and zombies are reaped.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
