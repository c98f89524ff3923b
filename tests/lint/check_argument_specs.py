#!/usr/bin/env python3
"""Every role has meta/argument_specs.yml whose options match defaults/main.yml exactly:
same variable names, and each spec default equal to the defaults file value (compared as YAML data).
Prints one line per problem and exits 1 when there is any."""
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def check_role(role_dir):
    problems = []
    name = os.path.basename(role_dir)
    spec_path = os.path.join(role_dir, "meta", "argument_specs.yml")
    defaults_path = os.path.join(role_dir, "defaults", "main.yml")
    if not os.path.exists(spec_path):
        return ["%s: meta/argument_specs.yml is missing" % name]
    spec = load(spec_path).get("argument_specs", {}).get("main", {}).get("options", {}) or {}
    defaults = load(defaults_path) if os.path.exists(defaults_path) else {}
    for var in sorted(set(defaults) - set(spec)):
        problems.append("%s: default %s has no entry in meta/argument_specs.yml" % (name, var))
    for var in sorted(set(spec) - set(defaults)):
        if spec[var].get("required"):
            continue
        problems.append("%s: argument spec %s has no default in defaults/main.yml (mark it required or add it)" % (name, var))
    for var in sorted(set(spec) & set(defaults)):
        opt = spec[var]
        if "default" not in opt:
            problems.append("%s: argument spec %s lacks the default %r" % (name, var, defaults[var]))
        elif opt["default"] != defaults[var]:
            problems.append("%s: %s default differs: argument_specs %r, defaults/main.yml %r"
                            % (name, var, opt["default"], defaults[var]))
        if not opt.get("description"):
            problems.append("%s: argument spec %s has no description" % (name, var))
        if not var.startswith(name.lstrip("_") + "_") and not var.startswith("_" + name.lstrip("_") + "_"):
            problems.append("%s: variable %s is not prefixed with the role name" % (name, var))
    return problems


def main():
    roles_dir = os.path.join(ROOT, "roles")
    problems = []
    roles = sorted(d for d in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, d)))
    for role in roles:
        problems += check_role(os.path.join(roles_dir, role))
    for p in problems:
        print(p)
    print("argument_specs: %d roles checked, %d problems" % (len(roles), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
