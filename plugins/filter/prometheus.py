# -*- coding: utf-8 -*-
# Copyright: hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for Prometheus service discovery: inventory to file_sd groups, durations, label names.

Each filter is documented in its own file next to this one (prometheus_file_sd_groups.yml,
prometheus_duration.yml, prometheus_label_name.yml).
"""

import math
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.hybridmon.monitoring.plugins.module_utils._prometheus_sd import (
    PrometheusSDError,
    format_duration,
    join_host_port,
    label_key,
    normalize_label_value,
    normalize_labels,
    parse_duration,
    render_groups,
    sanitize_label_name,
    validate_label_name,
)

_MISSING = object()


def _host_var(host_vars, name):
    try:
        value = host_vars[name]
    except KeyError:
        return _MISSING
    except Exception as exc:  # e.g. an undefined variable inside the value's template
        raise AnsibleFilterError("cannot read variable %r: %s" % (name, exc))
    return value


def _label_sources(label_vars):
    if label_vars is None:
        return []
    if isinstance(label_vars, Mapping):
        pairs = list(label_vars.items())
    elif isinstance(label_vars, (list, tuple)):
        pairs = [(name, name) for name in label_vars]
    else:
        raise AnsibleFilterError(
            "prometheus_file_sd_groups: label_vars must be a mapping of label name to variable name or a list of "
            "variable names, got %r" % (label_vars,))
    for label, var in pairs:
        if not isinstance(var, str):
            raise AnsibleFilterError("prometheus_file_sd_groups: label_vars[%r]: variable name %r must be a string"
                                     % (label, var))
        try:
            validate_label_name(label)
        except PrometheusSDError as exc:
            raise AnsibleFilterError("prometheus_file_sd_groups: label_vars: %s" % exc)
    return pairs


def prometheus_file_sd_groups(hosts, hostvars, port=None, port_var=None, address_var="ansible_host",
                              labels=None, label_vars=None, job=None):
    """Build Prometheus file_sd target groups from inventory hosts."""
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(
            "prometheus_file_sd_groups: input must be a list of inventory host names, got %r" % (hosts,))
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("prometheus_file_sd_groups: hostvars must be a mapping (pass the 'hostvars' "
                                 "variable), got %s" % type(hostvars).__name__)
    try:
        static = normalize_labels(labels)
    except PrometheusSDError as exc:
        raise AnsibleFilterError("prometheus_file_sd_groups: labels: %s" % exc)
    if job is not None:
        if not isinstance(job, str) or job == "":
            raise AnsibleFilterError("prometheus_file_sd_groups: invalid job %r: must be a non-empty string" % (job,))
        if static.get("job", job) != job:
            raise AnsibleFilterError("prometheus_file_sd_groups: job %r conflicts with labels.job %r"
                                     % (job, static["job"]))
        static["job"] = job
    sources = _label_sources(label_vars)

    model = {}
    owner = {}  # target -> (host, label key), to catch two hosts claiming one address
    for host in hosts:
        if not isinstance(host, str):
            raise AnsibleFilterError("prometheus_file_sd_groups: host name %r must be a string" % (host,))
        try:
            host_vars = hostvars[host]
        except KeyError:
            raise AnsibleFilterError("prometheus_file_sd_groups: host %r is not in hostvars" % host)

        address = host
        if address_var:
            value = _host_var(host_vars, address_var)
            if value is not _MISSING and value is not None:
                address = value
        host_port = port
        if port_var:
            value = _host_var(host_vars, port_var)
            if value is not _MISSING and value is not None:
                host_port = value
        if host_port is None:
            raise AnsibleFilterError(
                "prometheus_file_sd_groups: no port for host %r: set the 'port' argument%s"
                % (host, " or the host variable %r" % port_var if port_var else ""))
        try:
            target = join_host_port(address, host_port)
        except PrometheusSDError as exc:
            raise AnsibleFilterError("prometheus_file_sd_groups: host %r: %s" % (host, exc))

        host_labels = dict(static)
        for label, var in sources:
            value = _host_var(host_vars, var)
            if value is _MISSING or value is None:
                continue
            try:
                host_labels[label] = normalize_label_value(label, value)
            except PrometheusSDError as exc:
                raise AnsibleFilterError("prometheus_file_sd_groups: host %r, variable %r: %s" % (host, var, exc))
        key = label_key(host_labels)
        if target in owner and owner[target][1] != key:
            raise AnsibleFilterError(
                "prometheus_file_sd_groups: target %r comes from host %r and host %r with different labels; "
                "a target must have one label set" % (target, owner[target][0], host))
        owner.setdefault(target, (host, key))
        model.setdefault(key, set()).add(target)
    return render_groups(model)


def prometheus_duration(value, output="string"):
    """Validate a Prometheus duration; return it canonical, or in seconds or milliseconds."""
    if isinstance(value, bool):
        raise AnsibleFilterError("prometheus_duration: invalid duration %r: expected a string such as '15s'" % value)
    try:
        if isinstance(value, (int, float)):
            if value < 0 or math.isnan(value) or math.isinf(value):
                raise PrometheusSDError("invalid duration %r: seconds must be a non-negative number" % (value,))
            ms = int(round(value * 1000))
            if abs(ms - value * 1000) > 1e-6:
                raise PrometheusSDError("invalid duration %r: Prometheus durations have millisecond precision"
                                        % (value,))
            # Reuse the string parser's range check.
            parse_duration(format_duration(ms))
        else:
            ms = parse_duration(value)
    except PrometheusSDError as exc:
        raise AnsibleFilterError("prometheus_duration: %s" % exc)
    if output == "string":
        return format_duration(ms)
    if output == "seconds":
        return ms / 1000.0
    if output == "milliseconds":
        return ms
    raise AnsibleFilterError(
        "prometheus_duration: invalid output %r: expected 'string', 'seconds' or 'milliseconds'" % (output,))


def prometheus_label_name(value, sanitize=False, allow_reserved=False):
    """Return a valid Prometheus label name, or fail naming the bad one."""
    try:
        if sanitize:
            return sanitize_label_name(value, allow_reserved=allow_reserved)
        return validate_label_name(value, allow_reserved=allow_reserved)
    except PrometheusSDError as exc:
        raise AnsibleFilterError("prometheus_label_name: %s" % exc)


class FilterModule:
    """Prometheus service discovery filters."""

    def filters(self):
        return {
            "prometheus_file_sd_groups": prometheus_file_sd_groups,
            "prometheus_duration": prometheus_duration,
            "prometheus_label_name": prometheus_label_name,
        }
