"""The export folder contract: `exports/<version>/` and `exports/LATEST`, and the one way to pick an export.

Train, evaluate and the review sheet all call `resolve_export`, so "latest" means the same export
everywhere: the version `exports/LATEST` names (written last, atomically, by the export stage), never
the newest folder by modification time. Plain paths only: `model/` uses this module too.
"""
from __future__ import annotations

from pathlib import Path

LATEST = "LATEST"


class NoSuchExport(FileNotFoundError):
    """The export version (or LATEST) asked for is not under exports/."""


def latest_version(exports: Path) -> str:
    """The version exports/LATEST names; NoSuchExport when there is none."""
    marker = Path(exports) / LATEST
    version = marker.read_text().strip() if marker.is_file() else ""
    if not version:
        raise NoSuchExport(f"{exports}: no export yet, so no LATEST export to use; run `gemflow export` first")
    return version


def resolve_export(exports: Path, version: str | None = None, need: str = "pairs.parquet") -> Path:
    """The folder exports/<version> (None or "latest": the one LATEST names) holding the file `need`."""
    exports = Path(exports)
    version = latest_version(exports) if version in (None, "latest") else version
    folder = exports / version
    if not (folder / need).is_file():
        known = sorted(p.name for p in exports.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if exports.is_dir() else []
        raise NoSuchExport(f"export {version!r} (its {need}) not found under {exports} "
                           f"(known: {', '.join(known) or 'none'})")
    return folder
