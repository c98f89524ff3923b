#!/usr/bin/env bash
# Builds the systemd base images the Molecule scenarios boot: Debian 12 (bookworm) and 13 (trixie),
# with debootstrap + `docker import` (no registry is reachable). Each image is tagged by a content key
# (this script + suite), so a warm machine reuses it; `hybridmon/systemd:<suite>` always points at the current one.
# Usage: build_images.sh [suite...]   (default: bookworm trixie)
set -euo pipefail
suites=("$@"); [ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)
mirror=${HM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
pkgs=systemd,systemd-sysv,python3,python3-apt,sudo,ca-certificates,gnupg,iproute2,dbus,procps,curl
# The content key covers what goes into the image (bump RECIPE when the rootfs steps below change), not this
# script's other lines, so editing comments or locking does not rebuild images.
RECIPE=1
self_key=$(printf '%s|%s|%s' "$RECIPE" "$pkgs" "$mirror" | sha256sum | cut -c1-12)
log() { printf '[images] %s\n' "$*" >&2; }

mkdir -p "${HM_CACHE:-/var/cache/hybridmon}"
exec 9>"${HM_CACHE:-/var/cache/hybridmon}/.images.lock"; flock 9   # concurrent callers wait for one build
for suite in "${suites[@]}"; do
  tag="hybridmon/systemd:${suite}-${self_key}"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    docker tag "$tag" "hybridmon/systemd:${suite}"
    log "$tag cached"
    continue
  fi
  root=$(mktemp -d /var/tmp/hm-rootfs-XXXX)
  log "debootstrap $suite -> $root"
  start=$(date +%s)
  debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -30 "$root.log" >&2; exit 1; }
  # Debian's testing/unstable Release files can be past Valid-Until on this machine's clock.
  printf 'Acquire::Check-Valid-Until "false";\n' > "$root/etc/apt/apt.conf.d/99hybridmon-valid-until"
  printf 'APT::Install-Recommends "false";\n' > "$root/etc/apt/apt.conf.d/99hybridmon-norecommends"
  # Containers have no getty/udev worth running; keep boot fast and quiet.
  for u in getty.target systemd-udevd.service systemd-udev-trigger.service systemd-random-seed.service \
           systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
  done
  chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  : > "$root/etc/machine-id"
  tar -C "$root" -c . | docker import \
      -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' - "$tag" >/dev/null
  docker tag "$tag" "hybridmon/systemd:${suite}"
  rm -rf "$root" "$root.log"
  log "$tag built in $(( $(date +%s) - start ))s"
done
