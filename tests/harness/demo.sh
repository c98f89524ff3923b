#!/usr/bin/env bash
# `make demo`: the full stack of playbooks/site.yml (Prometheus, node_exporter, mysqld_exporter against a local
# MariaDB, Alertmanager, Grafana) converged into a fresh local systemd container from the local release mirror
# (Debian's builds repacked as upstream tarballs), then what it serves.
# Grafana here is the TEST-ONLY packaged Grafana API double (tests/doubles): no Grafana build can be had offline.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/prepare.sh"
source "$here/env.sh"
name=hybridmon-demo
pport=${HM_DEMO_PROMETHEUS_PORT:-19090}
gport=${HM_DEMO_GRAFANA_PORT:-13000}
aport=${HM_DEMO_ALERTMANAGER_PORT:-19093}
work="$HM_CACHE/demo"
mkdir -p "$work"
bash "$here/start_host.sh" "$name" bookworm -p "127.0.0.1:$pport:9090" -p "127.0.0.1:$gport:3000" -p "127.0.0.1:$aport:9093"
mirror_hosts=$(sed -n 's/^hm_mirror_url_hosts: "\(.*\)"$/\1/p' "$HM_CACHE/harness.yml")
echo "[demo] installing MariaDB in $name (the database the seed guide monitors)"
docker exec "$name" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server python3-pymysql >/dev/null \
  && curl -fsS $mirror_hosts/extras/alertmanager-templates.tar.gz | tar -xz -C /"
# The mirror mapping of the Molecule base config, one host in every group of site.yml.
MOLECULE_EPHEMERAL_DIRECTORY="$work" python - "$HM_ROOT/.config/molecule/config.yml" "$work/inventory.yml" "$name" <<'PY'
import sys, yaml
base = dict(yaml.safe_load(open(sys.argv[1]))["provisioner"]["inventory"]["group_vars"]["all"])
base.update(ansible_connection="community.docker.docker", ansible_python_interpreter="/usr/bin/python3",
            hm_downloads=sys.argv[2].rsplit("/", 1)[0] + "/downloads",
            mysqld_exporter_db_password="demo-Monitoring-pw1")
groups = ("prometheus", "node_exporter", "mysqld_exporter", "mysql", "alertmanager", "grafana")
inv = {"all": {"vars": base, "children": {g: {"hosts": {sys.argv[3]: None}} for g in groups}}}
yaml.safe_dump(inv, open(sys.argv[2], "w"), sort_keys=False)
PY
start=$(date +%s)
ansible-playbook -i "$work/inventory.yml" -e "@$HM_CACHE/harness.yml" "$HM_ROOT/playbooks/site.yml"
took=$(( $(date +%s) - start ))
echo
echo "=== hybridmon demo: converged in ${took}s into container $name ==="
echo "Prometheus:   http://127.0.0.1:$pport"
echo "Alertmanager: http://127.0.0.1:$aport"
gpw=$(sed -n 's/^grafana_admin_password: "\(.*\)"$/\1/p' "$HM_CACHE/harness.yml")
echo "Grafana:      http://127.0.0.1:$gport  (TEST DOUBLE of Grafana's HTTP API, no UI) - log in as admin / $gpw"
echo "              e.g. curl -u admin:$gpw http://127.0.0.1:$gport/api/search"
for _ in $(seq 1 30); do   # let every target be scraped at least once
  curl -fsS "http://127.0.0.1:$pport/api/v1/targets?state=active" | grep -q '"health":"unknown"' || break; sleep 1
done
echo "Targets (from Prometheus' own API):"
curl -fsS "http://127.0.0.1:$pport/api/v1/targets?state=active" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    print("  %-16s %-24s health=%-7s %s" % (t["labels"]["job"], t["labels"]["instance"], t["health"], t.get("lastError", "")))'
echo "up{} as Prometheus reports it:"
curl -fsS "http://127.0.0.1:$pport/api/v1/query?query=up" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print("  up{job=%r, instance=%r} = %s" % (r["metric"]["job"], r["metric"]["instance"], r["value"][1]))'
echo "Grafana dashboards:"
curl -fsS -u "admin:$gpw" "http://127.0.0.1:$gport/api/search?type=dash-db" | python3 -c '
import json, sys
for d in json.load(sys.stdin):
    print("  %-40s folder=%s" % (d["title"], d.get("folderTitle", "General")))'
