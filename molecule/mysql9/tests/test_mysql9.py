"""mysqld_exporter against MySQL 9 (Debian sid): least-privilege account with caching_sha2_password and a connection
limit, created idempotently (also under --check), and the exporter reports mysql_up 1."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

(NAME,) = lib.instances("mysqld_exporter")


@pytest.fixture(scope="module")
def host():
    return lib.host(NAME)


def test_server_is_mysql_9(host):
    assert host.check_output("mysql -N -e 'SELECT VERSION()'").startswith("9.")


def test_monitoring_account(host):
    grants = host.check_output("mysql -N -e \"SHOW GRANTS FOR 'monitoring'@'localhost'\"")
    assert grants == "GRANT SELECT, PROCESS, REPLICATION CLIENT ON *.* TO `monitoring`@`localhost`", grants
    row = host.check_output("mysql -N -e \"SELECT plugin, max_user_connections FROM mysql.user "
                            "WHERE user = 'monitoring'\"")
    assert row.split() == ["caching_sha2_password", "3"], row


def test_credentials_file_private(host):
    f = host.file("/etc/mysqld_exporter/my.cnf")
    assert (f.user, f.group, f.mode) == ("mysqld_exporter", "mysqld_exporter", 0o600)
    assert host.file("/etc/mysqld_exporter").mode == 0o750


def test_exporter_reports_mysql_up(host):
    def up():
        m = host.check_output("curl -s http://127.0.0.1:9104/metrics").splitlines()
        return m if "mysql_up 1" in m else None
    metrics = lib.wait_for(up, timeout=30, what="mysql_up 1")
    success = [m for m in metrics if m.startswith("mysql_exporter_collector_success{")]
    assert 'mysql_exporter_collector_success{collector="collect.info_schema.processlist"} 1' in success, success
    assert all(m.endswith(" 1") for m in success), success


def test_check_mode_changes_nothing():
    rc, out, recap = lib.run_playbook("--check", "--diff", "-v")
    assert rc == 0, out
    assert recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out
    assert "hm-My9#pw;x" not in out


def test_account_drift_is_repaired_and_then_left_alone(host):
    """Someone changes the monitoring password and widens its grants by hand: one run restores exactly the wanted
    account (password compared with MySQL's salted caching_sha2 hash, not re-set blindly), the next changes nothing."""
    host.check_output("mysql -e \"ALTER USER 'monitoring'@'localhost' IDENTIFIED BY 'changed-by-hand' "
                      "WITH MAX_USER_CONNECTIONS 9; GRANT RELOAD ON *.* TO 'monitoring'@'localhost'\"")
    rc, out, recap = lib.run_playbook("--diff")
    assert rc == 0, out
    assert recap[NAME]["changed"] >= 1, out
    assert "password: (changed)" in out and "max_user_connections: 9" in out and "hm-My9#pw;x" not in out
    test_monitoring_account(host)
    # the exporter logs in with the file's password again (a new connection per scrape)
    lib.wait_for(lambda: "mysql_up 1" in host.check_output("curl -s http://127.0.0.1:9104/metrics").splitlines(),
                 timeout=30, what="mysql_up 1 after the repair")
    rc, out, recap = lib.run_playbook()
    assert rc == 0 and recap[NAME]["changed"] == 0, out
