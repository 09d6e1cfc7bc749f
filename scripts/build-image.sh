#!/usr/bin/env bash
# make image: the lamdis container image, built here without any image registry.
#
#  1. podman, buildah and mmdebstrap: installed from Debian's packages when missing (as root
#     with apt-get), else a message naming the packages.
#  2. The base: debian:bookworm-slim made locally by mmdebstrap from Debian's packages
#     (minbase, merged /usr, no docs/man/locales: what the official slim image holds) and
#     imported under that name, once (`podman image exists` skips it afterwards).
#  3. The wheelhouse: make dist's wheels plus every dependency's wheel for Debian's Python
#     3.11 (pip download, binary wheels only), in build/wheelhouse.
#  4. podman build --isolation=chroot (the only isolation this sandbox allows), --pull=never.
#
# Environment: IMAGE (default lamdis:latest), EXTRAS (default postgres,mongo,openai,bedrock,otel).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-lamdis:latest}
EXTRAS=${EXTRAS-postgres,mongo,openai,bedrock,otel}
BASE=docker.io/library/debian:bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org}
UV=${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}

need=()
for tool in podman buildah mmdebstrap; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "build-image: installing ${need[*]} from Debian's packages" >&2
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"; } >&2 \
      || { echo "build-image: apt-get install ${need[*]} failed" >&2; exit 1; }
  else
    echo "build-image: make image needs ${need[*]}; install Debian's packages:" >&2
    echo "  sudo apt-get install mmdebstrap podman buildah" >&2
    exit 1
  fi
fi

if ! podman image exists "$BASE"; then
  echo "build-image: making $BASE with mmdebstrap (once)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --variant=minbase --mode=root --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$tmp/base.tar" \
    "deb $MIRROR/debian bookworm main" \
    "deb $MIRROR/debian bookworm-updates main" \
    "deb $MIRROR/debian-security bookworm-security main"
  podman import --quiet --change 'CMD ["bash"]' --change 'LABEL org.lamdis.base=mmdebstrap' \
    "$tmp/base.tar" "$BASE" >/dev/null
fi

echo "build-image: wheelhouse for Debian's Python 3.11" >&2
UV="$UV" bash scripts/build-dist.sh build/wheelhouse >/dev/null
rm -f build/wheelhouse/*.tar.gz
python3 -m pip download --quiet --disable-pip-version-check \
  --dest build/wheelhouse --find-links build/wheelhouse \
  --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any \
  "lamdis-http[postgres,mongo,openai,bedrock,otel]"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' packages/lamdis-http/pyproject.toml)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "build-image: podman build $IMAGE (EXTRAS=$EXTRAS)" >&2
podman build --isolation=chroot --pull=never --quiet --format docker \
  --build-arg "EXTRAS=$EXTRAS" --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -t "$IMAGE" -f Dockerfile . >/dev/null
podman image inspect "$IMAGE" --format 'build-image: {{index .RepoTags 0}} {{.Size}} bytes'
