# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils of hybridmon.monitoring: no compatibility promise outside this collection.
#
# Validated, all-or-nothing writing of configuration files, shared by the config_files and service_control modules.

import grp
import hashlib
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native


class ConfigError(Exception):
    pass


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def lookup_ids(owner, group):
    try:
        uid = pwd.getpwnam(owner).pw_uid
    except KeyError:
        raise ConfigError("owner %r does not exist on the host" % owner)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError("group %r does not exist on the host" % group)
    return uid, gid


def parse_mode(mode, dest):
    if not isinstance(mode, str) or not mode.isdigit():
        raise ConfigError("mode of %s must be a quoted octal string like '0640', got %r" % (dest, mode))
    return int(mode, 8)


def run_validate(module, command, path, dest):
    if "%s" not in command:
        raise ConfigError("validate command for %s must contain %%s: %r" % (dest, command))
    rc, out, err = module.run_command(command.replace("%s", path), use_unsafe_shell=False)
    if rc != 0:
        text = "\n".join(x.strip() for x in (out, err) if x and x.strip()).replace(path, dest)
        raise ConfigError("%s was rejected by `%s` (rc=%d); the live file was left unchanged:\n%s"
                          % (dest, command.split()[0], rc, text))


FILE_SPEC = dict(
    dest=dict(type="path", required=True),
    content=dict(type="str", required=True),
    owner=dict(type="str", default="root"),
    group=dict(type="str", default="root"),
    mode=dict(type="str", default="0644"),
    validate=dict(type="str"),
    secret=dict(type="bool", default=False),
)


def apply_files(module, files, validate_in_check_mode=True, previous=None):
    """Write what differs, validating every changed file first; nothing is replaced if one is rejected.

    Returns (changed_files, content_changed, diffs). Raises ConfigError with the tool's message. With a dict as
    ``previous`` it records, for every file it replaces, what was there before (see restore_files).
    """
    for f in files:
        if f["secret"] and f["content"]:
            module.no_log_values.add(f["content"])
    plan = []
    diffs = []
    for f in files:
        dest = f["dest"]
        want = to_bytes(f["content"])
        mode = parse_mode(f["mode"], dest)
        directory = os.path.dirname(dest)
        if not os.path.isdir(directory) and not module.check_mode:
            raise ConfigError("directory %s of %s does not exist" % (directory, dest))
        try:
            uid, gid = lookup_ids(f["owner"], f["group"])
        except ConfigError:
            if not module.check_mode:
                raise
            uid = gid = None  # created by an earlier task that only pretended in check mode
        have = None
        st = None
        if os.path.lexists(dest):
            if os.path.islink(dest) or not os.path.isfile(dest):
                raise ConfigError("%s exists and is not a regular file" % dest)
            with open(dest, "rb") as fh:
                have = fh.read()
            st = os.stat(dest)
        content_changed = have != want
        attrs_changed = st is None or (stat.S_IMODE(st.st_mode) != mode or
                                       (uid is not None and (st.st_uid, st.st_gid) != (uid, gid)))
        if content_changed or attrs_changed:
            plan.append(dict(f, want=want, uid=uid, gid=gid, imode=mode, content_changed=content_changed,
                             have=have, st=st))
        if content_changed:
            if f["secret"]:
                before = "(secret content, sha1 %s)\n" % sha1(have) if have is not None else ""
                after = "(secret content, sha1 %s)\n" % sha1(want)
            else:
                before = to_native(have, errors="surrogate_or_replace") if have is not None else ""
                after = to_native(want, errors="surrogate_or_replace")
            diffs.append({"before_header": dest if have is not None else "%s (absent)" % dest,
                          "after_header": dest, "before": before, "after": after})
    # validate every changed file before replacing any of them
    staged = []
    try:
        for item in plan:
            if not item["content_changed"] and os.path.exists(item["dest"]):
                staged.append((item, None))
                continue
            if module.check_mode:
                if item["validate"] and validate_in_check_mode:
                    binary = item["validate"].split()[0]
                    if os.path.isabs(binary) and os.access(binary, os.X_OK):
                        tmpdir = tempfile.mkdtemp(prefix="hm-check-")
                        try:
                            path = os.path.join(tmpdir, os.path.basename(item["dest"]))
                            with open(path, "wb") as fh:
                                fh.write(item["want"])
                            run_validate(module, item["validate"], path, item["dest"])
                        finally:
                            shutil.rmtree(tmpdir, ignore_errors=True)
                continue
            fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(item["dest"]), suffix=".hm-tmp",
                                       dir=os.path.dirname(item["dest"]))
            staged.append((item, tmp))
            with os.fdopen(fd, "wb") as fh:
                fh.write(item["want"])
                fh.flush()
                os.fsync(fh.fileno())
            os.chown(tmp, item["uid"], item["gid"])
            os.chmod(tmp, item["imode"])
            if item["validate"]:
                run_validate(module, item["validate"], tmp, item["dest"])
        if not module.check_mode:
            for item, tmp in staged:
                if previous is not None and item["dest"] not in previous:
                    previous[item["dest"]] = (item["have"], item["st"])
                if tmp:
                    os.replace(tmp, item["dest"])
                else:
                    os.chown(item["dest"], item["uid"], item["gid"])
                    os.chmod(item["dest"], item["imode"])
    finally:
        for _item, tmp in staged:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
    return [p["dest"] for p in plan], [p["dest"] for p in plan if p["content_changed"]], diffs


def restore_files(previous):
    """Put back what apply_files replaced (content, owner, mode), or remove the files it created."""
    for dest, (have, st) in previous.items():
        if have is None:
            if os.path.lexists(dest):
                os.unlink(dest)
            continue
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".hm-tmp", dir=os.path.dirname(dest))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(have)
                fh.flush()
                os.fsync(fh.fileno())
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
