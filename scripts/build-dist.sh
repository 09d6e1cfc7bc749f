#!/usr/bin/env bash
# Builds every package's wheel and sdist into OUT (default dist/) and checks their metadata
# with twine. The result is a wheelhouse: `pip install --find-links OUT 'lamdis-http[postgres]'`
# takes the lamdis packages from it and their dependencies from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}
OUT=${1:-dist}
rm -rf "$OUT"
"$UV" build --all-packages --out-dir "$OUT" --quiet
"$UV" run --no-sync twine check --strict "$OUT"/*
