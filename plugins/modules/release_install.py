#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: release_install
short_description: Install a verified upstream release tarball (Prometheus-style) in one step
description:
  - Installs the binaries of a release tarball shaped like the Prometheus project's
    (C(<name>-<version>.linux-<arch>.tar.gz) holding C(<name>-<version>.linux-<arch>/<binary>)) into a versioned directory
    under O(lib_dir) and points symlinks in O(install_dir) at them, keeping O(keep_versions) versions so an upgrade can be
    rolled back and a downgrade to a kept version needs no download.
  - Decides with one look at a small state record whether anything must change; an installed release whose binaries
    are intact is never downloaded or unpacked again.
  - Also ensures the service's system user, group and directories, so a role needs a single task for all of it.
  - With O(download_mode=controller) (the default, through the action plugin of the same name) the tarball is downloaded
    once per version and architecture into a cache on the controller, verified against C(sha256sums.txt) or a pinned
    checksum, and copied to the host only when the host needs it. With O(download_mode=target) the host downloads and
    verifies it. With O(download_mode=none) the binaries must already be in O(install_dir).
  - A tarball whose checksum does not match fails before anything is installed, naming the file and both sums.
  - With O(service) the same call then writes the service's unit and configuration files (each validated before any
    replaces a live file) and starts, restarts or reloads the service only when its inputs changed, proving it ready
    after every action, exactly as M(hybridmon.monitoring.service_control) does. An unchanged service costs one module
    call for release, account, directories, configuration and service together.
version_added: 0.1.0
author:
  - hybridmon.monitoring developers (@hybridmon)
