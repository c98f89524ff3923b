"""End to end: the real grafana_* modules and their client against the Grafana API TEST DOUBLE.

The double (tests/doubles/grafana_api_double.py) runs on an ephemeral 127.0.0.1 port; nothing is
mocked between the modules and it. A second double stands in for grafana.com downloads.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

import pytest

from helpers import run_module  # noqa: E402  (tests/unit is on sys.path via rootdir conftest)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "doubles"))

import grafana_api_double  # noqa: E402
import grafana_com_double  # noqa: E402
from ansible_collections.hybridmon.monitoring.plugins.modules import grafana_dashboard, grafana_datasource  # noqa: E402
from ansible_collections.hybridmon.monitoring.plugins.module_utils._grafana import (  # noqa: E402
    GrafanaAPIError, GrafanaClient)

ADMIN_PASSWORD = "s3cret-Adm1n-pw"

INI = """
; written by the test like the role writes it
[server]
http_addr = 127.0.0.1
http_port = 3000

[security]
admin_user = admin
admin_password = {password}
secret_key = test-secret-key
disable_gravatar = true
cookie_secure = true
cookie_samesite = strict

[auth.anonymous]
enabled = {anonymous}

[users]
allow_sign_up = false
allow_org_create = false

[paths]
data = {data}
provisioning = {prov}
"""

PROV_DS = """apiVersion: 1
datasources:
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: http://localhost:9090
    isDefault: true
    editable: false
"""

PROV_DASH = """apiVersion: 1
providers:
  - name: hybridmon
    folder: Provisioned
    folderUid: provisioned
    type: file
    allowUiUpdates: false
    options:
      path: {path}
