"""Exporters register themselves as file_sd targets of their job; Prometheus follows additions and removals without a
restart and scrapes the exporter behind TLS + basic auth; a broken web config never reaches the exporter; the
readiness probe authenticates; two Alertmanagers form a cluster that gossips silences and that Prometheus alerts to."""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

(PROM,) = lib.instances("prometheus")
(TLS_NODE,) = lib.instances("node_tls")
PLAIN = [n for n in lib.instances("node_exporter") if n != TLS_NODE]  # the Prometheus host and node2, job `node`
ALERTMANAGERS = lib.instances("alertmanager")
FILE = "/etc/prometheus/file_sd/node/hybridmon.json"
TLS_FILE = "/etc/prometheus/file_sd/node_tls/hybridmon.json"
WEB_YML = "/etc/node_exporter/web.yml"
# the scenario's test-only credentials (molecule.yml group_vars)
AUTH_USER = lib.molecule_config()["provisioner"]["inventory"]["group_vars"]["all"]["hm_node_auth_user"]
AUTH_PASSWORD = lib.molecule_config()["provisioner"]["inventory"]["group_vars"]["all"]["hm_node_auth_password"]


def up_instances(h, job):
    return sorted(r["metric"]["instance"] for r in lib.prom_query(h, 'up{job="%s"} == 1' % job))


def test_every_registered_node_is_scraped():
    h = lib.host(PROM)
    want = sorted("%s:9100" % n for n in PLAIN)
    assert lib.wait_for(lambda: up_instances(h, "node") == want, timeout=60, what="plain nodes up")
    groups = json.loads(h.file(FILE).content_string)
    assert [g["labels"] for g in groups] == [{"team": "sre"}]
    assert sorted(groups[0]["targets"]) == want
    f = h.file(FILE)
    assert (f.user, f.group) == ("root", "root") and f.mode == 0o644
    labels = lib.prom_query(h, 'up{job="node"}')[0]["metric"]
    assert labels["team"] == "sre"


def test_tls_node_is_registered_in_its_own_job_and_scraped_over_https_with_basic_auth():
    h = lib.host(PROM)
    want = ["%s:9100" % TLS_NODE]
    res = lib.wait_for(lambda: up_instances(h, "node_tls") == want and lib.prom_query(h, 'up{job="node_tls"}'),
                       timeout=60, what="TLS node up")
    assert res[0]["value"][1] == "1" and res[0]["metric"]["team"] == "sre", res
    assert json.loads(h.file(TLS_FILE).content_string)[0]["targets"] == want
    assert TLS_NODE not in h.file(FILE).content_string
    active = [t for t in lib.http_json(h, "http://127.0.0.1:9090/api/v1/targets?state=active")["data"]["activeTargets"]
              if t["labels"]["job"] == "node_tls"]
    assert [t["scrapeUrl"] for t in active] == ["https://%s:9100/metrics" % TLS_NODE] and active[0]["health"] == "up"
    # the exporter itself: TLS only, and 401 without the credentials (checked with the certificate Prometheus trusts)
    url = "https://%s:9100/metrics" % TLS_NODE
    curl = "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/prometheus/node-tls/ca.crt "
    assert h.check_output(curl + url) == "401"
    assert h.check_output(curl + "-u '%s:%s' %s" % (AUTH_USER, AUTH_PASSWORD, url)) == "200"
    # plain HTTP gets Go's "client sent an HTTP request to an HTTPS server"
    assert h.check_output(curl + "http://%s:9100/metrics" % TLS_NODE) == "400"
    n = lib.host(TLS_NODE)
    f = n.file(WEB_YML)
    assert (f.user, f.group, f.mode) == ("root", "node_exporter", 0o640)
    assert AUTH_PASSWORD not in f.content_string and "$2b$10$" in f.content_string


def _exporter_snapshot(h):
    return lib.service_pid(h, "node_exporter"), hashlib.sha256(h.file(WEB_YML).content).hexdigest()


def test_broken_web_config_is_refused_before_it_reaches_the_exporter():
    h = lib.host(TLS_NODE)
    before = _exporter_snapshot(h)
    plain = "plain-Text-Passw0rd"
    bad = {"tls_config": {"cert_file": "/etc/node_exporter/tls/node.crt"},         # typo of tls_server_config
           "tls_server_config": {"cert_file": "/etc/node_exporter/tls/node.crt"},  # no key_file
           "basic_auth_users": {"admin": plain}}                                  # not a bcrypt hash
    rc, out, recap = lib.run_playbook(limit=TLS_NODE, extra_vars={"node_exporter_web_config": bad})
    assert rc != 0 and recap[TLS_NODE]["failed"] == 1 and recap[TLS_NODE]["changed"] == 0, out
    assert "node_exporter_web_config rejected, nothing was changed" in out, out
    assert "unknown top-level keys ['tls_config']" in out, out
    assert "tls_server_config needs cert_file (or inline cert) and key_file (or inline key), it has ['cert_file']" in out
    assert "basic_auth_users of ['admin'] are not bcrypt hashes" in out, out
    assert plain not in out
    assert _exporter_snapshot(h) == before
    assert h.service("node_exporter").is_running


