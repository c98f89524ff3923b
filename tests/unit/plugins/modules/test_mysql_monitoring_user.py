"""mysql_monitoring_user against a scripted server: every statement must be the next one expected (an extra, missing
or out-of-order statement fails the test), so each case proves exactly what reaches the database.

The real servers (MariaDB 10.11 in the stack scenario, MySQL 9 in mysql9) prove the SQL and the hashes end to end;
here the hash functions are checked against independent implementations and the decisions case by case.
"""
import binascii
import re
import warnings

import pymysql
import pytest

from ansible_collections.hybridmon.monitoring.plugins.module_utils import _mysql_account as acc
from ansible_collections.hybridmon.monitoring.plugins.modules import mysql_monitoring_user as mod
from helpers import run_module

MARIADB = "10.11.6-MariaDB-0+deb12u1"
MYSQL9 = "9.1.0"
PW = "hm-Pass;`x"


class ScriptedSQL:
    """A DB-API connection double replaying (sql, args, rows) exchanges; `sql` is compared after folding spaces."""

    def __init__(self, exchanges):
        self.exchanges = list(exchanges)
        self.executed = []
        self.closed = False

    def cursor(self):
        return _Cursor(self)

    def close(self):
        self.closed = True

    def assert_done(self):
        assert not self.exchanges, "statements never run: %r" % [e[0] for e in self.exchanges]


class _Cursor:
    def __init__(self, conn):
        self.conn = conn
        self.rows = []

    def execute(self, sql, args=None):
        sql = re.sub(r"\s+", " ", sql).strip()
        self.conn.executed.append((sql, args))
        if not self.conn.exchanges:
            raise AssertionError("unexpected extra statement %r %r" % (sql, args))
        want_sql, want_args, rows = self.conn.exchanges.pop(0)
        if (want_sql, want_args) != (sql, args):
            raise AssertionError("expected %r %r, got %r %r" % (want_sql, want_args, sql, args))
        if isinstance(rows, Exception):
            raise rows
        self.rows = rows

    def fetchall(self):
        return self.rows

    def close(self):
        pass


def hexed(s):
    return binascii.hexlify(s if isinstance(s, bytes) else s.encode()).decode().upper()


def caching_sha2(password, salt=b"0123456789abcdefghij"):
    return b"$A$005$" + salt + acc.sha256_crypt_digest(password, salt, 5000).encode()


def reads(version, user="monitoring", host="localhost", account=None, grants=None):
    ex = [("SELECT VERSION()", None, [(version,)]),
          ("SELECT plugin, HEX(authentication_string), max_user_connections FROM mysql.user WHERE User = %s AND Host = %s",
           (user, host), [account] if account else [])]
    if account:
        ex.append(("SHOW GRANTS FOR %s@%s", (user, host), [(g,) for g in grants]))
    return ex


@pytest.fixture
def server(monkeypatch):
    holder = {}

    def connect(**kw):
        holder["kw"] = kw
        return holder["conn"]

    monkeypatch.setattr(mod.pymysql, "connect", connect)

    def script(exchanges):
        holder["conn"] = ScriptedSQL(exchanges)
        return holder
    return script


def args(**kw):
    a = {"name": "monitoring", "password": PW, "config_file": "/nonexistent/.my.cnf"}
    a.update(kw)
    return a


def test_sha256_crypt_matches_the_published_vector_and_libc():
    # U. Drepper's SHA-crypt specification, "$5$saltstring" / "Hello world!"
    assert acc.sha256_crypt_digest("Hello world!", b"saltstring", 5000) == "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
    with warnings.catch_warnings():  # libc's crypt(3) through Python's module: deprecated, present on 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    for pw, salt in (("x" * 70, "abcdefghijklmnop"), ("", "ab"), ("pässwörd;`x", "0123456789abcdef")):
        assert crypt.crypt(pw, "$5$" + salt).rsplit("$", 1)[1] == acc.sha256_crypt_digest(pw, salt.encode(), 5000)


