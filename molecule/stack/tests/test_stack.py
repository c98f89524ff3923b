"""Single-host stack: every target up, mysql_up == 1, the database account least-privileged, units hardened,
--check changes nothing and leaks no secret, MySQLDown reaches Alertmanager when MariaDB stops and resolves when it
starts, and broken Alertmanager configs and rules are rejected while the running services keep theirs."""
import hashlib
import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

H = lib.harness()
(NAME,) = lib.instances("prometheus")
SECRETS = [lib.molecule_config()["provisioner"]["inventory"]["group_vars"]["all"][k]
           for k in ("mysqld_exporter_db_password", "alertmanager_smtp_auth_password")]


@pytest.fixture(scope="module")
def host():
    return lib.host(NAME)


@pytest.mark.parametrize("path,owner,group,mode", [
    ("/etc/mysqld_exporter", "root", "mysqld_exporter", 0o750),
    ("/etc/mysqld_exporter/my.cnf", "mysqld_exporter", "mysqld_exporter", 0o600),
    ("/etc/alertmanager", "root", "alertmanager", 0o750),
    ("/etc/alertmanager/alertmanager.yml", "root", "alertmanager", 0o640),
    ("/var/lib/alertmanager", "alertmanager", "alertmanager", 0o750),
    ("/var/lib/node_exporter/textfile", "root", "node_exporter", 0o775),
    ("/etc/prometheus/rules/hybridmon-default.yml", "root", "prometheus", 0o640),
])
def test_paths_and_modes(host, path, owner, group, mode):
    f = host.file(path)
    assert f.exists, path
    assert (f.user, f.group, f.mode) == (owner, group, mode)


@pytest.mark.parametrize("svc,binary,version", [
    ("node_exporter", "node_exporter", "hm_node_exporter_version"),
    ("mysqld_exporter", "mysqld_exporter", "hm_mysqld_exporter_version"),
    ("alertmanager", "alertmanager", "hm_alertmanager_version"),
])
def test_services_unprivileged_hardened_and_versioned(host, svc, binary, version):
    s = host.service(svc)
    assert s.is_running and s.is_enabled
    assert host.check_output("systemctl show -P User %s" % svc) == svc
    out = host.check_output("systemd-analyze security %s.service --no-pager | tail -1" % svc)
    score = float(out.split("level for %s.service:" % svc)[1].split()[0])
    assert score <= 2.0, out
    state = json.loads(host.file("/usr/local/lib/hybridmon/%s/state.json" % svc).content_string)
    assert state["version"] == H[version]
    assert host.file("/usr/local/bin/%s" % binary).is_symlink


def test_mysqld_exporter_unit_as_in_the_seed(host):
    unit = host.file("/etc/systemd/system/mysqld_exporter.service").content_string
    assert "Restart=always" in unit and "--config.my-cnf=/etc/mysqld_exporter/my.cnf" in unit
    assert "mariadb.service" in unit.split("After=")[1].splitlines()[0]
    assert not host.file("/etc/.my.cnf").exists


def test_node_exporter_collectors_and_textfile(host):
    unit = host.file("/etc/systemd/system/node_exporter.service").content_string
    assert "--collector.systemd" in unit and "--no-collector.arp" in unit and "--no-collector.bcache" in unit
    assert "--collector.textfile.directory=/var/lib/node_exporter/textfile" in unit
    host.check_output("printf 'hm_textfile_probe 42\\n' > /var/lib/node_exporter/textfile/hm.prom")
    try:
        metrics = lib.wait_for(lambda: [m for m in host.check_output("curl -s http://127.0.0.1:9100/metrics").splitlines()
                                        if m.startswith("hm_textfile_probe ") or m.startswith("node_arp_")
                                        or m.startswith('node_scrape_collector_success{collector="systemd"}')],
                               timeout=10, what="textfile metric")
        assert "hm_textfile_probe 42" in metrics
        assert 'node_scrape_collector_success{collector="systemd"} 1' in metrics
        assert not [m for m in metrics if m.startswith("node_arp_")]
    finally:
        host.run("rm -f /var/lib/node_exporter/textfile/hm.prom")


def test_monitoring_account_least_privilege(host):
    grants = host.check_output("mysql -N -e \"SHOW GRANTS FOR 'monitoring'@'localhost'\"")
    assert "GRANT SELECT, PROCESS, BINLOG MONITOR, SLAVE MONITOR ON *.*" in grants, grants
    assert "MAX_USER_CONNECTIONS 3" in grants, grants
    for priv in ("ALL PRIVILEGES", "SUPER", "INSERT", "UPDATE", "DELETE", "GRANT OPTION"):
        assert priv not in grants, grants
    assert host.check_output("mysql -N -e \"SELECT COUNT(*) FROM mysql.user WHERE user = 'monitoring'\"") == "1"
    # and these privileges are enough for every default collector of the exporter
    metrics = host.check_output("curl -s http://127.0.0.1:9104/metrics").splitlines()
    success = [m for m in metrics if m.startswith("mysql_exporter_collector_success{")]
    assert "mysql_up 1" in metrics and 'mysql_exporter_collector_success{collector="collect.slave_status"} 1' in success
    assert success and all(m.endswith(" 1") for m in success), success


