"""helm_servicemonitor's GitOps outputs (manifest file, kube-prometheus-stack values file): no API involved."""
import yaml

from helpers import run_module

from ansible_collections.hybridmon.monitoring.plugins.modules import helm_servicemonitor

VALUES = """\
# kube-prometheus-stack values for production
grafana:
  enabled: false   # managed elsewhere
prometheus:
  prometheusSpec:
    retention: 15d
  additionalServiceMonitors:
    - name: legacy
      selector:
        matchLabels:
          app: legacy
      endpoints:
        - port: web
"""


def args(dest, output, **over):
    a = dict(name="orders", namespace="shop", output=output, dest=str(dest),
             selector={"match_labels": {"app.kubernetes.io/name": "orders"}},
             endpoints=[{"port": "http", "path": "/actuator/prometheus", "interval": "30s"}])
    a.update(over)
    return a


def test_file_output_writes_manifest_idempotently(tmp_path, monkeypatch):
    dest = tmp_path / "sm.yaml"
    res = run_module(helm_servicemonitor.main, args(dest, "file", release="kps"), diff=True, monkeypatch=monkeypatch)
    assert res["changed"] is True and res["added_labels"] == {"release": "kps"}
    assert res["diff"]["before"] == "" and "ServiceMonitor" in res["diff"]["after"]
    doc = yaml.safe_load(dest.read_text())
    assert doc["kind"] == "ServiceMonitor" and doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["metadata"] == {"name": "orders", "namespace": "shop", "labels": {"release": "kps"}}
    assert doc["spec"]["endpoints"] == [{"port": "http", "path": "/actuator/prometheus", "interval": "30s"}]
    mtime = dest.stat().st_mtime_ns
    assert run_module(helm_servicemonitor.main, args(dest, "file", release="kps"),
                      monkeypatch=monkeypatch)["changed"] is False
    assert dest.stat().st_mtime_ns == mtime

    res = run_module(helm_servicemonitor.main, args(dest, "file", state="absent"), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True and dest.exists()
    res = run_module(helm_servicemonitor.main, args(dest, "file", state="absent"), monkeypatch=monkeypatch)
    assert res["changed"] is True and not dest.exists()


def test_file_output_checks_durations_itself(tmp_path, monkeypatch):
    dest = tmp_path / "sm.yaml"
    res = run_module(helm_servicemonitor.main, args(dest, "file", endpoints=[{"port": "http", "interval": "30sec"}]),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "endpoints[0].interval: '30sec' is not a Prometheus duration" in res["msg"]
    res = run_module(helm_servicemonitor.main, args(dest, "file", endpoints=[
        {"port": "http", "interval": "10s", "scrape_timeout": "1m"}]), monkeypatch=monkeypatch)
    assert res["failed"] and "scrape_timeout 1m is longer than interval 10s" in res["msg"]
    assert not dest.exists()


def test_values_output_adds_replaces_and_removes_keeping_the_rest(tmp_path, monkeypatch):
    dest = tmp_path / "values.yaml"
    dest.write_text(VALUES)
    res = run_module(helm_servicemonitor.main, args(dest, "values", labels={"team": "shop"}), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True and dest.read_text() == VALUES

    res = run_module(helm_servicemonitor.main, args(dest, "values", labels={"team": "shop"}), diff=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True
    text = dest.read_text()
    assert "# kube-prometheus-stack values for production" in text and "# managed elsewhere" in text
    data = yaml.safe_load(text)
    assert data["grafana"] == {"enabled": False}
    assert data["prometheus"]["prometheusSpec"] == {"retention": "15d"}
    monitors = data["prometheus"]["additionalServiceMonitors"]
    assert [m["name"] for m in monitors] == ["legacy", "orders"]
    assert monitors[1] == {
        "name": "orders", "additionalLabels": {"team": "shop"},
        "selector": {"matchLabels": {"app.kubernetes.io/name": "orders"}},
        "endpoints": [{"port": "http", "path": "/actuator/prometheus", "interval": "30s"}],
        "namespaceSelector": {"matchNames": ["shop"]},
    }
    assert run_module(helm_servicemonitor.main, args(dest, "values", labels={"team": "shop"}),
                      monkeypatch=monkeypatch)["changed"] is False

    res = run_module(helm_servicemonitor.main, args(dest, "values", labels={"team": "shop"},
                                                    endpoints=[{"port": "http", "interval": "1m"}]),
                     monkeypatch=monkeypatch)
    assert res["changed"] is True
    monitors = yaml.safe_load(dest.read_text())["prometheus"]["additionalServiceMonitors"]
    assert len(monitors) == 2 and monitors[1]["endpoints"] == [{"port": "http", "interval": "1m"}]

    res = run_module(helm_servicemonitor.main, dict(name="orders", output="values", dest=str(dest), state="absent"),
                     monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert [m["name"] for m in yaml.safe_load(dest.read_text())["prometheus"]["additionalServiceMonitors"]] == ["legacy"]


def test_values_output_creates_a_missing_file(tmp_path, monkeypatch):
    dest = tmp_path / "new-values.yaml"
    res = run_module(helm_servicemonitor.main, args(dest, "values"), monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert yaml.safe_load(dest.read_text())["prometheus"]["additionalServiceMonitors"][0]["name"] == "orders"


def test_values_output_refuses_a_non_values_file(tmp_path, monkeypatch):
    dest = tmp_path / "values.yaml"
    dest.write_text("- just\n- a list\n")
    res = run_module(helm_servicemonitor.main, args(dest, "values"), monkeypatch=monkeypatch)
    assert res["failed"] and "top level is not a mapping" in res["msg"]


def test_empty_selector_and_missing_port_are_refused(tmp_path, monkeypatch):
    dest = tmp_path / "sm.yaml"
    res = run_module(helm_servicemonitor.main, args(dest, "file", selector={}), monkeypatch=monkeypatch)
    assert res["failed"] and "selector is empty" in res["msg"]
    res = run_module(helm_servicemonitor.main, args(dest, "file", endpoints=[{"path": "/metrics"}]),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "endpoints[0]: set port" in res["msg"]
