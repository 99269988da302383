# shellcheck shell=bash
# Sourced by bootstrap.sh and build-images.sh. Makes the `docker` CLI on PATH
# usable against the local engine without changing anything that already works:
# - a client newer than the engine normally negotiates down by itself; only when
#   the engine refuses it ("client version X is too new") is DOCKER_API_VERSION
#   set to the engine's maximum;
# - without the buildx plugin, `docker build` uses the legacy builder
#   (DOCKER_BUILDKIT=0 says so explicitly and silences the deprecation notice).

portcullis_docker_env() {
  local out
  if [[ -z ${DOCKER_API_VERSION:-} ]] && ! out=$(docker version --format '{{.Server.APIVersion}}' 2>&1); then
    if [[ $out =~ [Mm]aximum\ supported\ API\ version\ is\ ([0-9]+\.[0-9]+) ]]; then
      export DOCKER_API_VERSION=${BASH_REMATCH[1]}
      echo "docker: client is newer than the engine; using DOCKER_API_VERSION=$DOCKER_API_VERSION"
    fi
  fi
  if [[ -z ${DOCKER_BUILDKIT:-} ]] && ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
  fi
}
