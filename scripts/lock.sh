#!/usr/bin/env bash
# Writes requirements.lock: every Python package the project installs, at an exact version with its
# hashes, for every platform and Python 3.11+ (scripts/setup.sh installs from it and nothing else).
#
#   scripts/lock.sh              re-resolve after a change to pyproject.toml, keeping the locked versions
#   scripts/lock.sh --upgrade    take the newest versions pyproject.toml allows
#
# Upgrading is a commit of the new lock, proven by its CI run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
upgrade=()
for arg in "$@"; do
    case "$arg" in
        --upgrade) upgrade=(--upgrade) ;;
        *) printf 'lock.sh: unknown option %s (expected --upgrade)\n' "$arg" >&2; exit 2 ;;
    esac
done
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet --require-hashes -r "$ROOT/scripts/uv.requirements"
cd "$ROOT"
# pip and setuptools are locked too: the project is installed without build isolation, from the lock alone.
printf 'pip\nsetuptools>=68\n' | "$tools/venv/bin/uv" pip compile pyproject.toml - --extra dev \
    --universal --python-version 3.11 --generate-hashes --quiet "${upgrade[@]}" \
    --custom-compile-command "scripts/lock.sh" --output-file requirements.lock
echo "requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) packages"
