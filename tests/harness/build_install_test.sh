#!/usr/bin/env bash
# Proves the collection ships: `ansible-galaxy collection build`, `ansible-galaxy collection install --offline` into an
# empty path, then the installed copy (not the work tree) converges its Prometheus role by FQCN into a fresh host.
set -euo pipefail
source "$(dirname "$0")/env.sh"
work=$(mktemp -d /tmp/hm-build-XXXX)
name=hm-build-check
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$HM_ROOT"
ansible-galaxy collection build --force --output-path "$work" . >/dev/null
tarball=$(ls "$work"/hybridmon-monitoring-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
if tar -tzf "$tarball" | grep -qE '^(tests|molecule|\.ci|benchmarks)/'; then
  echo "tarball contains test files:"; tar -tzf "$tarball" | grep -E '^(tests|molecule|\.ci|benchmarks)/' | head; exit 1
fi
ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-galaxy collection install --offline --no-deps \
  -p "$work/installed" "$tarball" >/dev/null
test -f "$work/installed/ansible_collections/hybridmon/monitoring/MANIFEST.json"

bash "$HM_ROOT/tests/harness/start_host.sh" "$name" bookworm
cat > "$work/play.yml" <<'PLAY'
- name: Converge the installed collection's role by FQCN
  hosts: all
  gather_facts: false
  roles:
    - role: hybridmon.monitoring.prometheus
      vars:
        prometheus_version: "{{ hm_prometheus_version }}"
        prometheus_binary_url: "{{ hm_mirror_url_controller }}/prometheus/prometheus/releases/download/v{{ prometheus_version }}"
        prometheus_download_cache_dir: "{{ playbook_dir }}/downloads"
PLAY
printf '%s ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3\n' "$name" > "$work/hosts"
# only the installed copy and the bundled collections of the ansible package are visible
ANSIBLE_COLLECTIONS_PATH="$work/installed" ansible-playbook -i "$work/hosts" -e "@$HM_CACHE/harness.yml" "$work/play.yml"
docker exec "$name" curl -fsS http://127.0.0.1:9090/-/ready
