# convergence-gateway: production image.
#   docker build -t convergence-gateway .
#   docker run --rm -p 8000:8000 --env-file gateway.env convergence-gateway
# docs/deploy.md: Cloud Run, a GPU box, and this image's settings.

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile server/**/*.ts to plain JavaScript in dist/ ---------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY server ./server
# What `npm run build` runs, without the launcher it goes through (this image has Node 22).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# --- runtime: production dependencies and the compiled gateway, nothing else ---------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# /data: the one writable place (mount a volume here). It holds STATE_DIR (the last good key set,
# usage not yet written, quota counts) and, with the file key source, KEYS_FILE and its usage CSV.
# The application directory itself stays read-only to the gateway.
ENV STATE_DIR=/data/state
RUN mkdir -p /data/state /app/.node-compile-cache && chown node:node /data /data/state /app/.node-compile-cache && chmod 0700 /data/state
USER node
# Node's module compile cache, filled at build time with the gateway's modules and the clients it
# loads only when configured (Sheets, Google auth, Redis): a cold start (Cloud Run) then skips most
# of V8's compiling (measured: 270-290 ms to 230 ms to the first /health answer). Node keys the
# cache by user id, so the user that runs the gateway fills it; then it is made read-only. Run the
# image as `node` (uid 1000, the default): with `docker run --user` another uid loses the cache.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN node --input-type=module -e "await import('./dist/server/gateway.js'); for (const m of ['@googleapis/sheets', 'google-auth-library', 'ioredis']) await import(m);"
USER root
RUN chown -R root:root /app/.node-compile-cache && chmod -R a+rX,go-w /app/.node-compile-cache
USER node

# The gateway listens on $PORT (default 8000). Cloud Run sets PORT itself (deploy with --port 8000).
EXPOSE 8000
# No curl in the slim image: node itself asks /health. Cloud Run ignores HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: stop accepting, finish requests in flight (SHUTDOWN_GRACE), flush usage, exit 0.
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and receives the signal itself (no shell, no npm in between).
CMD ["node", "dist/server/main.js"]
