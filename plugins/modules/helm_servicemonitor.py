#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: helm_servicemonitor
short_description: Manage a prometheus-operator ServiceMonitor that a kube-prometheus-stack release picks up
description:
  - Creates, updates or deletes a C(ServiceMonitor) (C(monitoring.coreos.com/v1)) that tells the Prometheus of a
    kube-prometheus-stack release how to scrape the endpoints of a Service (for example a Spring Boot application's
    C(/actuator/prometheus)).
  - With O(release) (or O(prometheus_name)), the module reads the release's C(Prometheus) custom resources and makes
    sure the ServiceMonitor is actually selected. Labels required by their C(serviceMonitorSelector) are added
    (O(add_selector_labels)); when the object still cannot be selected, for example because its namespace is not in
    C(serviceMonitorNamespaceSelector) or a label conflicts, the module fails and says why, instead of creating an
    object Prometheus silently ignores. A null selector selects nothing, C({}) selects everything; a null namespace
    selector selects only the Prometheus object's own namespace.
  - With O(output=api) (the default) the object is written with server-side apply as field manager C(hybridmon).
    Check mode asks the API server for a dry run, so schema validation still happens; C(--diff) shows the object
    before and after (server-set metadata left out); re-running with the same options changes nothing.
  - For GitOps without API access, O(output=file) writes the manifest to O(dest), and O(output=values) adds or
    replaces the entry named O(name) under C(prometheus.additionalServiceMonitors) of a kube-prometheus-stack values
    file, keeping the rest of the file (comments too when C(ruamel.yaml) is installed).
author:
  - hybridmon.monitoring contributors (@hybridmon)
extends_documentation_fragment:
  - hybridmon.monitoring.k8s_connection
  - hybridmon.monitoring.kube_prometheus_selection
