# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE module_utils: used by this collection's Kubernetes modules only. Not a public API; it may
# change without notice between releases.
"""Kubernetes label selectors as prometheus-operator evaluates them, in plain Python.

Semantics (metav1.LabelSelector, as used by the Prometheus custom resource):

* ``None`` (null, field absent) selects **nothing**; ``{}`` selects **everything**.
* ``matchLabels`` and ``matchExpressions`` are ANDed; operators ``In``, ``NotIn``, ``Exists``,
  ``DoesNotExist``. ``NotIn`` and ``DoesNotExist`` match objects without the label.
* A null *namespace* selector on a Prometheus object means "only the Prometheus object's own
  namespace"; ``{}`` means all namespaces.
"""

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

# Selector fields of the Prometheus custom resource, per selected kind.
SELECTOR_FIELDS = {
    "ServiceMonitor": ("serviceMonitorSelector", "serviceMonitorNamespaceSelector"),
    "PrometheusRule": ("ruleSelector", "ruleNamespaceSelector"),
}


class SelectorError(ValueError):
    """A selector that cannot be evaluated (bad operator, bad shape)."""


def _expressions(selector):
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        raise SelectorError("matchExpressions must be a list, got %r" % (exprs,))
    for expr in exprs:
        if not isinstance(expr, dict) or "key" not in expr or "operator" not in expr:
            raise SelectorError("a matchExpressions entry needs key and operator, got %r" % (expr,))
        op = expr["operator"]
        if op not in OPERATORS:
            raise SelectorError("unknown selector operator %r in %r (expected one of %s)"
                                % (op, expr, ", ".join(OPERATORS)))
        values = expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            raise SelectorError("operator %s needs values in %r" % (op, expr))
        if op in ("Exists", "DoesNotExist") and values:
            raise SelectorError("operator %s takes no values in %r" % (op, expr))
    return exprs


def _match_labels(selector):
    ml = selector.get("matchLabels") or {}
    if not isinstance(ml, dict):
        raise SelectorError("matchLabels must be a mapping, got %r" % (ml,))
    return ml


def unmet_requirements(selector, labels):
    """Return the requirements of ``selector`` that ``labels`` do not meet, as readable strings.

    An empty list means the selector matches. A null selector returns one reason (it selects nothing).
    """
    if selector is None:
        return ["the selector is null, which selects nothing"]
    if not isinstance(selector, dict):
        raise SelectorError("a label selector must be a mapping or null, got %r" % (selector,))
    labels = labels or {}
    unmet = []
    for key, value in sorted(_match_labels(selector).items()):
        if labels.get(key) != value:
            have = "missing" if key not in labels else "is %r" % labels[key]
            unmet.append("label %s=%s (%s)" % (key, value, have))
    for expr in _expressions(selector):
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In":
            ok = present and labels[key] in values
        elif op == "NotIn":
            ok = not present or labels[key] not in values
        elif op == "Exists":
            ok = present
        else:
            ok = not present
        if not ok:
            have = "missing" if not present else "is %r" % labels[key]
            unmet.append("%s (%s)" % (requirement_text(expr), have))
    return unmet


def matches(selector, labels):
    """True when ``selector`` (a LabelSelector dict, or None) selects an object with ``labels``."""
    return not unmet_requirements(selector, labels)


def requirement_text(expr):
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "Exists":
        return key
    if op == "DoesNotExist":
        return "!" + key
    return "%s %s (%s)" % (key, "in" if op == "In" else "notin", ",".join(values))


def selector_text(selector):
    """kubectl-style text of a selector: ``release=kps,team in (a,b)``; ``<null>`` / ``<everything>``."""
    if selector is None:
        return "<null: selects nothing>"
    parts = ["%s=%s" % kv for kv in sorted(_match_labels(selector).items())]
    parts += [requirement_text(e) for e in _expressions(selector)]
    return ",".join(parts) if parts else "<{}: selects everything>"


