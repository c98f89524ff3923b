# -*- coding: utf-8 -*-
# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE module_utils: not a public API of this collection. It may change without notice; only
# the modules and plugins of hybridmon.monitoring may import it.
"""Grafana HTTP API client and dashboard helpers shared by the grafana_* modules.

One client over ``ansible.module_utils.urls.open_url`` (basic credentials or a service-account
token), one typed error carrying the HTTP status, the response body and the URL, and the
normalization used to compare dashboards (and to write deterministic exports).
"""

import base64
import copy
import hashlib
import json
import re
import socket
import urllib.error
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.urls import open_url

# Fields the server owns: stripped before two dashboards are compared or exported.
DASHBOARD_VOLATILE_KEYS = ("id", "version", "iteration")
# Import-only metadata of exported/grafana.com dashboards: never stored by Grafana on import.
DASHBOARD_IMPORT_KEYS = ("__inputs", "__requires", "__elements")

DEFAULT_GRAFANA_COM_URL = "https://grafana.com"


def grafana_argument_spec():
    """Connection options shared by every grafana_* module (mirrors doc_fragments/grafana.py)."""
    return dict(
        url=dict(type="str", default="http://localhost:3000", aliases=["grafana_url"],
                 fallback=(env_fallback, ["GRAFANA_URL"])),
        url_username=dict(type="str", aliases=["grafana_user"], fallback=(env_fallback, ["GRAFANA_USER"])),
        url_password=dict(type="str", no_log=True, aliases=["grafana_password"],
                          fallback=(env_fallback, ["GRAFANA_PASSWORD"])),
        token=dict(type="str", no_log=True, aliases=["grafana_api_key"], fallback=(env_fallback, ["GRAFANA_TOKEN"])),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )


def redact_url(url):
    """Return ``url`` without any ``user:password@`` part, so it can appear in messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = "%s:%d" % (host, parts.port)
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


_STATUS_HINTS = {
    400: "the request was rejected as invalid",
    401: "authentication failed: check url_username/url_password or token",
    403: "permission denied: the credentials lack the required role",
    404: "not found",
    409: "conflict with an existing object",
    412: "precondition failed",
    422: "the request could not be processed",
    500: "Grafana reported an internal error",
}


class GrafanaAPIError(Exception):
    """An HTTP or transport failure talking to Grafana (or grafana.com).

    ``status`` is the HTTP status (None when the server could not be reached), ``body`` the parsed
    JSON body (or its text), ``url`` the URL without credentials.  The message names what was being
    done and never contains credentials: the client never puts them in URLs or bodies it reports.
    """

    def __init__(self, status, body, url, what=None, secrets=()):
        self.status = status
        self.body = body
        self.url = redact_url(url)
        self.what = what or "request"
        super().__init__(self._message(secrets))

    @property
    def server_message(self):
        if isinstance(self.body, dict):
            return to_text(self.body.get("message") or self.body.get("error") or "")
        return to_text(self.body or "")[:300]

    @property
    def server_status(self):
        """Grafana's machine-readable reason (``version-mismatch``, ``name-exists``...), if any."""
        if isinstance(self.body, dict):
            return self.body.get("status")
        return None

    def _message(self, secrets):
        if self.status is None:
            msg = "%s: cannot reach %s: %s" % (self.what, self.url, self.server_message or "no response")
        else:
            hint = _STATUS_HINTS.get(self.status, "unexpected response")
            if self.status == 412:
                reason = self.server_status
                if reason == "version-mismatch":
                    hint = ("version conflict: it was changed in Grafana since it was read; "
                            "re-run the task, or set overwrite=true to replace it")
                elif reason == "name-exists":
                    hint = ("another dashboard with the same title exists in that folder under a different uid; "
                            "set overwrite=true to replace it, or change the title or uid")
            msg = "%s failed: HTTP %d from %s (%s)" % (self.what, self.status, self.url, hint)
            if self.server_message:
                msg += ": %s" % self.server_message
        for secret in secrets:
            if secret:
                msg = msg.replace(secret, "********")
        return msg


