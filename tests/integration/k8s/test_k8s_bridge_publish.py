"""The k8s_bridge role's publishing wired to a real (CRD-only) API server, through ansible-playbook.

The module tests next to this file call prometheus_rule and helm_servicemonitor directly; here the role itself runs:
its variables (k8s_bridge_kubeconfig, k8s_bridge_kube_context, k8s_bridge_kps_release_name, k8s_bridge_kps_namespace,
k8s_bridge_rules_name, k8s_bridge_rules_state, k8s_bridge_rules_extra_groups, k8s_bridge_promtool,
k8s_bridge_servicemonitors with their per-item options, k8s_bridge_namespace_labels) must reach the modules, and the
default rule file must be found at its path inside the collection. A fake kube-prometheus-stack release is one
Prometheus object labelled release=<name> whose ruleSelector and serviceMonitorSelector require that label (namespace
selectors {}: all namespaces, as the chart sets them, unless a test says otherwise).

The role runs through its main entry point (``roles:``, so meta/argument_specs.yml validates the variables and
preflight.yml runs first) with k8s_bridge_manage_cluster_access=false: cluster.yml (core API objects this server
does not serve), host.yml and scrape_config.yml are skipped and no k8s_bridge_api_server is needed.

The playbook runs as a subprocess with the venv's Python as interpreter, in a play that would break delegated tasks
missing ``connection: local`` or ``become: false``: localhost is listed in the inventory (so it gets no implicit local
connection), the play's connection is ssh to a closed port, and the play sets ``become: true`` (become_user nobody)
with a become executable that always fails. K8S_AUTH_KUBECONFIG points at a missing file, so a role that dropped
k8s_bridge_kubeconfig would fail instead of finding another cluster.
"""
import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml
from helpers import find_promtool, playbook_env
from kubernetes.dynamic.exceptions import NotFoundError

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".cache" / "collections"
PLAYBOOK_BIN = pathlib.Path(sys.executable).with_name("ansible-playbook")
DEFAULT_RULES = ROOT / "roles" / "prometheus" / "files" / "rules" / "hybridmon-default.yml"
RULES_NAME = "hybridmon-default-rules"  # the role's default k8s_bridge_rules_name
RECAP = re.compile(r"^localhost\s+:\s+(.*)$", re.MULTILINE)


PROMTOOL = find_promtool()
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="no promtool: set HM_PROMTOOL or build the mirror "
                                                             "(.cache/mirror/bin/promtool)")


def default_groups():
    with open(DEFAULT_RULES) as f:
        return yaml.safe_load(f)["groups"]


def make_prometheus(dyn, namespace, release, namespace_selector=None):
    """The Prometheus object of a kube-prometheus-stack release, with the chart's default selectors.

    ``namespace_selector`` replaces the chart's {} (all namespaces) for both rules and ServiceMonitors.
    """
    ns_selector = {} if namespace_selector is None else namespace_selector
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="Prometheus")
    dyn.create(res, namespace=namespace, body={
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "%s-kube-prometheus-stack-prometheus" % release, "namespace": namespace,
                     "labels": {"release": release, "app": "kube-prometheus-stack-prometheus"}},
        "spec": {"replicas": 1,
                 "ruleSelector": {"matchLabels": {"release": release}}, "ruleNamespaceSelector": ns_selector,
                 "serviceMonitorSelector": {"matchLabels": {"release": release}},
                 "serviceMonitorNamespaceSelector": ns_selector}})


