# syntax=docker/dockerfile:1
# The mesh-federation image: one binary (`mesh`), the container args pick the role (controller, gateway,
# or a demo app). Build: docker build -t mesh-federation:<version> .

# ---- build: full toolchain, dev dependencies, tsc ----
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
# Only src/ is compiled (test/ and bench/ are not copied). .proto files are gathered with their paths
# because @grpc/proto-loader reads them at run time next to the sources that name them.
RUN npm run build && mkdir -p /protos && find src -name '*.proto' -exec cp --parents {} /protos/ \;

# ---- runtime: production dependencies, compiled JS, protos and manifests only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
COPY --from=build /protos/ ./
COPY manifests ./manifests
# `mesh dashboard` serves its page and style from the sources (its browser modules are in dist/src).
COPY src/dashboard/web/index.html src/dashboard/web/style.css ./src/dashboard/web/
# 65532 = the conventional "nonroot" uid; the manifests set runAsNonRoot and the same uid.
USER 65532:65532
EXPOSE 4143 4191 8080 9990
ENTRYPOINT ["node", "/app/bin/mesh.js"]