def _parse_body(raw):
    text = to_text(raw or b"", errors="surrogate_or_strict")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class GrafanaClient:
    """Minimal JSON client for Grafana's HTTP API (legacy ``/api`` endpoints)."""

    def __init__(self, url, username=None, password=None, token=None, validate_certs=True, timeout=30):
        if not url or not re.match(r"^https?://", url):
            raise ValueError("url must start with http:// or https://, got %r" % redact_url(url or ""))
        self.base = url.rstrip("/")
        self.validate_certs = validate_certs
        self.timeout = timeout
        self._secrets = tuple(s for s in (password, token) if s)
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        elif username is not None and password is not None:
            pair = to_bytes("%s:%s" % (username, password))
            self.headers["Authorization"] = "Basic %s" % to_text(base64.b64encode(pair))

    @classmethod
    def from_module(cls, module):
        p = module.params
        try:
            return cls(p["url"], username=p.get("url_username"), password=p.get("url_password"), token=p.get("token"),
                       validate_certs=p["validate_certs"], timeout=p["timeout"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))

    def request(self, method, path, body=None, query=None, what=None, missing_ok=False):
        """Send one request; return the parsed JSON (None for an allowed 404 or an empty body)."""
        url = self.base + path
        if query:
            url += "?" + urlencode(query)
        data = json.dumps(body, sort_keys=True) if body is not None else None
        try:
            resp = open_url(url, data=data, headers=dict(self.headers), method=method,
                            validate_certs=self.validate_certs, timeout=self.timeout,
                            follow_redirects="safe", use_proxy=True)
            return _parse_body(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                raw = exc.read()
            except Exception:  # pragma: no cover - body unreadable
                raw = b""
            if exc.code == 404 and missing_ok:
                return None
            raise GrafanaAPIError(exc.code, _parse_body(raw), url, what or "%s %s" % (method, path), self._secrets)
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise GrafanaAPIError(None, to_text(reason), url, what or "%s %s" % (method, path), self._secrets)

    # --- health / identity -------------------------------------------------------------------
    def health(self):
        return self.request("GET", "/api/health", what="Grafana health check")

    # --- folders --------------------------------------------------------------------------------
    def get_folder(self, uid):
        return self.request("GET", "/api/folders/%s" % quote(uid, safe=""), what="read folder %r" % uid,
                            missing_ok=True)

    def list_folders(self):
        return self.request("GET", "/api/folders", what="list folders") or []

    def create_folder(self, title, uid=None):
        body = {"title": title}
        if uid:
            body["uid"] = uid
        return self.request("POST", "/api/folders", body=body, what="create folder %r" % title)

    # --- dashboards -----------------------------------------------------------------------------
    def get_dashboard(self, uid):
        return self.request("GET", "/api/dashboards/uid/%s" % quote(uid, safe=""), what="read dashboard %r" % uid,
                            missing_ok=True)

    def save_dashboard(self, dashboard, folder_uid, overwrite=False, message=None):
        body = {"dashboard": dashboard, "folderUid": folder_uid or "", "overwrite": bool(overwrite)}
        if message:
            body["message"] = message
        return self.request("POST", "/api/dashboards/db", body=body,
                            what="save dashboard %r" % dashboard.get("title", dashboard.get("uid")))

    def delete_dashboard(self, uid):
        return self.request("DELETE", "/api/dashboards/uid/%s" % quote(uid, safe=""), what="delete dashboard %r" % uid)

    def search_dashboards(self, query=None, folder_uid=None):
        q = {"type": "dash-db"}
        if query:
            q["query"] = query
        if folder_uid is not None:
            q["folderUIDs"] = folder_uid
        return self.request("GET", "/api/search", query=q, what="search dashboards") or []

    # --- data sources ---------------------------------------------------------------------------
    def get_datasource(self, uid=None, name=None):
        if uid:
            return self.request("GET", "/api/datasources/uid/%s" % quote(uid, safe=""),
                                what="read data source uid %r" % uid, missing_ok=True)
        return self.request("GET", "/api/datasources/name/%s" % quote(name, safe=""),
                            what="read data source %r" % name, missing_ok=True)

    def create_datasource(self, body):
        return self.request("POST", "/api/datasources", body=body, what="create data source %r" % body.get("name"))

    def update_datasource(self, uid, body):
        return self.request("PUT", "/api/datasources/uid/%s" % quote(uid, safe=""), body=body,
                            what="update data source %r" % body.get("name"))

    def delete_datasource(self, uid):
        return self.request("DELETE", "/api/datasources/uid/%s" % quote(uid, safe=""),
                            what="delete data source uid %r" % uid)


# --- grafana.com downloads ------------------------------------------------------------------------

def fetch_url_json(url, what, validate_certs=True, timeout=30):
    """GET a JSON document from an arbitrary URL (grafana.com or a dashboard URL)."""
    client = GrafanaClient(url, validate_certs=validate_certs, timeout=timeout)
    client.base = ""
    return client.request("GET", url, what=what)


def grafana_com_download_url(base, dashboard_id, revision):
    return "%s/api/dashboards/%d/revisions/%d/download" % (base.rstrip("/"), dashboard_id, revision)


def grafana_com_latest_revision(base, dashboard_id, validate_certs=True, timeout=30):
    info = fetch_url_json("%s/api/dashboards/%d" % (base.rstrip("/"), dashboard_id),
                          "look up grafana.com dashboard %d" % dashboard_id, validate_certs, timeout)
    rev = info.get("revision") if isinstance(info, dict) else None
    if not isinstance(rev, int):
        raise GrafanaAPIError(200, "no revision in answer", base, "look up grafana.com dashboard %d" % dashboard_id)
    return rev


# --- dashboard normalization ----------------------------------------------------------------------

def canonical_json(data):
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, separators=(",", ": ")) + "\n"


