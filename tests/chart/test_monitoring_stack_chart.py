# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline tests of charts/monitoring-stack.

The chart is rendered with Helm 4's own engine (helm-python-sdk binds the Helm Go SDK), linted with Helm's linter,
and every rendered object is validated against the Kubernetes OpenAPI schemas of a pinned Kubernetes version
(kubernetes-validate, strict mode: unknown fields are errors). No cluster is involved, so these tests do not cover
admission, defaulting, Helm's release storage, or whether the pods actually start.

helm_python and kubernetes_validate are imported unconditionally: without them this module fails to import and
the run fails; it never skips.
"""

import base64
import copy
import os
import pathlib
import subprocess

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART_DIR = pathlib.Path(__file__).resolve().parents[2] / "charts" / "monitoring-stack"
KUBE_VERSION = "1.33.0"
RELEASE = "mon"
NAMESPACE = "monitoring"

GRAFANA_PASSWORD = "grafana-Pa55-unique-7731"
MYSQL_PASSWORD = 'my#sql;Pa55"unique-4410'

# The smallest values that install: the two passwords without defaults.
BASE_VALUES = {
    "grafana": {"adminPassword": GRAFANA_PASSWORD},
    "mysqlExporter": {"config": {"password": MYSQL_PASSWORD}},
}

VARIANTS = {
    "defaults": {},
    "prometheus-only": {
        "grafana": {"enabled": False},
        "nodeExporter": {"enabled": False},
        "mysqlExporter": {"enabled": False},
    },
    "existing-secrets": {
        "grafana": {"existingSecret": "grafana-admin"},
        "mysqlExporter": {"existingSecret": "mysqld-exporter-cnf"},
    },
    "clusterip-pvc-v2-extra-jobs": {
        "fullnameOverride": "hm",
        "imagePullSecrets": ["regcred"],
        "commonLabels": {"team": "ops"},
        "prometheus": {
            "image": {"tag": "v2.45.0"},
            "service": {"type": "ClusterIP", "nodePort": None},
            "storage": {"existingClaim": "prometheus-data"},
            "extraArgs": ["--web.enable-lifecycle"],
            "config": {
                "global": {"scrape_interval": "30s", "external_labels": {"site": "seoul"}},
                "scrapeConfigs": [
                    {"job_name": "spring-app", "metrics_path": "/actuator/prometheus",
                     "static_configs": [{"targets": ["app.default.svc:8080"]}]},
                ],
            },
            "serviceAccount": {"create": False, "name": "prom-sa"},
            "rbac": {"create": False},
        },
        "grafana": {"service": {"type": "LoadBalancer", "nodePort": 31000},
                    "storage": {"emptyDirSizeLimit": "2Gi"}},
        "nodeExporter": {"hostNetwork": False, "hostPID": False, "hostRootfs": False},
    },
}


def merge(base, override):
    """Recursive dict merge (override wins), as Helm coalesces values."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module")
def chart():
    loaded = helm.Chart.load(str(CHART_DIR))
    yield loaded
    loaded.close()


def render(chart, values):
    return chart.render(values, name=RELEASE, namespace=NAMESPACE)


def objects(manifests):
    """All Kubernetes objects of a render (NOTES.txt is not a manifest)."""
    found = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                found.append((path, doc))
    return found


def by_kind(objs, kind):
    return [doc for _path, doc in objs if doc["kind"] == kind]


def one(objs, kind, name):
    matches = [doc for doc in by_kind(objs, kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, "expected one %s %s, found %d" % (kind, name, len(matches))
    return matches[0]


def prometheus_yml(objs, prefix="mon-monitoring-stack"):
    cm = one(objs, "ConfigMap", prefix + "-prometheus-config")
    return cm["data"]["prometheus.yml"]


# --------------------------------------------------------------------------- rendering and Kubernetes schemas


def test_engine_is_helm_4():
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


def test_chart_metadata(chart):
    meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "monitoring-stack"
    assert chart.schema is not None, "values.schema.json must ship with the chart"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_lint_strict(variant):
    report = helm.lint(str(CHART_DIR), merge(BASE_VALUES, VARIANTS[variant]), strict=True,
                       namespace=NAMESPACE, kube_version="v" + KUBE_VERSION)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_is_valid_kubernetes(chart, variant):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS[variant])))
    assert objs, "nothing rendered"
    for path, doc in objs:
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail("%s: %s %s: %s at %s" % (path, doc["kind"], doc["metadata"]["name"], err.message,
                                                 "/".join(str(p) for p in err.path)))
        assert doc["metadata"]["namespace"] == NAMESPACE, (path, doc["metadata"])


