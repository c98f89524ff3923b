"""prometheus_rule against the CRD-only API server, with promtool validating each group."""
import os

import pytest
import yaml
from helpers import find_promtool, run_module

from ansible_collections.hybridmon.monitoring.plugins.modules import prometheus_rule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


PROMTOOL = find_promtool()
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="no promtool: set HM_PROMTOOL or build the mirror "
                                                             "(.cache/mirror/bin/promtool)")

NODE_GROUP = {"name": "node", "rules": [
    {"alert": "NodeDown", "expr": 'up{job="node"} == 0', "for": "5m",
     "labels": {"severity": "critical"}, "annotations": {"summary": "{{ $labels.instance }} is down"}},
    {"record": "instance:node_cpu:rate5m", "expr": 'rate(node_cpu_seconds_total{mode!="idle"}[5m])'},
]}
MYSQL_FILE = {"groups": [{"name": "mysql", "interval": "1m", "rules": [
    {"alert": "MySQLDown", "expr": "mysql_up == 0", "for": "1m", "labels": {"severity": 2}},
]}]}


def make_prometheus(server, namespace, release, rule_selector="release", rule_ns_selector=None):
    dyn = server.client()
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="Prometheus")
    spec = {"ruleSelector": {"matchLabels": {"release": release}} if rule_selector == "release" else rule_selector,
            "ruleNamespaceSelector": {} if rule_ns_selector is None else rule_ns_selector}
    dyn.create(res, namespace=namespace, body={
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": release + "-prometheus", "namespace": namespace, "labels": {"release": release}},
        "spec": spec})


def get_rule(server, namespace, name):
    from kubernetes.dynamic.exceptions import NotFoundError
    dyn = server.client()
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="PrometheusRule")
    try:
        return dyn.get(res, name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def rule_args(server, ns, release, **over):
    args = dict(server.connection(), name="hybridmon", namespace=ns, release=release, groups=[NODE_GROUP],
                promtool_path=PROMTOOL)
    args.update(over)
    return args


@needs_promtool
def test_publish_groups_and_rule_files(k8s_api, k8s_ns, tmp_path, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "mysql.yml").write_text(yaml.safe_dump(MYSQL_FILE))
    (rules_dir / "README.txt").write_text("not a rule file")

    args = rule_args(k8s_api, k8s_ns, release, src=str(rules_dir))
    res = run_module(prometheus_rule.main, args, diff=True, monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert res["groups"] == ["node", "mysql"] and res["validated"] == ["node", "mysql"]
    assert res["added_labels"] == {"release": release}
    assert res["selected_by"] == ["mon-%s/%s-prometheus" % (k8s_ns, release)]
    assert res["diff"]["before"] == {}
    obj = get_rule(k8s_api, k8s_ns, "hybridmon")
    assert obj["metadata"]["labels"] == {"release": release}
    assert [g["name"] for g in obj["spec"]["groups"]] == ["node", "mysql"]
    assert obj["spec"]["groups"][1]["rules"][0]["labels"] == {"severity": "2"}
    assert obj["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] == "{{ $labels.instance }} is down"

    again = run_module(prometheus_rule.main, args, monkeypatch=monkeypatch)
    assert again["changed"] is False, again

    # Dropping a group removes it from the object (server-side apply owns the whole list entry).
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, release), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert [g["name"] for g in get_rule(k8s_api, k8s_ns, "hybridmon")["spec"]["groups"]] == ["node"]

    res = run_module(prometheus_rule.main, dict(k8s_api.connection(), name="hybridmon", namespace=k8s_ns,
                                                state="absent"), check_mode=True, monkeypatch=monkeypatch)
    assert res["changed"] is True and get_rule(k8s_api, k8s_ns, "hybridmon") is not None
    res = run_module(prometheus_rule.main, dict(k8s_api.connection(), name="hybridmon", namespace=k8s_ns,
                                                state="absent"), monkeypatch=monkeypatch)
    assert res["changed"] is True and get_rule(k8s_api, k8s_ns, "hybridmon") is None


@needs_promtool
def test_promtool_rejects_bad_group_and_nothing_is_applied(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    bad = {"name": "broken", "rules": [{"alert": "Broken", "expr": "sum(rate(x[5m]) by"}]}
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, release, groups=[NODE_GROUP, bad]),
                     monkeypatch=monkeypatch)
    assert res["failed"]
    assert "rule group broken failed promtool check rules" in res["msg"], res["msg"]
    assert get_rule(k8s_api, k8s_ns, "hybridmon") is None


@needs_promtool
def test_check_mode_validates_and_writes_nothing(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, release), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True and res["validated"] == ["node"]
    assert res["result"]["spec"]["groups"][0]["name"] == "node"
    assert get_rule(k8s_api, k8s_ns, "hybridmon") is None


def test_missing_promtool_fails_unless_validation_is_off(k8s_api, k8s_ns, tmp_path, monkeypatch):
    missing = str(tmp_path / "no-promtool")
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, None, promtool_path=missing),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "promtool not found" in res["msg"] and "validate=false" in res["msg"]
    assert get_rule(k8s_api, k8s_ns, "hybridmon") is None

    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, None, promtool_path=missing, validate=False),
                     monkeypatch=monkeypatch)
    assert res["changed"] is True and res["validated"] == []
    assert get_rule(k8s_api, k8s_ns, "hybridmon")["spec"]["groups"][0]["rules"][0]["alert"] == "NodeDown"


def test_rule_selector_mismatch_fails(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release, rule_selector={
        "matchExpressions": [{"key": "role", "operator": "In", "values": ["alert-rules", "recording-rules"]}]})
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, release, validate=False),
                     monkeypatch=monkeypatch)
    assert res["failed"]
    assert "ruleSelector role in (alert-rules,recording-rules)" in res["msg"], res["msg"]
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, release, validate=False,
                                                     labels={"role": "alert-rules"}), monkeypatch=monkeypatch)
    assert res["changed"] is True and res["added_labels"] == {}, res


def test_duplicate_group_names_refused(k8s_api, k8s_ns, monkeypatch):
    res = run_module(prometheus_rule.main, rule_args(k8s_api, k8s_ns, None, validate=False,
                                                     groups=[NODE_GROUP, NODE_GROUP]), monkeypatch=monkeypatch)
    assert res["failed"] and "rule group name node is used twice" in res["msg"]


def test_missing_crds_fail_clearly(k8s_api_without_crds, monkeypatch):
    res = run_module(prometheus_rule.main, rule_args(k8s_api_without_crds, "apps", None, validate=False),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "does not serve monitoring.coreos.com/v1 PrometheusRule" in res["msg"]