options:
  name:
    description: Project name, used for the archive name, the version directory and the state record.
    type: str
    required: true
  version:
    description: Release version without a leading C(v), for example C(3.5.3).
    type: str
    required: true
  binaries:
    description: Names of the executables to take from the tarball.
    type: list
    elements: str
    required: true
  download_mode:
    description: Where the tarball is downloaded (see description).
    type: str
    choices: [controller, target, none]
    default: controller
  base_url:
    description:
      - URL of the release directory holding the tarball and the checksum list, for example
        C(https://github.com/prometheus/prometheus/releases/download/v3.5.3).
      - Required unless O(download_mode=none).
    type: str
  checksums_file:
    description: Name of the checksum list in O(base_url).
    type: str
    default: sha256sums.txt
  checksum:
    description:
      - Pinned checksum of the tarball, C(sha256:<hex>) or C(<hex>), or a mapping of architecture (C(amd64), C(arm64), ...)
        to checksum for mixed fleets. When set, the checksum list is not fetched.
    type: raw
  archive_template:
    description: File name of the tarball; placeholders C({name}), C({version}) and C({arch}).
    type: str
    default: "{name}-{version}.linux-{arch}.tar.gz"
  cache_dir:
    description: Download cache on the controller (O(download_mode=controller)).
    type: path
    default: ~/.cache/hybridmon/releases
  install_dir:
    description: Directory for the binaries' symlinks.
    type: path
    default: /usr/local/bin
  lib_dir:
    description: Directory holding one sub-directory per project with its kept versions and state record.
    type: path
    default: /usr/local/lib/hybridmon
  keep_versions:
    description: How many installed versions to keep (the current one included); at least 2 to allow rollback.
    type: int
    default: 2
  rollback:
    description: Switch back to the previously installed version (kept on disk) instead of installing O(version).
    type: bool
    default: false
  user:
    description: System user to ensure (no login shell, no home). Nothing is created when omitted.
    type: str
  group:
    description: System group to ensure; defaults to O(user).
    type: str
  directories:
    description: Directories to ensure, each with C(path) and optional C(owner), C(group), C(mode) (a quoted string).
    type: list
    elements: dict
    default: []
  src:
    description: Internal; path of an already transferred tarball on the host (set by the action plugin).
    type: path
  expected_sha256:
    description: Internal; the verified checksum of O(src) (set by the action plugin).
    type: str
  timeout:
    description: Download timeout in seconds.
    type: int
    default: 60
  retries:
    description: Download attempts before giving up.
    type: int
    default: 3
  validate_certs:
    description: Verify TLS certificates of downloads.
    type: bool
    default: true
  service:
    description:
      - Keep the release's systemd service running in the same module call, after the release is in place; a release
        that changed restarts it. Without it only the release, user and directories are handled.
      - Takes the options of M(hybridmon.monitoring.service_control) (C(files), C(restart_on), C(reload_on),
        C(ready_url), C(reload_metric), ...), checked the same way; C(name) defaults to O(name).
    type: dict
  rollback_on_failure:
    description:
      - With O(service), when a new release is activated and the service then fails its readiness proof (does not
        start, crash-loops, never answers), switch back to the previous release and to the unit and configuration
        files it ran with, restart it and prove it ready; the task still fails, naming both versions and what went
        wrong.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Computes the real decision; with O(download_mode=controller) the tarball is still fetched into the
      controller cache and verified, so a bad checksum also fails under C(--check).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
notes:
  - The host needs Python's C(tarfile) only; no C(tar) or C(unzip) binary is used.
"""

EXAMPLES = r"""
- name: Install Prometheus 3.5.3 (download once on the controller, verify, copy)
  become: true
  hybridmon.monitoring.release_install:
    name: prometheus
    version: 3.5.3
    binaries: [prometheus, promtool]
    base_url: https://github.com/prometheus/prometheus/releases/download/v3.5.3
    user: prometheus
    directories:
      - {path: /etc/prometheus, owner: root, group: prometheus, mode: "0750"}
      - {path: /var/lib/prometheus, owner: prometheus, group: prometheus, mode: "0750"}

- name: Install node_exporter, write its unit and keep it running, proven ready, in one call
  become: true
  hybridmon.monitoring.release_install:
    name: node_exporter
    version: 1.11.1
    binaries: [node_exporter]
    base_url: https://github.com/prometheus/node_exporter/releases/download/v1.11.1
    user: node_exporter
    service:
      files:
        - dest: /etc/systemd/system/node_exporter.service
          content: "{{ lookup('ansible.builtin.template', 'node_exporter.service.j2') }}"
      restart_on: [/etc/systemd/system/node_exporter.service, /usr/local/lib/hybridmon/node_exporter/state.json]
      ready_url: http://127.0.0.1:9100/metrics

- name: Roll back to the previous version
  become: true
  hybridmon.monitoring.release_install:
    name: prometheus
    version: 3.5.3
    binaries: [prometheus, promtool]
    rollback: true
"""

RETURN = r"""
version:
  description: The version active after the task.
  returned: always
  type: str
  sample: 3.5.3
previous_version:
  description: The version that was active before the task (null on a fresh install).
  returned: always
  type: str
binaries_changed:
  description: Whether the active binaries changed (the service needs a restart).
  returned: always
  type: bool
arch:
  description: Release architecture of the host.
  returned: always
  type: str
  sample: amd64
archive:
  description: File name of the tarball for this host.
  returned: always
  type: str
sha256:
  description: Checksum of the installed tarball.
  returned: when known
  type: str
service:
  description: What O(service) did (or would do in check mode).
  returned: when O(service) is set and the release is in place (or in check mode)
  type: dict
  contains:
    action:
      description: The service action.
      type: str
      choices: [none, started, restarted, reloaded]
      sample: reloaded
    reasons:
      description: Why that action was needed.
      type: list
      elements: str
    changed_files:
      description: Files written (or that would be written), content or attributes.
      type: list
      elements: str
    ready_seconds:
      description: How long the service took to prove ready after the action.
      type: float
needs_archive:
  description: Internal; the host needs the tarball (read by the action plugin).
  returned: with download_mode=controller when an install is needed
  type: bool
"""

import errno
import grp
import os
import platform
import pwd
import shutil
import tarfile
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.hybridmon.monitoring.plugins.module_utils._config_files import restore_files
from ansible_collections.hybridmon.monitoring.plugins.module_utils._service import (
    SERVICE_REQUIRED_TOGETHER,
    SERVICE_SPEC,
    ServiceController,
    ServiceError,
)
from ansible_collections.hybridmon.monitoring.plugins.module_utils._release import (
    ReleaseError,
    archive_name,
    normalize_checksum,
    parse_checksums,
    read_json,
    release_arch,
    sha256_file,
    write_json_atomic,
)


class Installer(object):
    def __init__(self, module):
        self.m = module
        p = module.params
        self.p = p
        self.name = p["name"]
        self.version = p["version"].lstrip("v")
        self.check = module.check_mode
        self.changed = False
        self.messages = []
        self.diff = {"before": {}, "after": {}}
        self.arch = release_arch(platform.machine())
        self.archive = archive_name(p["archive_template"], self.name, self.version, self.arch)
        self.project_dir = os.path.join(p["lib_dir"], self.name)
        self.state_file = os.path.join(self.project_dir, "state.json")

    # ---- account and directories -------------------------------------------------------------------
    def run_cmd(self, args):
        rc, out, err = self.m.run_command(args)
        if rc != 0:
            raise ReleaseError("%s failed (rc=%d): %s" % (" ".join(args), rc, (err or out).strip()))

    def ensure_account(self):
        user, group = self.p["user"], self.p["group"] or self.p["user"]
        if not user:
            return
        try:
            grp.getgrnam(group)
        except KeyError:
            self.note("create system group %s" % group)
            if not self.check:
                self.run_cmd(["groupadd", "--system", group])
        try:
            pwd.getpwnam(user)
        except KeyError:
            self.note("create system user %s" % user)
            if not self.check:
                self.run_cmd(["useradd", "--system", "--gid", group, "--no-create-home", "--home-dir", "/nonexistent",
                              "--shell", "/usr/sbin/nologin", "--comment", "%s service (hybridmon)" % self.name, user])

    def ensure_directories(self):
        for d in self.p["directories"]:
            path = d.get("path")
            if not path:
                raise ReleaseError("directories entry %r has no path" % (d,))
            unknown = set(d) - {"path", "owner", "group", "mode"}
            if unknown:
                raise ReleaseError("directories entry for %s has unknown keys: %s" % (path, ", ".join(sorted(unknown))))
            if os.path.isdir(path):
                pass
            elif os.path.exists(path):
                raise ReleaseError("%s exists and is not a directory" % path)
            else:
                self.note("create directory %s" % path)
                if self.check:
                    continue
                os.makedirs(path, 0o755)
            mode = d.get("mode")
            if mode is not None and not isinstance(mode, str):
                raise ReleaseError("mode of %s must be a quoted string like '0750', got %r" % (path, mode))
            if self.check and not os.path.isdir(path):
                continue
            fixed = False
            if d.get("owner"):
                fixed = self.m.set_owner_if_different(path, d["owner"], False) or fixed
            if d.get("group"):
                fixed = self.m.set_group_if_different(path, d["group"], False) or fixed
            if mode:
                fixed = self.m.set_mode_if_different(path, mode, False) or fixed
            if fixed:
                self.note("fix owner/group/mode of %s" % path)

    # ---- installed state ---------------------------------------------------------------------------
    def version_dir(self, version, sha):
        return os.path.join(self.project_dir, "%s-%s" % (version, sha[:12]))

    def intact(self, vdir, deep=False):
        """A version directory is intact when every binary is there and matches its manifest."""
        manifest = read_json(os.path.join(vdir, ".manifest.json"))
        if not manifest:
            return False
        for b in self.p["binaries"]:
            entry = manifest.get("binaries", {}).get(b)
            path = os.path.join(vdir, b)
            try:
                st = os.stat(path)
            except OSError:
                return False
            if not entry or st.st_size != entry["size"]:
                return False
            if deep or st.st_mtime_ns != entry["mtime_ns"]:
                if sha256_file(path) != entry["sha256"]:
                    return False
        return True

    def links_point_to(self, vdir):
        for b in self.p["binaries"]:
            link = os.path.join(self.p["install_dir"], b)
            if not os.path.islink(link) or os.readlink(link) != os.path.join(vdir, b):
                return False
        return True

    def current(self):
        state = read_json(self.state_file) or {}
        return state

    def result(self, **kw):
        state = self.current()
        out = dict(changed=self.changed, arch=self.arch, archive=self.archive,
                   version=state.get("version"), previous_version=(state.get("previous") or {}).get("version"),
                   sha256=state.get("sha256"), binaries_changed=False, messages=self.messages)
        out.update(kw)
        if self.m._diff:
            out["diff"] = self.diff
        return out

    def note(self, msg):
        self.changed = True
        self.messages.append(msg)

    # ---- main decision -----------------------------------------------------------------------------
    def pinned(self):
        c = self.p["checksum"]
        if c in (None, ""):
            return None
        if isinstance(c, dict):
            if self.arch not in c:
                raise ReleaseError("checksum mapping has no entry for architecture %s (has: %s)"
                                   % (self.arch, ", ".join(sorted(c)) or "none"))
            c = c[self.arch]
        return normalize_checksum(c)

    def run(self):
        self.ensure_account()
        self.ensure_directories()
        mode = self.p["download_mode"]
        if self.p["rollback"]:
            return self.rollback()
        if mode == "none":
            missing = [b for b in self.p["binaries"]
                       if not os.access(os.path.join(self.p["install_dir"], b), os.X_OK)]
            if missing:
                raise ReleaseError("download_mode=none but these pre-staged binaries are missing or not executable in %s: %s"
                                   % (self.p["install_dir"], ", ".join(missing)))
            return self.result(version=self.version)

        state = self.current()
        pin = self.pinned()
        before = {"version": state.get("version"), "sha256": state.get("sha256")}
        self.diff["before"] = {"release": before}
        # 1. already active and intact (the one check of the no-change path)
        if (state.get("version") == self.version and (pin is None or pin == state.get("sha256"))
                and state.get("dir") and self.links_point_to(state["dir"]) and self.intact(state["dir"])):
            self.diff["after"] = {"release": before}
            return self.result()
        # 2. a kept version directory already holds it: switch, no download
        kept = self.find_kept(pin)
        if kept:
            return self.activate(kept["dir"], kept["sha256"], via="kept version directory")
        # 3. an archive is needed
        sha = pin
        if self.p["src"]:
            sha = normalize_checksum(self.p["expected_sha256"])
            return self.install_archive(self.p["src"], sha)
        if mode == "controller":
            return self.result(needs_archive=True, expected_sha256=pin)
        return self.download_and_install(pin)

    def find_kept(self, pin):
        if not os.path.isdir(self.project_dir):
            return None
        prefix = self.version + "-"
        for entry in sorted(os.listdir(self.project_dir)):
            vdir = os.path.join(self.project_dir, entry)
            if not entry.startswith(prefix) or not os.path.isdir(vdir):
                continue
            manifest = read_json(os.path.join(vdir, ".manifest.json")) or {}
            if manifest.get("version") != self.version or (pin and manifest.get("sha256") != pin):
                continue
            if self.intact(vdir, deep=True):
                return {"dir": vdir, "sha256": manifest["sha256"]}
        return None

    # ---- target-side download -------------------------------------------------------------------------
    def fetch(self, url, dest_fh):
        last = None
        for attempt in range(max(1, self.p["retries"])):
            try:
                resp = open_url(url, timeout=self.p["timeout"], validate_certs=self.p["validate_certs"])
                shutil.copyfileobj(resp, dest_fh, 1 << 20)
                return
            except Exception as e:  # urllib raises several unrelated types
                last = e
                dest_fh.seek(0)
                dest_fh.truncate()
                time.sleep(min(2 ** attempt, 5))
        raise ReleaseError("download of %s failed after %d attempts: %s" % (url, self.p["retries"], to_native(last)))

    def download_and_install(self, pin):
        base = (self.p["base_url"] or "").rstrip("/")
        if not base:
            raise ReleaseError("base_url is required with download_mode=%s" % self.p["download_mode"])
        if pin is None:
            sums_url = "%s/%s" % (base, self.p["checksums_file"])
            with tempfile.TemporaryFile() as fh:
                self.fetch(sums_url, fh)
                fh.seek(0)
                sums = parse_checksums(to_native(fh.read()), sums_url)
            if self.archive not in sums:
                raise ReleaseError("%s has no entry for %s" % (sums_url, self.archive))
            pin = sums[self.archive]
        if self.check:
            self.note("install %s %s (%s)" % (self.name, self.version, self.archive))
            return self.result(binaries_changed=True, version=self.version)
        os.makedirs(self.project_dir, 0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=self.project_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                self.fetch("%s/%s" % (base, self.archive), fh)
            return self.install_archive(tmp, pin)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # ---- install ----------------------------------------------------------------------------------------
    def install_archive(self, path, sha):
        got = sha256_file(path)
        if got != sha:
            raise ReleaseError("checksum mismatch for %s: expected sha256 %s, got %s; nothing was installed"
                               % (self.archive, sha, got))
        if self.check:
            self.note("install %s %s (%s)" % (self.name, self.version, self.archive))
            return self.result(binaries_changed=True, version=self.version)
        os.makedirs(self.project_dir, 0o755, exist_ok=True)
        vdir = self.version_dir(self.version, sha)
        staging = tempfile.mkdtemp(prefix=".unpack-", dir=self.project_dir)
        try:
            manifest = {"version": self.version, "sha256": sha, "archive": self.archive, "binaries": {}}
            with tarfile.open(path, "r:*") as tf:
                members = {}
                for m in tf.getmembers():
                    parts = m.name.strip("./").split("/")
                    if m.isfile() and len(parts) <= 2:
                        members[parts[-1]] = m
                for b in self.p["binaries"]:
                    m = members.get(b)
                    if m is None:
                        raise ReleaseError("%s does not contain the binary %r (has: %s)"
                                           % (self.archive, b, ", ".join(sorted(members)) or "nothing"))
                    dest = os.path.join(staging, b)
                    src = tf.extractfile(m)
                    with open(dest, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.chmod(dest, 0o755)
                    st = os.stat(dest)
                    manifest["binaries"][b] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(dest)}
            write_json_atomic(os.path.join(staging, ".manifest.json"), manifest)
            os.chmod(staging, 0o755)
            if os.path.exists(vdir):
                shutil.rmtree(vdir)
            os.rename(staging, vdir)
        except tarfile.TarError as e:
            raise ReleaseError("%s is not a readable tarball: %s" % (self.archive, to_native(e)))
        finally:
            if os.path.isdir(staging):
                shutil.rmtree(staging, ignore_errors=True)
        return self.activate(vdir, sha, via="archive %s" % self.archive)

    def activate(self, vdir, sha, via):
        state = self.current()
        prev = {k: state.get(k) for k in ("version", "sha256", "dir")} if state.get("dir") else None
        if prev and prev["dir"] == vdir:
            prev = state.get("previous")
        self.note("activate %s %s from %s" % (self.name, self.version, via))
        after = {"version": self.version, "sha256": sha}
        self.diff["after"] = {"release": after}
        if self.check:
            return self.result(binaries_changed=True, version=self.version,
                               previous_version=(prev or {}).get("version"))
        os.makedirs(self.p["install_dir"], 0o755, exist_ok=True)
        for b in self.p["binaries"]:
            link = os.path.join(self.p["install_dir"], b)
            if os.path.exists(link) and not os.path.islink(link):
                # an unmanaged binary (e.g. copied by hand as in the seed guide): keep it for reference
                keep = os.path.join(self.project_dir, "unmanaged-%s-%d" % (b, int(time.time())))
                shutil.move(link, keep)
                self.messages.append("moved unmanaged %s to %s" % (link, keep))
            tmp = "%s.hm-tmp-%d" % (link, os.getpid())
            try:
                os.unlink(tmp)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
            os.symlink(os.path.join(vdir, b), tmp)
            os.replace(tmp, link)
        write_json_atomic(self.state_file, {"version": self.version, "sha256": sha, "dir": vdir,
                                            "binaries": self.p["binaries"], "previous": prev,
                                            "installed_at": int(time.time())})
        self.prune(keep_dirs={vdir, (prev or {}).get("dir")})
        return self.result(binaries_changed=True)

    def prune(self, keep_dirs):
        """Keep the active and previous version plus the newest others up to keep_versions; remove the rest."""
        keep = set(d for d in keep_dirs if d)
        others = []
        for entry in os.listdir(self.project_dir):
            vdir = os.path.join(self.project_dir, entry)
            if vdir not in keep and os.path.isdir(vdir) and os.path.exists(os.path.join(vdir, ".manifest.json")):
                others.append((os.stat(vdir).st_mtime, vdir))
        others.sort(reverse=True)
        room = max(self.p["keep_versions"] - len(keep), 0)
        for _mtime, vdir in others[room:]:
            shutil.rmtree(vdir, ignore_errors=True)
            self.messages.append("pruned %s" % vdir)

    def rollback(self):
        state = self.current()
        prev = state.get("previous")
        if not prev or not prev.get("dir"):
            raise ReleaseError("no previous version of %s is recorded in %s; nothing to roll back to"
                               % (self.name, self.state_file))
        if not self.intact(prev["dir"], deep=True):
            raise ReleaseError("previous version %s of %s in %s is missing or damaged; cannot roll back"
                               % (prev.get("version"), self.name, prev["dir"]))
        self.version = prev["version"]
        self.diff["before"] = {"release": {"version": state.get("version"), "sha256": state.get("sha256")}}
        return self.activate(prev["dir"], prev["sha256"], via="rollback")


def service_params(module):
    """O(service) checked against service_control's argument spec (one spec for both modules)."""
    result = ArgumentSpecValidator(SERVICE_SPEC, required_together=SERVICE_REQUIRED_TOGETHER).validate(
        module.params["service"])
    module.no_log_values.update(result._no_log_values)
    if result.error_messages:
        raise ServiceError("service: %s" % "; ".join(result.error_messages))
    params = result.validated_parameters
    params["name"] = params["name"] or module.params["name"]
    return params


def run_service(module, inst, res, params):
    """Apply O(service) once the release is in place; merge its outcome into the release result.

    A new release whose service does not come up is rolled back to the previous release (kept on disk), which is
    restarted and proven ready; the task still fails, saying so."""
    if res.get("binaries_changed"):
        params["restart"] = True
    ctrl = ServiceController(module, params)
    try:
        out = ctrl.run()
    except ServiceError as e:
        previous = res.get("previous_version")
        if not (res.get("binaries_changed") and previous and module.params["rollback_on_failure"]
                and not module.check_mode):
            raise
        failed_version = res.get("version")
        try:
            # the previous release with the unit and configuration it ran with
            restore_files(ctrl.previous_files)
            inst.rollback()
            back = ServiceController(module, dict(params, files=[], restart=True, reload=False)).run()
        except (ServiceError, ReleaseError, IOError, OSError) as again:
            raise ServiceError("%s %s did not come up: %s\nRolling back to %s failed too: %s"
                               % (module.params["name"], failed_version, e, previous, again))
        raise ServiceError("%s %s did not come up, so %s was rolled back to %s, which is running and ready again "
                           "(in %ss); the next run tries %s again. What went wrong: %s"
                           % (module.params["name"], failed_version, module.params["name"], previous,
                              back.get("ready_seconds"), failed_version, e))
    res["changed"] = bool(res["changed"] or out["changed"])
    res["service"] = dict((k, out[k]) for k in ("action", "reasons", "changed_files", "ready_seconds") if k in out)
    if module._diff:
        release = res.get("diff") or {}
        release_diff = {"before_header": "%s release" % module.params["name"],
                        "after_header": "%s release" % module.params["name"],
                        "before": release.get("before", {}), "after": release.get("after", {})}
        res["diff"] = [release_diff] + out.get("diff", [])
    return res


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            version=dict(type="str", required=True),
            binaries=dict(type="list", elements="str", required=True),
            download_mode=dict(type="str", choices=["controller", "target", "none"], default="controller"),
            base_url=dict(type="str"),
            checksums_file=dict(type="str", default="sha256sums.txt"),
            checksum=dict(type="raw"),
            archive_template=dict(type="str", default="{name}-{version}.linux-{arch}.tar.gz"),
            cache_dir=dict(type="path", default="~/.cache/hybridmon/releases"),
            install_dir=dict(type="path", default="/usr/local/bin"),
            lib_dir=dict(type="path", default="/usr/local/lib/hybridmon"),
            keep_versions=dict(type="int", default=2),
            rollback=dict(type="bool", default=False),
            user=dict(type="str"),
            group=dict(type="str"),
            directories=dict(type="list", elements="dict", default=[]),
            src=dict(type="path"),
            expected_sha256=dict(type="str"),
            timeout=dict(type="int", default=60),
            retries=dict(type="int", default=3),
            validate_certs=dict(type="bool", default=True),
            service=dict(type="dict"),
            rollback_on_failure=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
        # file contents (credentials) and probe passwords travel in nested options: keep the arguments out of the
        # host's system log altogether; results are masked through no_log_values
        no_log=True,
    )
    try:
        service = service_params(module) if module.params["service"] is not None else None
        inst = Installer(module)
        res = inst.run()
        # the controller still has to send the tarball: the service follows in that second call (check mode predicts
        # it now, with the restart a new release implies)
        if service is not None and (module.check_mode or not res.get("needs_archive")):
            if res.get("needs_archive"):
                res["binaries_changed"] = True
            res = run_service(module, inst, res, service)
        module.exit_json(**res)
    except ReleaseError as e:
        module.fail_json(msg=to_native(e))
    except ServiceError as e:
        module.fail_json(msg=to_native(e))
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or "filesystem error", to_native(e)))


if __name__ == "__main__":
    main()
