# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k8s_bridge role's scrape job, rendered by Ansible itself.

A one-play playbook on localhost runs the role's preflight.yml and scrape_config.yml (they need neither a cluster
nor root) through include_role, and dumps the facts they set. The job is compared with the guide's
kubernetes-spring-app job, written into a prometheus.yml next to token and CA files, and, when HM_PROMTOOL names a
promtool binary, checked with `promtool check config` (the token and CA files it names are created, although
promtool 3.5 does not open them).
"""

import datetime
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from helpers import playbook_env

ROOT = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = ROOT / ".cache" / "collections"
PLAYBOOK_BIN = pathlib.Path(sys.executable).with_name("ansible-playbook")
API_SERVER = "https://k8s-api.example.test:6443"


def run_role(tmp_path, play_vars, tasks_from=("preflight", "scrape_config")):
    """Run the role's task files with play_vars; return (completed process, dumped facts or None)."""
    out = tmp_path / "facts.json"
    tasks = [{"name": "Run %s" % name,
              "ansible.builtin.include_role": {"name": "hybridmon.monitoring.k8s_bridge", "tasks_from": name}}
             for name in tasks_from]
    tasks.append({
        "name": "Dump the facts",
        "ansible.builtin.copy": {
            "dest": str(out),
            "mode": "0600",
            "content": "{{ {'scrape': k8s_bridge_scrape_configs,"
                       " 'extra': prometheus_scrape_configs_extra | default(None)} | to_json }}",
        },
    })
    playbook = tmp_path / "play.yml"
    # Play vars, not extra vars: extra vars would outrank the role's set_fact.
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": play_vars, "tasks": tasks,
    }]))
    env = playbook_env(tmp_path)
    command = [str(PLAYBOOK_BIN), "-i", "localhost,", "-e", "ansible_python_interpreter=" + sys.executable,
               str(playbook)]
    proc = subprocess.run(command, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    facts = json.loads(out.read_text()) if proc.returncode == 0 else None
    return proc, facts


def expected_job(credentials_dir="/etc/prometheus/k8s"):
    """The guide's kubernetes-spring-app job, plus what a Prometheus outside the cluster needs."""
    return {
        "job_name": "kubernetes-spring-app",
        "metrics_path": "/actuator/prometheus",
        "kubernetes_sd_configs": [{
            "role": "endpoints",
            "api_server": API_SERVER,
            "namespaces": {"names": ["default"]},
            "authorization": {"type": "Bearer", "credentials_file": credentials_dir + "/token"},
            "tls_config": {"ca_file": credentials_dir + "/ca.crt"},
        }],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_service_name"], "action": "keep", "regex": "spring-boot-service"},
            {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "action": "keep", "regex": "http"},
            {"target_label": "__metrics_path__", "replacement": "/actuator/prometheus"},
        ],
    }