def normalize_dashboard(dashboard):
    """Dashboard JSON without server-owned and import-only fields, with a canonical key order.

    Accepts either a bare dashboard or Grafana's ``{"dashboard": ..., "meta": ...}`` envelope.
    """
    if not isinstance(dashboard, dict):
        raise ValueError("a dashboard must be a JSON object, got %s" % type(dashboard).__name__)
    if "dashboard" in dashboard and isinstance(dashboard["dashboard"], dict) and (
            "meta" in dashboard or "panels" not in dashboard):
        dashboard = dashboard["dashboard"]
    result = copy.deepcopy(dashboard)
    for key in DASHBOARD_VOLATILE_KEYS + DASHBOARD_IMPORT_KEYS:
        result.pop(key, None)
    # round-trip through canonical JSON: key order and number types become canonical
    return json.loads(json.dumps(result, sort_keys=True))


_INPUT_REF = re.compile(r"\$\{([A-Za-z0-9_\-.]+)\}")


def dashboard_inputs(dashboard):
    """The ``__inputs`` list of an exported dashboard as {name: input}."""
    found = {}
    for item in dashboard.get("__inputs") or []:
        if isinstance(item, dict) and item.get("name"):
            found[item["name"]] = item
    return found


def resolve_inputs(dashboard, values):
    """Replace ``${NAME}`` references of the dashboard's ``__inputs`` by ``values[NAME]``.

    ``values`` maps input names to final strings (data source uids are resolved by the caller).
    Constant inputs without a value fall back to the ``value`` the exporter recorded. A data source
    input without a value, or a value for an input the dashboard does not declare, raises
    ValueError naming the input.
    """
    declared = dashboard_inputs(dashboard)
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ValueError("inputs %s are not declared in the dashboard's __inputs (declared: %s)"
                         % (", ".join(unknown), ", ".join(sorted(declared)) or "none"))
    mapping = {}
    for name, item in declared.items():
        if name in values:
            mapping[name] = to_text(values[name])
        elif item.get("type") == "constant" and item.get("value") is not None:
            mapping[name] = to_text(item["value"])
        else:
            raise ValueError("dashboard input %s (%s %s) has no value; set inputs: {%s: <%s>}" % (
                name, item.get("type", "input"), item.get("pluginId", ""), name,
                "data source name or uid" if item.get("type") == "datasource" else "value"))

    def walk(node):
        if isinstance(node, dict):
            return dict((k, walk(v)) for k, v in node.items() if k not in DASHBOARD_IMPORT_KEYS)
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and "${" in node:
            return _INPUT_REF.sub(lambda m: mapping.get(m.group(1), m.group(0)), node)
        return node

    return walk(dashboard)


def stable_uid(*parts):
    """A deterministic dashboard uid (<= 40 characters) for dashboards that carry none."""
    digest = hashlib.sha256(to_bytes("\0".join(parts))).hexdigest()
    return "hm-" + digest[:24]
