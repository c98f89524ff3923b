# Sourced by the Makefile targets and .ci/run: one place for the harness's paths and variables.
# shellcheck shell=bash
HM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export HM_ROOT
export HM_CACHE=${HM_CACHE:-/var/cache/hybridmon}
export HM_MIRROR_PORT=${HM_MIRROR_PORT:-18480}
export HM_NETWORK=${HM_NETWORK:-hybridmon}
export HM_VENV="$HM_ROOT/.venv"
export PATH="$HM_VENV/bin:$PATH"             # Molecule crashes unless the venv's bin is first on PATH
export ANSIBLE_COLLECTIONS_PATH="$HM_ROOT/.cache/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=true
export ANSIBLE_PIPELINING=true
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
export ANSIBLE_NOCOLOR=1
export ANSIBLE_HOST_KEY_CHECKING=false
export ANSIBLE_CALLBACK_RESULT_FORMAT=yaml
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export PY_COLORS=0
# the collection under its namespace path, for ansible and the unit tests
mkdir -p "$HM_ROOT/.cache/collections/ansible_collections/hybridmon"
[ -L "$HM_ROOT/.cache/collections/ansible_collections/hybridmon/monitoring" ] || \
  ln -sfn "$HM_ROOT" "$HM_ROOT/.cache/collections/ansible_collections/hybridmon/monitoring"
# host-side promtool/amtool from the release mirror (for rule tests, chart and k8s checks)
if [ -z "${HM_PROMTOOL:-}" ] && [ -f "$HM_CACHE/harness.yml" ]; then
  _m=$(sed -n 's/^hm_mirror_dir: "\(.*\)"$/\1/p' "$HM_CACHE/harness.yml")
  [ -x "$_m/bin/promtool" ] && export HM_PROMTOOL="$_m/bin/promtool" HM_AMTOOL="$_m/bin/amtool"
  unset _m
fi
