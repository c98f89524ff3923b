# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE module_utils of hybridmon.monitoring: no compatibility promise outside this collection.
#
# A least-privilege MySQL/MariaDB account (global privileges, connection limit, password) decided with one read of
# the server's own records and changed with the fewest statements: the mysql_monitoring_user module.

import binascii
import hashlib
import re

PRIVILEGE_RE = re.compile(r"^[A-Z][A-Z ]*[A-Z]$")
_B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# caching_sha2_password stores "$A$<rounds/1000 as 3 hex digits>$<20-byte salt><43-char digest>" (MySQL 8.0: 005,
# MySQL 9: 00A, i.e. 10,000 rounds; caching_sha2_password_digest_rounds)
CACHING_SHA2_RE = re.compile(rb"^\$A\$([0-9A-Fa-f]{3})\$(.{20})(.{43})$", re.S)


class AccountError(Exception):
    pass


class ServerInfo(object):
    def __init__(self, version_string):
        self.full = version_string
        self.mariadb = "mariadb" in version_string.lower()
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)", version_string)
        if not m:
            raise AccountError("cannot read the server version from %r" % version_string)
        self.version = tuple(int(x) for x in m.groups())

    @property
    def flavor(self):
        return "mariadb" if self.mariadb else "mysql"

    def privilege_names(self, wanted):
        """The names SHOW GRANTS reports for the wanted global privileges on this server (so a second run compares
        equal): MariaDB 10.5.2+ renamed REPLICATION CLIENT to BINLOG MONITOR and, from 10.5.9, SHOW REPLICA STATUS
        needs REPLICA MONITOR, which SHOW GRANTS reports as SLAVE MONITOR."""
        out = []
        for p in wanted:
            name = re.sub(r"\s+", " ", str(p).strip().upper())
            if not PRIVILEGE_RE.match(name):
                raise AccountError("privilege %r is not a privilege name (letters and spaces, e.g. PROCESS)" % (p,))
            if name in ("ALL", "ALL PRIVILEGES", "GRANT OPTION", "SUPER"):
                raise AccountError("privilege %r is not allowed for a monitoring account" % (p,))
            if name == "REPLICATION CLIENT" and self.mariadb and self.version >= (10, 5, 2):
                names = ["BINLOG MONITOR"] + (["SLAVE MONITOR"] if self.version >= (10, 5, 9) else [])
            elif name == "REPLICA MONITOR" and self.mariadb:
                names = ["SLAVE MONITOR"]
            else:
                names = [name]
            for n in names:
                if n not in out:
                    out.append(n)
        return out