def get_obj(dyn, kind, namespace, name):
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind=kind)
    try:
        return dyn.get(res, name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def promtool_wrapper(tmp_path):
    """A promtool that records its arguments, then runs HM_PROMTOOL: proves k8s_bridge_promtool is used."""
    log = tmp_path / "promtool-calls.jsonl"
    wrapper = tmp_path / "promtool"
    wrapper.write_text("#!%s\nimport json, os, sys\n"
                       "with open(%r, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                       "os.execv(%r, [%r] + sys.argv[1:])\n" % (sys.executable, str(log), PROMTOOL, PROMTOOL))
    wrapper.chmod(0o755)
    return wrapper, log


def run_publish(tmp_path, server, play_vars, check=False, diff=False):
    """ansible-playbook with the role (main entry point, publishing only); returns (rc, whitespace-normalised
    output, recap dict). ``server`` None leaves k8s_bridge_kubeconfig to play_vars."""
    defaults = {"k8s_bridge_manage_cluster_access": False}
    if server is not None:
        defaults["k8s_bridge_kubeconfig"] = server.kubeconfig
    play_vars = dict(defaults, **play_vars)
    # Anything that runs under become fails, naming the culprit.
    no_sudo = tmp_path / "no-sudo"
    no_sudo.write_text("#!/bin/sh\necho \"become used on the controller: $*\" >&2\nexit 1\n")
    no_sudo.chmod(0o755)
    # Listed localhost: no implicit local connection. The play's ssh (to a closed port) would only be used by a
    # delegated task without connection: local; the asserts and set_facts on the play host never connect.
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_host=127.0.0.1 ansible_port=9 ansible_become_exe=%s\n" % no_sudo)
    playbook = tmp_path / "publish.yml"
    playbook.write_text(yaml.safe_dump([{
        # become_user differs from the user running the tests: Ansible skips become between equal users.
        "hosts": "localhost", "gather_facts": False, "connection": "ssh", "become": True, "become_user": "nobody",
        "vars": play_vars,
        "roles": [{"role": "hybridmon.monitoring.k8s_bridge"}],
    }]))
    # One line per result, so messages can be matched; no kubeconfig unless the role passes the fixture's.
    env = playbook_env(tmp_path, ANSIBLE_CALLBACK_RESULT_FORMAT="json",
                       K8S_AUTH_KUBECONFIG=str(tmp_path / "no-such-kubeconfig"))
    for name in ("K8S_AUTH_CONTEXT", "K8S_AUTH_HOST", "K8S_AUTH_API_KEY"):
        env.pop(name, None)
    command = [str(PLAYBOOK_BIN), "-i", str(inventory), "-e", "ansible_python_interpreter=" + sys.executable,
               str(playbook)]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    out = proc.stdout + proc.stderr
    recaps = RECAP.findall(proc.stdout)
    assert len(recaps) == 1, out
    recap = dict((k, int(v)) for k, v in (field.split("=") for field in recaps[0].split()))
    return proc.returncode, " ".join(out.split()), recap


def item_status(out, name):
    """'changed' or 'ok' for the loop item ``name`` of the ServiceMonitor task (preflight loops over them too)."""
    task = out.split("TASK [hybridmon.monitoring.k8s_bridge : ServiceMonitors for applications", 1)[1]
    task = task.split("TASK [", 1)[0].split("PLAY RECAP", 1)[0]
    found = re.findall(r"(changed|ok): \[localhost[^\]]*\] => \(item=%s\)" % re.escape(name), task)
    assert len(found) == 1, (name, out)
    return found[0]


def assert_selected(obj, selector):
    labels = obj["metadata"].get("labels") or {}
    for key, value in selector["matchLabels"].items():
        assert labels.get(key) == value, (obj["metadata"], selector)


@needs_promtool
def test_publish_idempotent_and_check_mode(k8s_api, k8s_ns, tmp_path):
    release = "kps-" + k8s_ns
    apps = k8s_ns + "-apps"
    dyn = k8s_api.client()
    make_prometheus(dyn, k8s_ns, release)
    prometheus = get_obj(dyn, "Prometheus", k8s_ns, "%s-kube-prometheus-stack-prometheus" % release)
    promtool, calls = promtool_wrapper(tmp_path)
    monitors = [
        {"name": "orders", "namespace": apps, "selector": {"match_labels": {"app.kubernetes.io/name": "orders"}},
         "endpoints": [{"port": "http", "path": "/actuator/prometheus", "interval": "30s", "scrape_timeout": "10s"}]},
        # No namespace: the role puts it in k8s_bridge_kps_namespace.
        {"name": "billing", "namespace_selector": {"match_names": [apps]},
         "selector": {"match_labels": {"app": "billing"}}, "endpoints": [{"port": "metrics", "interval": "15s"}]},
    ]
    play_vars = {"k8s_bridge_kube_context": "test", "k8s_bridge_kps_release_name": release,
                 "k8s_bridge_kps_namespace": k8s_ns, "k8s_bridge_publish_rules": True,
                 "k8s_bridge_promtool": str(promtool), "k8s_bridge_servicemonitors": monitors}

    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc == 0, out
    assert recap["changed"] == 2 and recap["failed"] == 0, recap

    groups = default_groups()
    rule = get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME)
    assert rule is not None, out
    assert_selected(rule, prometheus["spec"]["ruleSelector"])
    assert [g["name"] for g in rule["spec"]["groups"]] == [g["name"] for g in groups]
    assert rule["spec"]["groups"] == groups  # the file as it is, nothing lost on the way
    # promtool (through k8s_bridge_promtool) checked every group, one at a time.
    assert [json.loads(line)[:2] for line in calls.read_text().splitlines()] == [["check", "rules"]] * len(groups)

    orders = get_obj(dyn, "ServiceMonitor", apps, "orders")
    billing = get_obj(dyn, "ServiceMonitor", k8s_ns, "billing")
    for sm in (orders, billing):
        assert sm is not None, out
        assert_selected(sm, prometheus["spec"]["serviceMonitorSelector"])
    assert orders["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "orders"}}
    assert orders["spec"]["endpoints"] == [{"port": "http", "path": "/actuator/prometheus", "interval": "30s",
                                            "scrapeTimeout": "10s"}]
    assert "namespaceSelector" not in orders["spec"]
    assert billing["spec"]["namespaceSelector"] == {"matchNames": [apps]}
    assert billing["spec"]["endpoints"] == [{"port": "metrics", "interval": "15s"}]
    versions = [o["metadata"]["resourceVersion"] for o in (rule, orders, billing)]

    # Second run: nothing to do.
    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc == 0, out
    assert recap["changed"] == 0 and recap["failed"] == 0, recap
    assert [get_obj(dyn, kind, ns, name)["metadata"]["resourceVersion"] for kind, ns, name in (
        ("PrometheusRule", k8s_ns, RULES_NAME), ("ServiceMonitor", apps, "orders"),
        ("ServiceMonitor", k8s_ns, "billing"))] == versions

    # Check mode after a change to one endpoint interval: reported, predicted by the server, not written.
    monitors[0]["endpoints"][0]["interval"] = "1m"
    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars, check=True, diff=True)
    assert rc == 0, out
    assert recap["changed"] == 1, recap
    assert item_status(out, "orders") == "changed" and item_status(out, "billing") == "ok", out
    assert '- "interval": "30s"' in out and '+ "interval": "1m"' in out, out  # --diff: before and after
    now = get_obj(dyn, "ServiceMonitor", apps, "orders")
    assert now["metadata"]["resourceVersion"] == orders["metadata"]["resourceVersion"]
    assert now["spec"]["endpoints"][0]["interval"] == "30s"
    assert get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME)["metadata"]["resourceVersion"] == versions[0]