def self_signed_ca_pem():
    """A throwaway CA certificate, so the ca_file promtool may load is real PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_default_job_is_the_guides_job(tmp_path):
    proc, facts = run_role(tmp_path, {"k8s_bridge_api_server": API_SERVER})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert facts["scrape"] == [expected_job()]
    assert facts["extra"] == [expected_job()]


def test_prometheus_yml_passes_promtool(tmp_path):
    creds = tmp_path / "k8s"
    creds.mkdir()
    proc, facts = run_role(tmp_path, {"k8s_bridge_api_server": API_SERVER, "k8s_bridge_credentials_dir": str(creds)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = facts["scrape"][0]
    assert job == expected_job(str(creds))
    (creds / "token").write_text("eyJhbGciOiJSUzI1NiJ9.test.token")
    (creds / "ca.crt").write_bytes(self_signed_ca_pem())
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "15s"},
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": ["localhost:9090"]}]}]
        + facts["scrape"],
    }))
    promtool = os.environ.get("HM_PROMTOOL")
    if not promtool:
        pytest.skip("HM_PROMTOOL is not set: promtool check config not run")
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # promtool does not open credentials_file or ca_file, but it does refuse the same job without api_server
    # (custom authorization/TLS needs an explicit API server): it is checking the kubernetes_sd_configs block.
    del facts["scrape"][0]["kubernetes_sd_configs"][0]["api_server"]
    config.write_text(yaml.safe_dump({"scrape_configs": facts["scrape"]}))
    broken = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert broken.returncode != 0
    assert "api_server" in broken.stdout + broken.stderr


def test_endpointslice_interval_and_extra_relabelling(tmp_path):
    extra = {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"}
    proc, facts = run_role(tmp_path, {
        "k8s_bridge_api_server": API_SERVER,
        "k8s_bridge_sd_role": "endpointslice",
        "k8s_bridge_sd_namespaces": ["default", "game"],
        "k8s_bridge_scrape_interval": "30s",
        "k8s_bridge_extra_relabel_configs": [extra],
        "k8s_bridge_job_name": "flashgame",
    })
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = facts["scrape"][0]
    assert job["job_name"] == "flashgame" and job["scrape_interval"] == "30s"
    assert job["kubernetes_sd_configs"][0]["role"] == "endpointslice"
    assert job["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["default", "game"]}
    assert job["relabel_configs"][1]["source_labels"] == ["__meta_kubernetes_endpointslice_port_name"]
    assert job["relabel_configs"][-1] == extra


def test_job_replaces_same_name_in_prometheus_extra(tmp_path):
    other = {"job_name": "blackbox", "static_configs": [{"targets": ["localhost:9115"]}]}
    stale = {"job_name": "kubernetes-spring-app", "static_configs": [{"targets": ["old:8080"]}]}
    proc, facts = run_role(tmp_path, {"k8s_bridge_api_server": API_SERVER,
                                      "prometheus_scrape_configs_extra": [other, stale]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert facts["extra"] == [other, expected_job()]


def test_prometheus_extra_left_alone_when_disabled(tmp_path):
    other = {"job_name": "blackbox", "static_configs": [{"targets": ["localhost:9115"]}]}
    proc, facts = run_role(tmp_path, {"k8s_bridge_api_server": API_SERVER,
                                      "k8s_bridge_set_prometheus_scrape_configs": False,
                                      "prometheus_scrape_configs_extra": [other]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert facts["extra"] == [other]
    assert facts["scrape"] == [expected_job()]


@pytest.mark.parametrize("bad_vars, message", [
    ({}, "k8s_bridge_api_server=: set it to the https URL"),
    ({"k8s_bridge_api_server": "http://k8s:6443"}, "k8s_bridge_api_server=http://k8s:6443"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_namespace": "Monitoring"},
     "k8s_bridge_namespace=Monitoring is not a valid Kubernetes name"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_sd_namespaces": ["default", "bad_ns"]},
     "sd_namespaces=['default', 'bad_ns']"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_scrape_interval": "30 seconds"},
     "scrape_interval=30 seconds"),
    ({"k8s_bridge_api_server": API_SERVER,
      "k8s_bridge_cluster_role_rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]},
     "cluster-scoped resources ['nodes']"),
    ({"k8s_bridge_api_server": API_SERVER,
      "k8s_bridge_cluster_role_rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]},
     "found ['delete']"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_install_kube_prometheus_stack": True},
     "needs a pinned k8s_bridge_kps_chart_version"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_monitoring_stack_rollback_revision": 0},
     "monitoring_stack_rollback_revision=0"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_kps_release_name": "Prometheus_1"},
     "k8s_bridge_kps_release_name=Prometheus_1 is not a valid Helm release name"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_rules_name": "hybridmon rules"},
     "k8s_bridge_rules_name=hybridmon rules is not a valid Kubernetes object name"),
    ({"k8s_bridge_manage_cluster_access": False, "k8s_bridge_kps_namespace": "monitoring.prod"},
     "k8s_bridge_kps_namespace=monitoring.prod is not a valid namespace name"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_rules_state": "gone"}, "rules_state=gone (present|absent)"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_namespace_labels": {"apps": "team=shop"}},
     "namespace_labels={'apps': 'team=shop'}"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_servicemonitors": [
        {"selector": {"match_labels": {"app": "orders"}}, "endpoints": [{"port": "http"}]}]},
     "k8s_bridge_servicemonitors[0] (no name): name (missing) is not a valid Kubernetes object name."),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_servicemonitors": [
        {"name": "orders", "namespace": "Shop", "selector": {}, "endpoint": [{"port": "http"}]}]},
     "k8s_bridge_servicemonitors[0] (orders): namespace Shop is not a valid namespace name; unknown keys endpoint "
     "(known: name, namespace, state,"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_servicemonitors": [
        {"name": "orders", "namespace": "Shop", "selector": {}, "endpoint": [{"port": "http"}]}]},
     "selector is missing or empty (needed unless state is absent); endpoints is missing or empty"),
    ({"k8s_bridge_api_server": API_SERVER, "k8s_bridge_servicemonitors": [{"name": "orders", "state": "gone"}]},
     "k8s_bridge_servicemonitors[0] (orders): state gone is not present or absent;"),
])
def test_preflight_names_the_bad_value(tmp_path, bad_vars, message):
    proc, facts = run_role(tmp_path, bad_vars, tasks_from=("preflight",))
    assert proc.returncode != 0 and facts is None
    assert message in proc.stdout, proc.stdout + proc.stderr


def test_nodes_allowed_with_cluster_scope(tmp_path):
    rules = [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}]
    proc, _facts = run_role(tmp_path, {"k8s_bridge_api_server": API_SERVER, "k8s_bridge_rbac_scope": "cluster",
                                       "k8s_bridge_cluster_role_rules": rules})
    assert proc.returncode == 0, proc.stdout + proc.stderr
