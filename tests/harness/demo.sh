#!/usr/bin/env bash
# `make demo`: the full stack of playbooks/site.yml converged into a fresh local systemd container from the local
# release mirror (Debian's builds repacked as upstream tarballs), then what it serves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/prepare.sh"
source "$here/env.sh"
name=hybridmon-demo
port=${HM_DEMO_PROMETHEUS_PORT:-19090}
work="$HM_CACHE/demo"
mkdir -p "$work"
docker rm -f "$name" >/dev/null 2>&1 || true
docker run -d --name "$name" --hostname "$name" --network "$HM_NETWORK" -p "127.0.0.1:$port:9090" \
  --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
  hybridmon/systemd:bookworm /lib/systemd/systemd >/dev/null
docker exec "$name" systemctl is-system-running --wait >/dev/null || true
cat > "$work/inventory.yml" <<INV
all:
  vars:
    ansible_connection: community.docker.docker
    ansible_python_interpreter: /usr/bin/python3
    hm_release_base: "{{ hm_mirror_url_controller }}/prometheus"
    prometheus_version: "{{ hm_prometheus_version }}"
    prometheus_binary_url: "{{ hm_release_base }}/prometheus/releases/download/v{{ prometheus_version }}"
    prometheus_download_cache_dir: "$work/downloads"
    node_exporter_version: "{{ hm_node_exporter_version }}"
    node_exporter_binary_url: "{{ hm_release_base }}/node_exporter/releases/download/v{{ node_exporter_version }}"
    node_exporter_download_cache_dir: "$work/downloads"
    mysqld_exporter_version: "{{ hm_mysqld_exporter_version }}"
    mysqld_exporter_binary_url: "{{ hm_release_base }}/mysqld_exporter/releases/download/v{{ mysqld_exporter_version }}"
    mysqld_exporter_download_cache_dir: "$work/downloads"
    mysqld_exporter_db_password: "demo-only-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
    alertmanager_version: "{{ hm_alertmanager_version }}"
    alertmanager_binary_url: "{{ hm_release_base }}/alertmanager/releases/download/v{{ alertmanager_version }}"
    alertmanager_download_cache_dir: "$work/downloads"
  children:
    prometheus:
      hosts:
        $name:
    node_exporter:
      hosts:
        $name:
    mysqld_exporter:
      hosts:
        $name:
    alertmanager:
      hosts:
        $name:
INV
# The seed's single-host stack: a local MariaDB for mysqld_exporter (PyMySQL for the account management), and
# Debian's alertmanager templates (its build does not embed them, upstream's does).
docker exec "$name" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server python3-pymysql >/dev/null'
mirror_url=$(sed -n 's/^hm_mirror_url_hosts: *"\(.*\)"$/\1/p' "$HM_CACHE/harness.yml")
docker exec "$name" sh -c "curl -fsS $mirror_url/extras/alertmanager-templates.tar.gz | tar -xz -C /"
start=$(date +%s)
ansible-playbook -i "$work/inventory.yml" -e "@$HM_CACHE/harness.yml" "$HM_ROOT/playbooks/site.yml"
echo
echo "=== hybridmon demo: converged in $(( $(date +%s) - start ))s into container $name ==="
echo "Prometheus: http://127.0.0.1:$port  (from this machine; inside the container http://127.0.0.1:9090)"
echo "Targets (from Prometheus' own API):"
curl -fsS "http://127.0.0.1:$port/api/v1/targets?state=active" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("  %-16s %-24s health=%-7s %s" % (t["labels"]["job"], t["labels"]["instance"], t["health"], t.get("lastError", "")))'
echo "up{} as Prometheus reports it:"
curl -fsS "http://127.0.0.1:$port/api/v1/query?query=up" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print("  up{job=%r, instance=%r} = %s" % (r["metric"]["job"], r["metric"]["instance"], r["value"][1]))'
