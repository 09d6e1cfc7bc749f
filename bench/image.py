"""The container image: its size, what dominates it, and the time from start to a healthy
``/health``.

    make image && python bench/image.py [--image lamdis:latest] [--starts 7]

Each start is ``buildah run --isolation chroot IMAGE -- lamdis serve`` (this sandbox refuses
``podman run``) with the local store and a token, timed from the ``buildah run`` call to the
first 200 from ``/health`` on the host, then stopped. ``buildah run`` adds its own set-up to
every start (timed separately as ``buildah run -- true``), so the serve-only figure is the
difference. Sizes are read from the image's layers and the files of a mounted container.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def du(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            if not full.is_symlink():
                total += full.stat().st_size
    return total


def sizes(image: str) -> dict[str, int]:
    ctr = subprocess.run(
        ["buildah", "from", "--pull=never", "--quiet", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        mnt = Path(
            subprocess.run(
                ["buildah", "mount", ctr], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        site = mnt / "opt/lamdis/lib/python3.11/site-packages"
        out = {
            "python3 (Debian: /usr/lib/python3.11)": du(mnt / "usr/lib/python3.11"),
            "shared libraries (/usr/lib/x86_64-linux-gnu)": du(mnt / "usr/lib/x86_64-linux-gnu"),
            "the venv (/opt/lamdis)": du(mnt / "opt/lamdis"),
        }
        packages = sorted(((du(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True)
        for size, name in packages[:8]:
            out[f"  site-packages/{name}"] = size
        return out
    finally:
        subprocess.run(["buildah", "umount", ctr], capture_output=True, check=False)
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)


def one_start(ctr: str) -> float:
    port = free_port()
    argv = ["buildah", "run", "--isolation", "chroot", "--env", f"PORT={port}",
            "--env", "LAMDIS_API_TOKEN=bench", ctr, "--", "lamdis", "serve"]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.02)
        raise RuntimeError("never healthy")
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server inside: killing `buildah run` would orphan it."""
    import psutil

    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if child.cmdline()[1:3] == ["/opt/lamdis/bin/lamdis", "serve"]:
                child.terminate()
        except psutil.NoSuchProcess:  # buildah's short-lived helpers come and go
            continue
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="localhost/lamdis:latest")
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()
    inspect = json.loads(
        subprocess.run(
            ["podman", "image", "inspect", args.image], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    print(f"image {args.image}: {inspect['Size'] / 1e6:.1f} MB uncompressed")
    for label, size in sizes(args.image).items():
        print(f"  {label}: {size / 1e6:.1f} MB")
    ctr = subprocess.run(
        ["buildah", "from", "--pull=never", "--quiet", args.image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        overhead = []
        for _ in range(3):
            t0 = time.monotonic()
            subprocess.run(
                ["buildah", "run", "--isolation", "chroot", ctr, "--", "true"], check=True
            )
            overhead.append(time.monotonic() - t0)
        starts = [one_start(ctr) for _ in range(args.starts)]
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)
    print(f"buildah run -- true: median {statistics.median(overhead):.2f} s")
    print(
        f"start to healthy /health over {len(starts)} starts: median {statistics.median(starts):.2f} s, "
        f"min {min(starts):.2f} s, max {max(starts):.2f} s "
        f"(serve alone, median minus buildah's set-up: {statistics.median(starts) - statistics.median(overhead):.2f} s)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
