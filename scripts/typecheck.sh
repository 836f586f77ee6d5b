#!/bin/bash
# Type-check the three packages with mypy (configured in pyproject.toml, [tool.mypy]).
#
# The folders install as tokenbench.{emulators,verifier,bench} through setuptools' package-dir,
# and the editable install's import finder is invisible to mypy. So mypy reads them through a
# tree of links, build/typecheck/tokenbench/<folder> -> <folder>, rebuilt on every run (build/
# is ignored by git, by ruff, and by the wheel test's copy of the tree).
# Usage: scripts/typecheck.sh [extra mypy arguments]; MYPY overrides the mypy to run.
set -euo pipefail
cd "$(dirname "$0")/.."

tree=build/typecheck/tokenbench
mkdir -p "$tree"
for layer in emulators verifier bench; do
    ln -sfn "../../../$layer" "$tree/$layer"
done

"${MYPY:-.venv/bin/mypy}" -p tokenbench.emulators -p tokenbench.verifier -p tokenbench.bench "$@" | sed "s|^build/typecheck/tokenbench/||"
