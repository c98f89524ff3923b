"""Prometheus role: installed as promised, up, hardened, idempotent under --check, and safe against bad input."""
import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

H = lib.harness()
HOSTS = lib.instances("prometheus")


@pytest.fixture(params=HOSTS)
def host(request):
    return lib.host(request.param)


def test_user_and_group_without_login(host):
    u = host.user("prometheus")
    assert u.exists and u.shell in ("/usr/sbin/nologin", "/bin/false") and u.group == "prometheus"
    assert u.home == "/nonexistent" and not host.file("/nonexistent").exists


@pytest.mark.parametrize("path,owner,group,mode", [
    ("/etc/prometheus", "root", "prometheus", 0o750),
    ("/etc/prometheus/prometheus.yml", "root", "prometheus", 0o640),
    ("/etc/prometheus/rules", "root", "prometheus", 0o750),
    ("/etc/prometheus/file_sd", "root", "prometheus", 0o750),
    ("/var/lib/prometheus", "prometheus", "prometheus", 0o750),
    ("/etc/systemd/system/prometheus.service", "root", "root", 0o644),
])
def test_paths_and_modes(host, path, owner, group, mode):
    f = host.file(path)
    assert f.exists, path
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_binaries_are_the_mirror_version(host):
    for b in ("prometheus", "promtool"):
        out = host.check_output("/usr/local/bin/%s --version 2>&1" % b)
        assert "version %s" % H["hm_prometheus_version"] in out, out
    state = json.loads(host.file("/usr/local/lib/hybridmon/prometheus/state.json").content_string)
    assert state["version"] == H["hm_prometheus_version"]


def test_service_active_enabled_and_ready(host):
    s = host.service("prometheus")
    assert s.is_running and s.is_enabled
    assert host.check_output("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9090/-/ready") == "200"


def test_self_scrape_is_up(host):
    res = lib.wait_for(lambda: lib.prom_query(host, 'up{job="prometheus"} == 1'), timeout=60, what="up == 1")
    assert res[0]["value"][1] == "1"


