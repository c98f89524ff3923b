"""grafana_datasource with scripted HTTP exchanges."""
import json

from helpers import Exchange, ScriptedHTTP, run_module

from ansible_collections.hybridmon.monitoring.plugins.module_utils import _grafana
from ansible_collections.hybridmon.monitoring.plugins.module_utils._rcw import secret_digest, secret_digest_matches
from ansible_collections.hybridmon.monitoring.plugins.modules import grafana_datasource

CONN = {"url": "http://grafana:3000", "token": "glsa_tok3n"}
ARGS = {"name": "Prometheus", "uid": "prom", "type": "prometheus", "datasource_url": "http://localhost:9090",
        "is_default": True, "json_data": {"httpMethod": "POST"}}


def current(**over):
    ds = {"id": 1, "uid": "prom", "orgId": 1, "name": "Prometheus", "type": "prometheus", "access": "proxy",
          "url": "http://localhost:9090", "user": "", "database": "", "basicAuth": False, "basicAuthUser": "",
          "withCredentials": False, "isDefault": True, "jsonData": {"httpMethod": "POST"}, "secureJsonFields": {},
          "version": 4, "readOnly": False}
    ds.update(over)
    return ds


def run(monkeypatch, exchanges, check_mode=False, diff=False, **args):
    http = ScriptedHTTP(exchanges)
    monkeypatch.setattr(_grafana, "open_url", http)
    params = dict(CONN)
    params.update(ARGS)
    params.update(args)
    result = run_module(grafana_datasource.main, params, check_mode=check_mode, diff=diff, monkeypatch=monkeypatch)
    http.assert_done()
    return result, http


def test_create(monkeypatch):
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 404, {"message": "Data source not found"}),
        Exchange("GET", "/api/datasources/name/Prometheus", 404, {"message": "Data source not found"}),
        Exchange("POST", "/api/datasources", 200,
                 {"datasource": current(), "id": 1, "message": "Datasource added", "name": "Prometheus"},
                 headers={"Authorization": "Bearer glsa_tok3n"}),
    ])
    assert res["changed"] is True and res["uid"] == "prom" and res["id"] == 1
    sent = json.loads(http.calls[2][2])
    assert sent["url"] == "http://localhost:9090" and sent["isDefault"] is True and sent["access"] == "proxy"
    assert "secureJsonData" not in sent


def test_unchanged(monkeypatch):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 200, current())], diff=True)
    assert res["changed"] is False and "diff" not in res and res["datasource"]["uid"] == "prom"


def test_update_by_name_when_no_uid(monkeypatch):
    args = dict(ARGS)
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/datasources/name/Prometheus", 200, current(url="http://old:9090")),
        Exchange("PUT", "/api/datasources/uid/prom", 200,
                 {"datasource": current(), "id": 1, "message": "Datasource updated", "name": "Prometheus"}),
    ], diff=True, uid=None)
    assert res["changed"] is True
    assert res["diff"]["before"]["url"] == "http://old:9090" and res["diff"]["after"]["url"] == "http://localhost:9090"
    sent = json.loads(http.calls[1][2])
    assert sent["version"] == 4 and sent["id"] == 1 and sent["uid"] == "prom"
    assert args == ARGS


def test_check_mode_update_does_not_write(monkeypatch):
    res, http = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 200, current(isDefault=False))],
                    check_mode=True)
    assert res["changed"] is True and len(http.calls) == 1


def test_secret_first_time_then_stable(monkeypatch):
    secret = {"basicAuthPassword": "pa55-word"}
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 200, current()),
        Exchange("PUT", "/api/datasources/uid/prom", 200, {"datasource": current(), "id": 1}),
    ], diff=True, basic_auth=True, basic_auth_user="grafana", secure_json_data=secret)
    assert res["changed"] is True
    sent = json.loads(http.calls[1][2])
    assert sent["secureJsonData"] == secret
    assert secret_digest_matches(secret, sent["jsonData"]["hybridmonSecureHash"])
    out = json.dumps(res)
    assert "pa55-word" not in out and "hybridmonSecureHash" not in json.dumps(res["diff"]).replace("****", "")
    assert res["diff"]["after"]["secureJsonData"] == {"basicAuthPassword": "set (new value)"}
    assert res["diff"]["before"]["secureJsonData"] == {}

    # next run: Grafana holds the secret and our hash -> ok, nothing sent
    stored = current(basicAuth=True, basicAuthUser="grafana", secureJsonFields={"basicAuthPassword": True},
                     jsonData={"httpMethod": "POST", "hybridmonSecureHash": sent["jsonData"]["hybridmonSecureHash"]})
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 200, stored)],
                        basic_auth=True, basic_auth_user="grafana", secure_json_data=secret)
    assert res["changed"] is False


def test_changed_secret_detected_and_masked(monkeypatch):
    old = {"password": "old-pw"}
    stored = current(secureJsonFields={"password": True},
                     jsonData={"httpMethod": "POST", "hybridmonSecureHash": secret_digest(old)})
    res, http = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 200, stored),
    ], check_mode=True, diff=True, secure_json_data={"password": "new-pw"})
    assert res["changed"] is True and len(http.calls) == 1
    assert "new-pw" not in json.dumps(res) and "old-pw" not in json.dumps(res)


def test_secret_missing_server_side_is_a_change(monkeypatch):
    secret = {"password": "pw"}
    stored = current(secureJsonFields={}, jsonData={"httpMethod": "POST", "hybridmonSecureHash": secret_digest(secret)})
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 200, stored)], check_mode=True,
                        secure_json_data=secret)
    assert res["changed"] is True


def test_unmanaged_secrets_and_hash_left_alone(monkeypatch):
    stored = current(secureJsonFields={"password": True},
                     jsonData={"httpMethod": "POST", "hybridmonSecureHash": "pbkdf2-sha256$60000$ab$cd"})
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 200, stored)])
    assert res["changed"] is False


def test_delete(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 200, current()),
        Exchange("DELETE", "/api/datasources/uid/prom", 200, {"message": "Data source deleted", "id": 1}),
    ], state="absent")
    assert res["changed"] is True
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 404, {}),
        Exchange("GET", "/api/datasources/name/Prometheus", 404, {}),
    ], state="absent")
    assert res["changed"] is False


def test_read_only_datasource_error(monkeypatch):
    res, _ignored = run(monkeypatch, [
        Exchange("GET", "/api/datasources/uid/prom", 200, current(url="http://x")),
        Exchange("PUT", "/api/datasources/uid/prom", 403, {"message": "Cannot update read-only data source"}),
    ], secure_json_data={"password": "dont-leak-me"})
    assert res["failed"] and "HTTP 403" in res["msg"] and "read-only" in res["msg"]
    assert "dont-leak-me" not in json.dumps(res) and "glsa_tok3n" not in json.dumps(res)


def test_wrong_token_401(monkeypatch):
    res, _ignored = run(monkeypatch, [Exchange("GET", "/api/datasources/uid/prom", 401, {"message": "Invalid API key"})])
    assert res["failed"] and "authentication failed" in res["msg"] and "glsa_tok3n" not in res["msg"]


def test_type_required_for_present(monkeypatch):
    res, _ignored = run(monkeypatch, [], type=None)
    assert res["failed"] and "type" in res["msg"]
