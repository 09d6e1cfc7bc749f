#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed: the web UI's browser tests drive it headless
# through Playwright's Python client (no browser download; the system executable is used).
set -euo pipefail
find_chromium() {
  # google-chrome: hosted CI runners (Ubuntu) ship it, and Ubuntu's chromium package is a snap stub.
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$name" >/dev/null 2>&1 && { command -v "$name"; return 0; }
  done
  return 1
}
if path=$(find_chromium); then
  echo "chromium: $path"
  exit 0
fi
echo "chromium: missing; installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
path=$(find_chromium) || { echo "chromium: install finished but no chromium executable" >&2; exit 1; }
echo "chromium: $path"