@needs_promtool
def test_unknown_release_fails_and_creates_nothing(k8s_api, k8s_ns, tmp_path):
    # Another release's Prometheus exists: the role must not fall back to it.
    dyn = k8s_api.client()
    make_prometheus(dyn, k8s_ns, "kps-" + k8s_ns)
    missing = "gone-" + k8s_ns
    message = ("no Prometheus object of release %s found in any namespace (looked for labels release=%s and "
               "app.kubernetes.io/instance=%s): is kube-prometheus-stack installed under that release name?"
               % (missing, missing, missing))
    monitors = [{"name": "orders", "selector": {"match_labels": {"app": "orders"}},
                 "endpoints": [{"port": "http", "interval": "30s"}]},
                {"name": "billing", "selector": {"match_labels": {"app": "billing"}},
                 "endpoints": [{"port": "http"}]}]
    play_vars = {"k8s_bridge_kps_release_name": missing, "k8s_bridge_kps_namespace": k8s_ns,
                 "k8s_bridge_publish_rules": True, "k8s_bridge_promtool": PROMTOOL,
                 "k8s_bridge_servicemonitors": monitors}

    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc != 0 and recap["failed"] == 1, out
    assert message in out, out
    assert get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME) is None
    assert get_obj(dyn, "ServiceMonitor", k8s_ns, "orders") is None  # the play stopped at the rules

    # Without the rules, the ServiceMonitor task fails the same way, for every item.
    play_vars["k8s_bridge_publish_rules"] = False
    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc != 0 and recap["failed"] == 1, out
    assert out.count(message) >= 2, out
    assert get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME) is None
    for name in ("orders", "billing"):
        assert get_obj(dyn, "ServiceMonitor", k8s_ns, name) is None


@needs_promtool
def test_extra_groups_go_through_promtool_first(k8s_api, k8s_ns, tmp_path):
    release = "kps-" + k8s_ns
    dyn = k8s_api.client()
    make_prometheus(dyn, k8s_ns, release)
    bad = {"name": "orders-slo", "rules": [{"alert": "OrdersErrors", "expr": "sum(rate(x[5m]) by", "for": "5m"}]}
    play_vars = {"k8s_bridge_kps_release_name": release, "k8s_bridge_kps_namespace": k8s_ns,
                 "k8s_bridge_publish_rules": True, "k8s_bridge_promtool": PROMTOOL,
                 "k8s_bridge_rules_name": "rules-" + k8s_ns, "k8s_bridge_rules_extra_groups": [bad]}
    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc != 0 and recap["failed"] == 1, out
    assert "rule group orders-slo failed promtool check rules" in out, out
    # Nothing applied, not even the default groups that passed.
    assert get_obj(dyn, "PrometheusRule", k8s_ns, "rules-" + k8s_ns) is None


