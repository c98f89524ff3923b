#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

DOCUMENTATION = r"""
module: prometheus_rule
short_description: Publish Prometheus alerting and recording rule groups as a PrometheusRule object
description:
  - Creates, updates or deletes a C(PrometheusRule) (C(monitoring.coreos.com/v1)) holding rule groups in the
    Prometheus rule file format, given inline (O(groups)) or read from rule files (O(src)), so that the
    prometheus-operator of a kube-prometheus-stack release loads the same alert rules this collection installs on
    bare-metal Prometheus servers.
  - Each rule group is checked with C(promtool check rules) before anything is applied (O(validate)); a group that
    fails stops the module and nothing is written.
  - With O(release) (or O(prometheus_name)), the release's C(Prometheus) objects are read and the labels their
    C(ruleSelector) requires are added to the object (the selector matches the PrometheusRule's own labels, not
    the rules' labels). When the object still could not be selected (namespace not in C(ruleNamespaceSelector),
    conflicting label, null selector) the module fails and says why.
  - Written with server-side apply as field manager C(hybridmon); check mode is a server dry run; C(--diff) shows
    the object before and after; re-running with the same input changes nothing.
author:
  - hybridmon.monitoring contributors (@hybridmon)
extends_documentation_fragment:
  - hybridmon.monitoring.k8s_connection
  - hybridmon.monitoring.kube_prometheus_selection
options:
  name:
    description: Name of the PrometheusRule.
    type: str
    required: true
  namespace:
    description: Namespace of the PrometheusRule.
    type: str
    required: true
  state:
    description: Whether the PrometheusRule should exist.
    type: str
    choices: [present, absent]
    default: present
  groups:
    description:
      - Rule groups in the Prometheus rule file format (C(name), C(interval), C(rules) with C(alert) or C(record),
        C(expr), C(for), C(keep_firing_for), C(labels), C(annotations)).
      - Combined with the groups read from O(src); group names must be unique.
    type: list
    elements: dict
  src:
    description:
      - A Prometheus rule file (C(groups:) at the top), or a directory whose C(*.yml) and C(*.yaml) rule files are
        read in name order. Read on the host the module runs on.
    type: path
  validate:
    description:
      - Check each rule group with C(promtool check rules) before applying it.
      - When true and no C(promtool) is found, the module fails.
    type: bool
    default: true
  promtool_path:
    description: Path of C(promtool). By default it is searched in E(PATH).
    type: path
notes:
  - A custom C(ruleSelector) in kube-prometheus-stack replaces the chart's default one, so the chart's own rules may
    stop loading; prefer adding the labels the existing selector wants (what this module does).
seealso:
  - module: hybridmon.monitoring.helm_servicemonitor
"""

EXAMPLES = r"""
- name: Publish the node alerts for the kube-prometheus-stack release "kps"
  hybridmon.monitoring.prometheus_rule:
    name: hybridmon-node
    namespace: monitoring
    release: kps
    groups:
      - name: node
        rules:
          - alert: NodeDown
            expr: up{job="node"} == 0
            for: 5m
            labels:
              severity: critical
            annotations:
              summary: "{{ $labels.instance }} is down"

- name: Publish every rule file of a directory, checked by a promtool found elsewhere
  hybridmon.monitoring.prometheus_rule:
    name: hybridmon-rules
    namespace: monitoring
    release: kps
    src: /etc/prometheus/rules
    promtool_path: /usr/local/bin/promtool

- name: Remove them
  hybridmon.monitoring.prometheus_rule:
    name: hybridmon-rules
    namespace: monitoring
    state: absent
"""

RETURN = r"""
result:
  description: The PrometheusRule as stored by the API server (predicted by a dry run in check mode), without
    server-set metadata. Empty after deletion.
  returned: always
  type: dict
groups:
  description: Names of the rule groups published.
  returned: O(state=present)
  type: list
  elements: str
  sample: ["node", "mysql"]
validated:
  description: Names of the rule groups that passed C(promtool check rules).
  returned: O(state=present)
  type: list
  elements: str
selected_by:
  description: C(namespace/name) of the Prometheus objects that select the PrometheusRule.
  returned: O(state=present) and O(release) or O(prometheus_name) set
  type: list
  elements: str
added_labels:
  description: Labels added to the object so the C(ruleSelector) matches it.
  returned: O(state=present)
  type: dict
  sample: {"release": "kps"}
"""

import copy
import os
import shutil
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

KIND = "PrometheusRule"
CRD_HINT = "install the prometheus-operator CRDs (kube-prometheus-stack installs them)"


def _stringify_map(value, where):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("%s must be a mapping, got %r" % (where, value))
    return dict((str(k), str(v)) for k, v in value.items())


