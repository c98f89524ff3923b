# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of the Grafana HTTP API. It is NOT Grafana and serves no UI.

No Grafana server can be installed on the machines that test this collection, so this small
stdlib-only server implements the documented parts of Grafana's HTTP API that the collection's
modules and role use (see tests/doubles/README.md for the list, and Grafana's "HTTP API"
documentation for the contract).  It reads its settings from grafana.ini like Grafana does
(port, admin user and password on first start, anonymous access, data and provisioning paths),
loads provisioned data sources and dashboards at start, and keeps its state in a JSON file under
the data directory so restarts keep what was created.

Run:     python3 grafana_api_double.py --config /etc/grafana/grafana.ini
Import:  GrafanaDouble(config_path=..., port=0).start()  -> .url ; .stop()
"""

import argparse
import base64
import configparser
import copy
import datetime
import glob
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

try:  # PyYAML is optional: provisioning files written as JSON (a YAML subset) load without it
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

DOUBLE_VERSION = "12.0.0+double1"
ROLES = {"Viewer": 1, "Editor": 2, "Admin": 3}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def slugify(title):
    return re.sub(r"[^a-z0-9]+", "-", (title or "").lower()).strip("-")


def _resolve_value(value):
    """Grafana's ini value expansion: $__env{NAME} and $__file{path}."""
    value = re.sub(r"\$__env\{([^}]*)\}", lambda m: os.environ.get(m.group(1), ""), value)

    def _file(m):
        try:
            with open(m.group(1)) as fh:
                return fh.read().strip()
        except OSError:
            return ""
    return re.sub(r"\$__file\{([^}]*)\}", _file, value)


def read_ini(path):
    """grafana.ini -> {section: {key: value}} with Grafana's defaults for what the double uses."""
    cfg = {
        "server": {"http_addr": "", "http_port": "3000", "protocol": "http", "root_url": ""},
        "security": {"admin_user": "admin", "admin_password": "admin", "secret_key": ""},
        "auth.anonymous": {"enabled": "false", "org_role": "Viewer"},
        "auth.basic": {"enabled": "true"},
        "users": {"allow_sign_up": "false", "allow_org_create": "false"},
        "paths": {"data": "/var/lib/grafana", "provisioning": "/etc/grafana/provisioning",
                  "logs": "/var/log/grafana"},
    }
    if path:
        parser = configparser.RawConfigParser(comment_prefixes=("#", ";"), strict=False)
        parser.optionxform = str
        with open(path) as fh:
            parser.read_file(fh)
        for section in parser.sections():
            cfg.setdefault(section, {})
            for key, value in parser.items(section):
                cfg[section][key] = _resolve_value(value.strip().strip('"'))
    return cfg


def _truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _hash_password(password, salt=None):
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000).hex()
    return "%s$%s" % (salt, digest)


def _check_password(password, stored):
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(_hash_password(password, salt), stored)


def _strip_volatile(dash):
    return dict((k, v) for k, v in dash.items() if k not in ("id", "version", "iteration"))


def _load_structured(path):
    with open(path) as fh:
        text = fh.read()
    if yaml is not None:
        return yaml.safe_load(text) or {}
    return json.loads(text)


class ApiError(Exception):
    def __init__(self, http_status, message, **extra):
        super().__init__(message)
        self.status = http_status
        self.body = dict(message=message, **extra)


