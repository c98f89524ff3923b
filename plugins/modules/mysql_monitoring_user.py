#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mysql_monitoring_user
short_description: A least-privilege MySQL or MariaDB account for a monitoring agent, in one step
description:
  - Ensures an account with a password, global privileges only (for example C(PROCESS, REPLICATION CLIENT, SELECT)
    for mysqld_exporter) and a connection limit, as the guide's C(CREATE USER ... WITH MAX_USER_CONNECTIONS 3) and
    C(GRANT ... ON *.*) do, and removes privileges it should not have.
  - Decides with one read of the server's records (version, C(mysql.user), C(SHOW GRANTS)) and runs only the
    statements that are needed, so an unchanged account costs one connection and four queries.
  - Privilege names are translated to what the server reports, so a second run compares equal. On MariaDB 10.5.2 and
    later C(REPLICATION CLIENT) becomes C(BINLOG MONITOR) (plus C(SLAVE MONITOR) from 10.5.9, needed for
    C(SHOW REPLICA STATUS)).
  - The password is compared with the stored hash (C(mysql_native_password), or C(caching_sha2_password) on MySQL 8
    and 9 with the stored salt), so it is not set again on every run. New and changed passwords use
    C(caching_sha2_password) on MySQL (9 has no C(mysql_native_password)) and the server default on MariaDB. An
    account with a plugin whose hash cannot be compared (for example C(ed25519)) gets the password set again.
version_added: 0.1.0
author:
  - hybridmon.monitoring developers (@hybridmon)
options:
  name:
    description: User name of the account.
    type: str
    required: true
  host:
    description: Host part of the account (C(localhost) for an agent on the database host; restrict it to the agent's
      address otherwise).
    type: str
    default: localhost
  password:
    description: Password of the account. Required with O(state=present).
    type: str
  privileges:
    description: Global privileges (C(ON *.*)). Privileges the account has beyond these are revoked.
      C(ALL), C(SUPER) and C(GRANT OPTION) are refused.
    type: list
    elements: str
    default: [PROCESS, REPLICATION CLIENT, SELECT]
  max_user_connections:
    description: Maximum simultaneous connections of the account (C(0) means no limit).
    type: int
    default: 3
  state:
    description: Whether the account should exist.
    type: str
    choices: [present, absent]
    default: present
  login_unix_socket:
    description: Unix socket of the server. Used when O(login_host) is not set.
    type: path
    default: /run/mysqld/mysqld.sock
  login_host:
    description: TCP host of the server instead of the socket.
    type: str
  login_port:
    description: TCP port with O(login_host).
    type: int
    default: 3306
  login_user:
    description: Administrative user that connects (needs C(CREATE USER) and the privileges it grants).
    type: str
    default: root
  login_password:
    description: Password of O(login_user); empty for socket authentication (C(unix_socket), C(auth_socket)).
    type: str
  config_file:
    description: Client option file read for defaults (as the C(mysql) client does); ignored when missing.
    type: path
    default: ~/.my.cnf
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 30
requirements:
  - PyMySQL (C(python3-pymysql)) on the host the module runs on
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Connects and reads for real; no statement that changes the server is run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Privileges and connection limit before and after; the password only as "(changed)".
notes:
  - Only global privileges are managed; database-level grants of the account are left alone.
seealso:
  - module: community.mysql.mysql_user
"""

EXAMPLES = r"""
- name: The mysqld_exporter account of the guide (on the database host, through its socket as root)
  become: true
  hybridmon.monitoring.mysql_monitoring_user:
    name: exporter
    password: "{{ vault_mysqld_exporter_password }}"
    privileges: [PROCESS, REPLICATION CLIENT, SELECT]
    max_user_connections: 3

- name: An exporter on another host connects over TCP
  become: true
  hybridmon.monitoring.mysql_monitoring_user:
    name: exporter
    host: 10.0.0.12
    password: "{{ vault_mysqld_exporter_password }}"

- name: Remove it
  become: true
  hybridmon.monitoring.mysql_monitoring_user:
    name: exporter
    host: 10.0.0.12
    state: absent
"""

RETURN = r"""
account:
  description: The account as C(user@host).
  returned: always
  type: str
  sample: exporter@localhost