options:
  name:
    description: Name of the ServiceMonitor (and of the O(output=values) entry).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the ServiceMonitor. Required with O(output=api) and O(output=file).
      - With O(output=values) the chart creates the object in the release's namespace; when O(namespace) is given
        there and O(namespace_selector) is not, the entry selects Services in O(namespace).
    type: str
  state:
    description: Whether the ServiceMonitor should exist.
    type: str
    choices: [present, absent]
    default: present
  release:
    description:
      - Name of the kube-prometheus-stack Helm release whose Prometheus must scrape the Service.
      - Its C(Prometheus) objects are found by the label C(release=<release>) (or C(app.kubernetes.io/instance)).
      - With O(output=file), only the label C(release=<release>) is added (the chart's default selector).
    type: str
  selector:
    description: Label selector of the Services to scrape. Required with O(state=present).
    type: dict
    suboptions:
      match_labels:
        description: Labels the Service must have.
        type: dict
      match_expressions:
        description: Set-based requirements on the Service's labels.
        type: list
        elements: dict
        suboptions:
          key:
            description: Label key.
            type: str
            required: true
          operator:
            description: Operator.
            type: str
            required: true
            choices: [In, NotIn, Exists, DoesNotExist]
          values:
            description: Values for C(In) and C(NotIn).
            type: list
            elements: str
  namespace_selector:
    description:
      - Namespaces in which the Services are looked up. When not set, the ServiceMonitor's own namespace.
    type: dict
    suboptions:
      any:
        description: All namespaces.
        type: bool
      match_names:
        description: These namespaces.
        type: list
        elements: str
  endpoints:
    description: Endpoints of the selected Services to scrape. Required with O(state=present).
    type: list
    elements: dict
    suboptions:
      port:
        description:
          - Name of the Service port (the C(name) in the Service's C(ports)), not its number.
          - One of O(endpoints[].port) and O(endpoints[].target_port) is required.
        type: str
      target_port:
        description: Name or number of the Pod's target port, instead of O(endpoints[].port).
        type: raw
      path:
        description: HTTP path of the metrics, for example C(/actuator/prometheus). Prometheus' default is C(/metrics).
        type: str
      scheme:
        description: HTTP scheme.
        type: str
        choices: [http, https]
      interval:
        description: Scrape interval, a Prometheus duration such as C(30s) or C(1m30s). Default the global interval.
        type: str
      scrape_timeout:
        description: Scrape timeout, a Prometheus duration; must not exceed the interval.
        type: str
      params:
        description: URL query parameters of the scrape, each a list of values.
        type: dict
      honor_labels:
        description: Keep the scraped metrics' labels when they collide with target labels.
        type: bool
      honor_timestamps:
        description: Keep the timestamps the target exposes.
        type: bool
      follow_redirects:
        description: Follow HTTP 3xx redirects.
        type: bool
      tls_config:
        description:
          - "TLS settings in prometheus-operator's C(tlsConfig) form, for example
            C({ca: {secret: {name: app-ca, key: ca.crt}}, serverName: app.example.com})."
        type: dict
      basic_auth:
        description: Basic authentication with credentials from a Secret in the ServiceMonitor's namespace.
        type: dict
        suboptions:
          secret_name:
            description: Name of the Secret.
            type: str
            required: true
          username_key:
            description: Key of the user name in the Secret.
            type: str
            default: username
          password_key:
            description: Key of the password in the Secret.
            type: str
            default: password
      bearer_token_secret:
        description: Bearer token from a Secret key (sent as C(Authorization) header).
        type: dict
        suboptions:
          name:
            description: Name of the Secret.
            type: str
            required: true
          key:
            description: Key in the Secret.
            type: str
            required: true
      relabelings:
        description: Target relabelings in prometheus-operator's form (C(sourceLabels), C(targetLabel), C(action), ...).
        type: list
        elements: dict
      metric_relabelings:
        description: Metric relabelings in prometheus-operator's form.
        type: list
        elements: dict
      extra:
        description: Further endpoint fields in prometheus-operator's form, merged into the endpoint as given.
        type: dict
  job_label:
    description: Service label whose value becomes the C(job) label.
    type: str
  target_labels:
    description: Service labels copied onto the metrics.
    type: list
    elements: str
  pod_target_labels:
    description: Pod labels copied onto the metrics.
    type: list
    elements: str
  sample_limit:
    description: Per-scrape limit of accepted samples.
    type: int
  output:
    description:
      - C(api) applies the object through the Kubernetes API.
      - C(file) writes the manifest (YAML) to O(dest); O(state=absent) removes the file.
      - C(values) adds or replaces the entry O(name) under C(prometheus.additionalServiceMonitors) in the
        kube-prometheus-stack values file O(dest) (created when missing); O(state=absent) removes the entry.
    type: str
    choices: [api, file, values]
    default: api
  dest:
    description: File written with O(output=file) or O(output=values).
    type: path
notes:
  - The Prometheus service account must be allowed to list Services, Endpoints and Pods in the selected namespaces;
    kube-prometheus-stack grants that cluster-wide by default.
seealso:
  - module: hybridmon.monitoring.prometheus_rule
"""

EXAMPLES = r"""
- name: Scrape a Spring Boot application through the kube-prometheus-stack release "kps"
  hybridmon.monitoring.helm_servicemonitor:
    name: orders
    namespace: shop
    release: kps
    selector:
      match_labels:
        app.kubernetes.io/name: orders
    endpoints:
      - port: http
        path: /actuator/prometheus
        interval: 30s
        scrape_timeout: 10s

- name: HTTPS endpoint with basic auth from a Secret and a relabeling
  hybridmon.monitoring.helm_servicemonitor:
    name: billing
    namespace: shop
    release: kps
    kubeconfig: ~/.kube/prod
    context: prod
    selector:
      match_labels:
        app: billing
    endpoints:
      - port: https-metrics
        scheme: https
        tls_config:
          ca:
            secret:
              name: billing-ca
              key: ca.crt
          serverName: billing.shop.svc
        basic_auth:
          secret_name: billing-metrics-auth
        relabelings:
          - sourceLabels: [__meta_kubernetes_pod_node_name]
            targetLabel: node

- name: GitOps - add the ServiceMonitor to the release's values file instead
  hybridmon.monitoring.helm_servicemonitor:
    name: orders
    namespace: shop
    output: values
    dest: gitops/kps/values.yaml
    selector:
      match_labels:
        app.kubernetes.io/name: orders
    endpoints:
      - port: http
        path: /actuator/prometheus

- name: Remove it
  hybridmon.monitoring.helm_servicemonitor:
    name: orders
    namespace: shop
    state: absent
"""

RETURN = r"""
result:
  description: The ServiceMonitor as stored by the API server (predicted by a dry run in check mode), without
    server-set metadata. Empty after deletion.
  returned: O(output=api)
  type: dict
  sample: {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
           "metadata": {"name": "orders", "namespace": "shop", "labels": {"release": "kps"}},
           "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "orders"}},
                    "endpoints": [{"port": "http", "path": "/actuator/prometheus", "interval": "30s"}]}}
manifest:
  description: The ServiceMonitor the module asked for (O(output=api) and O(output=file)), or the values entry
    (O(output=values)).
  returned: O(state=present)
  type: dict
selected_by:
  description: C(namespace/name) of the Prometheus objects that select the ServiceMonitor.
  returned: O(output=api), O(state=present) and O(release) or O(prometheus_name) set
  type: list
  elements: str
  sample: ["monitoring/kps-kube-prometheus-stack-prometheus"]
added_labels:
  description: Labels added to the object so the Prometheus selectors match it.
  returned: O(state=present)
  type: dict
  sample: {"release": "kps"}
dest:
  description: The file written.
  returned: O(output=file) or O(output=values)
  type: str
"""

import copy
import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.hybridmon.monitoring.plugins.module_utils._k8s import (
    K8S_CONNECTION_ARGS, MONITORING_API, publish_for_release,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core requires PyYAML
    HAS_YAML = False

try:
    from ruamel.yaml import YAML as RuamelYAML
    HAS_RUAMEL = True
except ImportError:
    HAS_RUAMEL = False

KIND = "ServiceMonitor"
# prometheus-operator's Duration pattern.
DURATION_RE = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
DURATION_UNITS = (("ms", 0.001), ("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
CRD_HINT = ("install the prometheus-operator CRDs (kube-prometheus-stack installs them), or use output=file or "
            "output=values without API access")


def duration_seconds(value):
    total = 0.0
    for number, unit in re.findall(r"([0-9]+)(ms|y|w|d|h|m|s)", value):
        total += int(number) * dict(DURATION_UNITS)[unit]
    return total


def _drop_none(data):
    return dict((k, v) for k, v in data.items() if v not in (None, [], {}))


def build_endpoint(index, ep, check_durations):
    where = "endpoints[%d]" % index
    if not ep.get("port") and ep.get("target_port") in (None, ""):
        raise ValueError("%s: set port (the name of the Service port) or target_port" % where)
    if ep.get("port") and str(ep["port"]).isdigit():
        raise ValueError("%s: port %r looks like a number, but a ServiceMonitor's port is the *name* of the Service "
                         "port (for example http-metrics); use target_port for a number" % (where, ep["port"]))
    for key in ("interval", "scrape_timeout"):
        if check_durations and ep.get(key) is not None and not DURATION_RE.match(ep[key]):
            raise ValueError("%s.%s: %r is not a Prometheus duration such as 30s or 1m30s" % (where, key, ep[key]))
    if (check_durations and ep.get("interval") and ep.get("scrape_timeout")
            and duration_seconds(ep["scrape_timeout"]) > duration_seconds(ep["interval"])):
        raise ValueError("%s: scrape_timeout %s is longer than interval %s" % (where, ep["scrape_timeout"], ep["interval"]))
    target_port = ep.get("target_port")
    if isinstance(target_port, str) and target_port.isdigit():
        target_port = int(target_port)
    out = _drop_none({
        "port": ep.get("port"),
        "targetPort": target_port,
        "path": ep.get("path"),
        "scheme": ep.get("scheme"),
        "interval": ep.get("interval"),
        "scrapeTimeout": ep.get("scrape_timeout"),
        "params": ep.get("params"),
        "honorLabels": ep.get("honor_labels"),
        "honorTimestamps": ep.get("honor_timestamps"),
        "followRedirects": ep.get("follow_redirects"),
        "tlsConfig": ep.get("tls_config"),
        "relabelings": ep.get("relabelings"),
        "metricRelabelings": ep.get("metric_relabelings"),
    })
    if ep.get("basic_auth"):
        ba = ep["basic_auth"]
        out["basicAuth"] = {
            "username": {"name": ba["secret_name"], "key": ba["username_key"]},
            "password": {"name": ba["secret_name"], "key": ba["password_key"]},
        }
    if ep.get("bearer_token_secret"):
        out["bearerTokenSecret"] = {"name": ep["bearer_token_secret"]["name"], "key": ep["bearer_token_secret"]["key"]}
    for key, value in (ep.get("extra") or {}).items():
        out[key] = value
    return out


def build_selector(sel):
    sel = sel or {}
    out = {}
    if sel.get("match_labels"):
        out["matchLabels"] = dict((k, str(v)) for k, v in sel["match_labels"].items())
    if sel.get("match_expressions"):
        out["matchExpressions"] = [_drop_none({"key": e["key"], "operator": e["operator"], "values": e.get("values")})
                                   for e in sel["match_expressions"]]
    return out


def build_spec(p, check_durations):
    spec = {
        "selector": build_selector(p["selector"]),
        "endpoints": [build_endpoint(i, ep, check_durations) for i, ep in enumerate(p["endpoints"])],
    }
    ns_sel = p.get("namespace_selector")
    if ns_sel:
        spec["namespaceSelector"] = _drop_none({"any": ns_sel.get("any"), "matchNames": ns_sel.get("match_names")})
    spec.update(_drop_none({
        "jobLabel": p.get("job_label"),
        "targetLabels": p.get("target_labels"),
        "podTargetLabels": p.get("pod_target_labels"),
        "sampleLimit": p.get("sample_limit"),
    }))
    return spec


def build_manifest(p, labels, check_durations):
    meta = {"name": p["name"], "namespace": p["namespace"]}
    if labels:
        meta["labels"] = dict((k, str(v)) for k, v in labels.items())
    if p.get("annotations"):
        meta["annotations"] = dict((k, str(v)) for k, v in p["annotations"].items())
    return {"apiVersion": MONITORING_API, "kind": KIND, "metadata": meta, "spec": build_spec(p, check_durations)}


def _write_atomic(module, dest, text):
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        module.fail_json(msg="directory %s of dest does not exist" % directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest))
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if os.path.exists(dest):
        os.chmod(tmp, os.stat(dest).st_mode & 0o7777)
    else:
        os.chmod(tmp, 0o644)
    module.atomic_move(tmp, dest)


def _read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def run_file(module, p, result):
    dest = p["dest"]
    before = _read(dest)
    if p["state"] == "absent":
        after = None
    else:
        labels = dict(p["labels"])
        if p.get("release") and "release" not in labels:
            labels["release"] = p["release"]
            result["added_labels"] = {"release": p["release"]}
        else:
            result["added_labels"] = {}
        manifest = build_manifest(p, labels, check_durations=True)
        result["manifest"] = manifest
        after = "---\n" + yaml.safe_dump(manifest, default_flow_style=False, sort_keys=False)
    result["dest"] = dest
    if before == after:
        return
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": before or "", "after": after or "", "before_header": dest, "after_header": dest}
    if module.check_mode:
        return
    if after is None:
        os.remove(dest)
    else:
        _write_atomic(module, dest, after)


def values_entry(p):
    spec = build_spec(p, check_durations=True)
    if not p.get("namespace_selector") and p.get("namespace"):
        spec["namespaceSelector"] = {"matchNames": [p["namespace"]]}
    entry = {"name": p["name"]}
    if p["labels"]:
        entry["additionalLabels"] = dict((k, str(v)) for k, v in p["labels"].items())
    entry.update(spec)
    return entry


class _ValuesDoc(object):
    """A values file loaded round-trip (ruamel.yaml, keeps comments) or plainly (PyYAML)."""

    def __init__(self, text):
        self.text = text
        if HAS_RUAMEL:
            self.yaml = RuamelYAML()
            self.yaml.preserve_quotes = True
            self.yaml.indent(mapping=2, sequence=4, offset=2)
            self.data = self.yaml.load(text) if text and text.strip() else None
        else:
            self.yaml = None
            self.data = yaml.safe_load(text) if text and text.strip() else None
        if self.data is None:
            self.data = {}

    def dump(self):
        if self.yaml is not None:
            import io
            buf = io.StringIO()
            self.yaml.dump(self.data, buf)
            return buf.getvalue()
        return yaml.safe_dump(self.data, default_flow_style=False, sort_keys=False)


def _plain(value):
    """ruamel's containers as plain dicts/lists, for comparing."""
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_values(module, p, result):
    dest = p["dest"]
    before = _read(dest)
    try:
        doc = _ValuesDoc(before)
    except Exception as exc:
        module.fail_json(msg="cannot parse %s as YAML: %s" % (dest, to_native(exc)))
    if not isinstance(doc.data, dict):
        module.fail_json(msg="%s is not a kube-prometheus-stack values file: its top level is not a mapping" % dest)
    prom = doc.data.get("prometheus")
    if prom is None:
        prom = doc.data["prometheus"] = {}
    if not isinstance(prom, dict):
        module.fail_json(msg="%s: prometheus is not a mapping" % dest)
    monitors = prom.get("additionalServiceMonitors")
    if monitors is None:
        monitors = []
    if not isinstance(monitors, list):
        module.fail_json(msg="%s: prometheus.additionalServiceMonitors is not a list" % dest)
    index = next((i for i, m in enumerate(monitors) if isinstance(m, dict) and m.get("name") == p["name"]), None)
    result["dest"] = dest
    result["added_labels"] = {}
    if p["state"] == "absent":
        if index is None:
            return
        del monitors[index]
    else:
        entry = values_entry(p)
        result["manifest"] = entry
        if index is not None and _plain(monitors[index]) == entry:
            return
        if index is None:
            monitors.append(entry)
        else:
            monitors[index] = entry
    prom["additionalServiceMonitors"] = monitors
    after = doc.dump()
    result["changed"] = True
    if module._diff:
        result["diff"] = {"before": before or "", "after": after, "before_header": dest, "after_header": dest}
    if not module.check_mode:
        _write_atomic(module, dest, after)


def run_api(module, p, result):
    def build(labels):
        result["manifest"] = build_manifest(p, labels, check_durations=False)
        return result["manifest"]
    publish_for_release(module, p, result, KIND, CRD_HINT, "so it would never be scraped", build)


def main():
    endpoint_spec = dict(
        port=dict(type="str"),
        target_port=dict(type="raw"),
        path=dict(type="str"),
        scheme=dict(type="str", choices=["http", "https"]),
        interval=dict(type="str"),
        scrape_timeout=dict(type="str"),
        params=dict(type="dict"),
        honor_labels=dict(type="bool"),
        honor_timestamps=dict(type="bool"),
        follow_redirects=dict(type="bool"),
        tls_config=dict(type="dict"),
        basic_auth=dict(type="dict", options=dict(
            secret_name=dict(type="str", required=True),
            username_key=dict(type="str", default="username", no_log=False),
            password_key=dict(type="str", default="password", no_log=False),
        )),
        bearer_token_secret=dict(type="dict", no_log=False, options=dict(
            name=dict(type="str", required=True),
            key=dict(type="str", required=True, no_log=False),
        )),
        relabelings=dict(type="list", elements="dict"),
        metric_relabelings=dict(type="list", elements="dict"),
        extra=dict(type="dict"),
    )
    argument_spec = dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        release=dict(type="str"),
        prometheus_name=dict(type="str"),
        prometheus_namespace=dict(type="str"),
        namespace_labels=dict(type="dict"),
        add_selector_labels=dict(type="bool", default=True),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        selector=dict(type="dict", options=dict(
            match_labels=dict(type="dict"),
            match_expressions=dict(type="list", elements="dict", options=dict(
                key=dict(type="str", required=True, no_log=False),
                operator=dict(type="str", required=True, choices=["In", "NotIn", "Exists", "DoesNotExist"]),
                values=dict(type="list", elements="str"),
            )),
        )),
        namespace_selector=dict(type="dict", options=dict(
            any=dict(type="bool"),
            match_names=dict(type="list", elements="str"),
        )),
        endpoints=dict(type="list", elements="dict", options=endpoint_spec),
        job_label=dict(type="str"),
        target_labels=dict(type="list", elements="str"),
        pod_target_labels=dict(type="list", elements="str"),
        sample_limit=dict(type="int"),
        force=dict(type="bool", default=False),
        output=dict(type="str", choices=["api", "file", "values"], default="api"),
        dest=dict(type="path"),
    )
    argument_spec.update(copy.deepcopy(K8S_CONNECTION_ARGS))
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[
            ("state", "present", ("selector", "endpoints")),
            ("output", "file", ("dest", "namespace")),
            ("output", "api", ("namespace",)),
            ("output", "values", ("dest",)),
        ],
        mutually_exclusive=[("release", "prometheus_name")],
        required_by={"prometheus_name": "prometheus_namespace"},
    )
    p = module.params
    if p["state"] == "present" and not p["endpoints"]:
        module.fail_json(msg="endpoints must list at least one endpoint to scrape")
    if p["state"] == "present" and not (p["selector"].get("match_labels") or p["selector"].get("match_expressions")):
        module.fail_json(msg="selector is empty: it would select every Service in the namespace; "
                             "give match_labels or match_expressions")
    if p["output"] != "api" and not HAS_YAML:
        module.fail_json(msg="PyYAML is needed for output=%s" % p["output"])
    result = dict(changed=False)
    try:
        if p["output"] == "file":
            run_file(module, p, result)
        elif p["output"] == "values":
            run_values(module, p, result)
        else:
            if p["state"] == "present":
                for i, ep in enumerate(p["endpoints"]):
                    build_endpoint(i, ep, check_durations=False)
            run_api(module, p, result)
    except ValueError as exc:
        module.fail_json(msg=to_native(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
