"""helm_servicemonitor against the CRD-only API server: real validation, server-side apply, dry run."""
import json

from helpers import run_module

from ansible_collections.hybridmon.monitoring.plugins.modules import helm_servicemonitor


def make_prometheus(server, namespace, release, sm_selector="release", sm_ns_selector="all", name=None):
    """A Prometheus object shaped like kube-prometheus-stack's (labels, selectors)."""
    dyn = server.client()
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="Prometheus")
    spec = {"replicas": 1}
    if sm_selector == "release":
        spec["serviceMonitorSelector"] = {"matchLabels": {"release": release}}
    elif sm_selector is not None:
        spec["serviceMonitorSelector"] = sm_selector
    if sm_ns_selector == "all":
        spec["serviceMonitorNamespaceSelector"] = {}
    elif sm_ns_selector is not None:
        spec["serviceMonitorNamespaceSelector"] = sm_ns_selector
    body = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": name or "%s-kube-prometheus-stack-prometheus" % release, "namespace": namespace,
                     "labels": {"release": release, "app": "kube-prometheus-stack-prometheus"}},
        "spec": spec,
    }
    dyn.create(res, body=body, namespace=namespace)


def get_sm(server, namespace, name):
    dyn = server.client()
    res = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="ServiceMonitor")
    from kubernetes.dynamic.exceptions import NotFoundError
    try:
        return dyn.get(res, name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def sm_args(server, ns, release, **over):
    args = dict(server.connection(), name="orders", namespace=ns, release=release,
                selector={"match_labels": {"app.kubernetes.io/name": "orders"}},
                endpoints=[{"port": "http", "path": "/actuator/prometheus", "interval": "30s",
                            "scrape_timeout": "10s"}])
    args.update(over)
    return args


def test_create_update_noop_delete(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)

    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert res["selected_by"] == ["mon-%s/%s-kube-prometheus-stack-prometheus" % (k8s_ns, release)]
    assert res["added_labels"] == {"release": release}
    obj = get_sm(k8s_api, k8s_ns, "orders")
    assert obj["metadata"]["labels"] == {"release": release}
    assert obj["spec"]["endpoints"] == [{"port": "http", "path": "/actuator/prometheus", "interval": "30s",
                                         "scrapeTimeout": "10s"}]
    assert obj["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "orders"}}
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["hybridmon"]
    assert res["result"]["spec"] == obj["spec"]

    # Same input again: nothing to do, object untouched.
    again = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), monkeypatch=monkeypatch)
    assert again["changed"] is False, again
    assert get_sm(k8s_api, k8s_ns, "orders")["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]

    # Update: new interval, basic auth and a relabeling; a removed field disappears (server-side apply).
    eps = [{"port": "http", "path": "/actuator/prometheus", "interval": "1m", "scheme": "https",
            "basic_auth": {"secret_name": "orders-metrics"},
            "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]}]
    upd = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps),
                     monkeypatch=monkeypatch)
    assert upd["changed"] is True, upd
    ep = get_sm(k8s_api, k8s_ns, "orders")["spec"]["endpoints"][0]
    assert ep["interval"] == "1m" and "scrapeTimeout" not in ep
    assert ep["basicAuth"] == {"username": {"name": "orders-metrics", "key": "username"},
                               "password": {"name": "orders-metrics", "key": "password"}}
    # The server defaulted the relabeling's action; the module's comparison includes that.
    assert ep["relabelings"] == [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node",
                                  "action": "replace"}]
    assert run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps),
                      monkeypatch=monkeypatch)["changed"] is False

    gone = run_module(helm_servicemonitor.main, dict(k8s_api.connection(), name="orders", namespace=k8s_ns,
                                                     state="absent"), monkeypatch=monkeypatch)
    assert gone["changed"] is True and gone["result"] == {}
    assert get_sm(k8s_api, k8s_ns, "orders") is None
    gone_again = run_module(helm_servicemonitor.main, dict(k8s_api.connection(), name="orders", namespace=k8s_ns,
                                                           state="absent"), monkeypatch=monkeypatch)
    assert gone_again["changed"] is False


def test_check_mode_writes_nothing(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True, res
    # The prediction is the server's dry-run answer (defaulting included), not a guess.
    assert res["result"]["spec"]["endpoints"][0]["interval"] == "30s"
    assert res["result"]["metadata"]["labels"] == {"release": release}
    assert get_sm(k8s_api, k8s_ns, "orders") is None

    run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), monkeypatch=monkeypatch)
    before = get_sm(k8s_api, k8s_ns, "orders")
    eps = [{"port": "http", "path": "/metrics", "interval": "15s"}]
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert get_sm(k8s_api, k8s_ns, "orders")["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    res = run_module(helm_servicemonitor.main, dict(k8s_api.connection(), name="orders", namespace=k8s_ns,
                                                    state="absent"), check_mode=True, monkeypatch=monkeypatch)
    assert res["changed"] is True
    assert get_sm(k8s_api, k8s_ns, "orders") is not None


def test_diff_shows_before_and_after(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), diff=True, monkeypatch=monkeypatch)
    assert res["diff"]["before"] == {}
    assert res["diff"]["after"]["spec"]["endpoints"][0]["interval"] == "30s"
    assert "managedFields" not in res["diff"]["after"]["metadata"]

    eps = [{"port": "http", "path": "/actuator/prometheus", "interval": "45s"}]
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps), diff=True,
                     monkeypatch=monkeypatch)
    assert res["diff"]["before"]["spec"]["endpoints"][0]["interval"] == "30s"
    assert res["diff"]["after"]["spec"]["endpoints"][0]["interval"] == "45s"
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps), diff=True,
                     monkeypatch=monkeypatch)
    assert res["changed"] is False and "diff" not in res