server:
  description: The server's flavor and version.
  returned: always
  type: dict
  contains:
    flavor:
      description: C(mariadb) or C(mysql).
      type: str
    version:
      description: The server's version string.
      type: str
      sample: 10.11.6-MariaDB-0+deb12u1
privileges:
  description: The global privileges the account has afterwards, as the server names them.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [PROCESS, BINLOG MONITOR, SLAVE MONITOR, SELECT]
actions:
  description: What was changed (or would be changed in check mode).
  returned: always
  type: list
  elements: str
  sample: [create account, "grant PROCESS, SELECT"]
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._mysql_account import (
    Account,
    AccountError,
)

try:
    import pymysql
    PYMYSQL_ERROR = None
except ImportError:
    pymysql = None
    PYMYSQL_ERROR = traceback.format_exc()


def connect(p):
    kw = dict(user=p["login_user"], connect_timeout=p["connect_timeout"], autocommit=True, charset="utf8mb4")
    if p["login_password"]:
        kw["password"] = p["login_password"]
    if p["login_host"]:
        kw.update(host=p["login_host"], port=p["login_port"])
    else:
        kw["unix_socket"] = p["login_unix_socket"]
    config = p["config_file"]
    if config and os.path.exists(config):
        kw["read_default_file"] = config
    try:
        return pymysql.connect(**kw)
    except pymysql.Error as e:
        where = "%s:%s" % (p["login_host"], p["login_port"]) if p["login_host"] else p["login_unix_socket"]
        raise AccountError("cannot connect to the database server at %s as %s: %s" % (where, p["login_user"], to_native(e)))


def describe(state):
    if state is None:
        return "absent\n"
    return "privileges: %s\nmax_user_connections: %d\n" % (", ".join(sorted(state["privileges"])) or "none",
                                                           state["max_user_connections"])


def run(module):
    p = module.params
    if p["state"] == "present" and not p["password"]:
        raise AccountError("password is required with state=present (account %s@%s)" % (p["name"], p["host"]))
    if p["max_user_connections"] < 0:
        raise AccountError("max_user_connections must be 0 or more, got %d" % p["max_user_connections"])
    conn = connect(p)
    try:
        account = Account(conn, p["name"], p["host"])
        server = account.server()
        current = account.read()
        result = dict(changed=False, account="%s@%s" % (p["name"], p["host"]), actions=[],
                      server={"flavor": server.flavor, "version": server.full})
        if p["state"] == "absent":
            steps = [("DROP USER %s@%s", (p["name"], p["host"]), "drop account")] if current else []
            after = None
        else:
            privileges = server.privilege_names(p["privileges"])
            steps = account.plan(server, current, p["password"], privileges, p["max_user_connections"])
            after = {"privileges": privileges, "max_user_connections": p["max_user_connections"]}
            result["privileges"] = privileges
        result["actions"] = [what for _sql, _args, what in steps]
        result["changed"] = bool(steps)
        if module._diff:
            before_text = describe(current)
            after_text = describe(after)
            if any(what == "set password" for what in result["actions"]):
                after_text += "password: (changed)\n"
            result["diff"] = {"before_header": result["account"], "after_header": result["account"],
                              "before": before_text, "after": after_text}
        if steps and not module.check_mode:
            try:
                account.apply(steps)
            except pymysql.Error as e:
                done = result["actions"]
                raise AccountError("%s failed on %s (%s): %s" % (", ".join(done), result["account"], server.full,
                                                                 to_native(e)))
        return result
    finally:
        conn.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            host=dict(type="str", default="localhost"),
            password=dict(type="str", no_log=True),
            privileges=dict(type="list", elements="str", default=["PROCESS", "REPLICATION CLIENT", "SELECT"]),
            max_user_connections=dict(type="int", default=3),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            login_unix_socket=dict(type="path", default="/run/mysqld/mysqld.sock"),
            login_host=dict(type="str"),
            login_port=dict(type="int", default=3306),
            login_user=dict(type="str", default="root"),
            login_password=dict(type="str", no_log=True),
            config_file=dict(type="path", default="~/.my.cnf"),
            connect_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    if pymysql is None:
        module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"), exception=PYMYSQL_ERROR)
    try:
        module.exit_json(**run(module))
    except AccountError as e:
        module.fail_json(msg=to_native(e))


if __name__ == "__main__":
    main()