def test_default_objects(chart):
    objs = objects(render(chart, BASE_VALUES))
    kinds = sorted("%s/%s" % (d["kind"], d["metadata"]["name"]) for _p, d in objs)
    assert kinds == sorted([
        "ConfigMap/mon-monitoring-stack-grafana-datasources",
        "ConfigMap/mon-monitoring-stack-prometheus-config",
        "DaemonSet/mon-monitoring-stack-node-exporter",
        "Deployment/mon-monitoring-stack-grafana",
        "Deployment/mon-monitoring-stack-mysql-exporter",
        "Deployment/mon-monitoring-stack-prometheus",
        "Role/mon-monitoring-stack-prometheus",
        "RoleBinding/mon-monitoring-stack-prometheus",
        "Secret/mon-monitoring-stack-grafana",
        "Secret/mon-monitoring-stack-mysql-exporter",
        "Service/mon-monitoring-stack-grafana",
        "Service/mon-monitoring-stack-mysql-exporter",
        "Service/mon-monitoring-stack-node-exporter",
        "Service/mon-monitoring-stack-prometheus",
        "ServiceAccount/mon-monitoring-stack-prometheus",
    ])


def test_prometheus_only_renders_no_other_component(chart):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS["prometheus-only"])))
    names = [d["metadata"]["name"] for _p, d in objs]
    assert names and all("-prometheus" in n for n in names), names
    jobs = [j["job_name"] for j in yaml.safe_load(prometheus_yml(objs))["scrape_configs"]]
    assert jobs == ["prometheus"]


def test_seed_node_ports(chart):
    objs = objects(render(chart, BASE_VALUES))
    prom = one(objs, "Service", "mon-monitoring-stack-prometheus")["spec"]
    graf = one(objs, "Service", "mon-monitoring-stack-grafana")["spec"]
    assert (prom["type"], prom["ports"][0]["port"], prom["ports"][0]["nodePort"]) == ("NodePort", 9090, 30090)
    assert (graf["type"], graf["ports"][0]["port"], graf["ports"][0]["nodePort"]) == ("NodePort", 3000, 30030)


def test_cluster_ip_service_has_no_node_port(chart):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS["clusterip-pvc-v2-extra-jobs"])))
    port = one(objs, "Service", "hm-prometheus")["spec"]["ports"][0]
    assert "nodePort" not in port
    assert one(objs, "Service", "hm-grafana")["spec"]["ports"][0]["nodePort"] == 31000


def pod_specs(objs):
    for doc in by_kind(objs, "Deployment") + by_kind(objs, "DaemonSet"):
        yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_probes_resources_and_non_root(chart, variant):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS[variant])))
    for name, spec in pod_specs(objs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for container in spec["containers"]:
            where = "%s/%s" % (name, container["name"])
            assert container["readinessProbe"]["httpGet"]["path"], where
            assert container["livenessProbe"]["httpGet"]["path"], where
            assert container["resources"]["requests"]["memory"], where
            assert container["resources"]["limits"]["memory"], where
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where


def test_node_exporter_host_namespaces_and_read_only_mounts(chart):
    objs = objects(render(chart, BASE_VALUES))
    spec = one(objs, "DaemonSet", "mon-monitoring-stack-node-exporter")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    host_paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
    assert host_paths == {"proc": "/proc", "sys": "/sys", "root": "/"}
    container = spec["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(mounts) == set(host_paths)
    assert all(m["readOnly"] is True for m in mounts.values()), mounts
    assert "--path.procfs=/host/proc" in container["args"]
    assert "--path.sysfs=/host/sys" in container["args"]
    assert container["ports"][0]["hostPort"] == 9100


def test_node_exporter_without_host_network(chart):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS["clusterip-pvc-v2-extra-jobs"])))
    spec = one(objs, "DaemonSet", "hm-node-exporter")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is False and spec["hostPID"] is False
    assert "dnsPolicy" not in spec and "hostPort" not in spec["containers"][0]["ports"][0]
    assert [v["name"] for v in spec["volumes"]] == ["proc", "sys"]


