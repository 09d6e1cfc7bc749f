#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) are installed. The tests
# start their own throwaway cluster with them; nothing here starts a server.
set -euo pipefail
find_bindir() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}
if bindir=$(find_bindir); then
  echo "postgres: server binaries in $bindir"
  exit 0
fi
echo "postgres: server binaries missing; installing Debian's postgresql package"
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql >/dev/null
bindir=$(find_bindir) || { echo "postgres: install finished but initdb/pg_ctl are still missing" >&2; exit 1; }
echo "postgres: server binaries in $bindir"
