#!/usr/bin/env bash
# Builds the CRD-only Kubernetes API server the integration tests run (tests/k8s/apiserver/main.go) and
# fetches Debian's etcd for it. Both come from Debian's archive, built inside a throwaway trixie container
# with sid enabled (Go 1.27 and the k8s 0.36 libraries are only in sid), and are cached by content:
#
#   ${HM_CACHE:-.cache}/k8s/apiserver-<sha256(main.go + this script)>   static binary, ~110 MB
#   ${HM_CACHE:-.cache}/k8s/etcd-<sha256(this script)>                  Debian's etcd-server binary
#
# When both exist the script does nothing (warm: well under a second). Cold: apt-get ~2-4 min, go build
# ~3.5 min. Prints the two paths on stdout, one "name=path" line each.
#
# Environment:
#   HM_TRIXIE_IMAGE     trixie base image (default hybridmon/systemd:trixie; any Debian trixie image works)
#   HM_CACHE            cache directory (default .cache at the repository root)
#   HM_K8S_BUILD_CACHE  optional directory kept between cold builds for apt's .debs and Go's build cache
#                       (makes a rebuild after editing main.go take ~1 min instead of ~6); not used by default
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${HM_CACHE:-$root/.cache}
case $cache in /*) ;; *) cache=$PWD/$cache ;; esac
image=${HM_TRIXIE_IMAGE:-hybridmon/systemd:trixie}
log() { printf '[build_apiserver] %s\n' "$*" >&2; }

script_sha=$(sha256sum "$here/build_apiserver.sh" | cut -c1-16)
api_sha=$(cat "$here/apiserver/main.go" "$here/build_apiserver.sh" | sha256sum | cut -c1-16)
apiserver=$cache/k8s/apiserver-$api_sha
etcd=$cache/k8s/etcd-$script_sha

if [ -x "$apiserver" ] && [ -x "$etcd" ]; then
  printf 'apiserver=%s\netcd=%s\n' "$apiserver" "$etcd"
  exit 0
fi

command -v docker >/dev/null || { log "docker is needed to build the API server"; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 || {
  log "image $image not found: build the trixie image first or set HM_TRIXIE_IMAGE"; exit 1; }

mkdir -p "$cache/k8s"
work=$(mktemp -d "$cache/k8s/.build.XXXXXX")
name=hm-k8s-build-$$
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/src/apiserver" "$work/out"
cp "$here/apiserver/main.go" "$work/src/apiserver/main.go"
mounts=(-v "$work/src:/src:ro" -v "$work/out:/out")
if [ -n "${HM_K8S_BUILD_CACHE:-}" ]; then
  mkdir -p "$HM_K8S_BUILD_CACHE/apt" "$HM_K8S_BUILD_CACHE/go"
  mounts+=(-v "$HM_K8S_BUILD_CACHE/apt:/var/cache/apt/archives" -v "$HM_K8S_BUILD_CACHE/go:/root/.cache/go-build")
fi

need_api=0
[ -x "$apiserver" ] || need_api=1
log "building in $image (apiserver: $([ $need_api = 1 ] && echo build || echo cached), etcd: $([ -x "$etcd" ] && echo cached || echo fetch))"
start=$SECONDS
# shellcheck disable=SC2016  # expanded inside the container
docker run --rm --name "$name" --network host "${mounts[@]}" -e NEED_API="$need_api" "$image" bash -euo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive
  rm -f /etc/apt/apt.conf.d/docker-clean
  echo "Acquire::Check-Valid-Until \"false\";" > /etc/apt/apt.conf.d/99hm-no-valid-until
  echo "deb http://deb.debian.org/debian sid main" > /etc/apt/sources.list.d/hm-sid.list
  apt-get update -qq
  if [ "$NEED_API" = 1 ]; then
    apt-get install -y -qq -t sid --no-install-recommends golang-go golang-k8s-apiextensions-apiserver-dev >/dev/null
    cp -r /src/apiserver /tmp/apiserver
    cd /tmp/apiserver
    GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
      go build -trimpath -ldflags "-s -w" -o /out/apiserver .
  fi
  cd /tmp
  apt-get download -qq -t trixie etcd-server
  dpkg-deb -x etcd-server_*.deb /tmp/etcd-root
  cp /tmp/etcd-root/usr/bin/etcd /out/etcd
'
log "container work took $((SECONDS - start)) s"

chmod 0755 "$work/out/"*
"$work/out/etcd" --version >/dev/null || { log "the fetched etcd does not run on this host"; exit 1; }
if [ "$need_api" = 1 ]; then
  "$work/out/apiserver" --help >/dev/null || { log "the built apiserver does not run on this host"; exit 1; }
  mv "$work/out/apiserver" "$apiserver"
fi
[ -x "$etcd" ] || mv "$work/out/etcd" "$etcd"
printf 'apiserver=%s\netcd=%s\n' "$apiserver" "$etcd"
