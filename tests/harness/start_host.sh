#!/usr/bin/env bash
# Starts a fresh systemd test host (replacing one of the same name) with the options that work on this machine
# (no --privileged; see shared FACTS), on the project's docker network, and waits until systemd is up.
# Usage: start_host.sh NAME [IMAGE_SUITE] [extra docker run args...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
name=${1:?usage: start_host.sh NAME [bookworm|trixie] [docker args...]}
suite=${2:-bookworm}
shift $(( $# >= 2 ? 2 : 1 ))
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" --hostname "$name" --network "$HM_NETWORK" --cap-add SYS_ADMIN --cap-add NET_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined --cgroupns host \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$@" \
  "hybridmon/systemd:$suite" /lib/systemd/systemd >/dev/null
for _ in $(seq 1 60); do
  state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
  case $state in running|degraded) exit 0 ;; esac
  sleep 0.5
done
echo "$name: systemd did not come up (state: ${state:-none})" >&2; exit 1
