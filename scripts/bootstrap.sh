#!/usr/bin/env bash
# Prepares this machine for the tests: Debian packages, a running Docker engine,
# and the locally built images. Idempotent; silent when there is nothing to do,
# one line per step it actually takes. Run as root (CI and developers are root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/docker-env.sh
source "$here/lib/docker-env.sh"

say() { echo "bootstrap: $*"; }
die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

# --- 1. Debian packages -------------------------------------------------------
# package => command or file that proves it is there (another install, e.g.
# docker-ce instead of docker.io, counts as present).
declare -A need=(
  [docker.io]=dockerd
  [docker-compose]=docker-compose
  [openssh-client]=ssh
  [iproute2]=ip
  [procps]=ps                                      # ps in the session image
  [openssh-sftp-server]=/usr/lib/openssh/sftp-server # SFTP in the session image
  [ca-certificates]=/etc/ssl/certs/ca-certificates.crt
  [tmux]=tmux                                      # a real terminal for resize tests
  [openssh-server]=/usr/sbin/sshd                  # upstream server for the SSH proxy tests
  [docker-registry]=docker-registry                # a loopback registry for the image pull tests
  [asciinema]=asciinema                            # audit tests play recordings with asciinema cat
  [chromium]=chromium                              # audit web player tests (headless)
  [gcc]=gcc                                        # compiles the guest agent into the session image
  [libc6-dev]=/usr/include/stdio.h                 # headers for the guest agent
  [netcat-openbsd]=nc                              # loopback services in the session image (forwarding tests)
  [dropbear-bin]=dbclient                          # a second SSH client for the e2e tests
  [putty-tools]=plink                              # PuTTY's plink, psftp, pscp: client conformance and disconnect chaos
  [python3-paramiko]=/usr/lib/python3/dist-packages/paramiko/__init__.py # paramiko (Ansible's client) for the same tests
  [krb5-user]=kinit                                # authserver Kerberos (kinit); klist in the session image
  [krb5-kdc]=/usr/sbin/krb5kdc                     # a real KDC for the Kerberos tests (realm per run)
  [krb5-admin-server]=/usr/sbin/kadmin.local       # kadmin.local adds the tests' principals
  [kubernetes-client]=kubectl                      # kubectl apply --dry-run=client of deploy/kubernetes/ (any kubectl counts)
)
missing=()
for pkg in "${!need[@]}"; do
  probe=${need[$pkg]}
  if [[ $probe == /* ]]; then [[ -e $probe ]] && continue
  else command -v "$probe" >/dev/null 2>&1 && continue
  fi
  # Only a package that is fully installed counts (a removed one keeps a dpkg record).
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] && continue
  missing+=("$pkg")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}); run as root or install them"
  say "installing ${missing[*]} (apt-get; log in /tmp/portcullis-apt.log)"
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } \
      >/tmp/portcullis-apt.log 2>&1 </dev/null; then
    tail -n 30 /tmp/portcullis-apt.log >&2
    die "apt-get install failed"
  fi
fi

# An unprivileged login for the SSH proxy tests' upstream sshd: sshd runs root's sessions
# without privilege separation and then refuses signal requests.
if ! id portcullis-upstream >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "user portcullis-upstream is missing; run as root to create it"
  say "creating system user portcullis-upstream (SSH proxy tests)"
  # Password field `*`: no password can match, yet sshd does not treat the account as locked
  # (it refuses even key logins for a `!` locked account when PAM is off).
  useradd --system --no-create-home --home-dir /nonexistent --shell /bin/sh --password '*' portcullis-upstream
fi

# --- 2. Docker engine ---------------------------------------------------------
dockerd_running() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(cat "$p/comm" 2>/dev/null) == dockerd ]] && return 0
  done
  return 1
}

wait_docker() { # $1 = pid of the dockerd we started, or empty
  local i
  for ((i = 0; i < 60; i++)); do
    docker info >/dev/null 2>&1 && return 0
    if [[ -n $1 ]] && ! kill -0 "$1" 2>/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

portcullis_docker_env
if ! docker info >/dev/null 2>&1; then
  if dockerd_running; then
    say "dockerd is starting; waiting for it (up to 60 s)"
    wait_docker "" || die "dockerd is running but 'docker info' still fails after 60 s"
  else
    [[ $(id -u) -eq 0 ]] || die "the Docker engine is not running and only root can start it"
    log=/var/log/portcullis-dockerd.log
    touch "$log" 2>/dev/null || log=/tmp/portcullis-dockerd.log
    start_at=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1)) # only this run's lines count
    fail() { tail -c +"$start_at" "$log" | tail -n 30 >&2
      if kill -0 "$pid" 2>/dev/null; then die "dockerd did not answer within 60 s (log: $log)"; fi
      die "dockerd exited (log: $log)"; }
    say "starting dockerd (log: $log)"
    setsid dockerd >>"$log" 2>&1 </dev/null &
    pid=$!
    if ! wait_docker "$pid"; then
      # Kernels without working iptables/nftables: the engine still runs (and
      # publishes ports with docker-proxy) when it leaves iptables alone.
      if ! kill -0 "$pid" 2>/dev/null && tail -c +"$start_at" "$log" | grep -qiE 'iptables|nftables|NAT chain'; then
        say "dockerd failed on iptables; retrying with --iptables=false"
        setsid dockerd --iptables=false >>"$log" 2>&1 </dev/null &
        pid=$!
        wait_docker "$pid" || fail
      else
        fail
      fi
    fi
  fi
  portcullis_docker_env
fi

# --- 3. Images ----------------------------------------------------------------
bash "$here/build-images.sh"
