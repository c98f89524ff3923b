#!/usr/bin/env bash
# `make test`: every check of the project, in order, each one's result counted; ends with "N passed, N failed".
# Usage: run_tests.sh [SCENARIO]   - with a scenario name only that Molecule scenario runs (other steps still do).
#        HM_STEPS="lint unit" run_tests.sh   - run only the named steps (prepare always runs).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scenario_filter=${1:-}
steps=${HM_STEPS:-"specs lint sanity unit rules build molecule"}
passed=0 failed=0
failures=()
logdir=${HM_LOGDIR:-/tmp/hybridmon-test-logs}
mkdir -p "$logdir"

t0=$(date +%s)
bash "$here/prepare.sh" || { echo "prepare failed"; echo "0 passed, 1 failed"; exit 1; }
source "$here/env.sh"
cd "$HM_ROOT" || exit 1

count_pytest() { # name logfile rc
  local line p f e
  line=$(grep -E '^=*[[:space:]]*[0-9]+ (passed|failed|error).* in [0-9.]+s' "$2" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  e=$(grep -oE '[0-9]+ error' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  p=${p:-0}; f=$(( ${f:-0} + ${e:-0} ))
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$1")
  echo "[test] $1: $p passed, $f failed ($(tail -1 "$2"))"
}

step() { # name command...  (one check)
  local name=$1; shift
  local log="$logdir/${name//[^A-Za-z0-9_.-]/_}.log" s rc
  s=$(date +%s)
  echo "[test] >>> $name"
  # ansible-lint installs the collection under ~/.ansible/collections, where Ansible would find it before this
  # tree: a copy left by an earlier run (or another checkout) must never be what a step tests
  rm -rf "$HOME/.ansible/collections/ansible_collections/hybridmon"
  "$@" >"$log" 2>&1; rc=$?
  if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "[test] $name: passed in $(( $(date +%s) - s ))s";
  else failed=$((failed + 1)); failures+=("$name"); echo "[test] $name: FAILED (rc=$rc) in $(( $(date +%s) - s ))s; last lines of $log:"; tail -40 "$log"; fi
}

pytest_step() { # name args...
  local name=$1; shift
  local log="$logdir/$name.log" rc s
  s=$(date +%s)
  echo "[test] >>> $name"
  HM_NO_SKIP=1 python -m pytest -p no:cacheprovider -q "$@" >"$log" 2>&1; rc=$?
  [ $rc -eq 5 ] && { echo "[test] $name: no tests collected"; failed=$((failed + 1)); failures+=("$name"); return; }
  count_pytest "$name" "$log" "$rc"
  [ $rc -eq 0 ] || grep -E '^(FAILED|ERROR)|Error' "$log" | head -40
  echo "[test] $name took $(( $(date +%s) - s ))s"
}

for s in $steps; do
  case $s in
    specs) step argument-specs python tests/lint/check_argument_specs.py ;;
    lint) step ansible-lint ansible-lint --offline --profile production --nocolor ;;
    sanity) step ansible-test-sanity bash "$here/sanity.sh" ;;
    unit)
      step k8s-apiserver-build bash tests/k8s/build_apiserver.sh
      pytest_step pytest-unit tests/unit tests/chart tests/integration ;;
    rules) [ -x "$here/rule_tests.sh" ] && step promtool-rule-tests bash "$here/rule_tests.sh" ;;
    build) step collection-build-install bash "$here/build_install_test.sh" ;;
    molecule)
      for d in molecule/*/molecule.yml; do
        sc=$(basename "$(dirname "$d")")
        [ -z "$scenario_filter" ] || [ "$sc" = "$scenario_filter" ] || continue
        step "molecule-$sc" molecule test -s "$sc"
        grep -E "^(TASKS RECAP|PLAY RECAP)" -A0 "$logdir/molecule-$sc.log" >/dev/null 2>&1 || true
      done ;;
    *) echo "unknown step $s"; failed=$((failed + 1)); failures+=("$s") ;;
  esac
done

echo "[test] total time $(( $(date +%s) - t0 ))s; logs in $logdir"
[ ${#failures[@]} -eq 0 ] || echo "[test] failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
