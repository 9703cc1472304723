# One image for the production processes: `npm run migrate` (once), `npm run api` and `npm run worker`.
FROM node:20.19-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Exactly the committed lock file (npm ci fails if package.json and the lock disagree).
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