def test_retention_is_a_flag_not_config(host):
    flags = lib.http_json(host, "http://127.0.0.1:9090/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == "30d"
    assert flags["storage.tsdb.retention.size"] in ("50GB", "50GiB")  # Prometheus' GB are 2^30 bytes
    assert flags["web.enable-admin-api"] == "false"
    assert "storage:" not in host.file("/etc/prometheus/prometheus.yml").content_string


def test_unit_exposure_at_most_2(host):
    out = host.check_output("systemd-analyze security prometheus.service --no-pager | tail -1")
    score = float(out.split("level for prometheus.service:")[1].split()[0])
    assert score <= 2.0, out


def test_upgrade_kept_the_tsdb():
    (name,) = lib.instances("upgrade")
    h = lib.host(name)
    mark = json.loads(h.file("/root/hm-upgrade-mark.json").content_string)
    assert mark["version"] == H["hm_prometheus_old_version"]
    assert "version %s" % H["hm_prometheus_version"] in h.check_output("/usr/local/bin/prometheus --version 2>&1")
    # samples written by 2.x before the upgrade are still there for 3.x
    res = lib.wait_for(lambda: lib.prom_query(h, 'count_over_time(up{job="prometheus"}[2m])', at=mark["time"]),
                       timeout=60, what="pre-upgrade samples")
    assert int(res[0]["value"][1]) >= 5, res
    # the previous version is kept for a rollback
    state = json.loads(h.file("/usr/local/lib/hybridmon/prometheus/state.json").content_string)
    assert state["previous"]["version"] == H["hm_prometheus_old_version"]
    assert h.file(state["previous"]["dir"] + "/prometheus").exists


def test_release_that_does_not_come_up_is_rolled_back_with_its_unit():
    """Switching to the kept 2.x release with a flag only 3.x knows: 2.x exits at start, so the same module call puts
    back the 3.x release and the unit it ran with, proves it ready, and fails the task saying so."""
    (name,) = lib.instances("upgrade")
    h = lib.host(name)
    unit = "/etc/systemd/system/prometheus.service"
    unit_before = h.file(unit).content_string
    old, new = H["hm_prometheus_old_version"], H["hm_prometheus_version"]
    rc, out, recap = lib.run_playbook(limit=name, extra_vars={
        "prometheus_version": old, "prometheus_extra_flags": {"web.max-notifications-subscribers": 16}})
    assert rc != 0 and recap[name]["failed"] == 1, out
    assert ("prometheus %s did not come up, so prometheus was rolled back to %s, which is running and ready again"
            % (old, new)) in out, out
    assert "unknown long flag '--web.max-notifications-subscribers'" in out, out
    assert "version %s" % new in h.check_output("/usr/local/bin/prometheus --version 2>&1")
    assert h.file(unit).content_string == unit_before
    assert h.service("prometheus").is_running
    lib.wait_for(lambda: lib.prom_query(h, 'up{job="prometheus"} == 1'), timeout=30, what="up after the rollback")
    # the record matches what runs: the next plain run has nothing to do
    rc, out, recap = lib.run_playbook(limit=name)
    assert rc == 0 and recap[name]["changed"] == 0, out


def test_check_mode_on_converged_hosts_changes_nothing():
    rc, out, recap = lib.run_playbook("--check", "--diff")
    assert rc == 0, out
    assert recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out


def _snapshot(h):
    cfg = h.file("/etc/prometheus/prometheus.yml").content
    live = lib.http_json(h, "http://127.0.0.1:9090/api/v1/status/config")["data"]["yaml"]
    return hashlib.sha256(cfg).hexdigest(), live, lib.service_pid(h, "prometheus")


def test_broken_scrape_config_is_rejected_and_service_keeps_old_config():
    name = HOSTS[0]
    h = lib.host(name)
    before = _snapshot(h)
    bad = [{"job_name": "broken", "scrape_interval": "5x", "static_configs": [{"targets": ["localhost:1"]}]}]
    rc, out, recap = lib.run_playbook(limit=name, extra_vars={"prometheus_scrape_configs_extra": bad})
    assert rc != 0 and recap[name]["failed"] == 1, out
    assert 'rejected by `/usr/local/bin/promtool`' in out and 'unknown unit "x" in duration "5x"' in out, out
    assert _snapshot(h) == before
    assert h.service("prometheus").is_running


def test_broken_rule_is_rejected():
    name = HOSTS[0]
    h = lib.host(name)
    before = _snapshot(h)
    groups = [{"name": "bad", "rules": [{"alert": "Broken", "expr": "rate(up[5m]"}]}]
    rc, out, recap = lib.run_playbook(limit=name, extra_vars={"prometheus_alert_rule_groups": groups})
    assert rc != 0 and recap[name]["failed"] == 1, out
    assert "hybridmon-vars.yml was rejected" in out and "parse error" in out, out
    assert _snapshot(h) == before
    assert not h.file("/etc/prometheus/rules/hybridmon-vars.yml").contains("Broken")


def test_wrong_checksum_fails_before_install_naming_both_sums():
    name = HOSTS[0]
    h = lib.host(name)
    before = _snapshot(h)
    state_before = h.file("/usr/local/lib/hybridmon/prometheus/state.json").content_string
    wrong = "sha256:" + "0" * 64
    # a version that is not installed, with a pinned checksum that does not match the tarball
    rc, out, recap = lib.run_playbook(limit=name, extra_vars={
        "prometheus_version": H["hm_prometheus_old_version"], "prometheus_checksum": wrong})
    assert rc != 0 and recap[name]["failed"] == 1, out
    archive = "prometheus-%s.linux-amd64.tar.gz" % H["hm_prometheus_old_version"]
    assert "checksum mismatch for %s" % archive in out and "0" * 64 in out and "got" in out, out
    assert h.file("/usr/local/lib/hybridmon/prometheus/state.json").content_string == state_before
    assert _snapshot(h) == before