def test_prometheus_3_has_no_console_flags_and_2_has(chart):
    v3 = one(objects(render(chart, BASE_VALUES)), "Deployment", "mon-monitoring-stack-prometheus")
    args3 = v3["spec"]["template"]["spec"]["containers"][0]["args"]
    assert v3["spec"]["template"]["spec"]["containers"][0]["image"] == "prom/prometheus:v3.5.0"
    assert not [a for a in args3 if a.startswith("--web.console")], args3
    v2 = one(objects(render(chart, merge(BASE_VALUES, VARIANTS["clusterip-pvc-v2-extra-jobs"]))),
             "Deployment", "hm-prometheus")
    args2 = v2["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--web.console.templates=/usr/share/prometheus/consoles" in args2
    assert "--web.enable-lifecycle" in args2
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "prometheus-data"}} in \
        v2["spec"]["template"]["spec"]["volumes"]
    assert v2["spec"]["template"]["spec"]["serviceAccountName"] == "prom-sa"


def test_images_are_configurable(chart):
    values = merge(BASE_VALUES, {
        "prometheus": {"image": {"repository": "registry.local:5000/prom/prometheus", "tag": "v3.6.0"}},
        "grafana": {"image": {"repository": "mirror/grafana", "tag": "12.1.0"}},
        "nodeExporter": {"image": {"repository": "mirror/node-exporter", "tag": "v1.10.0"}},
        "mysqlExporter": {"image": {"repository": "mirror/mysqld-exporter", "tag": "v0.18.0"}},
    })
    images = sorted(c["image"] for _n, spec in pod_specs(objects(render(chart, values))) for c in spec["containers"])
    assert images == ["mirror/grafana:12.1.0", "mirror/mysqld-exporter:v0.18.0", "mirror/node-exporter:v1.10.0",
                      "registry.local:5000/prom/prometheus:v3.6.0"]


# --------------------------------------------------------------------------- prometheus.yml from values


def test_prometheus_yml_contains_configured_jobs(chart):
    objs = objects(render(chart, BASE_VALUES))
    config = yaml.safe_load(prometheus_yml(objs))
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert list(jobs) == ["prometheus", "node", "mysql-exporter"]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["localhost:9090"]}]
    assert jobs["mysql-exporter"]["static_configs"] == [{"targets": ["mon-monitoring-stack-mysql-exporter:9104"]}]
    node = jobs["node"]
    assert node["kubernetes_sd_configs"] == [{"role": "endpoints", "namespaces": {"names": [NAMESPACE]}}]
    assert {"source_labels": ["__meta_kubernetes_service_name"], "action": "keep",
            "regex": "mon-monitoring-stack-node-exporter"} in node["relabel_configs"]
    # The node job finds the node-exporter Service by name and port name: both must exist as rendered.
    svc = one(objs, "Service", "mon-monitoring-stack-node-exporter")
    assert svc["spec"]["ports"][0]["name"] == "metrics"


def test_prometheus_yml_from_custom_values(chart):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS["clusterip-pvc-v2-extra-jobs"])))
    config = yaml.safe_load(prometheus_yml(objs, prefix="hm"))
    assert config["global"] == {"scrape_interval": "30s", "evaluation_interval": "15s",
                                "external_labels": {"site": "seoul"}}
    jobs = [j["job_name"] for j in config["scrape_configs"]]
    assert jobs == ["prometheus", "node", "mysql-exporter", "spring-app"]
    assert config["scrape_configs"][-1]["metrics_path"] == "/actuator/prometheus"