class State:
    """Everything the double knows, persisted to <data>/grafana-double.json."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.RLock()
        self.data = {"users": {}, "folders": {}, "dashboards": {}, "datasources": {},
                     "service_accounts": {}, "tokens": {}, "next_id": 1}
        if path and os.path.exists(path):
            with open(path) as fh:
                self.data.update(json.load(fh))

    def next_id(self):
        value = self.data["next_id"]
        self.data["next_id"] = value + 1
        return value

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh, sort_keys=True)
        os.replace(tmp, self.path)


class GrafanaDouble:
    """The double: configuration, state, provisioning and the HTTP server."""

    def __init__(self, config_path=None, port=None, host=None, data_dir=None, provisioning_dir=None):
        self.cfg = read_ini(config_path)
        if data_dir:
            self.cfg["paths"]["data"] = data_dir
        if provisioning_dir:
            self.cfg["paths"]["provisioning"] = provisioning_dir
        self.host = host if host is not None else (self.cfg["server"].get("http_addr") or "0.0.0.0")
        self.port = int(port if port is not None else self.cfg["server"].get("http_port") or 3000)
        data = self.cfg["paths"]["data"]
        os.makedirs(data, exist_ok=True)
        self.state = State(os.path.join(data, "grafana-double.json"))
        self.anonymous = _truthy(self.cfg["auth.anonymous"].get("enabled"))
        self.anonymous_role = self.cfg["auth.anonymous"].get("org_role") or "Viewer"
        self.basic_enabled = _truthy(self.cfg["auth.basic"].get("enabled", "true"))
        self.provision_errors = []
        self.rescan_interval = 10
        self._stop = threading.Event()
        self._bootstrap_admin()
        self._provision()
        self.server = None
        self.thread = None

    # -- start-up -------------------------------------------------------------------------------
    def _bootstrap_admin(self):
        # Like Grafana: the admin user is created from grafana.ini on the first start only.
        sec = self.cfg["security"]
        with self.state.lock:
            if not self.state.data["users"]:
                login = sec.get("admin_user") or "admin"
                self.state.data["users"][login] = {
                    "id": self.state.next_id(), "login": login, "password": _hash_password(sec.get("admin_password") or "admin"),
                    "role": "Admin", "isGrafanaAdmin": True}
                self.state.save()

    def _provision(self):
        base = self.cfg["paths"]["provisioning"]
        for path in sorted(glob.glob(os.path.join(base, "datasources", "*.y*ml"))):
            try:
                self._provision_datasources(_load_structured(path))
            except Exception as exc:  # a broken file is reported like Grafana logs it, and skipped
                self.provision_errors.append("%s: %s" % (path, exc))
        self._provision_dashboard_files()
        for err in self.provision_errors:
            sys.stderr.write("grafana-double: provisioning error: %s\n" % err)
        self.state.save()

    def _provision_dashboard_files(self):
        base = self.cfg["paths"]["provisioning"]
        for path in sorted(glob.glob(os.path.join(base, "dashboards", "*.y*ml"))):
            try:
                doc = _load_structured(path)
                for provider in doc.get("providers") or []:
                    interval = int(provider.get("updateIntervalSeconds") or 10)
                    self.rescan_interval = min(self.rescan_interval, max(interval, 1))
                self._provision_dashboards(doc)
            except Exception as exc:
                self.provision_errors.append("%s: %s" % (path, exc))

    def _rescan_loop(self):
        # Like Grafana, provisioned dashboard files are re-read periodically (updateIntervalSeconds).
        while not self._stop.wait(self.rescan_interval):
            with self.state.lock:
                self.provision_errors = []
                self._provision_dashboard_files()
                self.state.save()

    def _provision_datasources(self, doc):
        for item in doc.get("deleteDatasources") or []:
            found = self._find_ds(name=item.get("name"))
            if found:
                del self.state.data["datasources"][found["uid"]]
        for item in doc.get("datasources") or []:
            if not item.get("name") or not item.get("type"):
                raise ValueError("data source needs name and type: %r" % item)
            existing = self._find_ds(uid=item.get("uid")) or self._find_ds(name=item["name"])
            body = dict(item)
            body.setdefault("access", "proxy")
            body.pop("editable", None)
            ds = self._ds_store(body, existing)
            ds["readOnly"] = not bool(item.get("editable", False))

    def _provision_dashboards(self, doc):
        for provider in doc.get("providers") or []:
            options = provider.get("options") or {}
            path = options.get("path")
            if not path or not os.path.isdir(path):
                raise ValueError("provider %r: options.path %r is not a directory" % (provider.get("name"), path))
            folder_uid = ""
            if provider.get("folder") or provider.get("folderUid"):
                folder_uid = self._ensure_folder(provider.get("folder") or provider.get("folderUid"),
                                                 provider.get("folderUid"))
            for dirpath, _dirs, files in os.walk(path):
                for name in sorted(files):
                    if not name.endswith(".json"):
                        continue
                    with open(os.path.join(dirpath, name)) as fh:
                        dash = json.load(fh)
                    dash.setdefault("uid", slugify(name[:-5])[:40])
                    existing = self.state.data["dashboards"].get(dash["uid"])
                    if existing is not None and existing["folderUid"] == folder_uid and \
                            _strip_volatile(existing["dashboard"]) == _strip_volatile(dash):
                        continue  # unchanged file: Grafana does not bump the version either
                    self._dash_store(dash, folder_uid, existing, "provisioned", provisioned={
                        "name": provider.get("name", ""), "allowUiUpdates": bool(provider.get("allowUiUpdates")),
                        "disableDeletion": bool(provider.get("disableDeletion")),
                        "externalId": os.path.join(dirpath, name)})

    def _ensure_folder(self, title, uid=None):
        folders = self.state.data["folders"]
        if uid and uid in folders:
            return uid
        for f in folders.values():
            if f["title"] == title and not uid:
                return f["uid"]
        return self._folder_store({"title": title, "uid": uid})["uid"]

    # -- server -----------------------------------------------------------------------------------
    def start(self):
        double = self

        class Handler(_Handler):
            pass
        Handler.double = double
        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="grafana-double", daemon=True)
        self.thread.start()
        threading.Thread(target=self._rescan_loop, name="grafana-double-provisioning", daemon=True).start()
        return self

    @property
    def url(self):
        host = self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1"
        return "http://%s:%d" % (host, self.port)

    def stop(self):
        self._stop.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # -- auth ---------------------------------------------------------------------------------------
    def authenticate(self, header):
        """Return the acting identity {login, role, kind} or raise ApiError(401)."""
        if not header:
            if self.anonymous:
                return {"login": "", "role": self.anonymous_role, "kind": "anonymous", "id": 0}
            raise ApiError(401, "Unauthorized")
        scheme, _sep, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and self.basic_enabled:
            try:
                login, _sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ApiError(401, "Invalid Basic Auth Header")
            user = self.state.data["users"].get(login)
            if not user or not _check_password(password, user["password"]):
                raise ApiError(401, "Invalid username or password")
            return {"login": login, "role": user["role"], "kind": "user", "id": user["id"]}
        if scheme == "bearer":
            digest = hashlib.sha256(value.strip().encode()).hexdigest()
            for token in self.state.data["tokens"].values():
                if hmac.compare_digest(token["hash"], digest):
                    sa = self.state.data["service_accounts"].get(str(token["serviceAccountId"]))
                    if sa is None or sa.get("isDisabled"):
                        raise ApiError(401, "service account disabled")
                    if token.get("expires") and token["expires"] < _now():
                        raise ApiError(401, "API key has expired")
                    return {"login": sa["login"], "role": sa["role"], "kind": "service_account", "id": sa["id"]}
            raise ApiError(401, "Invalid API key")
        raise ApiError(401, "Unauthorized")

    @staticmethod
    def require(identity, role):
        if ROLES.get(identity["role"], 0) < ROLES[role]:
            raise ApiError(403, "Permission denied")

    # -- folders ------------------------------------------------------------------------------------
    def _folder_store(self, body):
        folders = self.state.data["folders"]
        title = (body.get("title") or "").strip()
        if not title:
            raise ApiError(400, "folder title cannot be empty")
        uid = body.get("uid") or secrets.token_hex(7)
        if len(uid) > 40:
            raise ApiError(400, "uid too long, max 40 characters")
        if uid in folders:
            raise ApiError(409, "a folder with the same uid already exists")
        if any(f["title"] == title for f in folders.values()):
            raise ApiError(409, "a folder or dashboard in the general folder with the same name already exists")
        now = _now()
        folder = {"id": self.state.next_id(), "uid": uid, "title": title, "url": "/dashboards/f/%s/%s" % (uid, slugify(title)),
                  "version": 1, "created": now, "updated": now, "createdBy": "admin", "updatedBy": "admin"}
        folders[uid] = folder
        return folder

    def folder_view(self, folder):
        view = dict(folder)
        view.update(hasAcl=False, canSave=True, canEdit=True, canAdmin=True, canDelete=True)
        return view

    # -- dashboards ------------------------------------------------------------------------------------
    def _dash_store(self, dash, folder_uid, existing, who, message="", provisioned=None):
        dash = copy.deepcopy(dash)
        now = _now()
        if existing:
            dash["id"] = existing["dashboard"]["id"]
            dash["version"] = existing["dashboard"].get("version", 0) + 1
            created, created_by = existing["created"], existing["createdBy"]
            versions = existing.get("versions", [])
        else:
            dash["id"] = self.state.next_id()
            dash["version"] = 1
            created, created_by = now, who
            versions = []
        versions = versions + [{"version": dash["version"], "message": message, "created": now, "createdBy": who}]
        record = {"dashboard": dash, "folderUid": folder_uid or "", "created": created, "createdBy": created_by,
                  "updated": now, "updatedBy": who, "versions": versions[-20:],
                  "provisioned": provisioned if provisioned is not None else (existing or {}).get("provisioned")}
        self.state.data["dashboards"][dash["uid"]] = record
        return record

    def dash_url(self, dash):
        return "/d/%s/%s" % (dash["uid"], slugify(dash.get("title")))

    def save_dashboard(self, body, identity):
        dash = body.get("dashboard")
        if not isinstance(dash, dict):
            raise ApiError(400, "bad request data")
        if not (dash.get("title") or "").strip():
            raise ApiError(400, "Dashboard title cannot be empty", status="empty-name")
        folder_uid = body.get("folderUid") or ""
        folders = self.state.data["folders"]
        if not folder_uid and body.get("folderId"):
            folder_uid = next((f["uid"] for f in folders.values() if f["id"] == body["folderId"]), None)
            if folder_uid is None:
                raise ApiError(400, "folder not found", status="not-found")
        if folder_uid and folder_uid not in folders:
            raise ApiError(400, "folder not found", status="not-found")
        dashboards = self.state.data["dashboards"]
        overwrite = bool(body.get("overwrite"))
        existing = None
        if dash.get("id"):
            existing = next((d for d in dashboards.values() if d["dashboard"]["id"] == dash["id"]), None)
            if existing is None:
                raise ApiError(404, "Dashboard not found", status="not-found")
            if dash.get("uid") and dash["uid"] != existing["dashboard"]["uid"]:
                other = dashboards.get(dash["uid"])
                if other is not None:
                    raise ApiError(400, "A dashboard with the same uid already exists")
            dash.setdefault("uid", existing["dashboard"]["uid"])
        elif dash.get("uid"):
            existing = dashboards.get(dash["uid"])
        if not dash.get("uid"):
            dash["uid"] = secrets.token_hex(7)
        if len(dash["uid"]) > 40:
            raise ApiError(400, "uid too long, max 40 characters")
        if existing is not None:
            if existing.get("provisioned") and not existing["provisioned"].get("allowUiUpdates"):
                raise ApiError(400, "Cannot save provisioned dashboard")
            if dash.get("version") != existing["dashboard"].get("version") and not overwrite:
                raise ApiError(412, "The dashboard has been changed by someone else", status="version-mismatch")
        clash = next((d for d in dashboards.values() if d["dashboard"]["title"] == dash["title"]
                      and d["folderUid"] == folder_uid and d["dashboard"]["uid"] != dash["uid"]), None)
        if clash is not None:
            if not overwrite:
                raise ApiError(412, "A dashboard with the same name in the folder already exists", status="name-exists")
            del dashboards[clash["dashboard"]["uid"]]
        if existing is not None and existing["dashboard"]["uid"] != dash["uid"]:
            del dashboards[existing["dashboard"]["uid"]]
        record = self._dash_store(dash, folder_uid, existing, identity["login"] or "anonymous", body.get("message", ""))
        saved = record["dashboard"]
        return {"id": saved["id"], "uid": saved["uid"], "url": self.dash_url(saved), "status": "success",
                "version": saved["version"], "slug": slugify(saved["title"]), "folderUid": folder_uid}

    def dashboard_view(self, record, identity):
        dash = record["dashboard"]
        folder = self.state.data["folders"].get(record["folderUid"])
        can_edit = ROLES.get(identity["role"], 0) >= ROLES["Editor"]
        prov = record.get("provisioned") or {}
        meta = {
            "type": "db", "canSave": can_edit, "canEdit": can_edit, "canAdmin": identity["role"] == "Admin",
            "canStar": identity["kind"] != "anonymous", "canDelete": can_edit, "slug": slugify(dash.get("title")),
            "url": self.dash_url(dash), "expires": "0001-01-01T00:00:00Z", "created": record["created"],
            "updated": record["updated"], "updatedBy": record["updatedBy"], "createdBy": record["createdBy"],
            "version": dash["version"], "hasAcl": False, "isFolder": False,
            "folderId": folder["id"] if folder else 0, "folderUid": record["folderUid"],
            "folderTitle": folder["title"] if folder else "General", "folderUrl": folder["url"] if folder else "",
            "provisioned": bool(prov), "provisionedExternalId": prov.get("externalId", ""),
        }
        return {"dashboard": copy.deepcopy(dash), "meta": meta}

    def search(self, query):
        kind = (query.get("type") or [""])[0]
        text = (query.get("query") or [""])[0].lower()
        folder_filter = None
        if query.get("folderUIDs"):
            folder_filter = set(",".join(query["folderUIDs"]).split(","))
        hits = []
        folders = self.state.data["folders"]
        if kind in ("", "dash-folder"):
            for f in folders.values():
                if text in f["title"].lower() and folder_filter is None:
                    hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"], "uri": "db/" + slugify(f["title"]),
                                 "url": f["url"], "slug": "", "type": "dash-folder", "tags": [], "isStarred": False,
                                 "sortMeta": 0})
        if kind in ("", "dash-db"):
            for record in self.state.data["dashboards"].values():
                dash = record["dashboard"]
                if text not in dash["title"].lower():
                    continue
                if folder_filter is not None and (record["folderUid"] or "general") not in folder_filter \
                        and record["folderUid"] not in folder_filter:
                    continue
                hit = {"id": dash["id"], "uid": dash["uid"], "title": dash["title"], "uri": "db/" + slugify(dash["title"]),
                       "url": self.dash_url(dash), "slug": "", "type": "dash-db", "tags": dash.get("tags") or [],
                       "isStarred": False, "sortMeta": 0}
                folder = folders.get(record["folderUid"])
                if folder:
                    hit.update(folderId=folder["id"], folderUid=folder["uid"], folderTitle=folder["title"],
                               folderUrl=folder["url"])
                hits.append(hit)
        return sorted(hits, key=lambda h: (h["type"] != "dash-folder", h["title"].lower()))

    # -- data sources ------------------------------------------------------------------------------------
    def _find_ds(self, uid=None, name=None, ds_id=None):
        for ds in self.state.data["datasources"].values():
            if (uid and ds["uid"] == uid) or (name and ds["name"] == name) or (ds_id and ds["id"] == ds_id):
                return ds
        return None

    def _ds_store(self, body, existing):
        store = self.state.data["datasources"]
        if existing is None:
            if self._find_ds(name=body.get("name")):
                raise ApiError(409, "data source with the same name already exists")
            if body.get("uid") and self._find_ds(uid=body["uid"]):
                raise ApiError(409, "data source with the same uid already exists")
            ds = {"id": self.state.next_id(), "uid": body.get("uid") or secrets.token_hex(7), "orgId": 1,
                  "version": 0, "secure": {}}
        else:
            ds = existing
            other = self._find_ds(name=body.get("name"))
            if other is not None and other is not existing:
                raise ApiError(409, "data source with the same name already exists")
            new_uid = body.get("uid") or existing["uid"]
            if new_uid != existing["uid"]:
                if self._find_ds(uid=new_uid):
                    raise ApiError(409, "data source with the same uid already exists")
                del store[existing["uid"]]
                ds["uid"] = new_uid
        for key, default in (("name", ""), ("type", ""), ("access", "proxy"), ("url", ""), ("user", ""),
                             ("database", ""), ("basicAuth", False), ("basicAuthUser", ""),
                             ("withCredentials", False), ("isDefault", False)):
            ds[key] = body.get(key, default)
        ds["jsonData"] = copy.deepcopy(body.get("jsonData") or {})
        # secureJsonData: keys sent replace what was set, keys not sent are kept (Grafana merges them)
        for key, value in (body.get("secureJsonData") or {}).items():
            ds["secure"][key] = value
        ds["version"] = ds.get("version", 0) + 1
        ds.setdefault("readOnly", False)
        if ds["isDefault"]:
            for other in store.values():
                if other is not ds:
                    other["isDefault"] = False
        store[ds["uid"]] = ds
        return ds

    @staticmethod
    def ds_view(ds):
        view = dict((k, copy.deepcopy(v)) for k, v in ds.items() if k != "secure")
        view.update(typeLogoUrl="public/app/plugins/datasource/%s/img/logo.svg" % ds["type"],
                    password="", basicAuthPassword="",
                    secureJsonFields=dict((k, True) for k in sorted(ds["secure"])))
        return view

    def ds_save(self, body, existing):
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            raise ApiError(400, "Validation error, need to specify name and type")
        if existing is not None:
            if existing.get("readOnly"):
                raise ApiError(403, "Cannot update read-only data source")
            if body.get("version") and body["version"] < existing["version"]:
                raise ApiError(409, "Datasource has already been updated by someone else. Please reload and try again")
        return self._ds_store(body, existing)


def _json_body(handler):
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        raise ApiError(400, "bad request data")


class _Handler(BaseHTTPRequestHandler):
    double = None
    server_version = "grafana-api-double"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet by default; GRAFANA_DOUBLE_LOG=1 shows requests
        if os.environ.get("GRAFANA_DOUBLE_LOG"):
            sys.stderr.write("grafana-double: " + (fmt % args) + "\n")

    def _send(self, status, payload):
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query)
        d = self.double
        try:
            body = _json_body(self) if method in ("POST", "PUT", "PATCH") else {}
            if method == "GET" and path == "/api/health":
                return self._send(200, {"commit": "double", "database": "ok", "version": DOUBLE_VERSION})
            if not path.startswith("/api/"):
                raise ApiError(404, "Not found")
            identity = d.authenticate(self.headers.get("Authorization"))
            with d.state.lock:
                status, payload = route(d, method, path, query, body, identity)
                if method != "GET":
                    d.state.save()
            return self._send(status, payload)
        except ApiError as exc:
            return self._send(exc.status, exc.body)
        except Exception as exc:  # pragma: no cover - a bug in the double shows as a 500
            return self._send(500, {"message": "double internal error: %s" % exc})


def _seg(path, prefix):
    return unquote(path[len(prefix):])


def route(d, method, path, query, body, ident):
    data = d.state.data
    # identity
    if path == "/api/user" and method == "GET":
        if ident["kind"] == "anonymous":
            raise ApiError(401, "Unauthorized")
        return 200, {"id": ident["id"], "login": ident["login"], "orgId": 1, "isGrafanaAdmin": ident["role"] == "Admin"}
    if path == "/api/org" and method == "GET":
        return 200, {"id": 1, "name": "Main Org."}
    if path == "/api/user/password" and method == "PUT":
        user = data["users"].get(ident["login"]) if ident["kind"] == "user" else None
        if user is None:
            raise ApiError(403, "Permission denied")
        if not _check_password(body.get("oldPassword", ""), user["password"]):
            raise ApiError(401, "Invalid old password")
        if len(body.get("newPassword") or "") < 4:
            raise ApiError(400, "New password is too short")
        user["password"] = _hash_password(body["newPassword"])
        return 200, {"message": "User password changed"}

    # folders
    if path == "/api/folders":
        if method == "GET":
            return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]}
                         for f in sorted(data["folders"].values(), key=lambda f: f["title"].lower())]
        if method == "POST":
            d.require(ident, "Editor")
            return 200, d.folder_view(d._folder_store(body))
    if path.startswith("/api/folders/"):
        uid = _seg(path, "/api/folders/")
        folder = data["folders"].get(uid)
        if folder is None:
            raise ApiError(404, "folder not found", status="not-found")
        if method == "GET":
            return 200, d.folder_view(folder)
        if method == "PUT":
            d.require(ident, "Editor")
            if not body.get("overwrite") and body.get("version") != folder["version"]:
                raise ApiError(412, "the folder has been changed by someone else", status="version-mismatch")
            folder.update(title=body.get("title") or folder["title"], version=folder["version"] + 1, updated=_now())
            return 200, d.folder_view(folder)
        if method == "DELETE":
            d.require(ident, "Editor")
            for duid in [u for u, r in data["dashboards"].items() if r["folderUid"] == uid]:
                del data["dashboards"][duid]
            del data["folders"][uid]
            return 200, {"message": "Folder deleted", "id": folder["id"], "title": folder["title"]}

    # dashboards
    if path == "/api/dashboards/db" and method == "POST":
        d.require(ident, "Editor")
        return 200, d.save_dashboard(body, ident)
    if path.startswith("/api/dashboards/uid/"):
        uid = _seg(path, "/api/dashboards/uid/")
        record = data["dashboards"].get(uid)
        if record is None:
            raise ApiError(404, "Dashboard not found", status="not-found")
        if method == "GET":
            return 200, d.dashboard_view(record, ident)
        if method == "DELETE":
            d.require(ident, "Editor")
            if record.get("provisioned") and not record["provisioned"].get("allowUiUpdates"):
                raise ApiError(400, "Dashboard cannot be deleted because it was provisioned")
            del data["dashboards"][uid]
            title = record["dashboard"]["title"]
            return 200, {"title": title, "message": "Dashboard %s deleted" % title, "id": record["dashboard"]["id"]}
    if path == "/api/search" and method == "GET":
        return 200, d.search(query)

    # data sources
    if path == "/api/datasources":
        if method == "GET":
            d.require(ident, "Admin")
            return 200, [d.ds_view(ds) for ds in sorted(data["datasources"].values(), key=lambda x: x["name"])]
        if method == "POST":
            d.require(ident, "Admin")
            ds = d.ds_save(body, None)
            return 200, {"datasource": d.ds_view(ds), "id": ds["id"], "message": "Datasource added", "name": ds["name"]}
    for prefix, key in (("/api/datasources/uid/", "uid"), ("/api/datasources/name/", "name"),
                        ("/api/datasources/", "id")):
        if path.startswith(prefix):
            ref = _seg(path, prefix)
            if key == "id":
                if not ref.isdigit():
                    raise ApiError(404, "Not found")
                ds = d._find_ds(ds_id=int(ref))
            else:
                ds = d._find_ds(**{key: ref})
            if ds is None:
                raise ApiError(404, "Data source not found")
            d.require(ident, "Admin")
            if method == "GET":
                return 200, d.ds_view(ds)
            if method == "PUT" and key != "name":
                saved = d.ds_save(body, ds)
                return 200, {"datasource": d.ds_view(saved), "id": saved["id"], "message": "Datasource updated",
                             "name": saved["name"]}
            if method == "DELETE":
                if ds.get("readOnly"):
                    raise ApiError(403, "Cannot delete read-only data source")
                del data["datasources"][ds["uid"]]
                return 200, {"message": "Data source deleted", "id": ds["id"]}
            raise ApiError(405, "Method not allowed")

    # service accounts and tokens
    if path == "/api/serviceaccounts" and method == "POST":
        d.require(ident, "Admin")
        name = (body.get("name") or "").strip()
        if not name:
            raise ApiError(400, "name is required")
        role = body.get("role") or "Viewer"
        if role not in ROLES:
            raise ApiError(400, "invalid role %r" % role)
        login = "sa-" + slugify(name)
        if any(sa["login"] == login for sa in data["service_accounts"].values()):
            raise ApiError(409, "service account already exists")
        sa = {"id": d.state.next_id(), "name": name, "login": login, "orgId": 1,
              "isDisabled": bool(body.get("isDisabled")), "role": role, "avatarUrl": ""}
        data["service_accounts"][str(sa["id"])] = sa
        return 201, dict(sa, tokens=0)
    if path == "/api/serviceaccounts/search" and method == "GET":
        d.require(ident, "Admin")
        text = (query.get("query") or [""])[0].lower()
        found = [dict(sa, tokens=_token_count(data, sa["id"])) for sa in data["service_accounts"].values()
                 if text in sa["name"].lower()]
        return 200, {"totalCount": len(found), "serviceAccounts": found, "page": 1, "perPage": 1000}
    m = re.match(r"^/api/serviceaccounts/(\d+)(/tokens(?:/(\d+))?)?$", path)
    if m:
        d.require(ident, "Admin")
        sa = data["service_accounts"].get(m.group(1))
        if sa is None:
            raise ApiError(404, "service account not found")
        if not m.group(2):
            if method == "GET":
                return 200, dict(sa, tokens=_token_count(data, sa["id"]))
            if method == "DELETE":
                for tid in [t for t, tok in data["tokens"].items() if tok["serviceAccountId"] == sa["id"]]:
                    del data["tokens"][tid]
                del data["service_accounts"][m.group(1)]
                return 200, {"message": "Service account deleted"}
        elif m.group(3) is None:
            if method == "GET":
                return 200, [dict((k, v) for k, v in tok.items() if k != "hash")
                             for tok in data["tokens"].values() if tok["serviceAccountId"] == sa["id"]]
            if method == "POST":
                name = body.get("name") or ""
                if not name:
                    raise ApiError(400, "token name is required")
                if any(t["name"] == name and t["serviceAccountId"] == sa["id"] for t in data["tokens"].values()):
                    raise ApiError(409, "service account token with given name already exists")
                key = "glsa_" + secrets.token_urlsafe(24)
                tok = {"id": d.state.next_id(), "name": name, "serviceAccountId": sa["id"], "created": _now(),
                       "hash": hashlib.sha256(key.encode()).hexdigest(), "hasExpired": False, "expires": None}
                if body.get("secondsToLive"):
                    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(body["secondsToLive"]))
                    tok["expires"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
                data["tokens"][str(tok["id"])] = tok
                return 200, {"id": tok["id"], "name": name, "key": key}
        elif method == "DELETE":
            tok = data["tokens"].get(m.group(3))
            if tok is None or tok["serviceAccountId"] != sa["id"]:
                raise ApiError(404, "service account token not found")
            del data["tokens"][m.group(3)]
            return 200, {"message": "Service account token deleted"}
    raise ApiError(404, "Not found")


def _token_count(data, sa_id):
    return sum(1 for t in data["tokens"].values() if t["serviceAccountId"] == sa_id)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Grafana HTTP API TEST DOUBLE (not Grafana)")
    parser.add_argument("--config", default="/etc/grafana/grafana.ini")
    parser.add_argument("--homepath", help="accepted for command-line compatibility; unused")
    parser.add_argument("--port", type=int)
    args, _unknown = parser.parse_known_args(argv)
    double = GrafanaDouble(config_path=args.config, port=args.port)
    double.start()
    sys.stderr.write("grafana-double %s listening on %s:%d (TEST DOUBLE, not Grafana)\n"
                     % (DOUBLE_VERSION, double.host or "0.0.0.0", double.port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