def native_password_hash(password):
    """mysql_native_password: '*' + upper hex of SHA1(SHA1(password))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode("utf-8")).digest()).hexdigest().upper()


def _b64_from_24bit(b2, b1, b0, n):
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for dummy in range(n):
        out.append(_B64[w & 0x3F])
        w >>= 6
    return "".join(out)


def sha256_crypt_digest(password, salt, rounds):
    """The SHA-256 crypt digest (U. Drepper's SHA-crypt) of password with salt: the 43 characters after the salt.

    MySQL's caching_sha2_password uses it with a 20-byte salt and rounds = 1000 * the 3-hex-digit count it stores.
    """
    key = password if isinstance(password, bytes) else password.encode("utf-8")
    n, sl = len(key), len(salt)
    b = hashlib.sha256(key + salt + key).digest()
    a = hashlib.sha256(key + salt)
    i = n
    while i > 32:
        a.update(b)
        i -= 32
    a.update(b[:i])
    i = n
    while i > 0:
        a.update(b if i & 1 else key)
        i >>= 1
    da = a.digest()
    dp = hashlib.sha256(key * n).digest()
    p = (dp * (n // 32 + 1))[:n]
    ds = hashlib.sha256(salt * (16 + da[0])).digest()
    s = (ds * (sl // 32 + 1))[:sl]
    c = da
    for r in range(rounds):
        h = hashlib.sha256(p if r & 1 else c)
        if r % 3:
            h.update(s)
        if r % 7:
            h.update(p)
        h.update(c if r & 1 else p)
        c = h.digest()
    order = ((0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
             (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29))
    return "".join(_b64_from_24bit(c[x], c[y], c[z], 4) for x, y, z in order) + _b64_from_24bit(0, c[31], c[30], 3)


def password_matches(plugin, auth_string, password):
    """Whether the stored credential (plugin, authentication_string as bytes) is this password.

    None when the plugin's hash cannot be checked here (the account is then re-created with a known plugin).
    """
    plugin = (plugin or "").lower()
    if plugin in ("mysql_native_password", ""):
        return auth_string.decode("ascii", "replace") == native_password_hash(password)
    if plugin == "caching_sha2_password":
        m = CACHING_SHA2_RE.match(auth_string)
        if not m:
            return False
        rounds = int(m.group(1), 16) * 1000
        return sha256_crypt_digest(password, m.group(2), rounds) == m.group(3).decode("ascii", "replace")
    return None


def parse_global_grants(lines):
    """Global (ON *.*) privileges from SHOW GRANTS lines; USAGE means none."""
    privs = []
    for line in lines:
        m = re.match(r"^GRANT (.+?) ON \*\.\* TO ", line)
        if not m:
            continue
        for p in m.group(1).split(","):
            p = re.sub(r"\s+", " ", p.strip().upper())
            if p and p != "USAGE" and p not in privs:
                privs.append(p)
    return privs


class Account(object):
    """Read-compare-write of one account over a DB-API connection (PyMySQL)."""

    def __init__(self, conn, user, host):
        self.conn = conn
        self.user = user
        self.host = host

    def query(self, sql, args=None):
        cur = self.conn.cursor()
        try:
            cur.execute(sql, args)
            return list(cur.fetchall())
        finally:
            cur.close()

    def server(self):
        return ServerInfo(str(self.query("SELECT VERSION()")[0][0]))

    def read(self):
        """Current state or None when the account does not exist."""
        rows = self.query("SELECT plugin, HEX(authentication_string), max_user_connections FROM mysql.user "
                          "WHERE User = %s AND Host = %s", (self.user, self.host))
        if not rows:
            return None
        plugin, auth_hex, max_conn = rows[0]
        auth = binascii.unhexlify(auth_hex or "")
        grants = [str(r[0]) for r in self.query("SHOW GRANTS FOR %s@%s", (self.user, self.host))]
        return {"plugin": plugin if isinstance(plugin, str) else (plugin or b"").decode(), "auth": auth,
                "max_user_connections": int(max_conn or 0), "privileges": parse_global_grants(grants)}

    def identified(self, server, password):
        """The IDENTIFIED clause for a new or changed password: the server's strongest plugin we can verify."""
        if server.mariadb:
            return "IDENTIFIED BY %s", (password,)
        return "IDENTIFIED WITH caching_sha2_password BY %s", (password,)

    def plan(self, server, current, password, privileges, max_conn):
        """Statements (sql, args, description) that bring the account to the wanted state."""
        account = "%s@%s"
        acc_args = (self.user, self.host)
        steps = []
        if current is None:
            clause, pw_args = self.identified(server, password)
            steps.append(("CREATE USER " + account + " " + clause + " WITH MAX_USER_CONNECTIONS %d" % max_conn,
                          acc_args + pw_args, "create account"))
            if privileges:
                steps.append(("GRANT %s ON *.* TO " % ", ".join(privileges) + account, acc_args,
                              "grant " + ", ".join(privileges)))
            return steps
        if password_matches(current["plugin"], current["auth"], password) is not True:
            clause, pw_args = self.identified(server, password)
            steps.append(("ALTER USER " + account + " " + clause, acc_args + pw_args, "set password"))
        if current["max_user_connections"] != max_conn:
            steps.append(("ALTER USER " + account + " WITH MAX_USER_CONNECTIONS %d" % max_conn, acc_args,
                          "max_user_connections %d -> %d" % (current["max_user_connections"], max_conn)))
        extra = [p for p in current["privileges"] if p not in privileges]
        missing = [p for p in privileges if p not in current["privileges"]]
        if extra:
            what = "ALL PRIVILEGES" if "ALL PRIVILEGES" in extra else ", ".join(extra)
            steps.append(("REVOKE %s ON *.* FROM " % what + account, acc_args, "revoke " + what))
            if what == "ALL PRIVILEGES":
                missing = list(privileges)
        if missing:
            steps.append(("GRANT %s ON *.* TO " % ", ".join(missing) + account, acc_args, "grant " + ", ".join(missing)))
        return steps

    def apply(self, steps):
        for sql, args, _what in steps:
            self.query(sql, args)
