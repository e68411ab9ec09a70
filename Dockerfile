# pushctl in a container: `pushctl serve` by default; the same image runs `dispatch --watch`.
#   docker build -t pushctl .
#   docker run -d -p 8080:8080 -v pushctl-data:/data -e PUSHCTL_ADMIN_TOKEN=... pushctl
# The database (and an optional push.config.json) live in the /data volume. See docs/production.md.

# Build stage: compilers for better-sqlite3 in case no prebuilt binary fits and for the native key
# agreement (native/ecdh.c, against OpenSSL's headers), dev dependencies for tsc.
FROM node:20-slim AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# No lifecycle scripts yet ("prepare" builds, and the sources are not here): only the native module's.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-static.mjs scripts/bundle-cli.mjs scripts/build-native.mjs ./scripts/
COPY native ./native
COPY bin ./bin
COPY src ./src
COPY docs/openapi.json ./docs/
RUN npm run build && npm prune --omit=dev

# Runtime stage: no compilers, no dev dependencies, not root.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/docs ./docs
# libssl3: the system libcrypto the native key agreement was linked with.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /app/bin/pushctl.js /usr/local/bin/pushctl \
 && mkdir /data \
 && chown node:node /data
# The node user (uid 1000) comes with the image; the volume is the only writable place it needs.
USER node
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["pushctl"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
