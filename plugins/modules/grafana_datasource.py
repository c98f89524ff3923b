#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: grafana_datasource
short_description: Manage Grafana data sources idempotently, secrets included
description:
  - Creates, updates or deletes a Grafana data source, found by O(uid) when given and otherwise by O(name).
  - Grafana never returns C(secureJsonData) (passwords, tokens). The module stores a salted, slow hash of the
    secrets it set in C(jsonData.hybridmonSecureHash) and compares that hash on later runs, so secrets are
    sent again only when they change and the task does not report C(changed) on every run.
  - Check mode runs the real comparison; only writes are skipped. Secrets never appear in output or diffs.
author:
  - hybridmon.monitoring developers (@hybridmon)
extends_documentation_fragment:
  - hybridmon.monitoring.grafana
attributes:
  check_mode:
    support: full
    description: Reads and compares for real; writes are skipped.
  diff_mode:
    support: full
    description: Shows the compared fields before and after; secure fields show only whether they are set or new.
options:
  state:
    description:
      - Whether the data source should exist.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the data source.
    type: str
    required: true
  uid:
    description:
      - Uid of the data source. When set it identifies the data source (so it can be renamed); otherwise O(name) does.
    type: str
  type:
    description:
      - Plugin id of the data source, for example V(prometheus), V(loki), V(mysql). Required with O(state=present).
    type: str
  datasource_url:
    description:
      - URL Grafana uses to reach the data source, for example V(http://localhost:9090).
    type: str
    aliases: [ds_url]
  access:
    description:
      - V(proxy) lets the Grafana server query the data source; V(direct) makes browsers query it.
    type: str
    choices: [proxy, direct]
    default: proxy
  is_default:
    description:
      - Make this the default data source of the organization.
    type: bool
    default: false
  basic_auth:
    description:
      - Use HTTP basic authentication towards the data source (password in C(basicAuthPassword) in O(secure_json_data)).
    type: bool
    default: false
  basic_auth_user:
    description:
      - User for basic authentication towards the data source.
    type: str
    default: ""
  user:
    description:
      - Database user (SQL data sources).
    type: str
    default: ""
  database:
    description:
      - Database name (SQL data sources).
    type: str
    default: ""
  with_credentials:
    description:
      - Send browser credentials (cookies) with cross-site requests (O(access=direct) only).
    type: bool
    default: false
  json_data:
    description:
      - Plugin settings (C(jsonData)), compared exactly as given.
    type: dict
    default: {}
  secure_json_data:
    description:
      - Secret plugin settings (C(secureJsonData)), for example the keys C(basicAuthPassword) or C(password).
      - Compared through the hash described above; values are masked everywhere.
      - When empty, secrets already set in Grafana are left alone.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Local Prometheus as the default data source
  hybridmon.monitoring.grafana_datasource:
    url: http://localhost:3000
    url_username: admin
    url_password: "{{ grafana_admin_password }}"
    name: Prometheus
    uid: prometheus
    type: prometheus
    datasource_url: http://localhost:9090
    is_default: true
    json_data:
      httpMethod: POST
      timeInterval: 15s

- name: MySQL data source with a password (reported changed only when the password changes)
  hybridmon.monitoring.grafana_datasource:
    token: "{{ grafana_sa_token }}"
    name: MySQL
    type: mysql
    datasource_url: db.example.com:3306
    user: grafana_reader
    database: app
    secure_json_data:
      password: "{{ mysql_grafana_reader_password }}"

- name: Remove an old data source
  hybridmon.monitoring.grafana_datasource:
    name: Graphite
    state: absent
"""

RETURN = r"""
datasource:
  description: The data source as Grafana returned it after the task (no secrets, C(secureJsonFields) lists those set).
  returned: state is present and not in check mode for a new data source
  type: dict
  sample: {"uid": "prometheus", "name": "Prometheus", "type": "prometheus", "url": "http://localhost:9090"}
uid:
  description: Uid of the data source (empty in check mode for a new data source without O(uid)).
  returned: always
  type: str
  sample: prometheus
id:
  description: Numeric id of the data source.
  returned: when it exists
  type: int
  sample: 1
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hybridmon.monitoring.plugins.module_utils._grafana import (
    GrafanaAPIError,
    GrafanaClient,
    grafana_argument_spec,
)
from ansible_collections.hybridmon.monitoring.plugins.module_utils._rcw import (
    ReadCompareWrite,
    secret_digest,
    secret_digest_matches,
)

HASH_KEY = "hybridmonSecureHash"
# API field -> module option
FIELDS = (
    ("name", "name"),
    ("type", "type"),
    ("url", "datasource_url"),
    ("access", "access"),
    ("isDefault", "is_default"),
    ("basicAuth", "basic_auth"),
    ("basicAuthUser", "basic_auth_user"),
    ("user", "user"),
    ("database", "database"),
    ("withCredentials", "with_credentials"),
)
SECRET_SET = "set"
SECRET_NEW = "set (new value)"


class Datasource(ReadCompareWrite):
    secret_paths = (("jsonData", HASH_KEY), ("secureJsonData_values", "*"))

    def __init__(self, module, client):
        super().__init__(module)
        self.client = client
        self.p = module.params
        self.found = None

    def read(self):
        if self.p["uid"]:
            current = self.client.get_datasource(uid=self.p["uid"])
            if current is not None:
                return current
        return self.client.get_datasource(name=self.p["name"])

    def desired(self, current):
        p = self.p
        body = dict((api, p[opt]) for api, opt in FIELDS)
        if body["url"] is None:
            body["url"] = ""
        if p["uid"]:
            body["uid"] = p["uid"]
        elif current is not None:
            body["uid"] = current.get("uid")
        json_data = copy.deepcopy(p["json_data"] or {})
        json_data.pop(HASH_KEY, None)
        stored = ((current or {}).get("jsonData") or {}).get(HASH_KEY)
        secrets = p["secure_json_data"] or {}
        self.secrets_new = False
        if secrets:
            if secret_digest_matches(secrets, stored) and self._secret_keys(current) >= set(secrets):
                json_data[HASH_KEY] = stored
            else:
                json_data[HASH_KEY] = secret_digest(secrets)
                self.secrets_new = True
            body["secureJsonData"] = dict(secrets)
        elif stored is not None:
            json_data[HASH_KEY] = stored  # secrets not managed here: keep the record as it is
        body["jsonData"] = json_data
        return body

    @staticmethod
    def _secret_keys(obj):
        fields = (obj or {}).get("secureJsonFields") or {}
        return set(k for k, v in fields.items() if v)

    def normalize(self, obj):
        """Compared view: managed fields, jsonData without the hash, and the state of each secret."""
        out = dict((api, obj.get(api)) for api, _opt in FIELDS)
        for key in ("url", "basicAuthUser", "user", "database"):
            out[key] = out[key] or ""
        for key in ("isDefault", "basicAuth", "withCredentials"):
            out[key] = bool(out[key])
        if self.p["uid"] or "uid" in obj:
            out["uid"] = obj.get("uid")
        json_data = dict(obj.get("jsonData") or {})
        json_data.pop(HASH_KEY, None)
        out["jsonData"] = json_data
        managed = set(self.p["secure_json_data"] or {})
        if managed:
            if "secureJsonData" in obj:  # the desired side
                state = SECRET_NEW if self.secrets_new else SECRET_SET
                out["secureJsonData"] = dict((k, state) for k in sorted(managed))
            else:
                have = self._secret_keys(obj)
                out["secureJsonData"] = dict((k, SECRET_SET) for k in sorted(have))
        return out

    def create(self, desired):
        return self.client.create_datasource(desired)

    def update(self, current, desired):
        body = dict(desired)
        body["id"] = current.get("id")
        if current.get("version") is not None:
            body["version"] = current["version"]
        return self.client.update_datasource(current["uid"], body)

    def delete(self, current):
        return self.client.delete_datasource(current["uid"])

    def result(self, current, desired, answer):
        out = {}
        ds = None
        if isinstance(answer, dict) and isinstance(answer.get("datasource"), dict):
            ds = answer["datasource"]
        elif current is not None and self.p["state"] == "present" and not self.secrets_new:
            ds = current
        if ds is not None and self.p["state"] == "present":
            out["datasource"] = _public(ds)
        src = ds or current or desired or {}
        out["uid"] = src.get("uid") or ""
        if src.get("id") is not None:
            out["id"] = src["id"]
        return out


def _public(ds):
    """A data source as returned to the user: never any secret value (Grafana sends none anyway)."""
    ds = copy.deepcopy(ds)
    ds.pop("secureJsonData", None)
    for key in ("password", "basicAuthPassword"):
        if ds.get(key):
            ds[key] = "********"
    return ds


def main():
    argument_spec = grafana_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        name=dict(type="str", required=True),
        uid=dict(type="str"),
        type=dict(type="str"),
        datasource_url=dict(type="str", aliases=["ds_url"]),
        access=dict(type="str", default="proxy", choices=["proxy", "direct"]),
        is_default=dict(type="bool", default=False),
        basic_auth=dict(type="bool", default=False),
        basic_auth_user=dict(type="str", default=""),
        user=dict(type="str", default=""),
        database=dict(type="str", default=""),
        with_credentials=dict(type="bool", default=False),
        json_data=dict(type="dict", default={}),
        secure_json_data=dict(type="dict", default={}, no_log=True),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ["type"])],
    )
    if module.params["state"] == "present" and not module.params["type"]:
        module.fail_json(msg="type is required with state=present (a data source plugin id such as prometheus)")
    client = GrafanaClient.from_module(module)
    try:
        resource = Datasource(module, client)
        resource.secrets_new = False
        result = resource.run()
    except GrafanaAPIError as exc:
        module.fail_json(msg=str(exc), status=exc.status, url=exc.url)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
