# syntax=docker/dockerfile:1
# One image for every process of Flash Sale. The command picks it:
#   web (default) | worker | migrate | seed | audit | any other command
# Build: docker build -t flash-sale .      Run: docker run flash-sale worker

# ---- build: install everything, build the Nuxt server (.output/server, .output/public) and the
# worker bundle (.output/worker: esbuild inlines its dependencies)
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall applies patches/ and runs `nuxt prepare`, which needs the sources: run it after they are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run postinstall && npm run build

# ---- runtime: only the build output, the Lua scripts and the entry script; no npm, no sources
FROM node:24-slim AS runtime
# jemalloc, the allocator of the app's processes (appNodeEnv in scripts/lib/node-runtime.mjs), at one
# path whatever the architecture
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2)" /usr/local/lib/libjemalloc.so.2
# NODE_OPTIONS: the V8 flags of the app's processes (APP_NODE_FLAGS in scripts/lib/node-runtime.mjs)
ENV NODE_ENV=production NODE_OPTIONS=--max-semi-space-size=8 LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    HOST=0.0.0.0 PORT=3000 NITRO_HOST=0.0.0.0 NITRO_PORT=3000 \
    METRICS_HOST=0.0.0.0 METRICS_PORT=9101 \
    LUA_DIR=/app/lua UPLOAD_DIR=/app/data/uploads
WORKDIR /app
COPY --from=build --chown=node:node /app/.output ./.output
COPY --from=build --chown=node:node /app/lua ./lua
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/flash-sale
RUN mkdir -p /app/data/uploads && chown -R node:node /app/data
# The image's unprivileged user (uid 1000).
USER node
EXPOSE 3000 9101
# Node is PID 1 on purpose: web and worker handle SIGTERM themselves (graceful shutdown), and
# neither forks children. Use `docker run --init` / `init: true` if you add any.
ENTRYPOINT ["flash-sale"]
CMD ["web"]
