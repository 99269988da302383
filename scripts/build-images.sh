#!/usr/bin/env bash
# Builds the Portcullis images with no image registry (see images/README.md):
#   portcullis/session-base:local  docker import of host binaries + their libraries
#   portcullis/node-base:local     docker import of the host's node + basics
#   portcullis/session:dev         images/session/Dockerfile on session-base
#   portcullis/node-prod-deps:local  node-base + the host's node_modules pruned to production
#                                  dependencies (images/node-deps)
#   portcullis/app-base:local      ./Dockerfile --target runtime-base on node-prod-deps
#   portcullis/portcullis:dev      app-base + each program's dist/ from a host `npm run build`
#                                  (images/app/Dockerfile); PORTCULLIS_APP_IMAGE names it otherwise
# Every image carries the label io.portcullis.input-hash; an image whose label
# matches the hash of its inputs is not rebuilt.
#
# Options: --force   rebuild everything
#          --online  skip the local bases; build on debian:bookworm-slim and
#                    node:20-bookworm-slim from a registry (npm ci when no node_modules)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
# shellcheck source=lib/docker-env.sh
source "$here/lib/docker-env.sh"
portcullis_docker_env

force=0 online=0
for a in "$@"; do
  case $a in
    --force) force=1 ;;
    --online) online=1 ;;
    *) echo "usage: $0 [--force] [--online]" >&2; exit 2 ;;
  esac
done

LABEL=io.portcullis.input-hash
SESSION_BASE=portcullis/session-base:local
NODE_BASE=portcullis/node-base:local
NODE_DEPS=portcullis/node-prod-deps:local
APP_BASE=portcullis/app-base:local
WORKSPACES=(wire kit pki authserver configserver gateway)
SESSION_IMAGE=portcullis/session:dev
APP_IMAGE=${PORTCULLIS_APP_IMAGE:-portcullis/portcullis:dev}

say() { echo "build-images: $*"; }
die() { echo "build-images: ERROR: $*" >&2; exit 1; }

# One build at a time on this machine (several test runs may start together).
exec 9>/tmp/portcullis-build-images.lock
flock 9

