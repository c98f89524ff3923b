"""grafana_dashboard with scripted HTTP exchanges: every request the module makes is listed."""
import json

import pytest

from helpers import Exchange, ScriptedHTTP, run_module

from ansible_collections.hybridmon.monitoring.plugins.module_utils import _grafana
from ansible_collections.hybridmon.monitoring.plugins.modules import grafana_dashboard

CONN = {"url": "http://grafana:3000", "url_username": "admin", "url_password": "Sup3r-secret"}
DASH = {"uid": "hy", "title": "Hybrid", "panels": [{"id": 1, "title": "up", "targets": [{"expr": "up"}]}]}


def stored(dash=None, version=3, folder_uid="", dash_id=7):
    body = dict(DASH if dash is None else dash, id=dash_id, version=version)
    return {"dashboard": body, "meta": {"version": version, "folderUid": folder_uid, "folderId": 0,
                                        "url": "/d/hy/hybrid", "slug": "hybrid", "provisioned": False}}


def run(monkeypatch, exchanges, check_mode=False, diff=False, **args):
    http = ScriptedHTTP(exchanges)
    monkeypatch.setattr(_grafana, "open_url", http)
    params = dict(CONN)
    params.update(args)
    result = run_module(grafana_dashboard.main, params, check_mode=check_mode, diff=diff, monkeypatch=monkeypatch)
    http.assert_done()
    return result, http


def test_create_in_new_folder(monkeypatch):
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/folders", 200, [{"id": 1, "uid": "other", "title": "Other"}]),
        Exchange("GET", "/api/dashboards/uid/hy", 404, {"message": "Dashboard not found"}),
        Exchange("POST", "/api/folders", 200, {"id": 2, "uid": "fold1", "title": "Infra"}, body={"title": "Infra"}),
        Exchange("POST", "/api/dashboards/db", 200,
                 {"id": 9, "uid": "hy", "url": "/d/hy/hybrid", "status": "success", "version": 1, "slug": "hybrid"},
                 body={"dashboard": dict(DASH, id=None), "folderUid": "fold1", "overwrite": False,
                       "message": "Updated by hybridmon.monitoring.grafana_dashboard"}),
    ], dashboard=DASH, folder="Infra")
    assert res["changed"] is True and res["version"] == 1 and res["folder_uid"] == "fold1"
    assert res["url"] == "/d/hy/hybrid"


def test_unchanged_is_ok_and_json_string_accepted(monkeypatch):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored())],
                        dashboard=json.dumps(DASH))
    assert res["changed"] is False and res["version"] == 3 and "diff" not in res


def test_key_order_and_volatile_fields_do_not_matter(monkeypatch):
    reordered = {"panels": [{"targets": [{"expr": "up"}], "title": "up", "id": 1}], "title": "Hybrid", "uid": "hy",
                 "version": 1, "iteration": 99}
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored())], dashboard=reordered)
    assert res["changed"] is False


def test_update_sends_id_and_current_version(monkeypatch):
    new = dict(DASH, refresh="30s")
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored()),
        Exchange("POST", "/api/dashboards/db", 200, {"id": 7, "uid": "hy", "url": "/d/hy/hybrid", "version": 4},
                 body={"dashboard": dict(new, id=7, version=3), "folderUid": "", "overwrite": False,
                       "message": "Updated by hybridmon.monitoring.grafana_dashboard"}),
    ], diff=True, dashboard=new)
    assert res["changed"] is True and res["version"] == 4
    assert "refresh" not in res["diff"]["before"]["dashboard"]
    assert res["diff"]["after"]["dashboard"]["refresh"] == "30s"
    assert "version" not in res["diff"]["after"]["dashboard"]


def test_check_mode_compares_but_does_not_write(monkeypatch):
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/folders", 200, []),
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored()),
    ], check_mode=True, diff=True, dashboard=DASH, folder="New folder")
    assert res["changed"] is True
    assert res["diff"]["before"]["folderUid"] == "" and res["diff"]["after"]["folderUid"] == "(new folder New folder)"
    assert [c[0] for c in http.calls] == ["GET", "GET"]


def test_folder_move_is_a_change(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/folders/infra", 200, {"id": 3, "uid": "infra", "title": "Infra"}),
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored(folder_uid="")),
        Exchange("POST", "/api/dashboards/db", 200, {"id": 7, "uid": "hy", "version": 4, "url": "/d/hy/hybrid"}),
    ], dashboard=DASH, folder_uid="infra")
    assert res["changed"] is True and res["folder_uid"] == "infra"


def test_missing_folder_without_create_is_404(monkeypatch):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/folders/nope", 404, {"message": "folder not found"})],
                        dashboard=DASH, folder_uid="nope", create_folder=False)
    assert res["failed"] and "HTTP 404" in res["msg"] and "folder uid 'nope'" in res["msg"]


def test_version_conflict_412(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored()),
        Exchange("POST", "/api/dashboards/db", 412,
                 {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}),
    ], dashboard=dict(DASH, title="Renamed"))
    assert res["failed"] and res["status"] == 412
    assert "version conflict" in res["msg"] and "overwrite=true" in res["msg"]


def test_bad_credentials_401_never_shows_password(monkeypatch):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 401, {"message": "Invalid username or password"})],
                        dashboard=DASH)
    assert res["failed"] and "HTTP 401" in res["msg"] and "authentication failed" in res["msg"]
    assert "Sup3r-secret" not in json.dumps(res)


