# The ledger-dr worker (and, once it exists, the API) as a container image.
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20.19-bookworm-slim
# ssh and psql reach nodes and their databases; kubectl/docker clients are added by images that need them.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates openssh-client postgresql-client \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production LEDGER_DR_CONFIG=/etc/ledger-dr/ledger-dr.yaml LEDGER_DR_METRICS_ADDRESS=0.0.0.0:9464
USER node
EXPOSE 9464
# No V8 heap budget by default: a cap keeps a busy worker's RSS low but halves streaming throughput
# (docs/BENCHMARKS.md). Workers that only reconcile Corda networks can set NODE_OPTIONS=--max-old-space-size=512.
CMD ["node", "dist/workers/main.js"]
