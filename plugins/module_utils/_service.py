# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils of hybridmon.monitoring: no compatibility promise outside this collection.
#
# Keep a systemd service running with the inputs it was last (re)started or reloaded with, and prove it up after every
# action. Shared by the service_control module and by release_install's `service` option (one module call per service).

import hashlib
import json
import os
import re
import time

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._config_files import (
    FILE_SPEC,
    ConfigError,
    apply_files,
)

# Argument spec of the service options (service_control's top level; release_install's `service` suboptions).
SERVICE_SPEC = dict(
    name=dict(type="str"),
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
    # HTTP basic auth for ready_url and metrics_url (an exporter behind exporter-toolkit's basic_auth_users)
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    state_dir=dict(type="path", default="/var/lib/hybridmon/services"),
)
SERVICE_REQUIRED_TOGETHER = [["reload_metric", "metrics_url"], ["url_username", "url_password"]]


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


def normalize_files(files):
    """Fill the defaults of FILE_SPEC into each files entry; a missing required key or an unknown key fails."""
    out = []
    for f in files or []:
        if not isinstance(f, dict):
            raise ServiceError("files entries must be mappings, got %r" % (f,))
        unknown = set(f) - set(FILE_SPEC)
        if unknown:
            raise ServiceError("files entry %r has unknown keys: %s" % (f.get("dest"), ", ".join(sorted(unknown))))
        entry = dict((k, f.get(k) if f.get(k) is not None else spec.get("default")) for k, spec in FILE_SPEC.items())
        missing = [k for k, spec in FILE_SPEC.items() if spec.get("required") and entry.get(k) is None]
        if missing:
            raise ServiceError("files entry %r lacks %s" % (f.get("dest"), ", ".join(missing)))
        out.append(entry)
    return out


class ServiceController(object):
    """Decide and apply start/restart/reload of one unit. ``params`` follows SERVICE_SPEC (defaults filled in)."""

    def __init__(self, module, params):
        self.m = module
        self.p = dict(params)
        name = self.p["name"]
        if not name:
            raise ServiceError("a service name is required")
        self.unit = name if name.endswith(".service") else name + ".service"
        self.record_path = os.path.join(self.p["state_dir"], re.sub(r"\.service$", "", name) + ".json")
        self.systemctl = module.get_bin_path("systemctl", required=True)
        # what write_files replaced: dest -> (previous bytes or None, stat or None), for a rollback
        self.previous_files = {}

    def sysctl(self, *args, **kw):
        rc, out, err = self.m.run_command([self.systemctl] + list(args))
        if rc != 0 and not kw.get("ok_rc"):
            raise ServiceError("systemctl %s failed: %s%s" % (" ".join(args), (err or out).strip(), self.journal()))
        return rc, out.strip()

    def show(self):
        _rc, out = self.sysctl("show", self.unit, "-p", "ActiveState,SubState,MainPID,NRestarts,UnitFileState,LoadState",
                               ok_rc=True)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self):
        journalctl = self.m.get_bin_path("journalctl")
        if not journalctl:
            return ""
        _rc, out, _err = self.m.run_command([journalctl, "-u", self.unit, "-n", "25", "--no-pager", "-o", "cat"])
        return "\nLast journal lines of %s:\n%s" % (self.unit, out.strip()) if out.strip() else ""

    def http(self, url):
        from ansible.module_utils.urls import open_url  # only when a readiness probe is needed: saves its import
        user = self.p.get("url_username")
        try:
            # credentials go in the Authorization header of the first request (no 401 round trip first); they never
            # appear in a message: errors name the URL and the status only
            r = open_url(url, timeout=5, validate_certs=self.p["validate_certs"], url_username=user or None,
                         url_password=self.p.get("url_password") if user else None, force_basic_auth=bool(user))
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

    def write_files(self):
        """Write the files (validated, all or nothing); a changed unit or restart_on file forces a restart, any other
        changed file a reload. Returns (changed_files, diffs)."""
        files = normalize_files(self.p["files"])
        if not files:
            return [], []
        try:
            changed_files, content_changed, diffs = apply_files(self.m, files, previous=self.previous_files)
        except ConfigError as e:
            raise ServiceError(str(e))
        for dest in content_changed:
            if dest.endswith(".service") or dest in self.p["restart_on"]:
                self.p["restart"] = True
            else:
                self.p["reload"] = True
        return changed_files, diffs

    def read_record(self):
        try:
            with open(self.record_path) as f:
                return json.load(f)
        except (IOError, OSError, ValueError):
            return {}

    def decide(self, props, record, restart_hashes, reload_hashes):
        p = self.p
        active = props.get("ActiveState") in ("active", "reloading", "activating")
        changed_restart = [f for f, h in restart_hashes.items() if record.get("restart", {}).get(f) != h]
        changed_reload = [f for f, h in reload_hashes.items() if record.get("reload", {}).get(f) != h]
        if not active:
            return "started", ["%s is %s" % (self.unit, props.get("ActiveState", "unknown"))]
        if p["state"] == "restarted" or p["restart"]:
            return "restarted", ["forced"]
        if changed_restart and record:
            return "restarted", ["changed since last start: " + ", ".join(sorted(changed_restart))]
        if not record and (p["restart_on"] or p["reload_on"]):
            return "restarted", ["no record of the inputs the running service was started with"]
        if p["state"] == "reloaded" or p["reload"]:
            return "reloaded", ["forced"]
        if changed_reload:
            return "reloaded", ["changed since last reload: " + ", ".join(sorted(changed_reload))]
        return "none", []

    def run(self):
        p = self.p
        changed_files, file_diffs = self.write_files()
        record = self.read_record()
        restart_hashes = dict((f, file_hash(f)) for f in p["restart_on"])
        reload_hashes = dict((f, file_hash(f)) for f in p["reload_on"])
        props = self.show()
        if props.get("LoadState") == "not-found" and not self.m.check_mode:
            raise ServiceError("unit %s not found" % self.unit)
        active = props.get("ActiveState") in ("active", "reloading", "activating")
        action, reasons = self.decide(props, record, restart_hashes, reload_hashes)
        unit_state = props.get("UnitFileState", "")
        enable_change = ((p["enabled"] and unit_state not in ("enabled", "enabled-runtime", "static", "alias"))
                         or (not p["enabled"] and unit_state == "enabled"))
        changed = action != "none" or enable_change or bool(changed_files)
        result = dict(changed=changed, action=action, reasons=reasons, changed_files=changed_files)
        if self.m._diff:
            after_state = "active" if action != "none" or active else props.get("ActiveState")
            state_diff = {"before_header": "%s (state)" % self.unit, "after_header": "%s (state)" % self.unit,
                          "before": "state: %s\nenabled: %s\n" % (props.get("ActiveState"), unit_state),
                          "after": "state: %s\nenabled: %s\n" % (after_state, "enabled" if p["enabled"] else "disabled")}
            result["diff"] = file_diffs + [state_diff]
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
