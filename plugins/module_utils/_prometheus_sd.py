# -*- coding: utf-8 -*-
# Copyright: hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus file_sd helpers shared by the prometheus_target module and the prometheus filters.

PRIVATE module_utils: the leading underscore means this is not a public API of the collection.
It may change or disappear in any release; do not import it from other collections or playbooks.

Pure logic only (no I/O): target address parsing, label name and value rules, Prometheus duration
parsing and formatting, and the canonical file_sd group model. Every error is a
``PrometheusSDError`` whose message names the offending value.
"""

import ipaddress
import re


class PrometheusSDError(ValueError):
    """Invalid input for Prometheus service discovery; the message names the bad value."""


# --------------------------------------------------------------------------------------------
# Label names and values
# --------------------------------------------------------------------------------------------

# The classic Prometheus label name rule. Prometheus 3 can accept UTF-8 names, but the classic
# rule works with every Prometheus version and every relabeling/PromQL context.
LABEL_NAME_PATTERN = "[a-zA-Z_][a-zA-Z0-9_]*"
_LABEL_NAME_RE = re.compile(LABEL_NAME_PATTERN)
_LABEL_SANITIZE_RE = re.compile(r"[^a-zA-Z0-9_]")
RESERVED_PREFIX = "__"


def validate_label_name(name, allow_reserved=False):
    """Return ``name`` when it is a valid Prometheus label name, else raise PrometheusSDError."""
    if not isinstance(name, str):
        raise PrometheusSDError(
            "invalid label name %r: must be a string, got %s" % (name, type(name).__name__))
    if not _LABEL_NAME_RE.fullmatch(name):
        raise PrometheusSDError(
            "invalid label name %r: must match %s" % (name, LABEL_NAME_PATTERN))
    if not allow_reserved and name.startswith(RESERVED_PREFIX):
        raise PrometheusSDError(
            "label name %r is reserved: names starting with '__' are internal to Prometheus "
            "and are dropped after relabeling" % name)
    return name


def sanitize_label_name(name, allow_reserved=False):
    """Turn ``name`` into a valid label name: invalid characters become ``_``, a leading digit gets a ``_`` prefix."""
    if not isinstance(name, str):
        raise PrometheusSDError(
            "invalid label name %r: must be a string, got %s" % (name, type(name).__name__))
    if name == "":
        raise PrometheusSDError("invalid label name '': a label name cannot be empty")
    fixed = _LABEL_SANITIZE_RE.sub("_", name)
    if fixed[0].isdigit():
        fixed = "_" + fixed
    return validate_label_name(fixed, allow_reserved=allow_reserved)


def normalize_label_value(name, value):
    """Return the string form of a label value. Strings pass; integers and floats are converted."""
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise PrometheusSDError(
            "invalid value %r for label %r: label values must be strings (or numbers), got %s"
            % (value, name, type(value).__name__))
    return value if isinstance(value, str) else str(value)


def normalize_labels(labels, allow_reserved=False):
    """Validate a label mapping and return a new dict with string values, keys sorted."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise PrometheusSDError("invalid labels %r: must be a mapping of label name to value" % (labels,))
    out = {}
    for name in sorted(labels, key=str):
        validate_label_name(name, allow_reserved=allow_reserved)
        out[name] = normalize_label_value(name, labels[name])
    return out


# --------------------------------------------------------------------------------------------
# Target addresses
# --------------------------------------------------------------------------------------------

# RFC 1123 host name labels; underscores are tolerated because internal DNS often uses them.
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_PORT_RE = re.compile(r"[1-9][0-9]{0,4}")


def _check_port(target, port):
    if not _PORT_RE.fullmatch(port):
        raise PrometheusSDError(
            "invalid target %r: port %r must be a decimal number from 1 to 65535 without leading zeros"
            % (target, port))
    number = int(port)
    if number > 65535:
        raise PrometheusSDError("invalid target %r: port %d is out of range 1-65535" % (target, number))
    return number


def _check_hostname(target, host):
    if host == "":
        raise PrometheusSDError("invalid target %r: the host part is empty" % (target,))
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253:
        raise PrometheusSDError("invalid target %r: host name is longer than 253 characters" % (target,))
    parts = name.split(".")
    for part in parts:
        if not _HOST_LABEL_RE.fullmatch(part):
            raise PrometheusSDError(
                "invalid target %r: %r is not a valid host name (letters, digits, '-', '_' and dots; "
                "each dot-separated part 1-63 characters, not starting or ending with '-')" % (target, host))
    if all(part.isdigit() for part in parts):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise PrometheusSDError("invalid target %r: %r is not a valid IPv4 address" % (target, host))


