#!/usr/bin/env bash
# Speed benchmark for the four release-installed services (prometheus, node_exporter, alertmanager, mysqld_exporter)
# on one bookworm systemd container fed from the local mirror — the setup the anchor was measured on:
#   prometheus.prometheus 0.30.2: no-change run 82.5 s (193 task results), --check 79.9 s, facts + ping 3.6 s.
# Target: our no-change run and our --check each under 0.15 x 82.5 s = 12.4 s; every unit scores <= 2.0 in
# `systemd-analyze security`. Prints the figures; exits 1 when a target is missed.
# Usage: benchmarks/noop_speed.sh [RUNS]   (default 3 runs of each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
bash "$root/tests/harness/prepare.sh" >/dev/null
source "$root/tests/harness/env.sh"
name=hm-bench-speed
work=$(mktemp -d /tmp/hm-bench-XXXX)
trap 'docker rm -f "$name" >/dev/null 2>&1; rm -rf "$work"' EXIT
bash "$root/tests/harness/start_host.sh" "$name" bookworm
mirror_hosts=$(sed -n 's/^hm_mirror_url_hosts: "\(.*\)"$/\1/p' "$HM_CACHE/harness.yml")
docker exec "$name" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server python3-pymysql >/dev/null \
  && curl -fsS $mirror_hosts/extras/alertmanager-templates.tar.gz | tar -xz -C /"

# inventory: the mirror mapping of the Molecule base config, one host in the four groups
MOLECULE_EPHEMERAL_DIRECTORY="$work" python - "$root/.config/molecule/config.yml" "$work/inventory.yml" "$name" <<'PY'
import sys, yaml
base = yaml.safe_load(open(sys.argv[1]))["provisioner"]["inventory"]["group_vars"]["all"]
base = {k: v for k, v in base.items()}
base.update(ansible_connection="community.docker.docker", ansible_python_interpreter="/usr/bin/python3",
            hm_downloads=sys.argv[2].rsplit("/", 1)[0] + "/downloads",
            mysqld_exporter_db_password="bench-Pass-0123")
inv = {"all": {"vars": base, "children": {g: {"hosts": {sys.argv[3]: None}}
       for g in ("prometheus", "node_exporter", "alertmanager", "mysqld_exporter", "mysql")}}}
yaml.safe_dump(inv, open(sys.argv[2], "w"), sort_keys=False)
PY
cat > "$work/ping.yml" <<'PLAY'
- name: Facts and ping (the anchor's baseline)
  hosts: all
  gather_facts: true
  tasks:
    - name: Ping
      ansible.builtin.ping:
PLAY
play() { # label args... -> prints seconds, checks the recap
  local s e out
  s=$(date +%s.%N)
  out=$(ansible-playbook -i "$work/inventory.yml" -e "@$HM_CACHE/harness.yml" "$@" 2>&1) || { echo "$out" >&2; return 1; }
  e=$(date +%s.%N)
  echo "$out" > "$work/last.log"
  python3 -c "print(f'{$e - $s:.2f}')"
}
recap() { grep -E "^$name +:" "$work/last.log" | sed 's/  */ /g'; }
results() { grep -cE '^(ok|changed|skipping):' "$work/last.log" || true; }

echo "converging the four services once ..."
first=$(play "$root/playbooks/site.yml"); echo "fresh converge: ${first}s  ($(recap))"
declare -a noop check
for i in $(seq 1 "$runs"); do
  noop+=("$(play "$root/playbooks/site.yml")"); r=$(recap); n=$(results)
  case $r in *" changed=0 "*) ;; *) echo "no-change run $i changed something: $r"; exit 1;; esac
done
for i in $(seq 1 "$runs"); do
  check+=("$(play "$root/playbooks/site.yml" --check)"); r=$(recap)
  case $r in *" changed=0 "*) ;; *) echo "--check run $i reports changes: $r"; exit 1;; esac
done
ping=$(play "$work/ping.yml")
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m_noop=$(median "${noop[@]}"); m_check=$(median "${check[@]}")
echo
printf '%-28s %10s %10s %8s\n' "" "anchor" "ours" "ratio"
python3 - "$m_noop" "$m_check" "$ping" "$n" <<'PY'
import sys
noop, check, ping, results = map(float, sys.argv[1:5])
rows = [("no-change run (s)", 82.5, noop), ("--check run (s)", 79.9, check), ("facts + ping (s)", 3.6, ping),
        ("task results (no-change)", 193, results)]
for label, a, o in rows:
    print("%-28s %10.1f %10.2f %8.3f" % (label, a, o, o / a))
load = ping / 3.6
print("machine speed factor (our facts+ping / anchor's): %.2f; no-change ratio normalized by it: %.3f" % (load, noop / 82.5 / load))
PY
echo "no-change runs: ${noop[*]}; --check runs: ${check[*]}"
if [ -n "${HM_BENCH_PROFILE:-}" ]; then
  ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks play "$root/playbooks/site.yml" >/dev/null
  echo "per-task times of one more no-change run:"; sed -n '/^TASKS RECAP/,$p' "$work/last.log" | tail -n +3
fi
fail=0
for u in prometheus node_exporter alertmanager mysqld_exporter; do
  s=$(docker exec "$name" systemd-analyze security "$u.service" --no-pager | sed -n 's/.*level for .*: \([0-9.]*\).*/\1/p')
  echo "systemd-analyze security $u: $s"
  python3 -c "import sys; sys.exit(0 if float('$s') <= 2.0 else 1)" || { echo "  exposure above 2.0"; fail=1; }
done
limit=$(python3 -c 'print(0.15 * 82.5)')
python3 -c "import sys; sys.exit(0 if $m_noop < $limit else 1)" || { echo "no-change median ${m_noop}s >= ${limit}s"; fail=1; }
python3 -c "import sys; sys.exit(0 if $m_check < $limit else 1)" || { echo "--check median ${m_check}s >= ${limit}s"; fail=1; }
[ $fail -eq 0 ] && echo "speed and hardening targets met" || exit 1
