"""Helpers for the Molecule testinfra suites (imported by each scenario's tests).

Hosts are reached through testinfra's docker backend (docker exec: fast) rather than through Ansible; playbook runs
(--check, fault injection) go through the real ansible-playbook with Molecule's own inventory and config.
"""
import json
import os
import re
import subprocess
import time
import urllib.parse

import testinfra
import yaml

SCENARIO_DIR = os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "")
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
HM_CACHE = os.environ.get("HM_CACHE", "/var/cache/hybridmon")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def harness():
    with open(os.path.join(HM_CACHE, "harness.yml")) as f:
        return yaml.safe_load(f)


def molecule_config():
    with open(os.path.join(SCENARIO_DIR, "molecule.yml")) as f:
        return yaml.safe_load(f)


def instances(group=None):
    out = []
    for p in molecule_config()["platforms"]:
        if group is None or group in p.get("groups", []):
            out.append(p["name"])
    return out


def host(name):
    return testinfra.get_host("docker://" + name)


def http_json(h, url, method="GET", data=None):
    cmd = "curl -sS -m 10 -X %s '%s'" % (method, url)
    if data is not None:
        cmd += " -H 'Content-Type: application/json' --data-binary '%s'" % json.dumps(data)
    out = h.check_output(cmd)
    return json.loads(out)


def prom_query(h, query, port=9090, at=None):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(query, safe=""))
    if at is not None:
        url += "&time=%s" % at
    res = http_json(h, url)
    assert res["status"] == "success", res
    return res["data"]["result"]


def wait_for(fn, timeout=60, interval=1.0, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except AssertionError as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_playbook(*args, playbook=None, limit=None, extra_vars=None):
    """Run the scenario's converge playbook (or another) with Molecule's inventory; return (rc, output, recap)."""
    playbook = playbook or os.path.join(ROOT, "molecule", "shared", "converge.yml")
    cmd = ["ansible-playbook", "-i", INVENTORY, "-e", "@" + os.path.join(HM_CACHE, "harness.yml"), playbook]
    if limit:
        cmd += ["--limit", limit]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    cmd += list(args)
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", ""), "ansible.cfg"))
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    env["ANSIBLE_NOCOLOR"] = "1"
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True, timeout=600, check=False)
    recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                          "failed": int(m.group(5))} for m in RECAP.finditer(p.stdout)}
    return p.returncode, p.stdout, recap


def service_pid(h, name):
    return h.check_output("systemctl show -P MainPID %s" % name)
