# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later


class ModuleDocFragment(object):
    """How a ServiceMonitor or PrometheusRule is matched to the Prometheus objects of a kube-prometheus-stack release."""

    DOCUMENTATION = r"""
options:
  release:
    description:
      - Name of the kube-prometheus-stack Helm release whose Prometheus must load the object.
      - Its C(Prometheus) objects are found by the label C(release=<release>) (or C(app.kubernetes.io/instance)).
    type: str
  prometheus_name:
    description: Name of one C(Prometheus) object to check the selection against, instead of looking up O(release).
    type: str
  prometheus_namespace:
    description: Namespace of the C(Prometheus) objects (default all namespaces; required with O(prometheus_name)).
    type: str
  namespace_labels:
    description:
      - Labels of the object's namespace, to evaluate the C(Prometheus) objects' namespace selector
        (C(serviceMonitorNamespaceSelector), C(ruleNamespaceSelector)) when it has conditions.
      - When not given they are read from the Namespace object (read access to namespaces needed).
    type: dict
  add_selector_labels:
    description:
      - Add the labels the C(Prometheus) objects' selector (C(serviceMonitorSelector), C(ruleSelector)) requires
        (C(matchLabels), and C(In) expressions with one value). Labels given in O(labels) are never overwritten.
    type: bool
    default: true
  labels:
    description: Labels of the object.
    type: dict
    default: {}
  annotations:
    description: Annotations of the object.
    type: dict
    default: {}
  force:
    description: Take over fields owned by another field manager instead of failing on the conflict.
    type: bool
    default: false
"""
