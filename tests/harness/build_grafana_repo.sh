#!/usr/bin/env bash
# Builds a signed, TEST-ONLY local APT repository holding:
#   * grafana (12.0.0+double1): NOT Grafana. It installs the Grafana HTTP API test double
#     (tests/doubles/grafana_api_double.py) under /usr/share/grafana-double, a `grafana` system user,
#     /etc/grafana/{grafana.ini,provisioning/*} and a grafana-server.service running the double with
#     /etc/grafana/grafana.ini, so the grafana role's real apt/gpg path (key download, fingerprint check,
#     Signed-By, install, pin, hold, service) runs against it in Molecule.
#   * grafana-com-double: the grafana.com download API double on 127.0.0.1:8089 (grafana-com-double.service).
#
# Usage: tests/harness/build_grafana_repo.sh OUTDIR        (e.g. .cache/grafana-repo)
# Output:
#   OUTDIR/repo/               the repository (serve it over HTTP; InRelease/Release.gpg signed)
#   OUTDIR/repo/gpg.key        ASCII-armored key bundle: the signing key AND an unrelated decoy key, so the role must
#                              pick the pinned fingerprint instead of trusting the whole download
#   OUTDIR/vars.yml            role variables pointing at the repo (set hybridmon_grafana_repo_url to where it is served)
# The throwaway signing key is generated once and kept in OUTDIR/gnupg; the repo is rebuilt only when the content
# key (this script + the doubles) changes. Idempotent; a warm run takes well under a second.
set -euo pipefail

