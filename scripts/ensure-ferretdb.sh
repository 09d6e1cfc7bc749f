#!/usr/bin/env bash
# Builds FerretDB (a MongoDB wire-protocol server) once into a cache folder; the Mongo tests
# start it with its SQLite backend on a free loopback port. Rebuilt only when missing (or when
# the cached binary cannot even print its version).
set -euo pipefail
VERSION="v1.24.2"
CACHE="${LAMDIS_CACHE_DIR:-$HOME/.cache/lamdis}/ferretdb-$VERSION"
if [ -x "$CACHE/ferretdb" ] && "$CACHE/ferretdb" --version >/dev/null 2>&1; then
  echo "ferretdb: $CACHE/ferretdb"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "ferretdb: Go is needed to build FerretDB $VERSION and is not on PATH" >&2; exit 1; }
mkdir -p "$CACHE"
echo "ferretdb: building $VERSION (first time only)"
# A plain `go install ...@$VERSION` gives a binary that panics at start-up: FerretDB embeds
# build/version/version.txt, which its release tooling generates and the module zip lacks.
# So: fetch the module, build from a writable copy with that one file written in.
SRC="$(GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[ -n "$SRC" ] && [ -d "$SRC" ] || { echo "ferretdb: go mod download gave no source folder" >&2; exit 1; }
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
cp -r "$SRC/." "$BUILD/"
chmod -R u+w "$BUILD"
echo "$VERSION" > "$BUILD/build/version/version.txt"
(cd "$BUILD" && GOFLAGS=-mod=mod go build -o "$CACHE/ferretdb.tmp" ./cmd/ferretdb)
mv "$CACHE/ferretdb.tmp" "$CACHE/ferretdb"
"$CACHE/ferretdb" --version | head -1
echo "ferretdb: $CACHE/ferretdb"
