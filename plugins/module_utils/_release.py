# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils of hybridmon.monitoring: no compatibility promise outside this collection.
#
# Shared by the release_install module (target side) and its action plugin (controller side):
# architecture names, checksum list parsing, hashing and the installed-release state record.

import hashlib
import json
import os
import re

# uname -m -> the architecture suffix the Prometheus project uses in release file names
ARCH_MAP = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armv7",
    "armv6l": "armv6",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
}

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ReleaseError(Exception):
    """A release could not be resolved, verified or installed; the message names what and why."""


def release_arch(machine):
    try:
        return ARCH_MAP[machine]
    except KeyError:
        raise ReleaseError("unsupported machine architecture %r (known: %s)" % (machine, ", ".join(sorted(ARCH_MAP))))


def archive_name(template, name, version, arch):
    try:
        return template.format(name=name, version=version, arch=arch)
    except (KeyError, IndexError, ValueError) as e:
        raise ReleaseError("bad archive name template %r: %s (placeholders: {name}, {version}, {arch})" % (template, e))


def parse_checksums(text, source="sha256sums.txt"):
    """Parse ``sha256sum`` output (``<hex>  <file>`` or ``<hex> *<file>``) into {file: hex}."""
    sums = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not SHA256_RE.match(parts[0].lower()):
            raise ReleaseError("%s line %d is not '<sha256>  <file>': %r" % (source, lineno, line[:120]))
        sums[os.path.basename(parts[1].lstrip("*").strip())] = parts[0].lower()
    if not sums:
        raise ReleaseError("%s holds no checksums" % source)
    return sums


def normalize_checksum(value):
    """Accept ``<hex>`` or ``sha256:<hex>``; return lower-case hex or raise naming the value."""
    v = str(value).strip().lower()
    if v.startswith("sha256:"):
        v = v[7:]
    if not SHA256_RE.match(v):
        raise ReleaseError("checksum %r is not a sha256 (64 hex digits, optionally prefixed 'sha256:')" % (value,))
    return v


def sha256_file(path, bufsize=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(bufsize)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError):
        return None


def write_json_atomic(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
