# One image for the programs (pki, authserver, configserver, gateway) and the `portcullis` command,
# compiled: `docker run portcullis/portcullis:dev gateway/dist/main.js --config /etc/portcullis/gateway.yaml`
# Stages (online, `docker build .` or `docker compose build`):
#   runtime-base  the user, the writable mount points, the entrypoint; no application files
#   build         npm ci, `npm run build`, then `npm prune --omit=dev` and the runtime layout
#   (last)        runtime-base + production node_modules + each program's dist/: no tsx, no
#                 typescript, no @types, no sources or tests
# Offline, scripts/build-images.sh builds `--target runtime-base` on node-base plus the host's
# production dependencies, then adds the same layout from a host `npm run build`.
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS runtime-base
# /certs, /pki, /export/*, /data and the host key dir belong to the runtime user so that a fresh
# named volume mounted there is writable (Docker copies the ownership into it).
RUN if ! id -u portcullis >/dev/null 2>&1; then \
      groupadd -g 10001 portcullis && useradd -u 10001 -g 10001 -M -d /home/portcullis -s /usr/sbin/nologin portcullis; \
    fi; \
    mkdir -p /usr/local/bin && printf '#!/bin/sh\nexec /app/cli/portcullis "$@"\n' >/usr/local/bin/portcullis && chmod 0755 /usr/local/bin/portcullis; \
    mkdir -p /app /certs /pki /export/authserver /export/configserver /export/gateway /data /var/lib/portcullis/hostkeys /var/lib/portcullis/recordings /etc/portcullis \
    && chown 10001:10001 /certs /pki /export/authserver /export/configserver /export/gateway /data /var/lib/portcullis/hostkeys /var/lib/portcullis/recordings
WORKDIR /app
# The `production` export condition makes @portcullis/wire, kit and pki resolve to their
# dist/ (without it they resolve to src/*.ts, which tsx runs in a checkout).
# `portcullis …` (cli/portcullis.ts), the operator command: started as root (docker compose exec
# into the gateway, which starts as root), it first becomes this user, who owns the recordings.
ENV NODE_OPTIONS=--conditions=production PORTCULLIS_RUN_AS=10001:10001
USER 10001:10001
ENTRYPOINT ["node"]
CMD ["-e", "console.log('usage: docker run portcullis/portcullis:dev <pki|authserver|configserver|gateway>/dist/main.js [args]')"]

FROM ${BASE} AS build
WORKDIR /src
COPY . /src
RUN npm ci --no-audit --no-fund \
    && npm run build \
    && npm prune --omit=dev --no-audit --no-fund \
    && rm -rf node_modules/@types node_modules/.cache \
    && sh scripts/runtime-layout.sh /src /app \
    && mv node_modules /app/node_modules

FROM runtime-base
COPY --from=build /app /app
