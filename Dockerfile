# One image for the three programs (pki, authserver, configserver, gateway):
#   docker run portcullis/portcullis:dev gateway/src/main.ts --config /etc/portcullis/gateway.yaml
# Offline (scripts/build-images.sh): BASE=portcullis/node-base:local and the
# host's node_modules in the context. Online from a fresh clone: the default
# base and `npm ci` (node_modules is absent from the context).
ARG BASE=node:20-bookworm-slim
FROM ${BASE}

WORKDIR /app
COPY . /app

# /certs, /pki, /export/*, /data and the host key dir belong to the runtime user so that a fresh
# named volume mounted there is writable (Docker copies the ownership into it).
RUN if [ ! -d node_modules ]; then npm ci --no-audit --no-fund && npm cache clean --force; fi; \
    if ! id -u portcullis >/dev/null 2>&1; then \
      groupadd -g 10001 portcullis && useradd -u 10001 -g 10001 -M -d /home/portcullis -s /usr/sbin/nologin portcullis; \
    fi; \
    mkdir -p /usr/local/bin && printf '#!/bin/sh\nexec /app/cli/portcullis "$@"\n' >/usr/local/bin/portcullis && chmod 0755 /usr/local/bin/portcullis; \
    mkdir -p /certs /pki /export/authserver /export/configserver /export/gateway /data /var/lib/portcullis/hostkeys /var/lib/portcullis/recordings /etc/portcullis \
    && chown 10001:10001 /certs /pki /export/authserver /export/configserver /export/gateway /data /var/lib/portcullis/hostkeys /var/lib/portcullis/recordings

# `portcullis …` (cli/portcullis.ts), the operator command: started as root (docker compose exec
# into the gateway, which starts as root), it first becomes this user, who owns the recordings.
ENV PORTCULLIS_RUN_AS=10001:10001
USER 10001:10001
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["-e", "console.log('usage: docker run portcullis/portcullis:dev <pki|authserver|configserver|gateway>/src/main.ts [args]')"]