def test_readiness_probe_authenticates():
    """Restarts are proven by an authenticated request: with the probe credentials a restart is ready, with a wrong
    password it fails on the 401; the passwords are never shown, not even with -v."""
    h = lib.host(TLS_NODE)
    unit = "/etc/systemd/system/node_exporter.service"
    pid = lib.service_pid(h, "node_exporter")
    # a flag change restarts the exporter; the right credentials prove it ready
    rc, out, recap = lib.run_playbook("-v", limit=TLS_NODE,
                                      extra_vars={"node_exporter_extra_flags": {"web.max-requests": "41"}})
    assert rc == 0 and recap[TLS_NODE]["changed"] >= 1, out
    assert "action: restarted" in out or "'action': 'restarted'" in out or '"action": "restarted"' in out, out
    assert lib.service_pid(h, "node_exporter") != pid and "--web.max-requests=41" in h.file(unit).content_string
    assert AUTH_PASSWORD not in out
    # back to the converged flags (another restart), probed with a wrong password: 401, the task fails
    wrong = "wr0ng-Probe-Passw0rd"
    rc, out, recap = lib.run_playbook("-v", limit=TLS_NODE, extra_vars={
        "node_exporter_ready_basic_auth_password": wrong, "node_exporter_ready_timeout": 3})
    assert rc != 0 and recap[TLS_NODE]["failed"] == 1, out
    assert "did not become ready within 3s" in out and "https://127.0.0.1:9100/ answered 401" in out, out
    assert wrong not in out and AUTH_PASSWORD not in out
    # the converged state again, proven ready with the right credentials
    rc, out, recap = lib.run_playbook(limit=TLS_NODE)
    assert rc == 0 and recap[TLS_NODE]["failed"] == 0, out
    assert "--web.max-requests" not in h.file(unit).content_string and h.service("node_exporter").is_running


def test_remove_and_add_a_host_without_restart():
    h = lib.host(PROM)
    pid = lib.service_pid(h, "prometheus")
    gone = PLAIN[-1]
    stay = [n for n in PLAIN if n != gone]
    # only the leaving host runs (its registration is delegated to the Prometheus server)
    rc, out, recap = lib.run_playbook(limit=gone, extra_vars={"node_exporter_register_state": "absent"})
    assert rc == 0 and recap[gone]["changed"] >= 1, out
    assert lib.wait_for(lambda: up_instances(h, "node") == ["%s:9100" % n for n in stay], timeout=60,
                        what="node removed")
    assert gone not in h.file(FILE).content_string
    rc, out, recap = lib.run_playbook(limit="%s,%s" % (PROM, gone))
    assert rc == 0 and recap[gone]["changed"] >= 1 and recap[PROM]["changed"] == 0, out
    assert lib.wait_for(lambda: len(up_instances(h, "node")) == len(PLAIN), timeout=60, what="node back")
    assert lib.service_pid(h, "prometheus") == pid  # no restart, no reload needed


def am_status(name):
    return lib.http_json(lib.host(name), "http://127.0.0.1:9093/api/v2/status")["cluster"]


def ready_cluster_of_two(name):
    c = am_status(name)
    return c if c["status"] == "ready" and len(c.get("peers", [])) == 2 else None


def test_alertmanager_cluster_has_both_members():
    for name in ALERTMANAGERS:
        cluster = lib.wait_for(lambda: ready_cluster_of_two(name), timeout=60, what="%s cluster of 2" % name)
        assert len(cluster["peers"]) == len(ALERTMANAGERS), cluster
        members = lib.host(name).check_output(
            "curl -s http://127.0.0.1:9093/metrics | grep '^alertmanager_cluster_members '")
        assert members.split()[1] == "2", members
    # one cluster: both see the same two peer names
    assert len({tuple(sorted(p["name"] for p in am_status(n)["peers"])) for n in ALERTMANAGERS}) == 1


def test_silence_gossips_to_the_other_alertmanager():
    first, second = ALERTMANAGERS[0], ALERTMANAGERS[1]
    now = time.time()
    silence = {"matchers": [{"name": "alertname", "value": "HmGossipTest", "isRegex": False, "isEqual": True}],
               "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
               "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)),
               "createdBy": "molecule", "comment": "gossip test"}
    sid = lib.http_json(lib.host(first), "http://127.0.0.1:9093/api/v2/silences", method="POST",
                        data=silence)["silenceID"]
    got = lib.wait_for(lambda: [s for s in lib.http_json(lib.host(second), "http://127.0.0.1:9093/api/v2/silences")
                                if s["id"] == sid and s["status"]["state"] == "active"],
                       timeout=30, what="silence on %s" % second)
    assert got[0]["matchers"][0]["value"] == "HmGossipTest" and got[0]["createdBy"] == "molecule"
    lib.host(first).check_output("curl -sS -m 10 -X DELETE http://127.0.0.1:9093/api/v2/silence/%s" % sid)
    assert lib.wait_for(lambda: [s for s in lib.http_json(lib.host(second), "http://127.0.0.1:9093/api/v2/silences")
                                 if s["id"] == sid and s["status"]["state"] == "expired"],
                        timeout=30, what="expiry gossiped to %s" % second)


def test_prometheus_alerts_to_both_alertmanagers():
    h = lib.host(PROM)
    want = sorted("http://%s:9093/api/v2/alerts" % n for n in ALERTMANAGERS)

    def active():
        data = lib.http_json(h, "http://127.0.0.1:9090/api/v1/alertmanagers")["data"]
        return sorted(a["url"] for a in data["activeAlertmanagers"]) == want
    assert lib.wait_for(active, timeout=60, what="both Alertmanagers active in Prometheus")
    assert lib.wait_for(lambda: up_instances(h, "alertmanager") == sorted("%s:9093" % n for n in ALERTMANAGERS),
                        timeout=60, what="both Alertmanagers scraped")


def test_check_mode_on_converged_fleet_changes_nothing():
    rc, out, recap = lib.run_playbook("--check", "--diff")
    assert rc == 0 and recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out
