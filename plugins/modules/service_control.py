#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: service_control
short_description: Start, restart or reload a systemd service only when its inputs changed, and prove it is up
description:
  - Keeps a systemd service enabled and running and decides by content hashes whether it must be restarted (binary,
    unit or flags changed, see O(restart_on)) or only reloaded (configuration changed, see O(reload_on)). The hashes of the inputs
    the running service was last (re)started or reloaded with are recorded on the host, so a change made in a run that
    failed before the service was touched is still applied by the next run (a notified handler would be lost).
  - After every start, restart or reload it proves the service is up; it polls O(ready_url) until it answers
    O(ready_status), and after a reload it waits until the service reports a successful reload newer than the request
    (O(reload_metric)). A service that does not come up, or restarts behind our back while we wait, fails the task
    with the last lines of its journal.
version_added: 0.1.0
author:
  - hybridmon.monitoring developers (@hybridmon)
options:
  name:
    description: Unit name without C(.service).
    type: str
    required: true
  state:
    description:
      - C(started) starts the service if needed and applies pending restarts/reloads;
        C(restarted) and C(reloaded) force that action.
    type: str
    choices: [started, restarted, reloaded]
    default: started
  enabled:
    description: Whether the service starts at boot.
    type: bool
    default: true
  daemon_reload:
    description: Run C(systemctl daemon-reload) first when a unit input changed (or always when C(true) and forced).
    type: bool
    default: true
  files:
    description:
      - Configuration files (and the unit) to write first, in the same call, exactly as M(hybridmon.monitoring.config_files)
        does (validated, all or nothing, secrets masked). A changed unit (C(*.service)) or a file listed in
        O(restart_on) restarts the service; any other changed file reloads it.
    type: list
    elements: dict
    default: []
  restart_on:
    description: Files whose content change requires a restart (unit file, release state, flags).
    type: list
    elements: path
    default: []
  reload_on:
    description: Files whose content change requires a reload (configuration, rules).
    type: list
    elements: path
    default: []
  restart:
    description: Force a restart (for example because an earlier task reported a change in check mode).
    type: bool
    default: false
  reload:
    description: Force a reload.
    type: bool
    default: false
  ready_url:
    description: URL that answers O(ready_status) once the service is ready (for example C(http://127.0.0.1:9090/-/ready)).
    type: str
  ready_status:
    description: Expected HTTP status of O(ready_url).
    type: int
    default: 200
  ready_timeout:
    description: Seconds to wait for readiness.
    type: int
    default: 60
  reload_metric:
    description:
      - Prefix of the service's reload metrics on O(metrics_url), for example C(prometheus_config_last_reload).
        After a reload the module waits for C(<prefix>_successful 1) with C(<prefix>_success_timestamp_seconds) not older
        than the reload. Without it a reload is proven by O(ready_url) only.
    type: str
  metrics_url:
    description: URL of the service's own metrics (for O(reload_metric)).
    type: str
  validate_certs:
    description: Verify TLS certificates of O(ready_url) and O(metrics_url).
    type: bool
    default: true
  state_dir:
    description: Where the input hashes are recorded.
    type: path
    default: /var/lib/hybridmon/services
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reports the action that would be taken; nothing is started, reloaded or recorded.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
"""

EXAMPLES = r"""
- name: Keep Prometheus running with its current binary, unit and config
  become: true
  hybridmon.monitoring.service_control:
    name: prometheus
    restart_on: [/etc/systemd/system/prometheus.service, /usr/local/lib/hybridmon/prometheus/state.json]
    reload_on: [/etc/prometheus/prometheus.yml]
    ready_url: http://127.0.0.1:9090/-/ready
    metrics_url: http://127.0.0.1:9090/metrics
    reload_metric: prometheus_config_last_reload
"""

RETURN = r"""
action:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: reloaded
  choices: [none, started, restarted, reloaded]
reasons:
  description: Why that action was needed.
  returned: always
  type: list
  elements: str
ready_seconds:
  description: How long the service took to prove ready.
  returned: when an action was taken outside check mode
  type: float
"""

import hashlib
import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._config_files import (
    FILE_SPEC,
    ConfigError,
    apply_files,
)


class ServiceError(Exception):
    pass


def file_hash(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (IOError, OSError):
        return None
    return h.hexdigest()


class Controller(object):
    def __init__(self, module):
        self.m = module
        self.p = module.params
        self.unit = self.p["name"] if self.p["name"].endswith(".service") else self.p["name"] + ".service"
        self.record_path = os.path.join(self.p["state_dir"], self.p["name"] + ".json")
        self.systemctl = module.get_bin_path("systemctl", required=True)

    def sysctl(self, *args, **kw):
        rc, out, err = self.m.run_command([self.systemctl] + list(args))
        if rc != 0 and not kw.get("ok_rc"):
            raise ServiceError("systemctl %s failed: %s%s" % (" ".join(args), (err or out).strip(), self.journal()))
        return rc, out.strip()

    def show(self):
        _rc, out = self.sysctl("show", self.unit, "-p", "ActiveState,SubState,MainPID,NRestarts,UnitFileState,LoadState",
                               ok_rc=True)
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return props

    def journal(self):
        journalctl = self.m.get_bin_path("journalctl")
        if not journalctl:
            return ""
        _rc, out, _err = self.m.run_command([journalctl, "-u", self.unit, "-n", "25", "--no-pager", "-o", "cat"])
        return "\nLast journal lines of %s:\n%s" % (self.unit, out.strip()) if out.strip() else ""

    def http(self, url):
        from ansible.module_utils.urls import open_url  # only when a readiness probe is needed: saves its import
        try:
            r = open_url(url, timeout=5, validate_certs=self.p["validate_certs"])
            return r.getcode(), to_native(r.read())
        except Exception as e:  # connection refused, HTTPError with a code, timeouts
            return getattr(e, "code", None), to_native(e)

    def metric(self, name):
        code, body = self.http(self.p["metrics_url"])
        if code != 200:
            return None
        m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.eE+-]+)$" % re.escape(name), body, re.M)
        return float(m.group(1)) if m else None

    def wait_ready(self, started_at, after_reload=False):
        deadline = time.time() + self.p["ready_timeout"]
        last = "no answer yet"
        first_pid = None
        while time.time() < deadline:
            props = self.show()
            if props.get("ActiveState") in ("failed", "inactive") and time.time() - started_at > 1:
                what = "reload" if after_reload else "start"
                raise ServiceError("%s is %s/%s after %s%s" % (
                    self.unit, props.get("ActiveState"), props.get("SubState"), what, self.journal()))
            pid = props.get("MainPID")
            if first_pid is None and pid not in (None, "0"):
                first_pid = pid
            elif first_pid and pid not in (None, "0") and pid != first_pid:
                raise ServiceError("%s restarted by itself while we waited for it (PID %s -> %s): it is crash-looping%s"
                                   % (self.unit, first_pid, pid, self.journal()))
            ok = True
            if self.p["ready_url"]:
                code, body = self.http(self.p["ready_url"])
                ok = code == self.p["ready_status"]
                last = "%s answered %s: %s" % (self.p["ready_url"], code, body[:200])
            if ok and after_reload and self.p["reload_metric"] and self.p["metrics_url"]:
                success = self.metric(self.p["reload_metric"] + "_successful")
                stamp = self.metric(self.p["reload_metric"] + "_success_timestamp_seconds")
                if success == 0:
                    raise ServiceError("%s reports a failed reload (%s_successful 0); it keeps its previous config%s"
                                       % (self.unit, self.p["reload_metric"], self.journal()))
                ok = success == 1 and stamp is not None and stamp >= int(started_at)
                last = "reload not confirmed yet (%s_successful=%s, timestamp=%s)" % (self.p["reload_metric"], success, stamp)
            if ok:
                # a service that crashes right after answering shows up as a new PID or a failed state here
                time.sleep(0.3)
                props = self.show()
                if props.get("ActiveState") == "active" and (not first_pid or props.get("MainPID") == first_pid):
                    return round(time.time() - started_at, 2)
            time.sleep(0.25)
        raise ServiceError("%s did not become ready within %ss: %s%s" % (self.unit, self.p["ready_timeout"], last, self.journal()))

    def run(self):
        p = self.p
        file_diffs = []
        changed_files = []
        if p["files"]:
            files = [dict((k, f.get(k, spec.get("default"))) for k, spec in FILE_SPEC.items()) for f in p["files"]]
            for f in files:
                missing = [k for k, spec in FILE_SPEC.items() if spec.get("required") and f.get(k) is None]
                if missing:
                    raise ServiceError("files entry %r lacks %s" % (f.get("dest"), ", ".join(missing)))
            try:
                changed_files, content_changed, file_diffs = apply_files(self.m, files)
            except ConfigError as e:
                raise ServiceError(str(e))
            for dest in content_changed:
                if dest.endswith(".service") or dest in p["restart_on"]:
                    p["restart"] = True
                else:
                    p["reload"] = True
        record = {}
        try:
            with open(self.record_path) as f:
                record = json.load(f)
        except (IOError, OSError, ValueError):
            record = {}
        restart_hashes = dict((f, file_hash(f)) for f in p["restart_on"])
        reload_hashes = dict((f, file_hash(f)) for f in p["reload_on"])
        props = self.show()
        if props.get("LoadState") == "not-found" and not self.m.check_mode:
            raise ServiceError("unit %s not found" % self.unit)
        active = props.get("ActiveState") in ("active", "reloading", "activating")
        reasons = []
        action = "none"
        changed_restart = [f for f, h in restart_hashes.items() if record.get("restart", {}).get(f) != h]
        changed_reload = [f for f, h in reload_hashes.items() if record.get("reload", {}).get(f) != h]
        if not active:
            action = "started"
            reasons.append("%s is %s" % (self.unit, props.get("ActiveState", "unknown")))
        elif p["state"] == "restarted" or p["restart"] or (changed_restart and record):
            action = "restarted"
            reasons.append("forced" if (p["state"] == "restarted" or p["restart"]) else
                           "changed since last start: " + ", ".join(changed_restart))
        elif not record and (p["restart_on"] or p["reload_on"]):
            action = "restarted"
            reasons.append("no record of the inputs the running service was started with")
        elif p["state"] == "reloaded" or p["reload"] or changed_reload:
            action = "reloaded"
            reasons.append("forced" if (p["state"] == "reloaded" or p["reload"]) else
                           "changed since last reload: " + ", ".join(changed_reload))
        enable_change = False
        unit_state = props.get("UnitFileState", "")
        if p["enabled"] and unit_state not in ("enabled", "enabled-runtime", "static", "alias"):
            enable_change = True
        if not p["enabled"] and unit_state == "enabled":
            enable_change = True
        changed = action != "none" or enable_change or bool(changed_files)
        result = dict(changed=changed, action=action, reasons=reasons, changed_files=changed_files)
        if self.m._diff:
            after_state = "active" if action != "none" or active else props.get("ActiveState")
            result["diff"] = {"before": "state: %s\nenabled: %s\n" % (props.get("ActiveState"), unit_state),
                              "after": "state: %s\nenabled: %s\n" % (after_state, "enabled" if p["enabled"] else "disabled")}
            if file_diffs:
                result["diff"] = file_diffs + [result["diff"]]
        if self.m.check_mode or (action == "none" and not enable_change):
            return result
        if action in ("started", "restarted") and p["daemon_reload"]:
            self.sysctl("daemon-reload")
        if enable_change:
            self.sysctl("enable" if p["enabled"] else "disable", self.unit)
        if action != "none":
            t0 = time.time()
            if action == "reloaded":
                self.sysctl("reload", self.unit)
            else:
                self.sysctl("restart" if action == "restarted" else "start", self.unit)
            result["ready_seconds"] = self.wait_ready(t0, after_reload=(action == "reloaded"))
        if not os.path.isdir(p["state_dir"]):
            os.makedirs(p["state_dir"], 0o755)
        if action in ("started", "restarted"):
            record = {"restart": restart_hashes, "reload": reload_hashes}
        elif action == "reloaded":
            record = dict(record, reload=reload_hashes)
        tmp = self.record_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
        os.replace(tmp, self.record_path)
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "restarted", "reloaded"], default="started"),
            files=dict(type="list", elements="dict", default=[]),
            enabled=dict(type="bool", default=True),
            daemon_reload=dict(type="bool", default=True),
            restart_on=dict(type="list", elements="path", default=[]),
            reload_on=dict(type="list", elements="path", default=[]),
            restart=dict(type="bool", default=False),
            reload=dict(type="bool", default=False),
            ready_url=dict(type="str"),
            ready_status=dict(type="int", default=200),
            ready_timeout=dict(type="int", default=60),
            reload_metric=dict(type="str"),
            metrics_url=dict(type="str"),
            validate_certs=dict(type="bool", default=True),
            state_dir=dict(type="path", default="/var/lib/hybridmon/services"),
        ),
        required_together=[["reload_metric", "metrics_url"]],
        supports_check_mode=True,
    )
    try:
        module.exit_json(**Controller(module).run())
    except ServiceError as e:
        module.fail_json(msg=to_native(e))
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or "service_control", to_native(e)))


if __name__ == "__main__":
    main()
