"""Exporters register themselves as file_sd targets; Prometheus follows additions and removals without a restart."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
import hm_testlib as lib  # noqa: E402

(PROM,) = lib.instances("prometheus")
NODES = lib.instances("node_exporter")
FILE = "/etc/prometheus/file_sd/node/hybridmon.json"


def node_targets(h):
    res = lib.prom_query(h, 'up{job="node"} == 1')
    return sorted(r["metric"]["instance"] for r in res)


def test_every_registered_node_is_scraped():
    h = lib.host(PROM)
    want = sorted("%s:9100" % n for n in NODES)
    assert lib.wait_for(lambda: node_targets(h) == want, timeout=60, what="both nodes up")
    groups = json.loads(h.file(FILE).content_string)
    assert [g["labels"] for g in groups] == [{"team": "sre"}]
    assert sorted(groups[0]["targets"]) == want
    f = h.file(FILE)
    assert (f.user, f.group) == ("root", "root") and f.mode == 0o644
    labels = lib.prom_query(h, 'up{job="node"}')[0]["metric"]
    assert labels["team"] == "sre"


def test_remove_and_add_a_host_without_restart():
    h = lib.host(PROM)
    pid = lib.service_pid(h, "prometheus")
    gone = NODES[1]
    rc, out, recap = lib.run_playbook(limit="%s,%s" % (PROM, gone),
                                      extra_vars={"node_exporter_register_state": "absent"})
    assert rc == 0 and recap[gone]["changed"] >= 1, out
    assert lib.wait_for(lambda: node_targets(h) == ["%s:9100" % NODES[0]], timeout=60, what="node removed")
    assert gone not in h.file(FILE).content_string
    rc, out, recap = lib.run_playbook(limit="%s,%s" % (PROM, gone))
    assert rc == 0 and recap[gone]["changed"] >= 1 and recap[PROM]["changed"] == 0, out
    assert lib.wait_for(lambda: len(node_targets(h)) == 2, timeout=60, what="node back")
    assert lib.service_pid(h, "prometheus") == pid  # no restart, no reload needed


def test_check_mode_on_converged_fleet_changes_nothing():
    rc, out, recap = lib.run_playbook("--check", "--diff")
    assert rc == 0 and recap and all(r["changed"] == 0 and r["failed"] == 0 for r in recap.values()), out