"""


def _write_config(tmp_path, anonymous=False):
    prov = tmp_path / "provisioning"
    (prov / "datasources").mkdir(parents=True)
    (prov / "dashboards").mkdir()
    files = tmp_path / "dashboards"
    files.mkdir()
    (files / "provisioned.json").write_text(json.dumps({"uid": "prov-1", "title": "From a file", "panels": []}))
    (prov / "datasources" / "prometheus.yaml").write_text(PROV_DS)
    (prov / "dashboards" / "hybridmon.yaml").write_text(PROV_DASH.format(path=files))
    ini = tmp_path / "grafana.ini"
    ini.write_text(INI.format(password=ADMIN_PASSWORD, anonymous="true" if anonymous else "false",
                              data=tmp_path / "data", prov=prov))
    return ini


@pytest.fixture
def grafana(tmp_path):
    double = grafana_api_double.GrafanaDouble(config_path=str(_write_config(tmp_path)), port=0).start()
    yield double
    double.stop()


@pytest.fixture
def gcom():
    double = grafana_com_double.GrafanaComDouble(port=0).start()
    yield double
    double.stop()


def conn(double, **extra):
    args = dict(url=double.url, url_username="admin", url_password=ADMIN_PASSWORD)
    args.update(extra)
    return args


def raw(double, method, path, body=None, auth=("admin", ADMIN_PASSWORD), token=None):
    req = urllib.request.Request(double.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    elif auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


DASH = {
    "uid": "e2e-dash",
    "title": "E2E dashboard",
    "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}],
    "panels": [{"id": 1, "type": "timeseries", "title": "up",
                "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                "targets": [{"expr": "up", "refId": "A"}]}],
}


def test_health_needs_no_auth_and_api_needs_auth(grafana):
    assert raw(grafana, "GET", "/api/health", auth=None)[1]["database"] == "ok"
    status, body = raw(grafana, "GET", "/api/search", auth=None)
    assert (status, body["message"]) == (401, "Unauthorized")
    status, body = raw(grafana, "GET", "/api/search", auth=("admin", "wrong"))
    assert status == 401


def test_provisioning_loaded_at_start(grafana):
    status, ds = raw(grafana, "GET", "/api/datasources/name/Prometheus")
    assert status == 200 and ds["uid"] == "prometheus" and ds["readOnly"] is True
    status, dash = raw(grafana, "GET", "/api/dashboards/uid/prov-1")
    assert status == 200 and dash["meta"]["provisioned"] is True and dash["meta"]["folderUid"] == "provisioned"
    # provisioned dashboards refuse API saves, as in Grafana
    payload = {"dashboard": dict(dash["dashboard"], title="x"), "folderUid": "provisioned", "overwrite": True}
    status, body = raw(grafana, "POST", "/api/dashboards/db", payload)
    assert status == 400 and "provisioned" in body["message"]


def test_dashboard_lifecycle_detects_ui_edit(grafana, monkeypatch):
    args = conn(grafana, dashboard=DASH, folder="Hybrid", inputs={"DS_PROMETHEUS": "Prometheus"})
    first = run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)
    assert first.get("changed") is True and not first.get("failed"), first
    assert first["version"] == 1

    again = run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)
    assert again["changed"] is False, again
    check = run_module(grafana_dashboard.main, args, check_mode=True, monkeypatch=monkeypatch)
    assert check["changed"] is False

    # the input was resolved to the data source uid, and the folder was created
    status, stored = raw(grafana, "GET", "/api/dashboards/uid/e2e-dash")
    assert stored["dashboard"]["panels"][0]["datasource"]["uid"] == "prometheus"
    assert "__inputs" not in stored["dashboard"]
    assert stored["meta"]["folderTitle"] == "Hybrid"

    # someone edits the dashboard "in Grafana"
    edited = stored["dashboard"]
    edited["panels"][0]["title"] = "edited by hand"
    status, _ignored = raw(grafana, "POST", "/api/dashboards/db",
                           {"dashboard": edited, "folderUid": stored["meta"]["folderUid"]})
    assert status == 200

    predicted = run_module(grafana_dashboard.main, args, check_mode=True, diff=True, monkeypatch=monkeypatch)
    assert predicted["changed"] is True
    assert predicted["diff"]["before"]["dashboard"]["panels"][0]["title"] == "edited by hand"
    assert predicted["diff"]["after"]["dashboard"]["panels"][0]["title"] == "up"
    assert raw(grafana, "GET", "/api/dashboards/uid/e2e-dash")[1]["dashboard"]["panels"][0]["title"] == "edited by hand"

    restored = run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)
    assert restored["changed"] is True and restored["version"] == 3
    assert raw(grafana, "GET", "/api/dashboards/uid/e2e-dash")[1]["dashboard"]["panels"][0]["title"] == "up"
    assert run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)["changed"] is False


def test_export_and_absent(grafana, tmp_path, monkeypatch):
    args = conn(grafana, dashboard=DASH, inputs={"DS_PROMETHEUS": "prometheus"})
    assert run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)["changed"] is True
    dest = tmp_path / "backup" / "e2e.json"
    exp = conn(grafana, state="export", uid="e2e-dash", dest=str(dest))
    assert run_module(grafana_dashboard.main, exp, monkeypatch=monkeypatch)["changed"] is True
    text = dest.read_text()
    data = json.loads(text)
    assert "id" not in data and "version" not in data and data["uid"] == "e2e-dash"
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert run_module(grafana_dashboard.main, exp, monkeypatch=monkeypatch)["changed"] is False

    gone = conn(grafana, state="absent", uid="e2e-dash")
    assert run_module(grafana_dashboard.main, gone, monkeypatch=monkeypatch)["changed"] is True
    assert run_module(grafana_dashboard.main, gone, monkeypatch=monkeypatch)["changed"] is False


def test_grafana_com_download_is_cached(grafana, gcom, tmp_path, monkeypatch):
    args = conn(grafana, grafana_com_id=1860, grafana_com_revision=37, grafana_com_url=gcom.url,
                cache_dir=str(tmp_path / "cache"), folder="Community", inputs={"DS_PROMETHEUS": "Prometheus"})
    first = run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)
    assert first["changed"] is True and first["title"] == "Node Exporter Full", first
    assert gcom.requests == ["/api/dashboards/1860/revisions/37/download"]
    gcom.stop()  # "offline" from here on
    again = run_module(grafana_dashboard.main, args, monkeypatch=monkeypatch)
    assert again["changed"] is False and not again.get("failed"), again


def test_datasource_secret_tracked_by_hash(grafana, monkeypatch):
    args = conn(grafana, name="MySQL", type="mysql", datasource_url="db:3306", user="reader", database="app",
                secure_json_data={"password": "pw-one"})
    assert run_module(grafana_datasource.main, args, monkeypatch=monkeypatch)["changed"] is True
    again = run_module(grafana_datasource.main, args, diff=True, monkeypatch=monkeypatch)
    assert again["changed"] is False, again
    stored = raw(grafana, "GET", "/api/datasources/name/MySQL")[1]
    assert stored["secureJsonFields"] == {"password": True}
    assert "pw-one" not in json.dumps(stored)
    args["secure_json_data"] = {"password": "pw-two"}
    changed = run_module(grafana_datasource.main, args, diff=True, monkeypatch=monkeypatch)
    assert changed["changed"] is True
    assert "pw-two" not in json.dumps(changed) and "pw-one" not in json.dumps(changed)
    assert changed["diff"]["after"]["secureJsonData"] == {"password": "set (new value)"}
    assert run_module(grafana_datasource.main, args, monkeypatch=monkeypatch)["changed"] is False
    args["state"] = "absent"
    assert run_module(grafana_datasource.main, args, monkeypatch=monkeypatch)["changed"] is True


def test_service_account_token_and_wrong_token(grafana, monkeypatch):
    status, sa = raw(grafana, "POST", "/api/serviceaccounts", {"name": "ansible", "role": "Editor"})
    assert status == 201
    status, tok = raw(grafana, "POST", "/api/serviceaccounts/%d/tokens" % sa["id"], {"name": "ci"})
    assert status == 200 and tok["key"].startswith("glsa_")

    ok = run_module(grafana_dashboard.main, dict(url=grafana.url, token=tok["key"], dashboard={"uid": "tok", "title": "T"}),
                    monkeypatch=monkeypatch)
    assert ok["changed"] is True, ok
    # Editor token cannot manage data sources (Admin only): 403 with a clear message
    denied = run_module(grafana_datasource.main, dict(url=grafana.url, token=tok["key"], name="X", type="loki"),
                        monkeypatch=monkeypatch)
    assert denied["failed"] and "HTTP 403" in denied["msg"]

    bad = "glsa_not-a-real-token"
    res = run_module(grafana_dashboard.main, dict(url=grafana.url, token=bad, dashboard={"uid": "tok", "title": "T"}),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "HTTP 401" in res["msg"] and "authentication failed" in res["msg"]
    assert bad not in res["msg"]


def test_anonymous_is_401_unless_enabled(grafana, tmp_path):
    client = GrafanaClient(grafana.url)
    with pytest.raises(GrafanaAPIError) as err:
        client.search_dashboards()
    assert err.value.status == 401
    anon_dir = tmp_path / "anon"
    anon_dir.mkdir()
    anon = grafana_api_double.GrafanaDouble(config_path=str(_write_config(anon_dir, anonymous=True)), port=0).start()
    try:
        assert GrafanaClient(anon.url).search_dashboards() is not None
        with pytest.raises(GrafanaAPIError) as err:  # anonymous viewers cannot write
            GrafanaClient(anon.url).create_folder("nope")
        assert err.value.status == 403
    finally:
        anon.stop()


def test_unreachable_url_names_the_url(monkeypatch):
    res = run_module(grafana_dashboard.main, dict(url="http://127.0.0.1:9", url_username="admin",
                                                  url_password="hunter2-pw", dashboard={"uid": "u", "title": "T"}),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "cannot reach http://127.0.0.1:9" in res["msg"]
    assert "hunter2-pw" not in res["msg"]


def test_state_survives_restart(tmp_path):
    ini = str(_write_config(tmp_path))
    first = grafana_api_double.GrafanaDouble(config_path=ini, port=0).start()
    try:
        assert raw(first, "POST", "/api/folders", {"title": "Kept", "uid": "kept"})[0] == 200
    finally:
        first.stop()
    second = grafana_api_double.GrafanaDouble(config_path=ini, port=0).start()
    try:
        assert raw(second, "GET", "/api/folders/kept")[1]["title"] == "Kept"
        assert raw(second, "GET", "/api/dashboards/uid/prov-1")[1]["meta"]["version"] == 1  # unchanged file: no bump
    finally:
        second.stop()


def test_provisioned_files_are_rescanned(tmp_path):
    ini = _write_config(tmp_path)
    provider = tmp_path / "provisioning" / "dashboards" / "hybridmon.yaml"
    provider.write_text(provider.read_text().replace("    type: file\n", "    type: file\n    updateIntervalSeconds: 1\n"))
    double = grafana_api_double.GrafanaDouble(config_path=str(ini), port=0).start()
    try:
        assert raw(double, "GET", "/api/dashboards/uid/later")[0] == 404
        (tmp_path / "dashboards" / "later.json").write_text(json.dumps({"uid": "later", "title": "Later"}))
        for _attempt in range(40):
            if raw(double, "GET", "/api/dashboards/uid/later")[0] == 200:
                break
            time.sleep(0.1)
        assert raw(double, "GET", "/api/dashboards/uid/later")[1]["meta"]["folderUid"] == "provisioned"
    finally:
        double.stop()
