#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: prometheus_target
short_description: Manage scrape targets in Prometheus file_sd files
description:
  - Adds or removes one or more scrape targets, with labels, in a Prometheus C(file_sd) file (JSON or YAML).
  - Meant to run on the Prometheus host, normally with C(delegate_to) from every monitored host. Many hosts can
    write to the same file in parallel without losing each other's entries; the read-modify-write happens under an
    exclusive lock on a sidecar file C(.<name>.lock) in the same directory.
  - The file is replaced atomically (temporary file in the same directory, then rename), so Prometheus, which watches
    the file with inotify, never reads a partially written file. The owner, group and mode of an existing file are
    kept unless O(owner), O(group) or O(mode) say otherwise.
  - When the resulting target groups are the same as the file's current content, the file is not written at all
    (its modification time is unchanged), even if its formatting differs from what the module would write.
  - Targets with identical label sets share one target group. A target address appears at most once in a file
    managed by this module; adding a target that is already present with other labels moves it to the new labels.
  - The file is written in a canonical form, groups sorted by labels and targets sorted by address, so the same
    content always gives the same file.
author:
  - hybridmon.monitoring contributors (@hybridmon)
options:
  path:
    description:
      - Path of the C(file_sd) file. Its directory must exist.
      - Prometheus only reads file_sd files whose names end in C(.json), C(.yml) or C(.yaml).
      - If O(path) is a symbolic link, the file it points to is updated.
    type: path
    required: true
  targets:
    description:
      - Target addresses in C(host:port) form; IPv6 addresses in brackets, for example C([2001:db8::1]:9100).
      - The host is a DNS name, an IPv4 address or a bracketed IPv6 address; the port is 1 to 65535.
      - Addresses are compared as exact strings.
      - May be an empty list, which together with O(exclusive=true) empties the file.
    type: list
    elements: str
    required: true
  labels:
    description:
      - Labels attached to O(targets) when O(state=present). Names must match C([a-zA-Z_][a-zA-Z0-9_]*) and must
        not start with C(__) (reserved by Prometheus). Values are strings; numbers are converted to strings.
      - Ignored when O(state=absent), though still validated.
    type: dict
  job:
    description:
      - Shortcut for the C(job) label. Prometheus uses a C(job) label from service discovery instead of the
        scrape config's C(job_name).
      - Fails if O(labels) also holds a different C(job) value.
    type: str
  state:
    description:
      - V(present) makes sure every target in O(targets) is in the file with exactly the labels O(labels) plus O(job).
      - V(absent) removes every target in O(targets) from the file, whatever its labels.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With O(state=present), remove from the file every target not listed in O(targets).
      - Cannot be used with O(state=absent).
    type: bool
    default: false
  format:
    description:
      - File format. V(auto) picks V(json) for C(.json) and V(yaml) for C(.yml) or C(.yaml) file names.
      - V(yaml) needs PyYAML on the host that runs the module.
    type: str
    choices: [auto, json, yaml]
    default: auto
  owner:
    description:
      - Owner of the file. When not set, an existing file keeps its owner and a new file belongs to the remote user.
    type: str
  group:
    description:
      - Group of the file. When not set, an existing file keeps its group.
    type: str
  mode:
    description:
      - Permissions of the file, as an octal string such as V('0644') or a symbolic mode such as V(u=rw,g=r,o=r).
      - When not set, an existing file keeps its mode and a new file gets V('0644').
    type: raw
  lock_timeout:
    description:
      - Seconds to wait for the lock held by other writers of the same file before failing.
    type: float
    default: 60
notes:
  - Check mode computes the real result, including RV(groups), without taking the lock or writing anything. If the
    directory of O(path) does not exist yet in check mode (an earlier task would create it), the module warns and
    predicts from an empty file instead of failing.
  - With C(--diff), the target groups before and after are shown in the file's format.
  - Lock and temporary files start with a dot and end in C(.lock) or C(.tmp), so C(file_sd_configs) patterns such as
    C(*.json) or C(*.yml) never match them. The lock file is left in place on purpose; removing it would break the
    locking of writers that already opened it.
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode) when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Register every host's node_exporter on the Prometheus server
  hybridmon.monitoring.prometheus_target:
    path: /etc/prometheus/file_sd/node.json
    targets:
      - "{{ ansible_host | default(inventory_hostname) }}:9100"
    job: node
    labels:
      env: "{{ env_name }}"
      datacenter: seoul-1
  delegate_to: "{{ groups['prometheus'][0] }}"
  become: true

- name: Register a list of MySQL exporters in a YAML file, IPv6 included
  hybridmon.monitoring.prometheus_target:
    path: /etc/prometheus/file_sd/mysql.yml
    targets:
      - db1.example.com:9104
      - "[2001:db8::10]:9104"
    labels:
      team: dba
    owner: prometheus
    group: prometheus
    mode: "0640"
  delegate_to: prometheus.example.com
  run_once: true
  become: true

