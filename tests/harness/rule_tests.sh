#!/usr/bin/env bash
# `make test` step: the shipped rule files pass `promtool check rules`, and every unit test under tests/promtool/
# passes `promtool test rules` (promtool from the release mirror named in $HM_CACHE/harness.yml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${HM_CACHE:-/var/cache/hybridmon}
mirror=$(sed -n 's/^hm_mirror_dir: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$cache/harness.yml")
promtool="$mirror/bin/promtool"
[ -x "$promtool" ] || { echo "promtool not found at $promtool (run tests/harness/prepare.sh)" >&2; exit 1; }
shopt -s nullglob
rules=("$root"/roles/*/files/rules/*.yml)
tests=("$root"/tests/promtool/*.test.yml)
[ ${#rules[@]} -gt 0 ] || { echo "no rule files under roles/*/files/rules" >&2; exit 1; }
[ ${#tests[@]} -gt 0 ] || { echo "no unit tests under tests/promtool" >&2; exit 1; }
"$promtool" check rules "${rules[@]}"
rc=0
for t in "${tests[@]}"; do
  echo "== promtool test rules ${t#"$root"/}"
  (cd "$(dirname "$t")" && "$promtool" test rules "$(basename "$t")") || rc=1
done
exit $rc