# Fast path for the common case (a DNS name or IPv4 address, then a port), one regex call per target;
# anything it does not accept goes through the detailed checks below, which also word the error.
_FAST_TARGET_RE = re.compile(
    r"((?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?)"
    r":([1-9][0-9]{0,4})")


def parse_target(target):
    """Split ``host:port`` (``[ipv6]:port`` for IPv6) into ``(host, port)``; raise on anything else."""
    # Exact type check on purpose: str subclasses take the full path below.
    if type(target) is str:  # pylint: disable=unidiomatic-typecheck
        match = _FAST_TARGET_RE.fullmatch(target)
        if match:
            host, port = match.groups()
            number = int(port)
            name_len = len(host) - 1 if host.endswith(".") else len(host)
            if number <= 65535 and name_len <= 253 and not host.replace(".", "").isdigit():
                return host, number
    return _parse_target_checked(target)


def _parse_target_checked(target):
    """The full checks of parse_target, each with its own error message."""
    if not isinstance(target, str):
        raise PrometheusSDError(
            "invalid target %r: must be a string 'host:port', got %s" % (target, type(target).__name__))
    if target == "" or target != target.strip() or any(c.isspace() for c in target):
        raise PrometheusSDError("invalid target %r: must be 'host:port' without whitespace" % (target,))
    if "/" in target or "@" in target or "?" in target or "#" in target:
        raise PrometheusSDError(
            "invalid target %r: must be 'host:port', not a URL (set the scheme and path in the scrape "
            "config)" % (target,))
    if target.startswith("["):
        close = target.find("]")
        if close < 0:
            raise PrometheusSDError("invalid target %r: missing ']' after the IPv6 address" % (target,))
        host = target[1:close]
        rest = target[close + 1:]
        if not rest.startswith(":"):
            raise PrometheusSDError(
                "invalid target %r: missing port, expected '[ipv6]:port'" % (target,))
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise PrometheusSDError("invalid target %r: %r is not a valid IPv6 address" % (target, host))
        return host, _check_port(target, rest[1:])
    if ":" not in target:
        raise PrometheusSDError("invalid target %r: missing port, expected 'host:port'" % (target,))
    host, port = target.rsplit(":", 1)
    if ":" in host:
        raise PrometheusSDError(
            "invalid target %r: IPv6 addresses must be written in brackets, e.g. '[::1]:9100'" % (target,))
    _check_hostname(target, host)
    return host, _check_port(target, port)


def validate_target(target):
    """Return ``target`` unchanged when it is a valid ``host:port`` address, else raise."""
    parse_target(target)
    return target