def test_inputs_resolved_by_name(monkeypatch):
    dash = {"uid": "gc", "title": "Imported", "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource"}],
            "panels": [{"datasource": {"uid": "${DS_PROMETHEUS}"}}]}
    want = {"uid": "gc", "title": "Imported", "panels": [{"datasource": {"uid": "prom-1"}}], "id": None}
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/uid/gc", 404, {"message": "Dashboard not found"}),
        Exchange("GET", "/api/datasources/uid/Prometheus", 404, {"message": "Data source not found"}),
        Exchange("GET", "/api/datasources/name/Prometheus", 200, {"id": 1, "uid": "prom-1", "name": "Prometheus"}),
        Exchange("POST", "/api/dashboards/db", 200, {"id": 1, "uid": "gc", "version": 1, "url": "/d/gc/imported"},
                 body={"dashboard": want, "folderUid": "", "overwrite": False,
                       "message": "Updated by hybridmon.monitoring.grafana_dashboard"}),
    ], dashboard=dash, inputs={"DS_PROMETHEUS": "Prometheus"})
    assert res["changed"] is True


def test_unknown_datasource_input_fails_clearly(monkeypatch):
    dash = {"uid": "gc", "title": "Imported", "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource"}]}
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/uid/gc", 404, {}),
        Exchange("GET", "/api/datasources/uid/nope", 404, {}),
        Exchange("GET", "/api/datasources/name/nope", 404, {}),
    ], dashboard=dash, inputs={"DS_PROMETHEUS": "nope"})
    assert res["failed"] and "inputs.DS_PROMETHEUS" in res["msg"] and "'nope'" in res["msg"]


def test_unresolved_input_fails(monkeypatch):
    dash = {"uid": "gc", "title": "Imported", "__inputs": [{"name": "DS_PROMETHEUS", "type": "datasource"}]}
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/gc", 404, {})], dashboard=dash)
    assert res["failed"] and "DS_PROMETHEUS" in res["msg"] and "has no value" in res["msg"]


def test_no_uid_adopts_existing_by_title(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/search?type=dash-db&query=Hybrid", 200,
                 [{"uid": "elsewhere", "title": "Hybrid", "folderUid": "f"}, {"uid": "hy", "title": "Hybrid"}]),
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored()),
    ], dashboard={"title": "Hybrid", "panels": DASH["panels"]})
    assert res["changed"] is False and res["uid"] == "hy"


def test_delete_and_absent_noop(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/uid/hy", 200, stored()),
        Exchange("DELETE", "/api/dashboards/uid/hy", 200, {"title": "Hybrid", "message": "deleted", "id": 7}),
    ], state="absent", uid="hy")
    assert res["changed"] is True
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 404, {})], state="absent", uid="hy")
    assert res["changed"] is False
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored())],
                        state="absent", uid="hy", check_mode=True)
    assert res["changed"] is True


def test_absent_without_uid_is_rejected(monkeypatch):
    res, _ignored = run(monkeypatch, [], state="absent", dashboard={"title": "x"})
    assert res["failed"] and "set uid" in res["msg"]


def test_export_is_deterministic(monkeypatch, tmp_path):
    dest = tmp_path / "b" / "hy.json"
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored(version=3))],
                        state="export", uid="hy", dest=str(dest), diff=True)
    assert res["changed"] is True and res["diff"]["before"] == ""
    text = dest.read_text()
    assert json.loads(text) == DASH and text.endswith("\n") and '"version"' not in text
    # a new server version with the same content: no change
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored(version=8, dash_id=70))],
                        state="export", uid="hy", dest=str(dest))
    assert res["changed"] is False and dest.read_text() == text
    # content changed: check mode reports it but leaves the file alone
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/hy", 200, stored(dict(DASH, title="New")))],
                        state="export", uid="hy", dest=str(dest), check_mode=True)
    assert res["changed"] is True and dest.read_text() == text


def test_export_missing_dashboard(monkeypatch, tmp_path):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/gone", 404, {"message": "Dashboard not found"})],
                        state="export", uid="gone", dest=str(tmp_path / "x.json"))
    assert res["failed"] and "HTTP 404" in res["msg"] and "export dashboard 'gone'" in res["msg"]


def test_grafana_com_download_then_cache(monkeypatch, tmp_path):
    gdash = {"uid": "n1", "title": "Node", "__inputs": [], "panels": []}
    args = dict(grafana_com_id=1860, grafana_com_revision=37, cache_dir=str(tmp_path), check_mode=True)
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/dashboards/1860/revisions/37/download", 200, gdash),
        Exchange("GET", "/api/dashboards/uid/n1", 404, {}),
    ], **args)
    assert res["changed"] is True
    assert http.calls[0][0] == "GET" and "Authorization" not in (http.calls[0][3] or {})
    assert (tmp_path / "grafana.com" / "1860-r37.json").exists()
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/dashboards/uid/n1", 404, {})], **args)
    assert res["changed"] is True


def test_grafana_com_latest_revision_lookup(monkeypatch, tmp_path):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/gcom/api/dashboards/7362", 200, {"id": 7362, "revision": 5}),
        Exchange("GET", "/gcom/api/dashboards/7362/revisions/5/download", 200, {"uid": "m", "title": "MySQL"}),
        Exchange("GET", "/api/dashboards/uid/m", 404, {}),
    ], grafana_com_id=7362, cache_dir=str(tmp_path), check_mode=True, grafana_com_url="http://mirror.local/gcom")
    assert res["changed"] is True


def test_bad_json_source(monkeypatch, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res, _ignored = run(monkeypatch, [], path=str(bad))
    assert res["failed"] and str(bad) in res["msg"] and "not valid JSON" in res["msg"]


@pytest.mark.parametrize("args", [
    {"dashboard": DASH, "path": "/x.json"},
    {"state": "export", "uid": "x"},
    {"grafana_com_revision": 3, "dashboard": DASH},
])
def test_argument_validation(monkeypatch, args):
    res, _ignored = run(monkeypatch, [], **args)
    assert res["failed"]
