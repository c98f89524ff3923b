#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: grafana_dashboard
short_description: Manage, import and export Grafana dashboards idempotently
description:
  - Creates, updates or deletes a dashboard through Grafana's HTTP API, or exports one to a deterministic JSON file.
  - The dashboard comes from inline JSON, a file, a URL, or a grafana.com dashboard id and revision. Downloads are
    cached on the host running the module, so repeated and offline runs need no network.
  - C(${NAME}) references declared in the dashboard's C(__inputs) are resolved from O(inputs) before upload
    (data source inputs accept a data source name or uid and are stored as the data source's uid).
  - The comparison uses a normalized form (no C(id), C(version), C(iteration), C(__inputs), C(__requires),
    no server-side C(meta), canonical key order) plus the folder, so an unchanged dashboard reports C(ok).
  - Check mode runs the real comparison against the server; only writes are skipped.
author:
  - hybridmon.monitoring developers (@hybridmon)
extends_documentation_fragment:
  - hybridmon.monitoring.grafana
attributes:
  check_mode:
    support: full
    description: Reads and compares for real; creates, updates, deletes and export writes are skipped.
  diff_mode:
    support: full
    description: Shows the normalized dashboard JSON (or the export file) before and after.
options:
  state:
    description:
      - V(present) creates or updates the dashboard, V(absent) deletes it, V(export) writes it to O(dest).
    type: str
    choices: [present, absent, export]
    default: present
  dashboard:
    description:
      - The dashboard as a dict or a JSON string. An envelope with the dashboard under a C(dashboard) key is accepted.
      - Mutually exclusive with O(path), O(dashboard_url) and O(grafana_com_id).
    type: raw
  path:
    description:
      - Path of a dashboard JSON file on the host running the module (the controller with C(delegate_to=localhost)).
    type: path
  dashboard_url:
    description:
      - URL of a dashboard JSON document. Downloaded once into O(cache_dir) (keyed by the URL).
    type: str
  grafana_com_id:
    description:
      - Id of a dashboard published on grafana.com, for example V(1860) (Node Exporter Full).
    type: int
  grafana_com_revision:
    description:
      - Revision of O(grafana_com_id). Pin it for reproducible and offline runs.
      - When omitted the latest revision is looked up on O(grafana_com_url), which needs network on every run.
    type: int
  grafana_com_url:
    description:
      - Base URL of the grafana.com API (or a mirror serving the same paths).
      - Downloads use C(<grafana_com_url>/api/dashboards/<id>/revisions/<revision>/download).
    type: str
    default: https://grafana.com
  cache_dir:
    description:
      - Directory for downloaded dashboards on the host running the module.
    type: path
    default: ~/.cache/hybridmon/grafana-dashboards
  refresh_cache:
    description:
      - Download again even when the cache holds the document.
    type: bool
    default: false
  uid:
    description:
      - Uid of the dashboard. Overrides the uid in the JSON.
      - Without any uid the module looks for a dashboard with the same title in the folder and otherwise derives a
        stable uid from the folder and title, so re-runs never create duplicates.
      - Required for O(state=export) and O(state=absent) unless the dashboard source carries a uid.
    type: str
  folder:
    description:
      - Title of the folder to put the dashboard in. Created when missing and O(create_folder=true).
      - Omit both O(folder) and O(folder_uid) for the General folder.
    type: str
  folder_uid:
    description:
      - Uid of the folder. Takes precedence over O(folder) for lookup; when the folder is created, O(folder)
        (or the uid) becomes its title.
    type: str
  create_folder:
    description:
      - Create the folder when it does not exist. With V(false) a missing folder fails the task.
    type: bool
    default: true
  inputs:
    description:
      - Values for the dashboard's C(__inputs), for example C(DS_PROMETHEUS=Prometheus) written as a dict.
      - Data source inputs take a data source name or uid; constant inputs take the value.
    type: dict
    default: {}
  overwrite:
    description:
      - Replace the dashboard even if it changed in Grafana since it was read (HTTP 412 version conflict), or if
        another dashboard with the same title exists in the folder.
    type: bool
    default: false
  commit_message:
    description:
      - Version history message stored with each change.
    type: str
    default: Updated by hybridmon.monitoring.grafana_dashboard
  dest:
    description:
      - File to write for O(state=export). Written only when its content changes, so it can serve as a backup.
    type: path
"""

EXAMPLES = r"""
- name: Import Node Exporter Full from grafana.com (cached, runs offline once cached)
  hybridmon.monitoring.grafana_dashboard:
    url: http://localhost:3000
    url_username: admin
    url_password: "{{ grafana_admin_password }}"
    grafana_com_id: 1860
    grafana_com_revision: 37
    folder: Infrastructure
    inputs:
      DS_PROMETHEUS: Prometheus
  delegate_to: localhost

- name: Upload a dashboard kept in the repository
  hybridmon.monitoring.grafana_dashboard:
    token: "{{ grafana_sa_token }}"
    path: "{{ playbook_dir }}/dashboards/app.json"
    folder_uid: apps
    folder: Applications

- name: Back up a dashboard (changed only when its content changed)
  hybridmon.monitoring.grafana_dashboard:
    state: export
    uid: hybrid-infra
    dest: /backup/grafana/hybrid-infra.json

- name: Remove a dashboard
  hybridmon.monitoring.grafana_dashboard:
    state: absent
    uid: old-dashboard
"""

RETURN = r"""
uid:
  description: Uid of the dashboard.
  returned: always
  type: str
  sample: hybrid-infra
url:
  description: Path of the dashboard in Grafana (empty in check mode for a new dashboard).
  returned: state is present
  type: str
  sample: /d/hybrid-infra/hybrid-infrastructure-monitoring
version:
  description: Version of the dashboard in Grafana after the task.
  returned: state is present or export
  type: int
  sample: 3
folder_uid:
  description: Uid of the folder holding the dashboard (empty for General).
  returned: state is present
  type: str
  sample: infra
title:
  description: Title of the dashboard.
  returned: when known
  type: str
  sample: Hybrid Infrastructure Monitoring
dest:
  description: File written by O(state=export).
  returned: state is export
  type: str
  sample: /backup/grafana/hybrid-infra.json
"""

import hashlib
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.hybridmon.monitoring.plugins.module_utils._grafana import (
    DEFAULT_GRAFANA_COM_URL,
    GrafanaAPIError,
    GrafanaClient,
    canonical_json,
    dashboard_inputs,
    fetch_url_json,
    grafana_argument_spec,
    grafana_com_download_url,
    grafana_com_latest_revision,
    normalize_dashboard,
    resolve_inputs,
    stable_uid,
)
from ansible_collections.hybridmon.monitoring.plugins.module_utils._rcw import ReadCompareWrite

SOURCES = ("dashboard", "path", "dashboard_url", "grafana_com_id")


def _write_atomic(module, dest, text):
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hm-dashboard-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(to_bytes(text))
        module.atomic_move(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class DashboardSource:
    """Loads the dashboard from whichever source option is set (with the download cache)."""

    def __init__(self, module):
        self.module = module
        self.p = module.params

    def load(self):
        p = self.p
        if p["dashboard"] is not None:
            data = p["dashboard"]
            if isinstance(data, (str, bytes)):
                try:
                    data = json.loads(to_text(data))
                except ValueError as exc:
                    raise ValueError("dashboard is not valid JSON: %s" % exc)
            return self._unwrap(data, "dashboard")
        if p["path"]:
            try:
                with open(p["path"], "rb") as fh:
                    return self._unwrap(json.loads(to_text(fh.read())), p["path"])
            except (IOError, OSError) as exc:
                raise ValueError("cannot read dashboard file %s: %s" % (p["path"], to_native(exc.strerror or exc)))
            except ValueError as exc:
                raise ValueError("dashboard file %s is not valid JSON: %s" % (p["path"], exc))
        if p["dashboard_url"]:
            key = hashlib.sha256(to_bytes(p["dashboard_url"])).hexdigest()[:24]
            return self._cached(os.path.join("url", key + ".json"), p["dashboard_url"],
                                "download dashboard from %s" % p["dashboard_url"])
        if p["grafana_com_id"] is not None:
            dash_id = p["grafana_com_id"]
            base = p["grafana_com_url"]
            rev = p["grafana_com_revision"]
            if rev is None:
                rev = grafana_com_latest_revision(base, dash_id, p["validate_certs"], p["timeout"])
            self.grafana_com_revision = rev
            return self._cached(os.path.join("grafana.com", "%d-r%d.json" % (dash_id, rev)),
                                grafana_com_download_url(base, dash_id, rev),
                                "download grafana.com dashboard %d revision %d" % (dash_id, rev))
        return None

    def _unwrap(self, data, where):
        if isinstance(data, dict) and isinstance(data.get("dashboard"), dict) and "panels" not in data:
            data = data["dashboard"]
        if not isinstance(data, dict):
            raise ValueError("%s must hold a JSON object (a dashboard), got %s" % (where, type(data).__name__))
        return data

    def _cached(self, rel, url, what):
        cache = os.path.join(self.p["cache_dir"], rel)
        if os.path.exists(cache) and not self.p["refresh_cache"]:
            try:
                with open(cache, "rb") as fh:
                    return self._unwrap(json.loads(to_text(fh.read())), cache)
            except ValueError:
                pass  # a damaged cache entry is downloaded again
        data = fetch_url_json(url, what, self.p["validate_certs"], self.p["timeout"])
        data = self._unwrap(data, url)
        # The cache is not managed state: it is filled in check mode too, so a later real run is offline.
        _write_atomic(self.module, cache, canonical_json(data))
        return data


class Dashboard(ReadCompareWrite):
    """A dashboard plus its folder, compared in normalized form."""

    def __init__(self, module, client, source):
        super().__init__(module)
        self.client = client
        self.p = module.params
        self.source = source
        self.meta = {}
        self.current_id = None
        self.folder_uid = ""
        self.folder_to_create = None
        if source is not None and module.params["state"] == "present":
            self._resolve_folder()
        self.uid = self._resolve_uid()

    # -- preparation ----------------------------------------------------------------------------
    def _resolve_folder(self):
        p = self.p
        if p["folder_uid"]:
            found = self.client.get_folder(p["folder_uid"])
            if found is not None:
                self.folder_uid = found["uid"]
                return
            self._missing_folder("uid %r" % p["folder_uid"], (p["folder"] or p["folder_uid"], p["folder_uid"]))
        elif p["folder"]:
            matches = [f for f in self.client.list_folders() if f.get("title") == p["folder"]]
            if len(matches) > 1:
                raise ValueError("folder title %r is ambiguous (uids %s); set folder_uid"
                                 % (p["folder"], ", ".join(sorted(f["uid"] for f in matches))))
            if matches:
                self.folder_uid = matches[0]["uid"]
                return
            self._missing_folder("titled %r" % p["folder"], (p["folder"], None))

    def _missing_folder(self, what, spec):
        if not self.p["create_folder"]:
            raise GrafanaAPIError(404, {"message": "folder %s not found and create_folder is false" % what},
                                  self.client.base + "/api/folders", "find folder %s" % what)
        self.folder_to_create = spec
        self.folder_uid = spec[1] or "(new folder %s)" % spec[0]

    def _resolve_uid(self):
        if self.p["uid"]:
            return self.p["uid"]
        if self.source is not None and self.source.get("uid"):
            return self.source["uid"]
        if self.source is None or self.p["state"] != "present":
            raise ValueError("cannot tell which dashboard to %s: set uid (or give a dashboard source with a uid)"
                             % ("delete" if self.p["state"] == "absent" else "export"))
        title = self.source.get("title")
        if not title:
            raise ValueError("the dashboard has neither a uid nor a title")
        if self.folder_to_create is None:
            for hit in self.client.search_dashboards(query=title):
                if hit.get("title") == title and (hit.get("folderUid") or "") == self.folder_uid:
                    return hit["uid"]
        return stable_uid(self.folder_to_create[0] if self.folder_to_create else self.folder_uid, title)

    def resolved_dashboard(self):
        declared = dashboard_inputs(self.source)
        values = {}
        for name, value in (self.p["inputs"] or {}).items():
            item = declared.get(name)
            if item is not None and item.get("type") == "datasource":
                values[name] = self._datasource_uid(name, to_text(value))
            else:
                values[name] = value
        dash = resolve_inputs(self.source, values)
        dash["uid"] = self.uid
        if not dash.get("title"):
            raise ValueError("the dashboard has no title")
        return dash

    def _datasource_uid(self, input_name, value):
        found = self.client.get_datasource(uid=value) or self.client.get_datasource(name=value)
        if found is None:
            raise ValueError("inputs.%s: no data source with uid or name %r in Grafana" % (input_name, value))
        return found["uid"]

    # -- ReadCompareWrite hooks -----------------------------------------------------------------
    def read(self):
        envelope = self.client.get_dashboard(self.uid)
        if envelope is None:
            return None
        self.meta = envelope.get("meta") or {}
        self.current_id = envelope["dashboard"].get("id")
        return {"dashboard": envelope["dashboard"], "folderUid": self.meta.get("folderUid") or ""}

    def desired(self, current):
        return {"dashboard": self.resolved_dashboard(), "folderUid": self.folder_uid}

    def normalize(self, obj):
        return {"dashboard": normalize_dashboard(obj["dashboard"]), "folderUid": obj["folderUid"]}

    def _ensure_folder(self):
        if self.folder_to_create is not None:
            title, uid = self.folder_to_create
            created = self.client.create_folder(title, uid)
            self.folder_uid = created["uid"]
        return self.folder_uid

    def create(self, desired):
        dash = dict(desired["dashboard"], id=None)
        dash.pop("version", None)
        return self.client.save_dashboard(dash, self._ensure_folder(), self.p["overwrite"], self.p["commit_message"])

    def update(self, current, desired):
        dash = dict(desired["dashboard"], id=self.current_id, version=self.meta.get("version"))
        return self.client.save_dashboard(dash, self._ensure_folder(), self.p["overwrite"], self.p["commit_message"])

    def delete(self, current):
        return self.client.delete_dashboard(self.uid)

    def result(self, current, desired, answer):
        out = dict(uid=self.uid)
        src = desired or current
        if src:
            out["title"] = src["dashboard"].get("title", "")
        if self.p["state"] == "present":
            if answer:
                out.update(url=answer.get("url", ""), version=answer.get("version"))
            else:
                out.update(url=self.meta.get("url", ""), version=self.meta.get("version"))
            out["folder_uid"] = self.folder_uid
        return out


def export(module, client, source):
    p = module.params
    uid = p["uid"] or (source or {}).get("uid")
    if not uid:
        raise ValueError("state=export needs uid (or a dashboard source that has one)")
    envelope = client.get_dashboard(uid)
    if envelope is None:
        raise GrafanaAPIError(404, {"message": "Dashboard not found"}, client.base + "/api/dashboards/uid/" + uid,
                              "export dashboard %r" % uid)
    text = canonical_json(normalize_dashboard(envelope["dashboard"]))
    dest = p["dest"]
    old = None
    if os.path.exists(dest):
        with open(dest, "rb") as fh:
            old = to_text(fh.read(), errors="surrogate_or_replace")
    changed = old != text
    if changed and not module.check_mode:
        _write_atomic(module, dest, text)
    out = dict(changed=changed, uid=uid, dest=dest, title=envelope["dashboard"].get("title", ""),
               version=(envelope.get("meta") or {}).get("version"))
    if changed and module._diff:
        out["diff"] = dict(before=old or "", after=text, before_header=dest, after_header=dest)
    return out


def main():
    argument_spec = grafana_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="present", choices=["present", "absent", "export"]),
        dashboard=dict(type="raw"),
        path=dict(type="path"),
        dashboard_url=dict(type="str"),
        grafana_com_id=dict(type="int"),
        grafana_com_revision=dict(type="int"),
        grafana_com_url=dict(type="str", default=DEFAULT_GRAFANA_COM_URL),
        cache_dir=dict(type="path", default="~/.cache/hybridmon/grafana-dashboards"),
        refresh_cache=dict(type="bool", default=False),
        uid=dict(type="str"),
        folder=dict(type="str"),
        folder_uid=dict(type="str"),
        create_folder=dict(type="bool", default=True),
        inputs=dict(type="dict", default={}),
        overwrite=dict(type="bool", default=False),
        commit_message=dict(type="str", default="Updated by hybridmon.monitoring.grafana_dashboard"),
        dest=dict(type="path"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[SOURCES],
        required_if=[("state", "export", ["dest"]), ("state", "present", SOURCES, True)],
        required_by={"grafana_com_revision": "grafana_com_id"},
    )
    if module.params["state"] == "present" and all(module.params[k] is None for k in SOURCES):
        module.fail_json(msg="state=present needs one of: %s" % ", ".join(SOURCES))
    client = GrafanaClient.from_module(module)
    try:
        source = DashboardSource(module).load()
        if module.params["state"] == "export":
            result = export(module, client, source)
        else:
            result = Dashboard(module, client, source).run()
    except GrafanaAPIError as exc:
        module.fail_json(msg=str(exc), status=exc.status, url=exc.url)
    except ValueError as exc:
        module.fail_json(msg=to_native(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