def test_config_change_rolls_prometheus(chart):
    def checksum(values):
        dep = one(objects(render(chart, values)), "Deployment", "mon-monitoring-stack-prometheus")
        return dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    changed = merge(BASE_VALUES, {"prometheus": {"config": {"global": {"scrape_interval": "1m"}}}})
    assert checksum(BASE_VALUES) != checksum(changed)


def test_duplicate_job_name_fails_naming_it(chart):
    values = merge(BASE_VALUES, {"prometheus": {"config": {"scrapeConfigs": [
        {"job_name": "node", "static_configs": [{"targets": ["x:1"]}]}]}}})
    with pytest.raises(helm.HelmRenderError, match='job_name "node" is used twice'):
        render(chart, values)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_promtool_check_config(chart, variant, tmp_path):
    promtool = os.environ.get("HM_PROMTOOL")
    if not promtool:
        pytest.skip("HM_PROMTOOL is not set: promtool check config not run (YAML structure is checked above)")
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS[variant])))
    prefix = "hm" if variant.startswith("clusterip") else "mon-monitoring-stack"
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(prometheus_yml(objs, prefix=prefix))
    result = subprocess.run([promtool, "check", "config", str(config_file)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- secrets


def test_secrets_only_in_secrets(chart):
    objs = objects(render(chart, BASE_VALUES))
    for _path, doc in objs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        for secret in (GRAFANA_PASSWORD, MYSQL_PASSWORD):
            assert secret not in text, "%s %s holds a password" % (doc["kind"], doc["metadata"]["name"])
    grafana = one(objs, "Secret", "mon-monitoring-stack-grafana")
    assert base64.b64decode(grafana["data"]["admin-password"]).decode() == GRAFANA_PASSWORD
    my_cnf = one(objs, "Secret", "mon-monitoring-stack-mysql-exporter")["stringData"]["my.cnf"]
    assert my_cnf.splitlines() == [
        "[client]", "host = mysql-service", "port = 3306", "user = monitoring",
        "password = `%s`" % MYSQL_PASSWORD,
    ]


def test_credentials_are_mounted_from_secrets(chart):
    objs = objects(render(chart, BASE_VALUES))
    grafana = one(objs, "Deployment", "mon-monitoring-stack-grafana")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in grafana["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "mon-monitoring-stack-grafana", "key": "admin-password"}
    exporter = one(objs, "Deployment", "mon-monitoring-stack-mysql-exporter")["spec"]["template"]["spec"]
    assert "--config.my-cnf=/etc/mysqld-exporter/my.cnf" in exporter["containers"][0]["args"]
    volume = exporter["volumes"][0]["secret"]
    assert volume["secretName"] == "mon-monitoring-stack-mysql-exporter"
    assert volume["defaultMode"] == 0o440
    # 0440 files are readable by the exporter only through fsGroup.
    assert exporter["securityContext"]["fsGroup"] == exporter["securityContext"]["runAsUser"]


def test_existing_secrets_are_referenced_not_created(chart):
    objs = objects(render(chart, merge(BASE_VALUES, VARIANTS["existing-secrets"])))
    assert by_kind(objs, "Secret") == []
    grafana = one(objs, "Deployment", "mon-monitoring-stack-grafana")["spec"]["template"]["spec"]["containers"][0]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in grafana["env"] if "valueFrom" in e}
    assert refs == {"grafana-admin"}
    exporter = one(objs, "Deployment", "mon-monitoring-stack-mysql-exporter")["spec"]["template"]["spec"]
    assert exporter["volumes"][0]["secret"]["secretName"] == "mysqld-exporter-cnf"


def test_existing_secrets_need_no_password(chart):
    values = {"grafana": {"existingSecret": "grafana-admin"}, "mysqlExporter": {"existingSecret": "cnf"}}
    chart.validate_schema(values)
    assert by_kind(objects(render(chart, values)), "Secret") == []


def test_datasource_defaults_to_chart_prometheus(chart):
    objs = objects(render(chart, BASE_VALUES))
    data = yaml.safe_load(one(objs, "ConfigMap", "mon-monitoring-stack-grafana-datasources")["data"]["datasources.yaml"])
    assert data["apiVersion"] == 1
    assert data["datasources"] == [{"name": "Prometheus", "type": "prometheus", "access": "proxy", "isDefault": True,
                                    "url": "http://mon-monitoring-stack-prometheus.monitoring.svc:9090"}]


def test_datasource_without_url_and_without_prometheus_fails(chart):
    values = merge(BASE_VALUES, {"prometheus": {"enabled": False}})
    with pytest.raises(helm.HelmRenderError, match='"Prometheus" has no url'):
        render(chart, values)


# --------------------------------------------------------------------------- values schema


@pytest.mark.parametrize("override, message", [
    ({"prometheus": {"service": {"port": "9090"}}}, "at '/prometheus/service/port': got string, want integer"),
    ({"prometheus": {"service": {"port": 70000}}}, "at '/prometheus/service/port': maximum: got 70,000, want 65,535"),
    ({"prometheus": {"service": {"nodePort": 29999}}},
     "at '/prometheus/service/nodePort': minimum: got 29,999, want 30,000"),
    ({"grafana": {"service": {"nodePort": 32768}}}, "at '/grafana/service/nodePort': maximum: got 32,768, want 32,767"),
    ({"grafana": {"enabled": "yes"}}, "at '/grafana/enabled': got string, want boolean"),
    ({"prometheus": {"imagee": {}}}, "at '/prometheus': additional properties 'imagee' not allowed"),
    ({"prometheus": {"service": {"type": "ExternalName"}}}, "at '/prometheus/service/type'"),
    ({"prometheus": {"config": {"global": {"scrape_interval": "15 seconds"}}}},
     "at '/prometheus/config/global/scrape_interval'"),
    ({"prometheus": {"config": {"scrapeConfigs": [{"static_configs": []}]}}},
     "at '/prometheus/config/scrapeConfigs/0': missing property 'job_name'"),
    ({"grafana": {"adminPassword": ""}}, "at '/grafana/adminPassword': minLength: got 0, want 1"),
    ({"grafana": {"datasources": [{"name": "P", "type": "prometheus", "secureJsonData": {"password": "x"}}]}},
     "additional properties 'secureJsonData' not allowed"),
    ({"grafana": {"datasources": [{"name": "A", "type": "prometheus", "isDefault": True},
                                  {"name": "B", "type": "loki", "isDefault": True}]}},
     "at '/grafana/datasources': max 1 items required to match contains schema"),
    ({"mysqlExporter": {"config": {"password": "back`tick"}}}, "at '/mysqlExporter/config/password'"),
    ({"nodeExporter": {"extraArgs": ["collector.systemd"]}}, "at '/nodeExporter/extraArgs/0'"),
    ({"mysqlExporter": {"existingSecret": "Not_A_Name"}}, "at '/mysqlExporter/existingSecret'"),
])
def test_schema_rejects_bad_values(chart, override, message):
    values = merge(BASE_VALUES, override)
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema(values)
    assert message in str(err.value)
    # An install renders with the same schema check.
    with pytest.raises(helm.HelmValuesError):
        render(chart, values)


@pytest.mark.parametrize("missing, message", [
    ("grafana", "at '/grafana': missing property 'adminPassword'"),
    ("mysqlExporter", "at '/mysqlExporter/config': missing property 'password'"),
])
def test_schema_requires_passwords(chart, missing, message):
    values = copy.deepcopy(BASE_VALUES)
    del values[missing]
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema(values)
    assert message in str(err.value)


def test_defaults_alone_are_rejected_for_want_of_passwords(chart):
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema({})
    assert "missing property 'adminPassword'" in str(err.value)
    assert "missing property 'password'" in str(err.value)


def test_disabled_components_need_no_password(chart):
    chart.validate_schema({"grafana": {"enabled": False}, "mysqlExporter": {"enabled": False}})


def test_schema_accepts_null_node_port(chart):
    chart.validate_schema(merge(BASE_VALUES, {"prometheus": {"service": {"nodePort": None}}}))
