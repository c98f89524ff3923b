#!/usr/bin/env bash
# Builds a local release mirror shaped like the upstream GitHub release URLs from Debian's builds of the
# upstream binaries (no GitHub here):
#   <mirror>/prometheus/<project>/releases/download/v<V>/<project>-<V>.linux-amd64.tar.gz + sha256sums.txt
# Versions are discovered from Debian's archive at build time (Debian suffixes stripped) and written to
# <mirror>/vars.yml, which scenarios read; nothing in the tests hard-codes a version.
# Cached by content key (this script): a warm run does no network at all.
# Usage: build_mirror.sh OUTDIR_PARENT   -> prints the mirror directory
set -euo pipefail
parent=${1:?usage: build_mirror.sh CACHE_DIR}
key=$(sha256sum "$0" | cut -c1-12)
out="$parent/mirror-$key"
log() { printf '[mirror] %s\n' "$*" >&2; }
mkdir -p "$parent"
exec 9>"$parent/.mirror.lock"; flock 9   # concurrent callers wait for one build
if [ -f "$out/vars.yml" ]; then log "cached: $out"; echo "$out"; exit 0; fi

work=$(mktemp -d /var/tmp/hm-mirror-XXXX)
trap 'rm -rf "$work"' EXIT
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$work/debs" "$work/x"
cat > "$apt_dir/sources.list" <<SRC
deb ${HM_DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main
deb ${HM_DEBIAN_MIRROR:-http://deb.debian.org/debian} sid main
SRC
# A private apt state: the host's sources and pins are never touched.
APT=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Acquire::Check-Valid-Until=false
     -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null -o APT::Get::List-Cleanup=false)
log "apt-get update (private lists: trixie + sid)"
apt-get "${APT[@]}" update -qq >/dev/null

# Debian version of a package in a suite, from the private lists.
debver() { apt-cache "${APT[@]}" madison "$1" | awk -v s="$2" '$0 ~ s"/main" {print $3; exit}'; }
# Upstream version from a Debian one: drop epoch, +ds/-revision suffixes.
upver() { sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+\.[0-9]+).*/\1/' <<<"$1"; }

fetch_deb() { # pkg suite -> extracted dir
  local pkg=$1 suite=$2 v d
  v=$(debver "$pkg" "$suite"); [ -n "$v" ] || { log "no $pkg in $suite"; exit 1; }
  d="$work/x/$pkg-$suite"; mkdir -p "$d"
  (cd "$work/debs" && chmod 0777 . && apt-get "${APT[@]}" download -qq "$pkg=$v" >/dev/null)
  dpkg-deb -x "$work/debs/${pkg}_${v//:/%3a}"_*.deb "$d"
  echo "$v"
}

# repack PROJECT VERSION FILE... : upstream layout <project>-<V>.linux-amd64/<files>
repack() {
  local project=$1 ver=$2; shift 2
  local name="$project-$ver.linux-amd64" rel="$out/prometheus/$project/releases/download/v$ver"
  mkdir -p "$work/pack/$name" "$rel"
  local f
  for f in "$@"; do cp -L "$f" "$work/pack/$name/"; done
  chmod 0755 "$work/pack/$name"/* 2>/dev/null || true
  for f in LICENSE NOTICE; do
    [ -e "$work/pack/$name/$f" ] || printf '%s %s: Debian build repacked for the hybridmon test mirror (see the Debian copyright file).\n' "$project" "$ver" > "$work/pack/$name/$f"
    chmod 0644 "$work/pack/$name/$f"
  done
  tar -C "$work/pack" --owner=0 --group=0 --numeric-owner --sort=name --mtime='2020-01-01' -czf "$rel/$name.tar.gz" "$name"
  (cd "$rel" && sha256sum "$name.tar.gz" > sha256sums.txt)
  rm -rf "$work/pack/$name"
  log "$project $ver"
}

mkdir -p "$out.tmp"; rm -rf "$out.tmp"/*; final=$out; out="$out.tmp"

pv=$(fetch_deb prometheus sid); fetch_deb promtool sid >/dev/null
P="$work/x/prometheus-sid" T="$work/x/promtool-sid"
printf 'global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ["localhost:9090"]\n' > "$work/prometheus.yml"
repack prometheus "$(upver "$pv")" "$P/usr/bin/prometheus" "$T/usr/bin/promtool" "$work/prometheus.yml"
prom_ver=$(upver "$pv")

pv2=$(fetch_deb prometheus trixie); P2="$work/x/prometheus-trixie"
if [ -x "$P2/usr/bin/promtool" ]; then t2="$P2/usr/bin/promtool"; else fetch_deb promtool trixie >/dev/null; t2="$work/x/promtool-trixie/usr/bin/promtool"; fi
repack prometheus "$(upver "$pv2")" "$P2/usr/bin/prometheus" "$t2" "$work/prometheus.yml"
prom_old=$(upver "$pv2")

# Debian names the binaries prometheus-*; upstream's tarballs carry the plain names.
mv_bin() { cp "$1" "$work/$2"; echo "$work/$2"; }
nv=$(fetch_deb prometheus-node-exporter sid)
repack node_exporter "$(upver "$nv")" "$(mv_bin "$work/x/prometheus-node-exporter-sid/usr/bin/prometheus-node-exporter" node_exporter)"

mv=$(fetch_deb prometheus-mysqld-exporter sid)
repack mysqld_exporter "$(upver "$mv")" "$(mv_bin "$work/x/prometheus-mysqld-exporter-sid/usr/bin/prometheus-mysqld-exporter" mysqld_exporter)"

av=$(fetch_deb prometheus-alertmanager sid); A="$work/x/prometheus-alertmanager-sid"
printf 'route:\n  receiver: default\nreceivers:\n  - name: default\n' > "$work/alertmanager.yml"
repack alertmanager "$(upver "$av")" "$(mv_bin "$A/usr/bin/prometheus-alertmanager" alertmanager)" "$A/usr/bin/amtool" "$work/alertmanager.yml"
# Debian's alertmanager does not embed its notification templates (upstream's does): test hosts need them.
mkdir -p "$out/extras"
tar -C "$A" --owner=0 --group=0 -czf "$out/extras/alertmanager-templates.tar.gz" usr/share/prometheus/alertmanager

# Host-side tools for tests (promtool/amtool for rule tests and the k8s checks).
mkdir -p "$out/bin"; cp "$T/usr/bin/promtool" "$A/usr/bin/amtool" "$out/bin/"

cat > "$out/vars.yml" <<VARS
# Generated by tests/harness/build_mirror.sh from Debian's archive; do not edit.
hm_prometheus_version: "$prom_ver"
hm_prometheus_old_version: "$prom_old"
hm_node_exporter_version: "$(upver "$nv")"
hm_mysqld_exporter_version: "$(upver "$mv")"
hm_alertmanager_version: "$(upver "$av")"
hm_debian_versions:
  prometheus: "$pv"
  prometheus_old: "$pv2"
  node_exporter: "$nv"
  mysqld_exporter: "$mv"
  alertmanager: "$av"
VARS
rm -rf "$final"; mv "$out" "$final"
log "built $final"; cat "$final/vars.yml" >&2
echo "$final"
