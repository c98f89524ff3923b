"""Label selector semantics used to check that a ServiceMonitor / PrometheusRule gets selected."""
import pytest

from ansible_collections.hybridmon.monitoring.plugins.module_utils._k8s_selectors import (
    SelectorError, labels_to_satisfy, matches, merge_labels, namespace_selected, plan_selection, selector_text,
    unmet_requirements,
)


def test_null_selects_nothing_and_empty_selects_everything():
    assert matches(None, {"release": "kps"}) is False
    assert unmet_requirements(None, {}) == ["the selector is null, which selects nothing"]
    assert matches({}, {}) is True
    assert matches({"matchLabels": {}, "matchExpressions": []}, {"a": "b"}) is True


def test_match_labels_all_required():
    sel = {"matchLabels": {"release": "kps", "team": "shop"}}
    assert matches(sel, {"release": "kps", "team": "shop", "extra": "x"})
    assert unmet_requirements(sel, {"release": "other"}) == [
        "label release=kps (is 'other')", "label team=shop (missing)"]


@pytest.mark.parametrize("op,values,labels,expected", [
    ("In", ["a", "b"], {"k": "a"}, True),
    ("In", ["a", "b"], {"k": "c"}, False),
    ("In", ["a"], {}, False),
    ("NotIn", ["a"], {"k": "b"}, True),
    ("NotIn", ["a"], {}, True),
    ("NotIn", ["a"], {"k": "a"}, False),
    ("Exists", None, {"k": ""}, True),
    ("Exists", None, {}, False),
    ("DoesNotExist", None, {}, True),
    ("DoesNotExist", None, {"k": "x"}, False),
])
def test_match_expressions(op, values, labels, expected):
    expr = {"key": "k", "operator": op}
    if values:
        expr["values"] = values
    assert matches({"matchExpressions": [expr]}, labels) is expected


