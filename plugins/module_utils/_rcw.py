# -*- coding: utf-8 -*-
# Copyright (c) hybridmon.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE module_utils: not a public API of this collection. It may change without notice; only
# the modules and plugins of hybridmon.monitoring may import it.
"""Read-compare-write: the skeleton every REST-backed module of this collection follows.

A subclass says how to read the current object, how to build the desired one, how to normalize
both for comparison, and how to create, update and delete.  ``run()`` does the rest the same way
for every module:

* the comparison always runs, also in check mode (only the writes are skipped there);
* ``changed`` comes from comparing the normalized forms, never from what a write returned;
* ``diff`` (``before``/``after``) is produced when the module runs with ``--diff`` and something
  changed, with every secret path replaced by a mask so secrets never reach the output.

Secret handling: values at ``secret_paths`` (tuples of keys into the normalized object) are
masked in diffs.  APIs that never return secrets (write-only fields) cannot be compared; a
subclass should compare a salted hash of what it last wrote instead (see ``secret_digest``).
"""

import copy
import hashlib
import hmac
import json
import os

MASK = "********"
_DIGEST_SCHEME = "pbkdf2-sha256"
_DIGEST_ROUNDS = 60000


def secret_digest(secrets, salt=None):
    """A salted, slow digest of a dict of secrets: ``pbkdf2-sha256$rounds$salt$hex``.

    The digest is stored next to the object (where the API lets us store data we can read back)
    so later runs can tell "same secret" from "new secret" without the secret being readable.
    Pass the ``salt`` parsed from a stored digest to re-compute it for comparison.
    """
    if salt is None:
        salt = os.urandom(12).hex()
    material = json.dumps(secrets, sort_keys=True, separators=(",", ":")).encode("utf-8")
    value = hashlib.pbkdf2_hmac("sha256", material, salt.encode("ascii"), _DIGEST_ROUNDS).hex()
    return "%s$%d$%s$%s" % (_DIGEST_SCHEME, _DIGEST_ROUNDS, salt, value)


def secret_digest_matches(secrets, stored):
    """True when ``stored`` (a ``secret_digest`` string) was computed from exactly ``secrets``."""
    if not isinstance(stored, str):
        return False
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _DIGEST_SCHEME or parts[1] != str(_DIGEST_ROUNDS):
        return False
    try:
        parts[2].encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(secret_digest(secrets, salt=parts[2]), stored)


def mask_paths(data, paths, mask=MASK):
    """Deep copy of ``data`` with the value at each path (tuple of keys) replaced by ``mask``.

    A path ending in ``"*"`` masks every value of the mapping it points at.
    """
    result = copy.deepcopy(data)
    for path in paths:
        node = result
        for key in path[:-1]:
            if not isinstance(node, dict) or key not in node:
                node = None
                break
            node = node[key]
        if not isinstance(node, dict):
            continue
        last = path[-1]
        if last == "*":
            for key in node:
                node[key] = mask
        elif last in node:
            node[last] = mask
    return result


class ReadCompareWrite:
    """Base class for idempotent REST resources. Subclass and implement the hooks.

    Hooks (``current`` is what ``read()`` returned, ``None`` when the object does not exist):

    * ``read()`` -> current object or None
    * ``desired(current)`` -> the object the module should end up with (state=present)
    * ``normalize(obj)`` -> comparable form (default: a deep copy)
    * ``create(desired)`` / ``update(current, desired)`` / ``delete(current)`` -> the API answer
    * ``result(current, desired, answer)`` -> extra keys for the module result

    ``secret_paths`` lists paths (into the normalized form) masked in diffs.
    """

    secret_paths = ()
    state_param = "state"

    def __init__(self, module):
        self.module = module
        self.check_mode = module.check_mode

    # -- hooks --------------------------------------------------------------------------------
    def read(self):
        raise NotImplementedError

    def desired(self, current):
        raise NotImplementedError

    def normalize(self, obj):
        return copy.deepcopy(obj)

    def differs(self, before, after):
        return before != after

    def create(self, desired):
        raise NotImplementedError

    def update(self, current, desired):
        raise NotImplementedError

    def delete(self, current):
        raise NotImplementedError

    def result(self, current, desired, answer):
        return {}

    def diff_view(self, normalized):
        """What ``--diff`` shows for a normalized object: masked, as canonical JSON-able data."""
        if normalized is None:
            return {}
        return mask_paths(normalized, self.secret_paths)

    # -- driver -------------------------------------------------------------------------------
    def run(self):
        state = self.module.params.get(self.state_param, "present")
        current = self.read()
        before = self.normalize(current) if current is not None else None
        desired = None
        answer = None
        if state == "absent":
            after = None
            changed = current is not None
            if changed and not self.check_mode:
                answer = self.delete(current)
        else:
            desired = self.desired(current)
            after = self.normalize(desired)
            changed = current is None or self.differs(before, after)
            if changed and not self.check_mode:
                answer = self.create(desired) if current is None else self.update(current, desired)
        out = dict(changed=changed)
        if changed and self.module._diff:
            out["diff"] = dict(before=self.diff_view(before), after=self.diff_view(after))
        out.update(self.result(current, desired, answer))
        return out