@needs_promtool
def test_item_options_namespace_labels_and_removal(k8s_api, k8s_ns, tmp_path):
    release = "kps-" + k8s_ns
    apps = k8s_ns + "-apps"
    dyn = k8s_api.client()
    # Only namespaces labelled team=shop are watched. This server serves no v1 Namespace, so the modules can only
    # evaluate that selector with the labels k8s_bridge_namespace_labels gives them.
    make_prometheus(dyn, k8s_ns, release, namespace_selector={"matchLabels": {"team": "shop"}})
    extra = {"name": "orders-slo", "rules": [{"alert": "OrdersErrors", "expr": "sum(rate(orders_errors_total[5m])) > 1",
                                              "for": "5m", "labels": {"severity": "warning"}}]}
    monitors = [
        {"name": "orders", "namespace": apps, "selector": {"match_labels": {"app": "orders"}},
         "endpoints": [{"port": "http", "path": "/actuator/prometheus"}],
         "labels": {"team": "shop"}, "annotations": {"owner": "shop-team"}, "job_label": "app.kubernetes.io/name",
         "target_labels": ["team"], "pod_target_labels": ["version"], "sample_limit": 5000, "force": True},
        {"name": "billing", "selector": {"match_labels": {"app": "billing"}}, "endpoints": [{"port": "metrics"}]},
    ]
    play_vars = {"k8s_bridge_kps_release_name": release, "k8s_bridge_kps_namespace": k8s_ns,
                 "k8s_bridge_publish_rules": True, "k8s_bridge_promtool": PROMTOOL,
                 "k8s_bridge_rules_extra_groups": [extra], "k8s_bridge_servicemonitors": monitors,
                 "k8s_bridge_namespace_labels": {k8s_ns: {"team": "shop"}, apps: {"team": "shop"}}}
    rc, out, recap = run_publish(tmp_path, k8s_api, play_vars)
    assert rc == 0, out
    assert recap["changed"] == 2 and recap["failed"] == 0, recap

    rule = get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME)
    # The extra groups come first, then the default ones (as the argument spec documents).
    assert [g["name"] for g in rule["spec"]["groups"]] == ["orders-slo"] + [g["name"] for g in default_groups()]
    orders = get_obj(dyn, "ServiceMonitor", apps, "orders")
    assert orders["metadata"]["labels"] == {"team": "shop", "release": release}
    assert orders["metadata"]["annotations"] == {"owner": "shop-team"}
    spec = orders["spec"]
    assert (spec["jobLabel"], spec["targetLabels"], spec["podTargetLabels"], spec["sampleLimit"]) == (
        "app.kubernetes.io/name", ["team"], ["version"], 5000)
    assert get_obj(dyn, "ServiceMonitor", k8s_ns, "billing") is not None

    # Removal: k8s_bridge_rules_state=absent (no promtool, no rule files needed, whatever k8s_bridge_publish_rules
    # says) and items with state absent, which need neither selector nor endpoints.
    removal = {"k8s_bridge_kps_release_name": release, "k8s_bridge_kps_namespace": k8s_ns,
               "k8s_bridge_rules_state": "absent", "k8s_bridge_promtool": str(tmp_path / "no-promtool"),
               "k8s_bridge_servicemonitors": [{"name": "orders", "namespace": apps, "state": "absent"},
                                              {"name": "billing", "state": "absent"}]}
    rc, out, recap = run_publish(tmp_path, k8s_api, removal)
    assert rc == 0, out
    assert recap["changed"] == 2 and recap["failed"] == 0, recap
    assert get_obj(dyn, "PrometheusRule", k8s_ns, RULES_NAME) is None
    assert get_obj(dyn, "ServiceMonitor", apps, "orders") is None
    assert get_obj(dyn, "ServiceMonitor", k8s_ns, "billing") is None

    rc, out, recap = run_publish(tmp_path, k8s_api, removal)
    assert rc == 0, out
    assert recap["changed"] == 0 and recap["failed"] == 0, recap


def test_preflight_rejects_incomplete_servicemonitor(tmp_path):
    # No API server at all: the kubeconfig does not exist, so only a failure before any module call passes.
    monitors = [{"name": "orders", "selector": {"match_labels": {"app": "orders"}},
                 "endpoints": [{"port": "http"}]},
                {"name": "billing", "selector": {"match_labels": {"app": "billing"}}}]
    play_vars = {"k8s_bridge_kubeconfig": str(tmp_path / "no-such-kubeconfig"), "k8s_bridge_publish_rules": True,
                 "k8s_bridge_servicemonitors": monitors}
    rc, out, recap = run_publish(tmp_path, None, play_vars)
    assert rc != 0 and recap["failed"] == 1 and recap["changed"] == 0, out
    assert ("k8s_bridge_servicemonitors[1] (billing): endpoints is missing or empty (needed unless state is absent)."
            in out), out
    assert "TASK [hybridmon.monitoring.k8s_bridge : Publish" not in out, out