def test_namespace_not_selected_fails_clearly(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    # Null namespace selector: only the Prometheus object's own namespace.
    make_prometheus(k8s_api, "mon-" + k8s_ns, release, sm_ns_selector=None)
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release), monkeypatch=monkeypatch)
    assert res["failed"]
    assert "would not be selected by release %s" % release in res["msg"]
    assert "selects only its own namespace mon-%s" % k8s_ns in res["msg"]
    assert get_sm(k8s_api, k8s_ns, "orders") is None

    # A namespace selector with labels: evaluated against namespace_labels (no core API here).
    other = k8s_ns + "-b"
    make_prometheus(k8s_api, "mon-" + other, "kps-" + other,
                    sm_ns_selector={"matchLabels": {"monitoring": "enabled"}})
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, other, "kps-" + other, namespace_labels={}),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "label monitoring=enabled (missing)" in res["msg"], res["msg"]
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, other, "kps-" + other,
                                                       namespace_labels={"monitoring": "enabled"}),
                     monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    # Without namespace_labels the module must read the Namespace, which this server cannot serve.
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, other, "kps-" + other), monkeypatch=monkeypatch)
    assert res["failed"] and "namespace_labels" in res["msg"], res["msg"]


def test_label_conflict_and_null_selector_fail(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, labels={"release": "other"}),
                     monkeypatch=monkeypatch)
    assert res["failed"]
    assert "label release=%s (is 'other')" % release in res["msg"], res["msg"]

    nil_release = release + "-nil"
    make_prometheus(k8s_api, "mon-" + k8s_ns, nil_release, sm_selector=None)
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, nil_release), monkeypatch=monkeypatch)
    assert res["failed"] and "null, which selects nothing" in res["msg"], res["msg"]

    # {} selects every ServiceMonitor: no label needed.
    all_release = release + "-all"
    make_prometheus(k8s_api, "mon-" + k8s_ns, all_release, sm_selector={})
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, all_release, name="all"),
                     monkeypatch=monkeypatch)
    assert not res.get("failed"), res
    assert res["added_labels"] == {}

    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, "no-such-release"), monkeypatch=monkeypatch)
    assert res["failed"] and "no Prometheus object of release no-such-release" in res["msg"]


def test_bad_interval_rejected_by_server_schema(k8s_api, k8s_ns, monkeypatch):
    release = "kps-" + k8s_ns
    make_prometheus(k8s_api, "mon-" + k8s_ns, release)
    eps = [{"port": "http", "interval": "30 seconds"}]
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps),
                     monkeypatch=monkeypatch)
    assert res["failed"]
    assert res["status"] == 422
    assert "spec.endpoints[0].interval in body should match" in res["msg"], res["msg"]
    assert get_sm(k8s_api, k8s_ns, "orders") is None
    # Check mode reports the same rejection: the dry run is validated too.
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, release, endpoints=eps), check_mode=True,
                     monkeypatch=monkeypatch)
    assert res["failed"] and res["status"] == 422


def test_port_number_is_refused(k8s_api, k8s_ns, monkeypatch):
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, None, endpoints=[{"port": "8080"}]),
                     monkeypatch=monkeypatch)
    assert res["failed"] and "*name* of the Service port" in res["msg"]


def test_missing_crds_fail_clearly(k8s_api_without_crds, monkeypatch):
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api_without_crds, "apps", "kps"), monkeypatch=monkeypatch)
    assert res["failed"]
    assert "does not serve monitoring.coreos.com/v1 ServiceMonitor" in res["msg"]
    assert "CustomResourceDefinition is not installed" in res["msg"]


def test_token_connection_and_no_log(k8s_api, k8s_ns, monkeypatch):
    args = sm_args(k8s_api, k8s_ns, None)
    args.pop("kubeconfig")
    args.update(k8s_api.connection("token"))
    res = run_module(helm_servicemonitor.main, args, monkeypatch=monkeypatch)
    assert res["changed"] is True, res
    assert get_sm(k8s_api, k8s_ns, "orders") is not None
    assert args["api_key"] not in json.dumps(res)

    args["validate_certs"] = True
    args.pop("ca_cert")
    res = run_module(helm_servicemonitor.main, args, monkeypatch=monkeypatch)
    assert res["failed"] and "CERTIFICATE_VERIFY_FAILED" in res["msg"].upper().replace(" ", "_"), res["msg"]


def test_conflict_with_other_manager_needs_force(k8s_api, k8s_ns, monkeypatch):
    dyn = k8s_api.client()
    res_api = dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="ServiceMonitor")
    body = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "orders", "namespace": k8s_ns},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "orders"}},
                     "endpoints": [{"port": "http", "path": "/actuator/prometheus", "interval": "5m"}]}}
    dyn.server_side_apply(res_api, body=body, field_manager="kubectl")
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, None), monkeypatch=monkeypatch)
    assert res["failed"] and res["status"] == 409 and "force=true" in res["msg"], res
    res = run_module(helm_servicemonitor.main, sm_args(k8s_api, k8s_ns, None, force=True), monkeypatch=monkeypatch)
    assert res["changed"] is True, res
    assert get_sm(k8s_api, k8s_ns, "orders")["spec"]["endpoints"][0]["interval"] == "30s"
