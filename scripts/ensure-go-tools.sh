#!/usr/bin/env bash
# Builds the Go tools the packaging tests use (actionlint for the workflows and action.yml,
# helm for the chart) with the machine's Go toolchain, once, into ~/.cache/lamdis/bin.
# A fresh machine builds them in a few minutes (helm dominates); later runs find them cached.
# Prints nothing when both are already there.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
HELM_VERSION=v3.22.0
BIN="${LAMDIS_CACHE_DIR:-$HOME/.cache/lamdis}/bin"
mkdir -p "$BIN"

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "ensure-go-tools: the Go toolchain (go) is needed to build $1;" \
      "install Debian's golang-go package or Go from go.dev" >&2
    exit 1
  fi
}

# build NAME VERSION PACKAGE [LDFLAGS]: go install into a private GOBIN, then rename to a
# versioned file so a version bump rebuilds instead of reusing a stale binary.
build() {
  local name=$1 version=$2 package=$3 ldflags=${4:-}
  local target="$BIN/$name-$version"
  if [[ -x "$target" ]]; then
    ln -sf "$name-$version" "$BIN/$name"
    return
  fi
  need_go "$name"
  echo "ensure-go-tools: building $name $version with $(go version | cut -d' ' -f3) (once)" >&2
  local tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags="-s -w $ldflags" "$package@$version"
  mv "$tmp/$name" "$target"
  rmdir "$tmp"
  ln -sf "$name-$version" "$BIN/$name"
}

build actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint \
  "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
