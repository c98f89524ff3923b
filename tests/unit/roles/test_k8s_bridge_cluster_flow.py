# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_bridge role end to end against a recording stand-in for the Kubernetes API modules.

No Kubernetes API server can run here, so a throwaway collection generated in tmp_path shadows kubernetes.core's
k8s and k8s_info modules: k8s records every definition it is given, k8s_info answers with a token Secret
(filled or not). The whole role (main.yml) then runs on localhost, and the test checks what the role asked the
cluster for (objects, order, binding per scope; each object validated against Kubernetes' schemas) and what it
wrote on the "Prometheus host" (token and CA files, modes, owner). Whether a real API server accepts them, and
the token controller's behaviour, are not covered.
"""

import base64
import json
import os
import pathlib
import stat
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from helpers import playbook_env

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".cache" / "collections"
PLAYBOOK_BIN = pathlib.Path(sys.executable).with_name("ansible-playbook")
API_SERVER = "https://k8s-api.example.test:6443"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.bridge-test-token"
KUBE_VERSION = "1.33.0"
CA = "-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n"

FAKE_K8S = '''#!/usr/bin/python
import json
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec=dict(
    state=dict(type="str"), apply=dict(type="bool"), definition=dict(type="raw"),
    kubeconfig=dict(type="raw"), context=dict(type="str")), supports_check_mode=True)
with open(RECORD, "a") as record:
    record.write(json.dumps({"module": "k8s", "params": module.params, "check": module.check_mode}) + "\\n")
module.exit_json(changed=True, result=module.params["definition"])
'''

FAKE_K8S_INFO = '''#!/usr/bin/python
import json
from ansible.module_utils.basic import AnsibleModule

module = AnsibleModule(argument_spec=dict(
    api_version=dict(type="str"), kind=dict(type="str"), namespace=dict(type="str"), name=dict(type="str"),
    kubeconfig=dict(type="raw"), context=dict(type="str")), supports_check_mode=True)
with open(RECORD, "a") as record:
    record.write(json.dumps({"module": "k8s_info", "params": module.params}) + "\\n")
module.exit_json(changed=False, resources=RESOURCES)
'''

FAKE_HELM = '''#!/usr/bin/python
import json
from ansible.module_utils.basic import AnsibleModule

names = ["binary_path", "kubeconfig", "context", "chart_ref", "chart_repo_url", "chart_version", "release_name",
         "release_namespace", "create_namespace", "release_state", "release_values", "wait", "wait_timeout", "atomic"]
module = AnsibleModule(argument_spec=dict((name, dict(type="raw")) for name in names), supports_check_mode=True)
with open(RECORD, "a") as record:
    record.write(json.dumps({"module": "helm", "params": module.params}) + "\\n")
module.exit_json(changed=True)
'''


def make_fake_collection(tmp_path, resources):
    record = tmp_path / "record.jsonl"
    modules = tmp_path / "fake" / "ansible_collections" / "kubernetes" / "core" / "plugins" / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    prelude = "RECORD = %r\nRESOURCES = %s\n" % (str(record), repr(resources))
    for name, source in (("k8s", FAKE_K8S), ("k8s_info", FAKE_K8S_INFO), ("helm", FAKE_HELM)):
        head, body = source.split("\n", 1)
        (modules / (name + ".py")).write_text(head + "\n" + prelude + body)
    return tmp_path / "fake", record


def token_secret(filled=True):
    data = {"namespace": base64.b64encode(b"monitoring").decode()}
    if filled:
        data["token"] = base64.b64encode(TOKEN.encode()).decode()
        data["ca.crt"] = base64.b64encode(CA.encode()).decode()
    return [{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
             "metadata": {"name": "prometheus-bare-metal-token", "namespace": "monitoring"}, "data": data}]


def run_bridge(tmp_path, play_vars, resources, check=False, post_tasks=()):
    fake, record = make_fake_collection(tmp_path, resources)
    creds = tmp_path / "etc-prometheus-k8s"
    play_vars = dict({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_credentials_dir": str(creds),
                      "k8s_bridge_prometheus_group": "root", "k8s_bridge_token_wait_retries": 2,
                      "k8s_bridge_token_wait_delay": 0}, **play_vars)
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local", "vars": play_vars,
        "roles": [{"role": "hybridmon.monitoring.k8s_bridge"}], "post_tasks": list(post_tasks),
    }]))
    # The stand-in comes first, so it wins over the kubernetes.core that ships with ansible.
    env = playbook_env(tmp_path, ANSIBLE_COLLECTIONS_PATH="%s:%s" % (fake, COLLECTIONS))
    # The test already runs as root; the role's become would need sudo, which the machine may not have.
    command = [str(PLAYBOOK_BIN), "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable,
               "-e", "ansible_become=false", str(playbook)]
    if check:
        command.append("--check")
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return proc, calls, creds


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes root-owned files: needs root")


def definitions(calls):
    return [c["params"]["definition"] for c in calls if c["module"] == "k8s"]


def test_objects_order_and_namespaced_bindings(tmp_path):
    proc, calls, _creds = run_bridge(tmp_path, {"k8s_bridge_sd_namespaces": ["default", "game"]}, token_secret())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    objs = definitions(calls)
    summary = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs]
    assert summary == [
        ("Namespace", None, "monitoring"),
        ("ServiceAccount", "monitoring", "prometheus-bare-metal"),
        ("ClusterRole", None, "prometheus-bare-metal"),
        ("RoleBinding", "default", "prometheus-bare-metal"),
        ("RoleBinding", "game", "prometheus-bare-metal"),
        ("Secret", "monitoring", "prometheus-bare-metal-token"),
    ]
    for obj in objs:
        # What a real API server would check first: the object matches the Kubernetes schema (strict).
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    role = objs[2]
    assert {v for rule in role["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"endpoints", "services", "pods", "endpointslices"}
    binding = objs[3]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "prometheus-bare-metal"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-bare-metal",
                                    "namespace": "monitoring"}]
    secret = objs[-1]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "prometheus-bare-metal"}
    assert all(c["params"]["state"] == "present" and c["params"]["apply"] for c in calls if c["module"] == "k8s")
    info = [c["params"] for c in calls if c["module"] == "k8s_info"]
    assert info == [{"api_version": "v1", "kind": "Secret", "namespace": "monitoring",
                     "name": "prometheus-bare-metal-token", "kubeconfig": None, "context": None}]


def test_cluster_scope_uses_one_cluster_role_binding(tmp_path):
    rules = [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}]
    proc, calls, _creds = run_bridge(tmp_path, {"k8s_bridge_rbac_scope": "cluster",
                                                "k8s_bridge_cluster_role_rules": rules,
                                                "k8s_bridge_kubeconfig": "/root/.kube/prod",
                                                "k8s_bridge_kube_context": "prod"}, token_secret())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bindings = [o for o in definitions(calls) if o["kind"].endswith("Binding")]
    assert len(bindings) == 1 and bindings[0]["kind"] == "ClusterRoleBinding"
    kubernetes_validate.validate(bindings[0], KUBE_VERSION, strict=True)
    assert "namespace" not in bindings[0]["metadata"]
    assert all(c["params"]["kubeconfig"] == "/root/.kube/prod" and c["params"]["context"] == "prod" for c in calls)


def test_token_and_ca_written_with_tight_modes_and_idempotent(tmp_path):
    proc, _calls, creds = run_bridge(tmp_path, {}, token_secret())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stat.S_IMODE(creds.stat().st_mode) == 0o750
    for name, content in (("token", TOKEN), ("ca.crt", CA)):
        path = creds / name
        assert path.read_text() == content
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640, name
        assert (info.st_uid, info.st_gid) == (0, 0), name
    # The token never reaches the output.
    assert TOKEN not in proc.stdout and base64.b64encode(TOKEN.encode()).decode() not in proc.stdout
    # A second run leaves the host files alone.
    again, _calls, _creds = run_bridge(tmp_path, {}, token_secret())
    assert again.returncode == 0, again.stdout + again.stderr
    for task in ("Create the credentials directory", "Write the ServiceAccount token", "Write the cluster CA"):
        block = again.stdout.split(task, 1)[1].split("TASK [", 1)[0]
        assert "ok: [localhost]" in block and "changed:" not in block, (task, block)


def test_unfilled_token_secret_fails_clearly(tmp_path):
    proc, calls, creds = run_bridge(tmp_path, {}, token_secret(filled=False))
    assert proc.returncode != 0
    assert "Secret monitoring/prometheus-bare-metal-token has no token and ca.crt after 3 reads" in proc.stdout
    assert len([c for c in calls if c["module"] == "k8s_info"]) == 3
    assert not creds.exists()


def test_check_mode_without_secret_reports_instead_of_waiting(tmp_path):
    proc, calls, creds = run_bridge(tmp_path, {}, [], check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(c["check"] for c in calls if c["module"] == "k8s")
    assert len([c for c in calls if c["module"] == "k8s_info"]) == 1
    assert "would be written once it is created" in proc.stdout
    assert not (creds / "token").exists()


def test_helm_releases(tmp_path):
    chart_values = {"grafana": {"adminPassword": "chart-secret-pw"}, "mysqlExporter": {"config": {"password": "x"}}}
    proc, calls, _creds = run_bridge(tmp_path, {
        "k8s_bridge_install_kube_prometheus_stack": True,
        "k8s_bridge_kps_chart_version": "75.15.1",
        "k8s_bridge_kps_values": {"grafana": {"enabled": False}},
        "k8s_bridge_deploy_monitoring_stack": True,
        "k8s_bridge_monitoring_stack_values": chart_values,
    }, token_secret())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helm_calls = [c["params"] for c in calls if c["module"] == "helm"]
    assert len(helm_calls) == 2
    kps, stack = helm_calls
    assert (kps["chart_ref"], kps["chart_repo_url"], kps["chart_version"]) == (
        "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "75.15.1")
    release = (kps["release_name"], kps["release_namespace"], kps["release_state"])
    assert release == ("prometheus", "monitoring", "present")
    assert kps["release_values"] == {"grafana": {"enabled": False}} and kps["atomic"] is True and kps["wait"] is True
    # The default chart path is the collection's own chart.
    assert (pathlib.Path(stack["chart_ref"]) / "Chart.yaml").resolve() == ROOT / "charts" / "monitoring-stack" / "Chart.yaml"
    assert stack["release_values"] == chart_values and stack["atomic"] is True
    assert "chart-secret-pw" not in proc.stdout
    # Cluster access objects still follow.
    assert [o["kind"] for o in definitions(calls)][-1] == "Secret"


def test_monitoring_stack_rollback_runs_helm_rollback(tmp_path):
    argv_file = tmp_path / "helm-argv.json"
    fake_helm = tmp_path / "helm"
    script = "#!%s\nimport json, sys\njson.dump(sys.argv[1:], open(%r, 'w'))\n" % (sys.executable, str(argv_file))
    fake_helm.write_text(script)
    fake_helm.chmod(0o755)
    proc, calls, _creds = run_bridge(tmp_path, {
        "k8s_bridge_deploy_monitoring_stack": True,
        "k8s_bridge_monitoring_stack_rollback_revision": 3,
        "k8s_bridge_helm_binary": str(fake_helm),
        "k8s_bridge_kube_context": "prod",
    }, token_secret())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c for c in calls if c["module"] == "helm"] == [], "no install/upgrade while rolling back"
    assert json.loads(argv_file.read_text()) == ["rollback", "monitoring-stack", "3", "--namespace", "monitoring",
                                                 "--wait", "--timeout", "5m", "--kube-context", "prod"]


def test_without_cluster_access_nothing_but_publishing_runs(tmp_path):
    # No API server URL, nothing to publish: no cluster object, no host file, no scrape job; the discovery settings
    # are not checked either (an empty namespace list would fail them).
    check_facts = {"name": "No scrape job was built", "ansible.builtin.assert": {"that": [
        "k8s_bridge_scrape_configs is not defined", "prometheus_scrape_configs_extra is not defined"]}}
    settings = {"k8s_bridge_manage_cluster_access": False, "k8s_bridge_api_server": "", "k8s_bridge_sd_namespaces": []}
    proc, calls, creds = run_bridge(tmp_path, settings, token_secret(), post_tasks=[check_facts])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No scrape job was built" in proc.stdout
    assert calls == []
    assert not creds.exists()