work=$(mktemp -d /tmp/portcullis-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Hash of this script and its library: a change to either rebuilds everything.
script_hash=$(cat "${BASH_SOURCE[0]}" "$here/lib/docker-env.sh" | sha256sum | cut -c1-64)

image_label() { docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
up_to_date() { [[ $force -eq 0 && $(image_label "$1") == "$2" ]]; }

# Drop the image a rebuild replaced, if nothing else uses it.
drop_old() { # $1 old id, $2 image name
  local new; new=$(image_id "$2")
  if [[ -n $1 && $1 != "$new" ]]; then docker image rm "$1" >/dev/null 2>&1 || true; fi
}

# --- rootfs from host files ---------------------------------------------------
# ENTRIES gets "F /path" (regular file) and "L /path target" (symlink) lines for
# the given files, their ldd libraries, and every symlink on the way.
declare -A SEEN
ENTRIES=()
add_path() {
  local p=$1 d b t
  d=$(realpath -- "$(dirname -- "$p")")
  b=$(basename -- "$p")
  [[ $d == / ]] && p="/$b" || p="$d/$b"
  [[ -n ${SEEN[$p]:-} ]] && return 0
  SEEN[$p]=1
  if [[ -L $p ]]; then
    t=$(readlink -- "$p")
    ENTRIES+=("L $p $t")
    [[ $t == /* ]] || t="$d/$t"
    add_path "$t"
  elif [[ -f $p ]]; then
    ENTRIES+=("F $p")
  else
    die "host file $p not found"
  fi
}
add_with_libs() {
  local f lib
  for f in "$@"; do
    add_path "$f"
    while read -r lib; do
      [[ -n $lib ]] && add_path "$lib"
    done < <(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' || true)
  done
}
resolve_cmds() { # names -> RESOLVED (absolute paths); fails on a missing one
  local c p
  RESOLVED=()
  for c in "$@"; do
    p=$(type -P -- "$c") || die "host command '$c' not found"
    RESOLVED+=("$p")
  done
}
collect() { # file paths -> ENTRIES
  SEEN=()
  ENTRIES=()
  add_with_libs "$@"
}
entries_hash() { # content hash of everything in ENTRIES
  local e kind p
  for e in "${ENTRIES[@]}"; do
    read -r kind p _ <<<"$e"
    if [[ $kind == F ]]; then echo "F $p $(sha256sum <"$p" | cut -c1-64)"; else echo "$e"; fi
  done | sha256sum | cut -c1-64
}
assemble() { # $1 rootfs dir; copies ENTRIES into it with the host's /usr-merge layout
  local r=$1 e x kind p t
  mkdir -p "$r/usr"
  for x in bin sbin lib lib64; do
    if [[ -L /$x ]]; then ln -s "$(readlink "/$x")" "$r/$x"; elif [[ -d /$x ]]; then mkdir -p "$r/$x"; fi
  done
  for e in "${ENTRIES[@]}"; do
    read -r kind p t <<<"$e"
    mkdir -p "$r$(dirname -- "$p")"
    if [[ $kind == F ]]; then cp -p -- "$p" "$r$p"; else ln -sfn -- "$t" "$r$p"; fi
  done
  mkdir -p "$r"/{etc,proc,sys,dev,run,root,var/tmp,tmp}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  chmod 0700 "$r/root"
  : >"$r/etc/hosts"; : >"$r/etc/hostname"; : >"$r/etc/resolv.conf"
  cat >"$r/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
shadow: files
hosts:  files dns
EOF
}
import_rootfs() { # $1 rootfs, $2 image, $3 hash, rest: extra --change lines
  local r=$1 img=$2 h=$3; shift 3
  local args=(--change "LABEL $LABEL=$h"
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
  local c; for c in "$@"; do args+=(--change "$c"); done
  tar -C "$r" --numeric-owner -cf - . | docker import "${args[@]}" - "$img" >/dev/null
}

COREUTILS=(id cat ls echo env sleep touch mkdir rm head tail wc sha256sum stat tr sort
  uname true false printf whoami date dd cp mv ln chmod chown basename dirname cut uniq
  tee test '[' seq readlink realpath tty stty)

build_session_base() {
  local bins h old t0=$SECONDS r=$work/session-rootfs
  command -v pgrep >/dev/null 2>&1 || {
    say "installing procps (apt-get)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends procps; } \
      >/tmp/portcullis-apt.log 2>&1 </dev/null || die "apt-get install procps failed (/tmp/portcullis-apt.log)"
  }
  # procps: what a shell user and the signal checks expect (ps, pgrep, pkill, kill, top, free).
  resolve_cmds bash sh dash grep sed ps pgrep pkill kill top free "${COREUTILS[@]}"
  bins=("${RESOLVED[@]}")
  [[ -x /usr/lib/openssh/sftp-server ]] && bins+=(/usr/lib/openssh/sftp-server)
  # scp (legacy `scp -O` runs `scp -t|-f` in the container), ssh-add (agent forwarding),
  # nc (loopback services for forwarding checks), od (binary files in tests), when the host has them.
  local extra; for extra in scp ssh-add nc od; do command -v "$extra" >/dev/null 2>&1 && bins+=("$(type -P "$extra")"); done
  # The guest agent (images/session/agent), compiled here: gcc is on the host, not in the base.
  # A fixed path (under the build lock): the input hash names every file by its path.
  local agent_src=$root/images/session/agent/portcullis-agent.c agent_bin=/tmp/portcullis-guest-agent/portcullis-agent
  mkdir -p "${agent_bin%/*}"
  gcc -O2 -Wall -o "$agent_bin" "$agent_src" || die "compiling the guest agent failed"
  bins+=("$agent_bin")
  # klist shows the Kerberos ticket the authserver delivers (KRB5CCNAME); krb5-user on the host.
  command -v klist >/dev/null 2>&1 && bins+=("$(type -P klist)")
  collect "${bins[@]}"
  h=$( { echo "$script_hash"; entries_hash; } | sha256sum | cut -c1-64)
  up_to_date "$SESSION_BASE" "$h" && return 0
  old=$(image_id "$SESSION_BASE")
  say "building $SESSION_BASE (docker import of ${#ENTRIES[@]} host files)"
  assemble "$r"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
user:x:1000:1000:user:/home/user:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
user:x:1000:
nogroup:x:65534:
EOF
  mkdir -p "$r/home/user"
  chown 1000:1000 "$r/home/user"
  chmod 0755 "$r/home/user"
  mkdir -p "$r/usr/local/bin"
  mv "$r$agent_bin" "$r/usr/local/bin/portcullis-agent"
  import_rootfs "$r" "$SESSION_BASE" "$h" 'CMD ["/bin/bash"]'
  rm -rf "$r"
  drop_old "$old" "$SESSION_BASE"
  say "built $SESSION_BASE in $((SECONDS - t0)) s"
}

build_node_base() {
  local bins h old t0=$SECONDS r=$work/node-rootfs ca=/etc/ssl/certs/ca-certificates.crt
  [[ -f $ca ]] || die "$ca missing (install ca-certificates)"
  resolve_cmds node bash sh dash id cat ls echo env sleep mkdir mkfifo rm chown chmod true false test '[' whoami
  bins=("${RESOLVED[@]}")
  collect "${bins[@]}"
  ENTRIES+=("F $ca")
  h=$( { echo "$script_hash"; entries_hash; } | sha256sum | cut -c1-64)
  up_to_date "$NODE_BASE" "$h" && return 0
  old=$(image_id "$NODE_BASE")
  say "building $NODE_BASE (docker import of ${#ENTRIES[@]} host files, node $(node --version))"
  assemble "$r"
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
portcullis:x:10001:10001:portcullis:/home/portcullis:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
portcullis:x:10001:
nogroup:x:65534:
EOF
  mkdir -p "$r/home/portcullis"
  chown 10001:10001 "$r/home/portcullis"
  import_rootfs "$r" "$NODE_BASE" "$h" 'CMD ["node"]'
  rm -rf "$r"
  drop_old "$old" "$NODE_BASE"
  say "built $NODE_BASE in $((SECONDS - t0)) s"
}

docker_build() { # $1 image, $2 hash, rest: docker build args
  local img=$1 h=$2 old log=$work/build.log t0=$SECONDS; shift 2
  old=$(image_id "$img")
  say "building $img"
  if ! docker build --label "$LABEL=$h" -t "$img" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "docker build of $img failed"
  fi
  drop_old "$old" "$img"
  say "built $img in $((SECONDS - t0)) s"
}

build_session() {
  local base h args=()
  if ((online)); then base=online; else base=$(image_id "$SESSION_BASE"); args=(--build-arg "BASE=$SESSION_BASE"); fi
  h=$( { echo "$script_hash $base"; cd "$root/images/session" && find . -type f -print0 | sort -z | xargs -0 sha256sum || true; } \
    | sha256sum | cut -c1-64)
  up_to_date "$SESSION_IMAGE" "$h" && return 0
  docker_build "$SESSION_IMAGE" "$h" "${args[@]}" -f "$root/images/session/Dockerfile" "$root/images/session"
}

# node-base + the host's production dependencies, so that a source change does not re-send
# and re-copy ~50 MB of dependencies (that takes the legacy builder ~15 s). `npm prune
# --omit=dev` runs on a hard-linked copy (prune only unlinks; the lockfile it rewrites is a
# real copy), so the host's node_modules stays as it is.
build_node_deps() {
  local h ws stage=$work/deps
  [[ -d $root/node_modules ]] || die "no node_modules: run 'npm install' first (or use --online)"
  h=$( {
      echo "$script_hash $(image_id "$NODE_BASE")"
      cd "$root"
      sha256sum package-lock.json images/node-deps/Dockerfile ./*/package.json
      if [[ -f node_modules/.package-lock.json ]]; then sha256sum node_modules/.package-lock.json; fi
    } | sha256sum | cut -c1-64)
  up_to_date "$NODE_DEPS" "$h" && return 0
  mkdir -p "$stage"
  cp "$root/package.json" "$root/package-lock.json" "$stage/"
  for ws in "${WORKSPACES[@]}"; do mkdir -p "$stage/$ws" && cp "$root/$ws/package.json" "$stage/$ws/"; done
  cp -al "$root/node_modules" "$stage/node_modules"
  rm -f "$stage/node_modules/.package-lock.json"
  if [[ -f $root/node_modules/.package-lock.json ]]; then cp "$root/node_modules/.package-lock.json" "$stage/node_modules/"; fi
  (cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >"$work/prune.log" 2>&1) \
    || { tail -n 20 "$work/prune.log" >&2; die "npm prune --omit=dev failed"; }
  # Type declarations that some runtime packages list as dependencies: never loaded.
  tar -c -C "$stage" --exclude=node_modules/@types --exclude=node_modules/.cache node_modules \
      -C "$root/images/node-deps" Dockerfile \
    | docker_build "$NODE_DEPS" "$h" --build-arg "BASE=$NODE_BASE" -
  rm -rf "$stage"
}

# The Dockerfile's runtime-base stage (user, mount points, entrypoint) on the production
# dependencies; its build stage (npm ci) is not reached with --target.
build_app_base() {
  local h
  h=$( { echo "$script_hash $(image_id "$NODE_DEPS")"; sha256sum "$root/Dockerfile"; } | sha256sum | cut -c1-64)
  up_to_date "$APP_BASE" "$h" && return 0
  docker_build "$APP_BASE" "$h" --target runtime-base --build-arg "BASE=$NODE_DEPS" -f "$root/Dockerfile" "$root/images/app"
}

# The context of the online build (mirrors .dockerignore).
app_files() {
  cd "$root" && find . \( -path ./.git -o -name node_modules -o -path ./var -o -path ./certs -o -name dist \
    -o -path ./.cache -o -name '*.log' -o -name .env \) -prune -o -type f -print0 | sort -z
}

build_app() {
  local h layout=$work/app
  if ((online)); then
    h=$( { echo "$script_hash online"; app_files | (cd "$root" && xargs -0 sha256sum 2>/dev/null) || true; } | sha256sum | cut -c1-64)
    up_to_date "$APP_IMAGE" "$h" && return 0
    docker_build "$APP_IMAGE" "$h" -f "$root/Dockerfile" "$root"
    return 0
  fi
  # The same layout as the Dockerfile's build stage makes, from a host build (tsc -b is
  # incremental: ~2 s when nothing changed).
  (cd "$root" && npm run --silent build >"$work/tsc.log" 2>&1) || { tail -n 30 "$work/tsc.log" >&2; die "npm run build failed"; }
  sh "$root/scripts/runtime-layout.sh" "$root" "$layout/app"
  cp "$root/images/app/Dockerfile" "$layout/"
  h=$( {
      echo "$script_hash $(image_id "$APP_BASE")"
      cd "$layout" && find . -type f -print0 | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-64)
  up_to_date "$APP_IMAGE" "$h" && return 0
  tar -c -C "$layout" . | docker_build "$APP_IMAGE" "$h" --build-arg "BASE=$APP_BASE" -
}

if ((!online)); then
  build_session_base
  build_node_base
  build_node_deps
  build_app_base
fi
build_session
build_app

# Earlier builds that were still in use by a container when they were replaced.
docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
