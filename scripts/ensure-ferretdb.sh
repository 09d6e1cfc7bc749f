#!/usr/bin/env bash
# Builds FerretDB (a MongoDB wire-protocol server) once into a cache folder; the Mongo tests
# start it with its SQLite backend on a free loopback port. Rebuilt only when missing.
set -euo pipefail
VERSION="v1.24.2"
CACHE="${LAMDIS_CACHE_DIR:-$HOME/.cache/lamdis}/ferretdb-$VERSION"
if [ -x "$CACHE/ferretdb" ]; then
  echo "ferretdb: $CACHE/ferretdb"
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "ferretdb: Go is needed to build FerretDB $VERSION and is not on PATH" >&2; exit 1; }
mkdir -p "$CACHE"
echo "ferretdb: building $VERSION with go install (first time only)"
GOBIN="$CACHE" GOFLAGS=-mod=mod go install "github.com/FerretDB/FerretDB/cmd/ferretdb@$VERSION"
echo "ferretdb: $CACHE/ferretdb"
