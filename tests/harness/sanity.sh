#!/usr/bin/env bash
# ansible-test sanity needs the collection under .../ansible_collections/hybridmon/monitoring: copy the tracked and
# untracked-but-not-ignored files there (no docker; the venv's Python 3.11).
set -euo pipefail
source "$(dirname "$0")/env.sh"
dest="$HM_CACHE/sanity/ansible_collections/hybridmon/monitoring"
mkdir -p "$dest"
cd "$HM_ROOT"
git ls-files -co --exclude-standard -z | rsync -a --delete --from0 --files-from=- ./ "$dest/"
# rsync --files-from does not delete files gone from the tree: prune them
(cd "$dest" && find . -type f ! -path './tests/output/*' -print0) | while IFS= read -r -d '' f; do
  [ -e "$HM_ROOT/$f" ] || rm -f "$dest/$f"
done
cd "$dest"
# ansible-test fetches a pip bootstrap script from a host we cannot reach: give it our offline stand-in
pipver=$(python -c 'from ansible_test._internal.python_requirements import get_pip_version as v; print(v())' 2>/dev/null || echo 24.2)
mkdir -p ~/.ansible/test/cache
for v in "$pipver" 24.2 25.0 25.1 25.2 26.0; do
  cp "$HM_ROOT/tests/harness/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${v//./_}.py"
done
ansible-test sanity --color no --python 3.11 --local --skip-test shebang "$@"
