"""Unit tests for module_utils/_grafana.py (client, errors, normalization) and _rcw.py helpers."""
import json

import pytest

from helpers import Exchange, ScriptedHTTP

from ansible_collections.hybridmon.monitoring.plugins.module_utils import _grafana
from ansible_collections.hybridmon.monitoring.plugins.module_utils._grafana import (
    GrafanaAPIError, GrafanaClient, canonical_json, normalize_dashboard, redact_url, resolve_inputs, stable_uid)
from ansible_collections.hybridmon.monitoring.plugins.module_utils._rcw import (
    MASK, mask_paths, secret_digest, secret_digest_matches)


@pytest.fixture
def script(monkeypatch):
    def install(*exchanges):
        http = ScriptedHTTP(exchanges)
        monkeypatch.setattr(_grafana, "open_url", http)
        return http
    return install


def test_basic_auth_header(script):
    http = script(Exchange("GET", "/api/health", 200, {"database": "ok"},
                           headers={"Authorization": "Basic YWRtaW46cHc=", "Accept": "application/json"}))
    assert GrafanaClient("http://g:3000/", "admin", "pw").health() == {"database": "ok"}
    http.assert_done()


def test_token_wins_over_basic(script):
    http = script(Exchange("GET", "/api/folders", 200, [], headers={"Authorization": "Bearer glsa_abc"}))
    assert GrafanaClient("https://g", "admin", "pw", token="glsa_abc").list_folders() == []
    http.assert_done()


def test_url_must_have_scheme():
    with pytest.raises(ValueError, match="must start with http"):
        GrafanaClient("grafana:3000")


def test_404_allowed_returns_none(script):
    http = script(Exchange("GET", "/api/dashboards/uid/nope", 404, {"message": "Dashboard not found"}))
    assert GrafanaClient("http://g").get_dashboard("nope") is None
    http.assert_done()


def test_401_message_names_credentials_without_secret(script):
    script(Exchange("GET", "/api/folders", 401, {"message": "Invalid username or password"}))
    with pytest.raises(GrafanaAPIError) as err:
        GrafanaClient("http://g", "admin", "hunter2").list_folders()
    msg = str(err.value)
    assert err.value.status == 401
    assert "authentication failed" in msg and "Invalid username or password" in msg
    assert "hunter2" not in msg


def test_server_echoing_token_is_masked(script):
    script(Exchange("GET", "/api/folders", 401, {"message": "bad key glsa_secret123"}))
    with pytest.raises(GrafanaAPIError) as err:
        GrafanaClient("http://g", token="glsa_secret123").list_folders()
    assert "glsa_secret123" not in str(err.value) and "********" in str(err.value)


@pytest.mark.parametrize("reason,expect", [
    ("version-mismatch", "version conflict"),
    ("name-exists", "same title exists in that folder"),
])
def test_412_reasons(script, reason, expect):
    script(Exchange("POST", "/api/dashboards/db", 412, {"message": "x", "status": reason}))
    with pytest.raises(GrafanaAPIError) as err:
        GrafanaClient("http://g").save_dashboard({"title": "T", "uid": "u"}, "")
    assert err.value.status == 412 and expect in str(err.value) and "save dashboard 'T'" in str(err.value)


def test_non_json_error_body(script):
    script(Exchange("GET", "/api/health", 502, raw=b"<html>bad gateway</html>"))
    with pytest.raises(GrafanaAPIError) as err:
        GrafanaClient("http://g").health()
    assert err.value.status == 502 and "bad gateway" in str(err.value)


def test_unreachable(monkeypatch):
    import urllib.error

    def refuse(*a, **k):
        raise urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    monkeypatch.setattr(_grafana, "open_url", refuse)
    with pytest.raises(GrafanaAPIError) as err:
        GrafanaClient("http://user:pw@g:3000").health()
    assert err.value.status is None
    assert "cannot reach http://g:3000/api/health" in str(err.value) and "pw@" not in str(err.value)


def test_redact_url():
    assert redact_url("https://a:b@host:8443/x?y=1") == "https://host:8443/x?y=1"
    assert redact_url("http://host/") == "http://host/"


