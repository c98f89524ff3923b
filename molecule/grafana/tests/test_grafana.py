"""Grafana role + grafana_dashboard/grafana_datasource modules against the packaged Grafana API double."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

H = lib.harness()
(NAME,) = lib.instances("grafana")
API = "http://127.0.0.1:3000"


@pytest.fixture(scope="module")
def host():
    return lib.host(NAME)


def api(host, path, auth=True, method="GET", data=None, token=None):
    cmd = "curl -sS -m 10 -o /tmp/hm-api.out -w '%%{http_code}' -X %s" % method
    if token:
        cmd += " -H 'Authorization: Bearer %s'" % token
    elif auth:
        cmd += " -u '%s:%s'" % ("admin", H["grafana_admin_password"])
    if data is not None:
        cmd += " -H 'Content-Type: application/json' --data-binary '%s'" % json.dumps(data).replace("'", "'\\''")
    status = int(host.check_output(cmd + " '%s%s'" % (API, path)))
    body = host.check_output("cat /tmp/hm-api.out")
    return status, (json.loads(body) if body.strip().startswith(("{", "[")) else body)


def test_apt_repository_the_modern_way(host):
    src = host.file("/etc/apt/sources.list.d/grafana.sources")
    assert src.exists and "Signed-By: /etc/apt/keyrings/grafana.gpg" in src.content_string
    fprs = host.check_output("gpg --show-keys --with-colons /etc/apt/keyrings/grafana.gpg | awk -F: '/^fpr/{print $10}'")
    assert H["grafana_apt_key_fingerprint"] in fprs.split()
    assert H["grafana_double_decoy_fingerprint"] not in fprs.split()
    assert host.package("grafana").version == H["grafana_version"]


def test_grafana_ini_is_private_and_hardened(host):
    ini = host.file("/etc/grafana/grafana.ini")
    assert (ini.user, ini.group, ini.mode) == ("root", "grafana", 0o640)
    text = ini.content_string
    for line in ("allow_sign_up = false", "allow_org_create = false", "disable_gravatar = true",
                 "cookie_secure = true", "cookie_samesite = strict"):
        assert line in text, line


def test_service_and_admin_login(host):
    assert host.service("grafana-server").is_running and host.service("grafana-server").is_enabled
    status, body = api(host, "/api/health", auth=False)
    assert status == 200 and body["database"] == "ok"
    status, _ignored = api(host, "/api/org")
    assert status == 200


def test_anonymous_gets_401(host):
    status, _ignored = api(host, "/api/dashboards/uid/hybrid-infra", auth=False)
    assert status == 401


def test_prometheus_datasource_provisioned(host):
    status, ds = api(host, "/api/datasources/name/Prometheus")
    assert status == 200 and ds["type"] == "prometheus" and ds["url"] == "http://localhost:9090" and ds["isDefault"]


def test_all_four_dashboards_in_their_folders(host):
    status, found = api(host, "/api/search?type=dash-db")
    assert status == 200
    titles = {d["title"]: d.get("folderTitle") for d in found}
    assert titles.get("Hybrid Infrastructure Monitoring") == "Hybridmon", titles
    community = [t for t, f in titles.items() if f == "Community"]
    assert len(community) == 3, titles


def test_check_mode_changes_nothing_and_shows_no_secret():
    rc, out, recap = lib.run_playbook("--check", "--diff", "-v")
    assert rc == 0 and recap[NAME]["changed"] == 0, out
    assert H["grafana_admin_password"] not in out and H["grafana_secret_key"] not in out


def test_dashboard_edited_in_grafana_is_detected_and_restored(host):
    # the grafana.com dashboards are managed through the grafana_dashboard module (ours is file-provisioned)
    status, found = api(host, "/api/search?type=dash-db")
    uid = sorted(d["uid"] for d in found if d.get("folderTitle") == "Community")[0]
    status, cur = api(host, "/api/dashboards/uid/%s" % uid)
    assert status == 200
    original = cur["dashboard"]["title"]
    edited = dict(cur["dashboard"], title="Edited by hand")
    status, _ignored = api(host, "/api/dashboards/db", method="POST",
                           data={"dashboard": edited, "folderUid": cur["meta"].get("folderUid"), "overwrite": True})
    assert status == 200
    rc, out, recap = lib.run_playbook("--check", "--diff")
    assert rc == 0 and recap[NAME]["changed"] >= 1 and "Edited by hand" in out, out
    assert api(host, "/api/dashboards/uid/%s" % uid)[1]["dashboard"]["title"] == "Edited by hand"  # check mode wrote nothing
    rc, out, recap = lib.run_playbook()
    assert rc == 0 and recap[NAME]["changed"] >= 1, out
    assert api(host, "/api/dashboards/uid/%s" % uid)[1]["dashboard"]["title"] == original
    rc, out, recap = lib.run_playbook()
    assert rc == 0 and recap[NAME]["changed"] == 0, out


def test_wrong_token_fails_clearly(tmp_path):
    play = tmp_path / "wrong-token.yml"
    play.write_text(
        "- hosts: grafana\n  gather_facts: false\n  tasks:\n"
        "    - hybridmon.monitoring.grafana_dashboard:\n"
        "        url: http://127.0.0.1:3000\n"
        "        token: not-a-valid-token-0123456789\n"
        "        dashboard: {title: Token probe, uid: token-probe, panels: []}\n")
    rc, out, recap = lib.run_playbook(playbook=str(play))
    assert rc != 0 and recap[NAME]["failed"] == 1, out
    assert "401" in out and "not-a-valid-token-0123456789" not in out, out