def labels_to_satisfy(selector, labels):
    """Labels that can be added to ``labels`` so that ``selector`` matches, without changing any.

    ``matchLabels`` keys that are missing are added; an ``In`` expression with a single value adds
    that value when the key is missing. Keys already present are never overwritten (a conflict stays
    a conflict and is reported by :func:`unmet_requirements`). Nothing can be derived from a null
    selector or from ``Exists`` / multi-valued ``In`` expressions.
    """
    if not selector:
        return {}
    labels = labels or {}
    add = {}
    for key, value in _match_labels(selector).items():
        if key not in labels:
            add[key] = value
    for expr in _expressions(selector):
        values = expr.get("values") or []
        if expr["operator"] == "In" and len(values) == 1 and expr["key"] not in labels and expr["key"] not in add:
            add[expr["key"]] = values[0]
    return add


def merge_labels(labels, extra):
    """Return a new dict: ``labels`` plus ``extra`` for keys not already in ``labels``."""
    merged = dict(labels or {})
    for key, value in (extra or {}).items():
        merged.setdefault(key, value)
    return merged


def namespace_selected(ns_selector, prometheus_namespace, namespace, namespace_labels):
    """Whether a Prometheus object in ``prometheus_namespace`` looks at objects in ``namespace``.

    ``namespace_labels`` is the labels of ``namespace`` or a callable returning them (only called
    when the selector needs them). Returns ``(selected, reason)``.
    """
    if ns_selector is None:
        if namespace == prometheus_namespace:
            return True, ""
        return False, ("its namespace selector is null, which selects only its own namespace %s"
                       % prometheus_namespace)
    if not _match_labels(ns_selector) and not _expressions(ns_selector):
        return True, ""
    labels = namespace_labels(namespace) if callable(namespace_labels) else namespace_labels
    labels = dict(labels or {})
    # Set by Kubernetes on every namespace (immutable) since 1.21.
    labels.setdefault("kubernetes.io/metadata.name", namespace)
    unmet = unmet_requirements(ns_selector, labels)
    if not unmet:
        return True, ""
    return False, ("namespace %s does not match its namespace selector %s: %s"
                   % (namespace, selector_text(ns_selector), "; ".join(unmet)))


def plan_selection(prometheuses, kind, namespace, labels, namespace_labels, add_labels=True):
    """Work out how an object of ``kind`` in ``namespace`` gets selected by ``prometheuses``.

    ``prometheuses`` are Prometheus custom resources (dicts). Returns a dict with ``labels`` (the
    object's labels, with labels needed by the selectors added when ``add_labels``), ``added`` (only
    the added ones), ``selected_by`` (``namespace/name`` of each Prometheus selecting the object) and
    ``reasons`` (why each other Prometheus does not select it).
    """
    if kind not in SELECTOR_FIELDS:
        raise SelectorError("no selector fields known for kind %r" % (kind,))
    obj_field, ns_field = SELECTOR_FIELDS[kind]
    final = dict(labels or {})
    if add_labels:
        for prom in prometheuses:
            sel = (prom.get("spec") or {}).get(obj_field)
            final = merge_labels(final, labels_to_satisfy(sel, final))
    added = dict((k, v) for k, v in final.items() if k not in (labels or {}))
    selected_by, reasons = [], []
    for prom in prometheuses:
        meta = prom.get("metadata") or {}
        spec = prom.get("spec") or {}
        ident = "%s/%s" % (meta.get("namespace"), meta.get("name"))
        problems = []
        ns_ok, ns_reason = namespace_selected(spec.get(ns_field), meta.get("namespace"), namespace, namespace_labels)
        if not ns_ok:
            problems.append("%s: %s" % (ns_field, ns_reason))
        unmet = unmet_requirements(spec.get(obj_field), final)
        if unmet:
            problems.append("%s %s does not match the %s's labels: %s"
                            % (obj_field, selector_text(spec.get(obj_field)), kind, "; ".join(unmet)))
        if problems:
            reasons.append("Prometheus %s: %s" % (ident, " and ".join(problems)))
        else:
            selected_by.append(ident)
    return {"labels": final, "added": added, "selected_by": selected_by, "reasons": reasons}
