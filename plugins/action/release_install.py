# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller half of hybridmon.monitoring.release_install.

The module is asked first; only when the host reports that it needs the tarball does the controller resolve the checksum
(pinned, or the cached ``sha256sums.txt``), download the tarball once per version/architecture into its cache under a
lock shared by all forks, verify it, and copy it to the host. A host that is up to date costs one module call.
"""

import fcntl
import os
import shutil
import tempfile
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.hybridmon.monitoring.plugins.module_utils._release import (
    ReleaseError,
    normalize_checksum,
    parse_checksums,
    sha256_file,
)

display = Display()


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _requires_connection = True

    def _download(self, url, dest, args):
        tries = max(1, int(args.get("retries", 3)))
        last = None
        for attempt in range(tries):
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=os.path.dirname(dest))
            try:
                with os.fdopen(fd, "wb") as fh:
                    resp = open_url(url, timeout=int(args.get("timeout", 60)),
                                    validate_certs=bool(args.get("validate_certs", True)))
                    shutil.copyfileobj(resp, fh, 1 << 20)
                os.replace(tmp, dest)
                return
            except Exception as e:  # urllib raises several unrelated types
                last = e
                if os.path.exists(tmp):
                    os.unlink(tmp)
                display.vvv("release_install: %s attempt %d failed: %s" % (url, attempt + 1, e))
                time.sleep(min(2 ** attempt, 5))
        raise ReleaseError("download of %s failed after %d attempts: %s" % (url, tries, to_native(last)))

    def _controller_archive(self, args, archive, pinned):
        name, version = args["name"], str(args["version"]).lstrip("v")
        base = (args.get("base_url") or "").rstrip("/")
        if not base:
            raise ReleaseError("base_url is required with download_mode=controller")
        cache = os.path.join(os.path.expanduser(args.get("cache_dir") or "~/.cache/hybridmon/releases"), name, version)
        os.makedirs(cache, exist_ok=True)
        with open(os.path.join(cache, ".lock"), "w") as lockf:
            # one download per version however many forks ask at once
            fcntl.flock(lockf, fcntl.LOCK_EX)
            sha = pinned
            if sha is None:
                sums_name = args.get("checksums_file") or "sha256sums.txt"
                sums_path = os.path.join(cache, sums_name)
                if not os.path.exists(sums_path):
                    self._download("%s/%s" % (base, sums_name), sums_path, args)
                with open(sums_path) as f:
                    sums = parse_checksums(f.read(), "%s/%s" % (base, sums_name))
                if archive not in sums:
                    raise ReleaseError("%s/%s has no entry for %s (has: %s)"
                                       % (base, sums_name, archive, ", ".join(sorted(sums))))
                sha = sums[archive]
            local = os.path.join(cache, archive)
            if os.path.exists(local) and sha256_file(local) == sha:
                return local, sha
            url = "%s/%s" % (base, archive)
            self._download(url, local, args)
            got = sha256_file(local)
            if got != sha:
                os.unlink(local)
                raise ReleaseError("checksum mismatch for %s downloaded from %s: expected sha256 %s, got %s; "
                                   "nothing was installed" % (archive, url, sha, got))
            return local, sha

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        mode = args.get("download_mode", "controller")
        probe = self._execute_module(module_name="hybridmon.monitoring.release_install", module_args=args,
                                     task_vars=task_vars)
        if probe.get("failed") or not probe.get("needs_archive"):
            probe.pop("needs_archive", None)
            probe.pop("expected_sha256", None)
            result.update(probe)
            return result
        if mode != "controller":
            raise AnsibleActionFail("release_install: the module asked for an archive in download_mode=%s" % mode)
        try:
            pinned = probe.get("expected_sha256")
            pinned = normalize_checksum(pinned) if pinned else None
            local, sha = self._controller_archive(args, probe["archive"], pinned)
        except ReleaseError as e:
            result.update(failed=True, msg=to_text(e), changed=False)
            return result
        except (IOError, OSError) as e:
            result.update(failed=True, msg="controller cache: %s" % to_text(e), changed=False)
            return result
        if self._task.check_mode:
            probe.pop("needs_archive", None)
            probe.pop("expected_sha256", None)
            result.update(probe)
            result.update(changed=True, binaries_changed=True, version=str(args["version"]).lstrip("v"), sha256=sha)
            result.setdefault("messages", []).append("would install %s (verified %s)" % (probe["archive"], sha))
            return result
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, probe["archive"])
        self._transfer_file(local, remote)
        self._fixup_perms2((tmpdir, remote))
        args.update(src=remote, expected_sha256=sha)
        res = self._execute_module(module_name="hybridmon.monitoring.release_install", module_args=args,
                                   task_vars=task_vars)
        self._remove_tmp_path(tmpdir)
        res.pop("needs_archive", None)
        res.pop("expected_sha256", None)
        result.update(res)
        return result