- name: Make the file hold exactly the hosts of the inventory group
  hybridmon.monitoring.prometheus_target:
    path: /etc/prometheus/file_sd/node.json
    targets: "{{ groups['linux'] | map('regex_replace', '$', ':9100') | list }}"
    job: node
    exclusive: true
  delegate_to: prometheus.example.com
  run_once: true
  become: true

- name: Remove a decommissioned host
  hybridmon.monitoring.prometheus_target:
    path: /etc/prometheus/file_sd/node.json
    targets:
      - old-web-3.example.com:9100
    state: absent
  delegate_to: prometheus.example.com
  become: true
"""

RETURN = r"""
path:
  description: Path of the file that was managed (symbolic links resolved).
  returned: always
  type: str
  sample: /etc/prometheus/file_sd/node.json
groups:
  description:
    - The target groups in the file after the change (predicted in check mode), in the canonical order the module
      writes them.
  returned: always
  type: list
  elements: dict
  contains:
    targets:
      description: Target addresses of the group, sorted.
      type: list
      elements: str
    labels:
      description: Labels of the group.
      type: dict
  sample:
    - targets: ["db1.example.com:9104", "db2.example.com:9104"]
      labels: {job: mysql, env: prod}
targets_added:
  description: Targets that were not in the file before.
  returned: always
  type: list
  elements: str
  sample: ["web-4.example.com:9100"]
targets_removed:
  description: Targets that are no longer in the file.
  returned: always
  type: list
  elements: str
  sample: []
targets_relabeled:
  description: Targets that were in the file before with different labels.
  returned: always
  type: list
  elements: str
  sample: []