def test_native_hash_is_double_sha1():
    # the well-known hash of "password"
    assert acc.native_password_hash("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


def test_create_on_mariadb_uses_the_names_show_grants_reports(server, monkeypatch):
    h = server(reads(MARIADB) + [
        ("CREATE USER %s@%s IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS 3", ("monitoring", "localhost", PW), []),
        ("GRANT PROCESS, BINLOG MONITOR, SLAVE MONITOR, SELECT ON *.* TO %s@%s", ("monitoring", "localhost"), []),
    ])
    res = run_module(mod.main, args(), monkeypatch=monkeypatch, diff=True)
    h["conn"].assert_done()
    assert res["changed"] and res["actions"][0] == "create account", res
    assert res["privileges"] == ["PROCESS", "BINLOG MONITOR", "SLAVE MONITOR", "SELECT"]
    assert res["diff"]["before"] == "absent\n" and "password" not in res["diff"]["after"]
    assert PW not in repr(res) and h["conn"].closed
    assert h["kw"]["unix_socket"] == "/run/mysqld/mysqld.sock" and h["kw"]["user"] == "root"


def test_unchanged_mariadb_account_runs_only_reads(server, monkeypatch):
    h = server(reads(MARIADB, account=("mysql_native_password", hexed(acc.native_password_hash(PW)), 3), grants=[
        "GRANT PROCESS, SELECT, BINLOG MONITOR, SLAVE MONITOR ON *.* TO `monitoring`@`localhost` "
        "IDENTIFIED BY PASSWORD '%s' WITH MAX_USER_CONNECTIONS 3" % acc.native_password_hash(PW)]))
    res = run_module(mod.main, args(), monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["changed"] is False and res["actions"] == [], res


def test_unchanged_mysql9_account_compares_the_caching_sha2_hash(server, monkeypatch):
    h = server(reads(MYSQL9, account=("caching_sha2_password", hexed(caching_sha2(PW)), 3), grants=[
        "GRANT SELECT, PROCESS, REPLICATION CLIENT ON *.* TO `monitoring`@`localhost`"]))
    res = run_module(mod.main, args(), monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["changed"] is False and res["server"] == {"flavor": "mysql", "version": MYSQL9}, res


def test_mysql9_drift_is_repaired_with_the_fewest_statements(server, monkeypatch):
    h = server(reads(MYSQL9, account=("caching_sha2_password", hexed(caching_sha2("old-password")), 10), grants=[
        "GRANT SELECT, PROCESS, RELOAD ON *.* TO `monitoring`@`localhost`"]) + [
        ("ALTER USER %s@%s IDENTIFIED WITH caching_sha2_password BY %s", ("monitoring", "localhost", PW), []),
        ("ALTER USER %s@%s WITH MAX_USER_CONNECTIONS 3", ("monitoring", "localhost"), []),
        ("REVOKE RELOAD ON *.* FROM %s@%s", ("monitoring", "localhost"), []),
        ("GRANT REPLICATION CLIENT ON *.* TO %s@%s", ("monitoring", "localhost"), []),
    ])
    res = run_module(mod.main, args(), monkeypatch=monkeypatch, diff=True)
    h["conn"].assert_done()
    assert res["actions"] == ["set password", "max_user_connections 10 -> 3", "revoke RELOAD",
                              "grant REPLICATION CLIENT"], res
    assert res["diff"]["after"].endswith("password: (changed)\n") and PW not in repr(res)


def test_check_mode_reads_but_writes_nothing(server, monkeypatch):
    h = server(reads(MYSQL9))  # no CREATE/GRANT may follow
    res = run_module(mod.main, args(), check_mode=True, monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["changed"] and res["actions"] == ["create account", "grant PROCESS, REPLICATION CLIENT, SELECT"]


def test_all_privileges_are_taken_away(server, monkeypatch):
    h = server(reads(MYSQL9, account=("caching_sha2_password", hexed(caching_sha2(PW)), 3), grants=[
        "GRANT ALL PRIVILEGES ON *.* TO `monitoring`@`localhost` WITH GRANT OPTION"]) + [
        ("REVOKE ALL PRIVILEGES ON *.* FROM %s@%s", ("monitoring", "localhost"), []),
        ("GRANT PROCESS ON *.* TO %s@%s", ("monitoring", "localhost"), []),
    ])
    res = run_module(mod.main, args(privileges=["process"]), monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["actions"] == ["revoke ALL PRIVILEGES", "grant PROCESS"], res


def test_absent_drops_only_an_existing_account(server, monkeypatch):
    h = server(reads(MARIADB, account=("mysql_native_password", "", 0), grants=["GRANT USAGE ON *.* TO `m`@`%`"]) + [
        ("DROP USER %s@%s", ("monitoring", "localhost"), [])])
    res = run_module(mod.main, args(state="absent", password=None), monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["changed"] and res["actions"] == ["drop account"]
    h = server(reads(MARIADB))
    res = run_module(mod.main, args(state="absent"), monkeypatch=monkeypatch)
    h["conn"].assert_done()
    assert res["changed"] is False


@pytest.mark.parametrize("privs, message", [
    (["PROCESS; DROP TABLE x"], "'PROCESS; DROP TABLE x' is not a privilege name"),
    (["SUPER"], "'SUPER' is not allowed for a monitoring account"),
])
def test_bad_privileges_are_named_before_anything_runs(server, monkeypatch, privs, message):
    h = server(reads(MARIADB))
    res = run_module(mod.main, args(privileges=privs), monkeypatch=monkeypatch)
    assert res["failed"] and message in res["msg"], res
    h["conn"].assert_done()


def test_missing_password_and_unreachable_server_are_clear(server, monkeypatch):
    res = run_module(mod.main, args(password=None), monkeypatch=monkeypatch)
    assert res["failed"] and "password is required with state=present (account monitoring@localhost)" in res["msg"]

    def refuse(**kw):
        raise pymysql.err.OperationalError(2002, "Can't connect to local server through socket")
    monkeypatch.setattr(mod.pymysql, "connect", refuse)
    res = run_module(mod.main, args(login_unix_socket="/run/nothing.sock"), monkeypatch=monkeypatch)
    assert res["failed"] and "cannot connect to the database server at /run/nothing.sock as root" in res["msg"], res


def test_failed_statement_names_the_account_and_server(server, monkeypatch):
    server(reads(MYSQL9) + [
        ("CREATE USER %s@%s IDENTIFIED WITH caching_sha2_password BY %s WITH MAX_USER_CONNECTIONS 3",
         ("monitoring", "localhost", PW), pymysql.err.OperationalError(1227, "Access denied; you need CREATE USER"))])
    res = run_module(mod.main, args(), monkeypatch=monkeypatch)
    assert res["failed"] and "monitoring@localhost (9.1.0): (1227" in res["msg"] and PW not in res["msg"], res


def test_old_mariadb_keeps_replication_client():
    assert acc.ServerInfo("10.3.39-MariaDB").privilege_names(["replication  client"]) == ["REPLICATION CLIENT"]
    assert acc.ServerInfo("10.5.4-MariaDB").privilege_names(["REPLICATION CLIENT"]) == ["BINLOG MONITOR"]
    with pytest.raises(acc.AccountError, match="cannot read the server version"):
        acc.ServerInfo("unknown")


def test_hash_as_stored_by_mysql_9_is_recognized():
    # HEX(authentication_string) of 'monitoring'@'localhost' created by this module on Debian's MySQL 9.7.4
    # (IDENTIFIED WITH caching_sha2_password BY 'hm-My9#pw;x'): 10,000 rounds ("00A"), a salt with 8-bit bytes
    stored = binascii.unhexlify(
        "244124303041245870270134682D5B32435463601871255E747D09315479304B4E3950396B2E53434C35424B45774934"
        "325855656141654F695A514A6C625072477346723734")
    assert acc.password_matches("caching_sha2_password", stored, "hm-My9#pw;x") is True
    assert acc.password_matches("caching_sha2_password", stored, "hm-My9#pw;y") is False
    assert acc.password_matches("caching_sha2_password", b"$A$005$short", "x") is False
    assert acc.password_matches("ed25519", b"anything", "x") is None