def test_save_dashboard_body(script):
    http = script(Exchange("POST", "/api/dashboards/db", 200, {"uid": "u", "version": 1},
                           body={"dashboard": {"uid": "u", "title": "T"}, "folderUid": "f", "overwrite": False,
                                 "message": "m"}))
    GrafanaClient("http://g").save_dashboard({"uid": "u", "title": "T"}, "f", message="m")
    http.assert_done()


def test_search_query_string(script):
    http = script(Exchange("GET", "/api/search?type=dash-db&query=My+Dash", 200, []))
    assert GrafanaClient("http://g").search_dashboards("My Dash") == []
    http.assert_done()


def test_normalize_dashboard_drops_volatile_and_sorts():
    a = {"title": "T", "id": 4, "version": 9, "iteration": 123, "uid": "u", "panels": [{"b": 1, "a": 2}],
         "__inputs": [], "__requires": []}
    b = {"panels": [{"a": 2, "b": 1}], "uid": "u", "title": "T"}
    assert normalize_dashboard(a) == normalize_dashboard(b)
    assert normalize_dashboard({"dashboard": a, "meta": {"version": 9}}) == normalize_dashboard(b)
    assert canonical_json(normalize_dashboard(a)) == canonical_json(normalize_dashboard(b))
    assert list(json.loads(canonical_json(a))) == sorted(a)


def test_normalize_keeps_real_differences():
    assert normalize_dashboard({"title": "T", "refresh": "5s"}) != normalize_dashboard({"title": "T", "refresh": "1m"})


def test_normalize_rejects_non_object():
    with pytest.raises(ValueError, match="must be a JSON object"):
        normalize_dashboard(["x"])


INPUTS = [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"},
          {"name": "VAR_JOB", "type": "constant", "value": "node"}]


def test_resolve_inputs_replaces_everywhere():
    dash = {"__inputs": INPUTS, "__requires": [{"id": "grafana"}], "title": "T",
            "panels": [{"datasource": "${DS_PROMETHEUS}", "targets": [{"expr": 'up{job="${VAR_JOB}"}'}]},
                       {"datasource": {"uid": "${DS_PROMETHEUS}"}}]}
    out = resolve_inputs(dash, {"DS_PROMETHEUS": "prom-uid"})
    assert "__inputs" not in out and "__requires" not in out
    assert out["panels"][0]["datasource"] == "prom-uid"
    assert out["panels"][1]["datasource"]["uid"] == "prom-uid"
    assert out["panels"][0]["targets"][0]["expr"] == 'up{job="node"}'
    assert dash["panels"][0]["datasource"] == "${DS_PROMETHEUS}"  # input not mutated


def test_resolve_inputs_missing_datasource_names_it():
    with pytest.raises(ValueError, match="DS_PROMETHEUS.*has no value"):
        resolve_inputs({"__inputs": INPUTS}, {})


def test_resolve_inputs_unknown_name():
    with pytest.raises(ValueError, match="DS_LOKI are not declared"):
        resolve_inputs({"__inputs": INPUTS}, {"DS_PROMETHEUS": "x", "DS_LOKI": "y"})


def test_stable_uid_is_deterministic_and_short():
    assert stable_uid("f", "Title") == stable_uid("f", "Title")
    assert stable_uid("f", "Title") != stable_uid("g", "Title")
    assert len(stable_uid("f", "x" * 500)) <= 40


def test_secret_digest_roundtrip():
    stored = secret_digest({"password": "pw"})
    assert secret_digest_matches({"password": "pw"}, stored)
    assert not secret_digest_matches({"password": "other"}, stored)
    assert not secret_digest_matches({"password": "pw", "x": "y"}, stored)
    assert not secret_digest_matches({"password": "pw"}, "garbage")
    assert not secret_digest_matches({"password": "pw"}, None)
    assert "pw" not in stored.split("$")[2:]
    assert secret_digest({"password": "pw"}) != stored  # random salt per write


def test_mask_paths():
    data = {"a": {"b": "secret", "c": 1}, "s": {"x": "1", "y": "2"}}
    masked = mask_paths(data, [("a", "b"), ("s", "*"), ("missing", "k")])
    assert masked == {"a": {"b": MASK, "c": 1}, "s": {"x": MASK, "y": MASK}}
    assert data["a"]["b"] == "secret"