def test_labels_and_expressions_are_anded():
    sel = {"matchLabels": {"release": "kps"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}
    assert not matches(sel, {"release": "kps"})
    assert matches(sel, {"release": "kps", "tier": "x"})
    assert unmet_requirements(sel, {"release": "kps"}) == ["tier (missing)"]


@pytest.mark.parametrize("bad", [
    {"matchExpressions": [{"key": "k", "operator": "Equals", "values": ["a"]}]},
    {"matchExpressions": [{"key": "k", "operator": "In"}]},
    {"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["a"]}]},
    {"matchExpressions": [{"operator": "Exists"}]},
    {"matchLabels": ["release"]},
    "release=kps",
])
def test_bad_selectors_raise_naming_the_value(bad):
    with pytest.raises(SelectorError):
        unmet_requirements(bad, {})


def test_selector_text():
    assert selector_text(None) == "<null: selects nothing>"
    assert selector_text({}) == "<{}: selects everything>"
    assert selector_text({"matchLabels": {"release": "kps"}, "matchExpressions": [
        {"key": "t", "operator": "NotIn", "values": ["a", "b"]}, {"key": "x", "operator": "DoesNotExist"}]}) == \
        "release=kps,t notin (a,b),!x"


def test_labels_to_satisfy_adds_only_what_is_derivable_and_never_overwrites():
    sel = {"matchLabels": {"release": "kps"}, "matchExpressions": [
        {"key": "role", "operator": "In", "values": ["rules"]},
        {"key": "tier", "operator": "In", "values": ["a", "b"]},
        {"key": "team", "operator": "Exists"}]}
    assert labels_to_satisfy(sel, {}) == {"release": "kps", "role": "rules"}
    assert labels_to_satisfy(sel, {"release": "other"}) == {"role": "rules"}
    assert labels_to_satisfy(None, {}) == {}
    assert labels_to_satisfy({}, {}) == {}


def test_merge_labels_keeps_existing_values():
    assert merge_labels({"a": "1"}, {"a": "2", "b": "3"}) == {"a": "1", "b": "3"}
    assert merge_labels(None, None) == {}


def test_namespace_selector_null_means_own_namespace_only():
    assert namespace_selected(None, "monitoring", "monitoring", {}) == (True, "")
    ok, reason = namespace_selected(None, "monitoring", "shop", {})
    assert not ok and "selects only its own namespace monitoring" in reason
    assert namespace_selected({}, "monitoring", "shop", {})[0] is True


def test_namespace_selector_uses_labels_and_metadata_name():
    sel = {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}
    assert namespace_selected(sel, "monitoring", "shop", {})[0] is True
    assert namespace_selected(sel, "monitoring", "other", {})[0] is False
    calls = []

    def lookup(ns):
        calls.append(ns)
        return {"monitoring": "on"}

    assert namespace_selected({"matchLabels": {"monitoring": "on"}}, "m", "shop", lookup) == (True, "")
    assert calls == ["shop"]
    # Namespace labels are not looked up when the selector does not need them.
    namespace_selected({}, "m", "shop", lookup)
    namespace_selected(None, "m", "shop", lookup)
    assert calls == ["shop"]


def _prom(name, ns, sel, ns_sel=None, rule_sel=None):
    spec = {}
    if sel is not None:
        spec["serviceMonitorSelector"] = sel
    if ns_sel is not None:
        spec["serviceMonitorNamespaceSelector"] = ns_sel
    if rule_sel is not None:
        spec["ruleSelector"] = rule_sel
        spec["ruleNamespaceSelector"] = {}
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_plan_selection_adds_release_label():
    proms = [_prom("kps", "monitoring", {"matchLabels": {"release": "kps"}}, {})]
    plan = plan_selection(proms, "ServiceMonitor", "shop", {"app": "x"}, {})
    assert plan["labels"] == {"app": "x", "release": "kps"}
    assert plan["added"] == {"release": "kps"}
    assert plan["selected_by"] == ["monitoring/kps"] and plan["reasons"] == []


def test_plan_selection_without_adding_labels_reports_reason():
    proms = [_prom("kps", "monitoring", {"matchLabels": {"release": "kps"}}, {})]
    plan = plan_selection(proms, "ServiceMonitor", "shop", {}, {}, add_labels=False)
    assert plan["selected_by"] == []
    assert plan["reasons"] == ["Prometheus monitoring/kps: serviceMonitorSelector release=kps does not match the "
                               "ServiceMonitor's labels: label release=kps (missing)"]


def test_plan_selection_namespace_and_label_problems_together():
    proms = [_prom("kps", "monitoring", None, None)]
    plan = plan_selection(proms, "ServiceMonitor", "shop", {}, {})
    assert plan["selected_by"] == []
    reason = plan["reasons"][0]
    assert "serviceMonitorNamespaceSelector: its namespace selector is null" in reason
    assert "the selector is null, which selects nothing" in reason


def test_plan_selection_one_of_several_is_enough():
    proms = [_prom("a", "monitoring", {"matchLabels": {"release": "a"}}, None),
             _prom("b", "monitoring", {"matchLabels": {"release": "b"}}, {})]
    plan = plan_selection(proms, "ServiceMonitor", "shop", {}, {})
    # Both releases' labels cannot hold at once: the first wins, the second is not overwritten.
    assert plan["labels"] == {"release": "a"}
    assert plan["selected_by"] == []
    plan = plan_selection(proms, "ServiceMonitor", "shop", {"release": "b"}, {})
    assert plan["selected_by"] == ["monitoring/b"]
    assert len(plan["reasons"]) == 1 and plan["reasons"][0].startswith("Prometheus monitoring/a:")


def test_plan_selection_rule_fields():
    proms = [_prom("kps", "monitoring", None, None, rule_sel={"matchLabels": {"release": "kps"}})]
    plan = plan_selection(proms, "PrometheusRule", "shop", {}, {})
    assert plan["selected_by"] == ["monitoring/kps"] and plan["added"] == {"release": "kps"}
    with pytest.raises(SelectorError):
        plan_selection(proms, "PodMonitor", "shop", {}, {})