def join_host_port(host, port):
    """Build a target address from a host (name, IPv4 or IPv6) and a port, then validate it."""
    if isinstance(host, bool) or not isinstance(host, str) or host == "":
        raise PrometheusSDError("invalid host %r: must be a non-empty string" % (host,))
    if isinstance(port, bool) or not isinstance(port, (int, str)):
        raise PrometheusSDError("invalid port %r for host %r: must be an integer" % (port, host))
    port = str(port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        target = "[%s]:%s" % (host, port)
    else:
        target = "%s:%s" % (host, port)
    return validate_target(target)


# --------------------------------------------------------------------------------------------
# Durations (github.com/prometheus/common model.ParseDuration semantics)
# --------------------------------------------------------------------------------------------

_MS_PER = (
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
)
_DURATION_RE = re.compile(
    r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")
# Prometheus stores durations as int64 nanoseconds.
_MAX_MS = (2 ** 63 - 1) // 1000000


def parse_duration(value):
    """Parse a Prometheus duration string (``1h30m``, ``15s``, ``0``) into milliseconds."""
    if not isinstance(value, str):
        raise PrometheusSDError(
            "invalid duration %r: must be a string such as '15s' or '1h30m', got %s"
            % (value, type(value).__name__))
    if value == "":
        raise PrometheusSDError("invalid duration '': empty duration string")
    if value == "0":
        return 0
    match = _DURATION_RE.fullmatch(value)
    if not match:
        raise PrometheusSDError(
            "invalid duration %r: expected numbers with units in the order y, w, d, h, m, s, ms "
            "(for example '15s', '1h30m', '2d')" % (value,))
    total = 0
    for amount, (unit, mult) in zip(match.groups(), _MS_PER):
        if amount is not None:
            total += int(amount) * mult
    if total > _MAX_MS:
        raise PrometheusSDError("invalid duration %r: out of range (more than about 292 years)" % (value,))
    return total


def format_duration(milliseconds):
    """Format milliseconds the way Prometheus prints durations (``5400000`` -> ``1h30m``)."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int) or milliseconds < 0:
        raise PrometheusSDError("invalid duration %r: must be a non-negative number of milliseconds" % (milliseconds,))
    if milliseconds == 0:
        return "0s"
    remaining = milliseconds
    out = []
    for unit, mult in _MS_PER:
        # Like Prometheus: years and weeks only when they divide the whole value (90d, not 12w6d).
        if unit in ("y", "w") and remaining % mult:
            continue
        count, remaining = divmod(remaining, mult)
        if count:
            out.append("%d%s" % (count, unit))
    return "".join(out)


def normalize_duration(value):
    """Validate a duration and return its canonical Prometheus spelling (``90m`` -> ``1h30m``)."""
    return format_duration(parse_duration(value))


# --------------------------------------------------------------------------------------------
# file_sd target groups
# --------------------------------------------------------------------------------------------
#
# Model: a mapping ``label_key -> set(targets)`` where label_key is a tuple of sorted
# (name, value) pairs. Identical label sets share one group. The canonical rendering sorts groups
# by label key and targets by string, so the same content always renders to the same bytes.

def label_key(labels):
    return tuple(sorted(labels.items()))


def groups_from_data(data, source="file_sd data"):
    """Validate parsed file_sd content (list of {targets, labels}) and return the group model.

    Existing content is checked for structure only: targets must be strings, labels a mapping of
    strings. Addresses already in a file are not re-validated, so a hand-written entry never makes
    the file unmanageable; they are compared as exact strings.
    """
    if data is None:
        return {}
    if not isinstance(data, list):
        raise PrometheusSDError(
            "%s: expected a list of target groups, got %s" % (source, type(data).__name__))
    model = {}
    for index, group in enumerate(data):
        where = "%s: group %d" % (source, index)
        if not isinstance(group, dict):
            raise PrometheusSDError("%s: expected a mapping with 'targets' and 'labels', got %r" % (where, group))
        unknown = sorted(set(group) - {"targets", "labels"}, key=str)
        if unknown:
            raise PrometheusSDError("%s: unknown key(s) %s (only 'targets' and 'labels' are allowed)"
                                    % (where, ", ".join(repr(k) for k in unknown)))
        targets = group.get("targets") or []
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise PrometheusSDError("%s: 'targets' must be a list of strings, got %r" % (where, targets))
        labels = group.get("labels") or {}
        if not isinstance(labels, dict):
            raise PrometheusSDError("%s: 'labels' must be a mapping, got %r" % (where, labels))
        clean = {}
        for name, value in labels.items():
            if not isinstance(name, str):
                raise PrometheusSDError("%s: label name %r must be a string" % (where, name))
            try:
                clean[name] = normalize_label_value(name, value)
            except PrometheusSDError as exc:
                raise PrometheusSDError("%s: %s" % (where, exc))
        if not targets:
            continue
        model.setdefault(label_key(clean), set()).update(targets)
    return model


def render_groups(model):
    """Canonical list of target groups: ``[{'targets': [...sorted], 'labels': {...sorted}}]``."""
    out = []
    for key in sorted(model):
        targets = model[key]
        if targets:
            out.append({"targets": sorted(targets), "labels": dict(key)})
    return out


def target_index(model):
    """Map each target to the sorted tuple of label keys it appears under."""
    index = {}
    shared = set()
    for key, targets in model.items():
        for target in targets:
            if target in index:
                index[target] += (key,)
                shared.add(target)
            else:
                index[target] = (key,)
    for target in shared:
        index[target] = tuple(sorted(index[target]))
    return index


def apply_change(model, targets, labels, state="present", exclusive=False):
    """Return a new model with ``targets`` present (under ``labels``) or absent.

    A target address appears in at most one group after a ``present`` change: when it is already in
    the file under other labels it is moved. ``exclusive`` keeps only the targets named here.
    ``absent`` removes the targets from every group, whatever their labels.
    """
    wanted = set(targets)
    key = label_key(labels)
    after = {}
    if not (state == "present" and exclusive):
        for group_key, members in model.items():
            kept = members - wanted
            if kept:
                after[group_key] = kept
    if state == "present" and wanted:
        after.setdefault(key, set()).update(wanted)
    return after


def summarize_change(before, after):
    """Return (added, removed, relabeled) target lists between two models, each sorted."""
    if before == after:
        return [], [], []
    old = target_index(before)
    new = target_index(after)
    added = sorted(t for t in new if t not in old)
    removed = sorted(t for t in old if t not in new)
    relabeled = sorted(t for t, keys in new.items() if t in old and old[t] != keys)
    return added, removed, relabeled
