"""Reference resolution inside one config root, and folder walking.

A reference (``assistants/dev/v1``, ``personas/retail.json``) is tried against the
referencing file's folder, then each ancestor folder up to the config root; without an
extension ``.json``, ``.yaml`` and ``.yml`` are tried in that order. The first existing file
wins. Nothing outside the root is ever opened: a candidate that lies outside it, lexically or
after following symlinks, is refused and reported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs

from lamdis_core.domain.base import Record, Value

EXTENSIONS = (".json", ".yaml", ".yml")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__"})


def display(path: Path) -> str:
    """A path as shown to the user: relative to the working directory when below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@attrs.frozen(repr=False, eq=False)
class Resolution(Value):
    """Where a reference led. ``path`` is ``None`` on a miss or a refusal."""

    path: Path | None
    tried: tuple[Path, ...] = ()
    refused: tuple[Path, ...] = ()
    escaped_to: Path | None = None  # a hit whose real path lies outside the root

    def describe_miss(self, what: str, ref: str, root: Path) -> str:
        """The error message for a miss or refusal."""
        if self.escaped_to is not None:
            return (
                f"{what} {ref!r} resolves to {self.escaped_to}, outside the config root "
                f"{display(root)} (through a symlink); only files inside the root are read"
            )
        if not self.tried:
            return (
                f"{what} {ref!r} points outside the config root {display(root)}; "
                "references may only name files inside it"
            )
        message = f"{what} {ref!r} not found; tried: " + ", ".join(display(p) for p in self.tried)
        if self.refused:
            message += "; refused (outside the config root): " + ", ".join(
                str(p) for p in self.refused
            )
        return message


@attrs.define(repr=False, eq=False)
class Resolver(Record):
    """Resolves references and walks folders, never leaving ``root``."""

    root: Path

    def __attrs_post_init__(self) -> None:
        self.root = Path(os.path.realpath(self.root))

    def inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def real(self, path: Path) -> Path:
        return Path(os.path.realpath(path))

    def bases(self, from_dir: Path) -> list[Path]:
        """The folders a reference is tried against, nearest first."""
        from_dir = self.real(from_dir)
        out: list[Path] = []
        if self.inside(from_dir):
            current = from_dir
            while True:
                out.append(current)
                if current == self.root:
                    break
                current = current.parent
        if self.root not in out:
            out.append(self.root)
        return out

    @staticmethod
    def candidates(ref: str) -> list[str]:
        if ref.lower().endswith(EXTENSIONS):
            return [ref]
        return [ref + ext for ext in EXTENSIONS]

    def resolve(self, ref: str, from_dir: Path, *, folder: bool = False) -> Resolution:
        """Find the file (or, with ``folder``, the directory) ``ref`` names."""
        names = [ref] if folder else self.candidates(ref)
        bases = [Path("/")] if os.path.isabs(ref) else self.bases(from_dir)
        tried: list[Path] = []
        refused: list[Path] = []
        for base in bases:
            for name in names:
                candidate = Path(os.path.normpath(base / name))
                if not self.inside(candidate):
                    if candidate not in refused:
                        refused.append(candidate)
                    continue
                if candidate in tried:
                    continue
                tried.append(candidate)
                exists = candidate.is_dir() if folder else candidate.is_file()
                if not exists:
                    continue
                real = self.real(candidate)
                if not self.inside(real):
                    return Resolution(None, tuple(tried), tuple(refused), escaped_to=real)
                return Resolution(real, tuple(tried), tuple(refused))
        return Resolution(None, tuple(tried), tuple(refused))

    def walk(self, folder: Path) -> Iterator[tuple[Path, Path | None]]:
        """Config files below ``folder``, sorted: ``(path as found, real path or None)``.

        The real path is ``None`` when a symlink leads outside the root (the caller reports
        it). Hidden folders and ``node_modules`` are skipped; symlinked folders are not
        followed.
        """
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS
            )
            for name in sorted(filenames):
                if name.startswith(".") or not name.lower().endswith(EXTENSIONS):
                    continue
                path = Path(dirpath) / name
                real = self.real(path)
                yield path, (real if self.inside(real) else None)