def test_every_target_up_and_mysql_up(host):
    def all_up():
        targets = lib.http_json(host, "http://127.0.0.1:9090/api/v1/targets?state=active")["data"]["activeTargets"]
        jobs = {t["labels"]["job"]: t["health"] for t in targets}
        return jobs if set(jobs) >= {"prometheus", "node", "mysql-exporter", "alertmanager"} and \
            all(h == "up" for h in jobs.values()) else None
    lib.wait_for(all_up, timeout=60, what="every target up")
    res = lib.wait_for(lambda: lib.prom_query(host, "mysql_up == 1"), timeout=30, what="mysql_up == 1")
    assert res[0]["metric"]["job"] == "mysql-exporter"
    ams = lib.http_json(host, "http://127.0.0.1:9090/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert [a["url"] for a in ams] == ["http://127.0.0.1:9093/api/v2/alerts"]


def test_default_rules_loaded_with_override(host):
    groups = lib.http_json(host, "http://127.0.0.1:9090/api/v1/rules?type=alert")["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert {"TargetDown", "HighCPUUsage", "MemoryPressure", "DiskAlmostFull", "MySQLDown",
            "ApplicationResponseTime"} <= set(rules)
    assert rules["MySQLDown"]["duration"] == 4
    assert "mysql_up == 0" in rules["MySQLDown"]["query"]


def test_alertmanager_config_from_variables(host):
    cfg = lib.http_json(host, "http://127.0.0.1:9093/api/v2/status")["config"]["original"]
    assert "send_resolved: true" in cfg and "receiver: webhook" in cfg and "smtp_smarthost: 127.0.0.1:25" in cfg
    assert lib.http_json(host, "http://127.0.0.1:9093/api/v2/status")["cluster"]["status"] == "disabled"


def test_demo_schema_playbook_is_idempotent(host):
    rc, out, recap = lib.run_playbook(playbook=os.path.join(lib.ROOT, "playbooks", "mysql_demo_schema.yml"))
    assert rc == 0 and recap[NAME]["changed"] == 0, out
    assert host.check_output("mysql -N -e 'SELECT COUNT(*) FROM fisa.metrics_test'") == "5"


def test_check_mode_changes_nothing_and_logs_no_secret():
    rc, out, recap = lib.run_playbook("--check", "--diff", "-v")
    assert rc == 0, out
    assert recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out
    for secret in SECRETS:
        assert secret not in out


def _am(host):
    return [a for a in lib.http_json(host, "http://127.0.0.1:9093/api/v2/alerts?active=true")
            if a["labels"].get("alertname") == "MySQLDown"]


def test_mysql_down_reaches_alertmanager_and_resolves(host, capsys):
    assert not _am(host)
    t0 = time.time()
    host.check_output("systemctl stop mariadb")
    try:
        alerts = lib.wait_for(lambda: _am(host), timeout=90, interval=0.5, what="MySQLDown in Alertmanager")
        took = time.time() - t0
        with capsys.disabled():
            print("\nMySQLDown reached Alertmanager %.1fs after MariaDB stopped" % took)
        assert alerts[0]["labels"]["severity"] == "critical" and alerts[0]["status"]["state"] == "active"
        assert host.service("mysqld_exporter").is_running  # the exporter stays up and reports mysql_up 0
    finally:
        host.check_output("systemctl start mariadb")
    t1 = time.time()
    lib.wait_for(lambda: not _am(host), timeout=90, interval=0.5, what="MySQLDown resolved")
    with capsys.disabled():
        print("\nMySQLDown left Alertmanager's active alerts %.1fs after MariaDB started" % (time.time() - t1))
    lib.wait_for(lambda: lib.prom_query(host, "mysql_up == 1"), timeout=30, what="mysql_up back to 1")


def _snapshot(h):
    return (hashlib.sha256(h.file("/etc/alertmanager/alertmanager.yml").content).hexdigest(),
            lib.http_json(h, "http://127.0.0.1:9093/api/v2/status")["config"]["original"],
            lib.service_pid(h, "alertmanager"),
            hashlib.sha256(h.file("/etc/prometheus/rules/hybridmon-default.yml").content).hexdigest(),
            lib.service_pid(h, "prometheus"))


def test_broken_alertmanager_config_is_rejected(host):
    before = _snapshot(host)
    route = {"receiver": "webhook", "routes": [{"matchers": ['severity="page"'], "receiver": "nowhere"}]}
    rc, out, recap = lib.run_playbook(extra_vars={"alertmanager_route": route})
    assert rc != 0 and recap[NAME]["failed"] == 1, out
    assert "rejected by `/usr/local/bin/amtool`" in out and 'undefined receiver "nowhere"' in out, out
    assert _snapshot(host) == before
    for secret in SECRETS:
        assert secret not in out


def test_broken_default_rule_override_is_rejected(host):
    before = _snapshot(host)
    rc, out, recap = lib.run_playbook(extra_vars={"prometheus_default_rules_overrides": {"MySQLDown": {"expr": "mysql_up =="}}})
    assert rc != 0 and recap[NAME]["failed"] == 1, out
    assert "hybridmon-default.yml was rejected" in out and "parse error" in out, out
    assert _snapshot(host) == before


def test_seed_collector_names_are_refused_with_the_right_names():
    rc, out, recap = lib.run_playbook(extra_vars={"node_exporter_disable_default_collectors": True,
                                                  "node_exporter_enabled_collectors": ["cpu", "memory", "disk"]})
    assert rc != 0 and recap[NAME]["failed"] == 1, out
    assert "'memory': 'meminfo'" in out and "'disk': 'diskstats'" in out, out
