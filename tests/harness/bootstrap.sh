#!/usr/bin/env bash
# Installs everything the harness needs on a fresh Debian 12 machine (run as root):
# apt packages, a running dockerd, and the pinned Python venv in .venv.
# Idempotent: every step checks first, so a warm machine spends ~1 s here.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '[bootstrap] %s\n' "$*" >&2; }

need_pkgs=()
for p in docker.io debootstrap rsync make jq curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# dockerd: start one when none answers (no systemd on the CI host).
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  (setsid dockerd >/var/log/hybridmon-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up:"; tail -20 /var/log/hybridmon-dockerd.log >&2; exit 1; }
fi

# venv in the cache, keyed by the requirements content (a changed pin builds a new one); .venv links to it.
req="$here/tests/requirements.txt"
key=$(sha256sum "$req" | cut -c1-16)
cache=${HM_CACHE:-/var/cache/hybridmon}
venv="$cache/venv-$key"
if [ ! -f "$venv/.ready" ]; then
  log "creating venv $venv"
  rm -rf "$venv"; mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip 2>"$cache/pip.log" >/dev/null || { cat "$cache/pip.log" >&2; exit 1; }
  "$venv/bin/pip" install -q -r "$req" 2>>"$cache/pip.log" >/dev/null || { grep -v '^WARNING: Location' "$cache/pip.log" >&2; exit 1; }
  touch "$venv/.ready"
fi
if [ "$(readlink "$here/.venv" 2>/dev/null)" != "$venv" ]; then
  rm -rf "$here/.venv"; ln -sfn "$venv" "$here/.venv"
fi
venv="$here/.venv"
log "ready: $("$venv/bin/python" -c "import ansible; print(ansible.__version__)") in $venv"