"""

import errno
import fcntl
import json
import os
import random
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._prometheus_sd import (
    PrometheusSDError,
    apply_change,
    groups_from_data,
    normalize_labels,
    render_groups,
    summarize_change,
    validate_target,
)

try:
    import yaml
    try:
        from yaml import CSafeDumper as _YamlDumper, CSafeLoader as _YamlLoader
    except ImportError:
        from yaml import SafeDumper as _YamlDumper, SafeLoader as _YamlLoader
    HAS_YAML = True
    _PARSE_ERRORS = (ValueError, yaml.YAMLError)
except ImportError:
    HAS_YAML = False
    _PARSE_ERRORS = (ValueError,)

NEW_FILE_MODE = 0o644
MAX_REPORTED_ERRORS = 10


class _Failure(Exception):
    """Raised inside the module logic; main() turns it into fail_json."""


def _format_for(path, requested):
    if requested != "auto":
        return requested
    lower = path.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".yml", ".yaml")):
        return "yaml"
    raise _Failure(
        "cannot tell the file_sd format from the name %r: Prometheus reads only .json, .yml and .yaml files; "
        "rename the file or set format" % path)


def _parse(text, fmt, path):
    if text.strip() == "":
        return []
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.load(text, Loader=_YamlLoader)
    except _PARSE_ERRORS as exc:
        raise _Failure("cannot parse %s as %s: %s; the file was left untouched" % (path, fmt.upper(), to_native(exc)))


def _render(groups, fmt):
    if fmt == "json":
        return json.dumps(groups, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(groups, Dumper=_YamlDumper, default_flow_style=False, sort_keys=False, allow_unicode=True)


def _read_model(path, fmt):
    """Return (exists, stat_result, model) for the file at ``path``."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _Failure("%s is not a regular file" % path)
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise _Failure("%s is not a regular file" % path)
            raw = fh.read()
    except FileNotFoundError:
        return False, None, {}
    except OSError as exc:
        raise _Failure("cannot read %s: %s" % (path, to_native(exc)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Failure("%s is not UTF-8 text (%s); the file was left untouched" % (path, exc))
    try:
        model = groups_from_data(_parse(text, fmt, path), source=path)
    except PrometheusSDError as exc:
        raise _Failure("%s; the file was left untouched" % exc)
    return True, st, model


def _acquire_lock(lock_path, timeout):
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _Failure("cannot open the lock file %s: %s" % (lock_path, to_native(exc)))
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise _Failure("cannot lock %s: %s" % (lock_path, to_native(exc)))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.close(fd)
            raise _Failure("timed out after %s seconds waiting for the lock %s held by another writer "
                           "(raise lock_timeout if many hosts write this file at once)" % (timeout, lock_path))
        # Short randomized sleeps: many waiters do not wake up in lockstep.
        time.sleep(min(remaining, random.uniform(0.002, 0.02)))


def _write_atomic(module, path, data, existing):
    """Write ``data`` to a temporary file next to ``path`` and rename it over ``path``."""
    directory, name = os.path.split(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % name, suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _Failure("cannot create a temporary file in %s: %s" % (directory, to_native(exc)))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if existing is not None:
                os.fchmod(fh.fileno(), stat.S_IMODE(existing.st_mode))
                mine = os.fstat(fh.fileno())
                if (mine.st_uid, mine.st_gid) != (existing.st_uid, existing.st_gid):
                    try:
                        os.fchown(fh.fileno(), existing.st_uid, existing.st_gid)
                    except PermissionError as exc:
                        raise _Failure("cannot keep the owner %d:%d of %s: %s (run with become, or set owner/group)"
                                       % (existing.st_uid, existing.st_gid, path, to_native(exc)))
            else:
                os.fchmod(fh.fileno(), NEW_FILE_MODE)
            os.fsync(fh.fileno())
        # Requested attributes go on the temporary file, so the file appears with them in one step.
        params = module.params
        if params["owner"] is not None:
            module.set_owner_if_different(tmp, params["owner"], False)
        if params["group"] is not None:
            module.set_group_if_different(tmp, params["group"], False)
        if params["mode"] is not None:
            module.set_mode_if_different(tmp, params["mode"], False)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise _Failure("cannot write %s: %s" % (path, to_native(exc)))
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # Durability of the rename is best effort; the content is already complete.


def _validated_input(params):
    errors = []
    for target in params["targets"]:
        try:
            validate_target(target)
        except PrometheusSDError as exc:
            errors.append(str(exc))
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        msg = "; ".join(errors[:MAX_REPORTED_ERRORS])
        if more > 0:
            msg += "; and %d more invalid target(s)" % more
        raise _Failure(msg)
    try:
        labels = normalize_labels(params["labels"])
    except PrometheusSDError as exc:
        raise _Failure(str(exc))
    job = params["job"]
    if job is not None:
        if job == "":
            raise _Failure("invalid job '': the job label cannot be empty")
        if labels.get("job", job) != job:
            raise _Failure("job %r conflicts with labels.job %r; set only one of them" % (job, labels["job"]))
        labels["job"] = job
    if params["state"] == "absent" and params["exclusive"]:
        raise _Failure("exclusive=true needs state=present (it keeps only the targets named in this call)")
    return params["targets"], labels


def _plan(path, fmt, params, targets, labels):
    exists, st, before = _read_model(path, fmt)
    after = apply_change(before, targets, labels, params["state"], params["exclusive"])
    write = after != before or (not exists and params["state"] == "present")
    return exists, st, before, after, write


def run(module):
    params = module.params
    targets, labels = _validated_input(params)
    path = os.path.realpath(params["path"])
    fmt = _format_for(path, params["format"])
    if fmt == "yaml" and not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        if not module.check_mode:
            raise _Failure("directory %s of %s does not exist" % (directory, params["path"]))
        # In check mode an earlier task (a role creating the file_sd directory) may not have run for real:
        # predict from an empty file instead of failing the dry run.
        module.warn("directory %s does not exist yet; the prediction assumes it will be created" % directory)

    # Optimistic pass without the lock: renames are atomic, so this read is a consistent snapshot.
    # Nothing to change means no lock file, no write: the fast path for re-runs.
    exists, st, before, after, write = _plan(path, fmt, params, targets, labels)
    if write and not module.check_mode:
        lock_fd = _acquire_lock(os.path.join(directory, ".%s.lock" % os.path.basename(path)), params["lock_timeout"])
        try:
            # Another writer may have changed the file since the first read: decide again under the lock.
            exists, st, before, after, write = _plan(path, fmt, params, targets, labels)
            if write:
                _write_atomic(module, path, _render(render_groups(after), fmt).encode("utf-8"), st if exists else None)
        finally:
            os.close(lock_fd)

    changed = write
    if exists and not write:
        # Content is right; only the requested attributes may need fixing (check mode only reports).
        if params["owner"] is not None:
            changed = module.set_owner_if_different(path, params["owner"], changed)
        if params["group"] is not None:
            changed = module.set_group_if_different(path, params["group"], changed)
        if params["mode"] is not None:
            changed = module.set_mode_if_different(path, params["mode"], changed)

    groups = render_groups(after)
    added, removed, relabeled = summarize_change(before, after)
    result = dict(
        changed=changed,
        path=path,
        groups=groups,
        targets_added=added,
        targets_removed=removed,
        targets_relabeled=relabeled,
    )
    if module._diff and write:
        result["diff"] = dict(
            before_header=path if exists else "%s (absent)" % path,
            after_header=path,
            before=_render(render_groups(before), fmt) if exists else "",
            after=_render(groups, fmt),
        )
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            targets=dict(type="list", elements="str", required=True),
            labels=dict(type="dict"),
            job=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            exclusive=dict(type="bool", default=False),
            format=dict(type="str", choices=["auto", "json", "yaml"], default="auto"),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
            lock_timeout=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except _Failure as exc:
        module.fail_json(msg=str(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