out=${1:?usage: $0 OUTDIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
doubles="$here/tests/doubles"
version="12.0.0+double1"
log() { printf '[grafana-repo] %s\n' "$*" >&2; }

need=()
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v gpg >/dev/null || need+=(gnupg)
command -v apt-ftparchive >/dev/null || need+=(apt-utils)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
key=$(cat "$0" "$doubles/grafana_api_double.py" "$doubles/grafana_com_double.py" "$doubles/README.md" | sha256sum | cut -c1-16)

# ---- throwaway keys (generated once) -------------------------------------------------------------------------
export GNUPGHOME="$out/gnupg"
if [ ! -f "$GNUPGHOME/.ready" ]; then
  log "generating the throwaway signing key and a decoy key"
  rm -rf "$GNUPGHOME"
  mkdir -p "$GNUPGHOME" && chmod 0700 "$GNUPGHOME"
  gpg --batch --quiet --passphrase '' --pinentry-mode loopback \
    --quick-gen-key "hybridmon TEST-ONLY grafana double repo <grafana-double@hybridmon.invalid>" rsa3072 sign never
  gpg --batch --quiet --passphrase '' --pinentry-mode loopback \
    --quick-gen-key "hybridmon decoy key, must NOT be trusted <decoy@hybridmon.invalid>" rsa3072 sign never
  touch "$GNUPGHOME/.ready"
fi
fpr_of() {
  gpg --batch --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" { print $10; exit }'
}
fpr=$(fpr_of grafana-double@hybridmon.invalid)
decoy=$(fpr_of decoy@hybridmon.invalid)

if [ -f "$out/.key" ] && [ "$(cat "$out/.key")" = "$key" ] && [ -f "$out/repo/dists/stable/InRelease" ]; then
  log "up to date ($key, signing key $fpr)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- the grafana double package ------------------------------------------------------------------------------
pkg="$work/grafana"
install -d "$pkg/DEBIAN" "$pkg/usr/share/grafana-double" "$pkg/usr/sbin" "$pkg/lib/systemd/system" \
  "$pkg/etc/grafana/provisioning/datasources" "$pkg/etc/grafana/provisioning/dashboards" \
  "$pkg/etc/grafana/provisioning/plugins" "$pkg/etc/grafana/provisioning/alerting" "$pkg/usr/share/doc/grafana"
install -m 0644 "$doubles/grafana_api_double.py" "$pkg/usr/share/grafana-double/grafana_api_double.py"
install -m 0644 "$doubles/README.md" "$pkg/usr/share/doc/grafana/README.double.md"
cat > "$pkg/usr/sbin/grafana-server" <<'EOF'
#!/bin/sh
# TEST DOUBLE: runs the Grafana HTTP API double, not Grafana.
exec /usr/bin/python3 /usr/share/grafana-double/grafana_api_double.py "$@"
EOF
chmod 0755 "$pkg/usr/sbin/grafana-server"
cat > "$pkg/etc/grafana/grafana.ini" <<'EOF'
; grafana.ini shipped by the TEST DOUBLE package (Grafana's defaults: port 3000, admin/admin on first start).
[server]
http_port = 3000
EOF
cat > "$pkg/lib/systemd/system/grafana-server.service" <<'EOF'
[Unit]
Description=Grafana HTTP API TEST DOUBLE (hybridmon tests; not Grafana)
Documentation=file:///usr/share/doc/grafana/README.double.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=grafana
Group=grafana
WorkingDirectory=/usr/share/grafana-double
ExecStart=/usr/sbin/grafana-server --config /etc/grafana/grafana.ini --homepath /usr/share/grafana-double
Restart=on-failure
RestartSec=2
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/lib/grafana /var/log/grafana
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
EOF
cat > "$pkg/DEBIAN/control" <<EOF
Package: grafana
Version: $version
Architecture: all
Maintainer: hybridmon.monitoring tests <tests@hybridmon.invalid>
Depends: python3 (>= 3.9), python3-yaml, adduser
Section: devel
Priority: optional
Description: TEST DOUBLE of Grafana's HTTP API (not Grafana)
 Test-only package for the hybridmon.monitoring collection. It installs a small
 Python server implementing the parts of Grafana's documented HTTP API that the
 collection uses, under Grafana's package name, unit name and paths.
EOF
echo /etc/grafana/grafana.ini > "$pkg/DEBIAN/conffiles"
cat > "$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent group grafana >/dev/null || addgroup --system --quiet grafana
  getent passwd grafana >/dev/null || adduser --system --quiet --ingroup grafana --home /usr/share/grafana-double \
    --no-create-home --shell /usr/sbin/nologin grafana
  install -d -o grafana -g grafana -m 0750 /var/lib/grafana /var/log/grafana
  chown root:grafana /etc/grafana /etc/grafana/grafana.ini
  chmod 0755 /etc/grafana
  chmod 0640 /etc/grafana/grafana.ini
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
exit 0
EOF
cat > "$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then rm -rf /var/lib/grafana /var/log/grafana; fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/postrm"

# ---- the grafana.com double package -------------------------------------------------------------------------
com="$work/grafana-com-double"
install -d "$com/DEBIAN" "$com/usr/share/grafana-double" "$com/lib/systemd/system"
install -m 0644 "$doubles/grafana_com_double.py" "$com/usr/share/grafana-double/grafana_com_double.py"
cat > "$com/lib/systemd/system/grafana-com-double.service" <<'EOF'
[Unit]
Description=grafana.com dashboard download API TEST DOUBLE on 127.0.0.1:8089 (hybridmon tests)

[Service]
Type=simple
DynamicUser=yes
ExecStart=/usr/bin/python3 /usr/share/grafana-double/grafana_com_double.py --host 127.0.0.1 --port 8089
Restart=on-failure

[Install]
WantedBy=multi-user.target
EOF
cat > "$com/DEBIAN/control" <<EOF
Package: grafana-com-double
Version: $version
Architecture: all
Maintainer: hybridmon.monitoring tests <tests@hybridmon.invalid>
Depends: python3 (>= 3.9)
Section: devel
Priority: optional
Description: TEST DOUBLE of grafana.com's dashboard download API
 Serves stand-in dashboards 1860, 7362 and 10231 on 127.0.0.1:8089 for tests.
EOF
cat > "$com/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  systemctl enable --now grafana-com-double.service || true
fi
exit 0
EOF
chmod 0755 "$com/DEBIAN/postinst"

# ---- repository --------------------------------------------------------------------------------------------
repo="$work/repo"
install -d "$repo/pool/main/g/grafana"
for p in "$pkg" "$com"; do
  find "$p" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$p" "$repo/pool/main/g/grafana/" >/dev/null
done
(
  cd "$repo"
  for arch in amd64 arm64 all; do
    install -d "dists/stable/main/binary-$arch"
    apt-ftparchive packages pool > "dists/stable/main/binary-$arch/Packages"
    gzip -9nkf "dists/stable/main/binary-$arch/Packages"
  done
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin="hybridmon-test" \
    -o APT::FTPArchive::Release::Label="grafana TEST DOUBLE" \
    -o APT::FTPArchive::Release::Suite=stable \
    -o APT::FTPArchive::Release::Codename=stable \
    -o APT::FTPArchive::Release::Architectures="amd64 arm64 all" \
    -o APT::FTPArchive::Release::Components=main \
    release dists/stable > "$work/Release"
  mv "$work/Release" dists/stable/Release
  gpg --batch --yes --local-user "$fpr" --clearsign -o dists/stable/InRelease dists/stable/Release
  gpg --batch --yes --local-user "$fpr" -abs -o dists/stable/Release.gpg dists/stable/Release
  # the key bundle holds the decoy too (like Grafana's, which carries expired and revoked predecessors)
  gpg --batch --armor --export "$decoy" "$fpr" > gpg.key
)
rm -rf "$out/repo.new"
mv "$repo" "$out/repo.new"
rm -rf "$out/repo"
mv "$out/repo.new" "$out/repo"

cat > "$out/vars.yml" <<EOF
---
# Generated by tests/harness/build_grafana_repo.sh: points the grafana role at the TEST-ONLY repository in
# $out/repo. Define hybridmon_grafana_repo_url as the HTTP URL that serves that directory.
grafana_apt_repo_url: "{{ hybridmon_grafana_repo_url }}"
grafana_apt_key_url: "{{ hybridmon_grafana_repo_url }}/gpg.key"
grafana_apt_key_fingerprint: $fpr
grafana_apt_suite: stable
grafana_apt_components:
  - main
grafana_version: "$version"
# the decoy key in gpg.key that must never land in the keyring
grafana_double_decoy_fingerprint: $decoy
# grafana.com double (package grafana-com-double from the same repository)
grafana_com_url: http://127.0.0.1:8089
EOF
echo "$key" > "$out/.key"
log "built $out/repo ($key); signing key $fpr"
