# One image for the API, the worker and the migration job; compose picks the command.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    SCARF_ANALYTICS=false
WORKDIR /app

# Dependencies before sources so a code change reuses the install layer.
# tsx is a production dependency: the app runs its TypeScript directly, there is no build step.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

COPY tsconfig.json worker.ts service.ts ./
COPY workflows ./workflows
COPY activities ./activities
COPY intake ./intake
COPY api ./api
COPY scripts/migrate.ts ./scripts/migrate.ts
COPY db ./db
COPY runtime ./runtime

# Sources stay root-owned: the app only reads them (tsx caches under /tmp).
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/server.ts"]
