#!/usr/bin/env bash
# Serves $HM_CACHE (release mirror, APT repositories) read-only over HTTP from a container on the project's own
# docker network: test hosts reach it as http://hybridmon-mirror:8000, the controller as http://127.0.0.1:$HM_MIRROR_PORT.
# Kept running between checks; recreated only when its image or settings change.
set -euo pipefail
source "$(dirname "$0")/env.sh"
name=hybridmon-mirror
image=hybridmon/systemd:bookworm
docker network inspect "$HM_NETWORK" >/dev/null 2>&1 || docker network create "$HM_NETWORK" >/dev/null
want="$(docker image inspect -f '{{.Id}}' "$image")|$HM_CACHE|$HM_MIRROR_PORT"
have=$(docker inspect -f '{{index .Config.Labels "hm.key"}}|{{.State.Running}}' "$name" 2>/dev/null || true)
if [ "$have" != "$want|true" ]; then
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --network "$HM_NETWORK" --label "hm.key=$want" \
    -p "127.0.0.1:$HM_MIRROR_PORT:8000" -v "$HM_CACHE:/srv:ro" \
    "$image" python3 -m http.server 8000 --bind 0.0.0.0 --directory /srv >/dev/null
fi
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$HM_MIRROR_PORT/" >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "mirror server did not answer on 127.0.0.1:$HM_MIRROR_PORT" >&2; docker logs "$name" >&2; exit 1