def normalize_group(group, origin):
    """A rule group as the PrometheusRule schema wants it (label and annotation values as strings)."""
    if not isinstance(group, dict):
        raise ValueError("%s: a rule group must be a mapping, got %r" % (origin, group))
    name = group.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("%s: a rule group needs a non-empty name, got %r" % (origin, name))
    rules = group.get("rules")
    if not isinstance(rules, list) or not rules:
        raise ValueError("%s: rule group %s has no rules" % (origin, name))
    out = dict(group)
    if "labels" in out:
        out["labels"] = _stringify_map(out["labels"], "%s: labels of group %s" % (origin, name))
    new_rules = []
    for i, rule in enumerate(rules):
        where = "%s: group %s rule %d" % (origin, name, i)
        if not isinstance(rule, dict):
            raise ValueError("%s must be a mapping, got %r" % (where, rule))
        rule = dict(rule)
        for key in ("labels", "annotations"):
            if key in rule:
                rule[key] = _stringify_map(rule[key], "%s %s" % (where, key))
        if "expr" in rule and not isinstance(rule["expr"], (str, int)):
            raise ValueError("%s: expr must be a PromQL string, got %r" % (where, rule["expr"]))
        new_rules.append(rule)
    out["rules"] = new_rules
    return out


def read_rule_files(src):
    """Groups of a rule file, or of the *.yml/*.yaml files of a directory, as (origin, group) pairs."""
    if os.path.isdir(src):
        files = sorted(os.path.join(src, f) for f in os.listdir(src)
                       if f.endswith((".yml", ".yaml")) and os.path.isfile(os.path.join(src, f)))
        if not files:
            raise ValueError("src %s contains no .yml or .yaml rule files" % src)
    elif os.path.isfile(src):
        files = [src]
    else:
        raise ValueError("src %s does not exist" % src)
    pairs = []
    for path in files:
        with open(path) as f:
            try:
                data = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise ValueError("%s is not valid YAML: %s" % (path, exc))
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise ValueError("%s is not a Prometheus rule file: it has no top-level groups list" % path)
        pairs.extend((path, g) for g in data["groups"])
    return pairs


def collect_groups(params):
    pairs = [("groups[%d]" % i, g) for i, g in enumerate(params.get("groups") or [])]
    if params.get("src"):
        pairs.extend(read_rule_files(params["src"]))
    groups, seen = [], {}
    for origin, group in pairs:
        g = normalize_group(group, origin)
        if g["name"] in seen:
            raise ValueError("rule group name %s is used twice (%s and %s); PrometheusRule groups are keyed by name"
                             % (g["name"], seen[g["name"]], origin))
        seen[g["name"]] = origin
        groups.append(g)
    return groups


def promtool_check(module, promtool, groups):
    """Run ``promtool check rules`` on each group alone; fail the module naming the first bad group."""
    tmpdir = tempfile.mkdtemp(prefix="hybridmon-rules-")
    checked = []
    try:
        for group in groups:
            path = os.path.join(tmpdir, "group.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": [group]}, f, default_flow_style=False, sort_keys=False)
            rc, out, err = module.run_command([promtool, "check", "rules", path])
            if rc != 0:
                module.fail_json(msg="rule group %s failed promtool check rules: %s"
                                     % (group["name"], (err.strip() or out.strip()).replace(path, "<group %s>" % group["name"])),
                                 rc=rc, stdout=out, stderr=err)
            checked.append(group["name"])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return checked


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        groups=dict(type="list", elements="dict"),
        src=dict(type="path"),
        validate=dict(type="bool", default=True),
        promtool_path=dict(type="path"),
        release=dict(type="str"),
        prometheus_name=dict(type="str"),
        prometheus_namespace=dict(type="str"),
        namespace_labels=dict(type="dict"),
        add_selector_labels=dict(type="bool", default=True),
        labels=dict(type="dict", default={}),
        annotations=dict(type="dict", default={}),
        force=dict(type="bool", default=False),
    )
    argument_spec.update(copy.deepcopy(K8S_CONNECTION_ARGS))
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[("state", "present", ("groups", "src"), True)],
        mutually_exclusive=[("release", "prometheus_name")],
        required_by={"prometheus_name": "prometheus_namespace"},
    )
    p = module.params
    result = dict(changed=False)

    if p["state"] == "present":
        try:
            groups = collect_groups(p)
        except ValueError as exc:
            module.fail_json(msg=to_native(exc))
        if not groups:
            module.fail_json(msg="no rule groups given: groups is empty and src holds none")
        result["groups"] = [g["name"] for g in groups]
        result["validated"] = []
        if p["validate"]:
            promtool = p["promtool_path"] or module.get_bin_path("promtool")
            if not promtool or not os.access(promtool, os.X_OK):
                module.fail_json(msg="promtool not found (%s): install Prometheus' promtool, set promtool_path, or "
                                     "set validate=false to publish the rules unchecked"
                                     % (p["promtool_path"] or "searched PATH"))
            result["validated"] = promtool_check(module, promtool, groups)

    def build(labels):
        meta = {"name": p["name"], "namespace": p["namespace"]}
        if labels:
            meta["labels"] = labels
        if p["annotations"]:
            meta["annotations"] = dict((k, str(v)) for k, v in p["annotations"].items())
        return {"apiVersion": MONITORING_API, "kind": KIND, "metadata": meta, "spec": {"groups": groups}}
    publish_for_release(module, p, result, KIND, CRD_HINT, "so its rules would never be loaded", build)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
