# One image for the production processes: `npm run migrate` (once), `npm run api` and `npm run worker`.
# Node 24, the LTS line (package.json `engines` also allows Node 20.19+ and 22.12+).
FROM node:24.20-trixie-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Exactly the committed lock file (npm ci fails if package.json and the lock disagree).
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
EXPOSE 3000
CMD ["npm", "run", "api"]
