#!/usr/bin/env bash
# Proves that README.rst's two commands pass on a machine without system
# PostgreSQL or Redis servers: clones this repository's HEAD into a scratch
# folder, hides every redis-server, initdb, pg_ctl and postgres found on PATH,
# then runs what the README tells a newcomer to run, in a new virtual
# environment. Arguments are passed on to run-tests.sh (and so to pytest).
#
# Usage: tools/bare_machine_check.sh [PYTEST_ARGS...]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/workflow-bare-XXXXXX")
# A test's child process may still be writing its coverage file as the run
# ends: try the clean-up twice, and never let it change the exit status.
clean_up() {
    local status=$?
    rm -rf "$scratch" 2>/dev/null || { sleep 2; rm -rf "$scratch" || true; }
    exit "$status"
}
trap clean_up EXIT

hidden=(redis-server redis-cli initdb pg_ctl postgres)

# A PATH of one folder holding a link to every command of the current PATH
# but the hidden ones (the first found wins, as it would on PATH).
shims="$scratch/path"
mkdir -p "$shims"
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    [ -d "$dir" ] || continue
    for command in "$dir"/*; do
        name=$(basename "$command")
        [ -x "$command" ] && [ ! -d "$command" ] || continue
        [ -e "$shims/$name" ] && continue
        case " ${hidden[*]} " in *" $name "*) continue ;; esac
        ln -s "$command" "$shims/$name"
    done
done
export PATH="$shims"
for name in "${hidden[@]}"; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "bare_machine_check: $name is still on PATH" >&2
        exit 1
    fi
done

git clone -q "$repo" "$scratch/workflow"
cd "$scratch/workflow"

echo "== README: a virtual environment"
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate

echo "== README: install and run the example"
# The README's own command line, so that this check follows the README.
example=$(grep -m 1 "^    pip install '\.\[" README.rst)
echo "+${example}"
set +e
eval "$example"
status=$?
set -e
# The example halts at the first failing grade: exit status 3, "halted".
if [ "$status" != 3 ]; then
    echo "bare_machine_check: the example exited $status, not 3 (halted)" >&2
    exit 1
fi

echo "== README: ./run-tests.sh"
grep -q "^    ./run-tests.sh$" README.rst
./run-tests.sh "$@"
