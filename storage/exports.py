"""The one rule for picking an export, on any dataset root: `exports/<version>/`, "latest" = what `exports/LATEST` names.

Train (`export: latest`), evaluate, the review sheet and the catalog's `pairs` view all resolve their
export here, through `DataRoot`, which reads a local folder and an `s3://` root alike, so "latest"
means the same export everywhere and on every kind of root: the version `exports/LATEST` names
(written last, atomically, by the export stage), never the newest folder by modification time. The
folder contract itself (`LATEST`, `NoSuchExport`) is in schemas/exports.py.
"""
from __future__ import annotations

import re

from schemas.exports import LATEST, NoSuchExport
from storage.layout import DataRoot

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # one folder name under exports/: no `/`, no `..`


def latest_version(root: DataRoot) -> str:
    """The version exports/LATEST names; NoSuchExport when there is none (or it is empty)."""
    rel = f"exports/{LATEST}"
    version = root.read_text(rel).strip() if root.exists(rel) else ""
    if not version:
        raise NoSuchExport(f"{root.location}/exports: no export yet, so no LATEST export to use;"
                           " run `gemflow export` first")
    return version


def resolve_export(root: DataRoot, version: str | None = None, need: str = "pairs.parquet") -> str:
    """The export version to use: `version`, or (None / "latest") the one LATEST names; NoSuchExport unless
    `exports/<version>/<need>` is there (the message names the versions that are)."""
    version = latest_version(root) if version in (None, "latest") else version
    if not _VERSION.fullmatch(version) or not root.exists(f"exports/{version}/{need}"):
        known = [n for n in root.ls("exports", dirs_only=True) if not n.startswith(".")]
        raise NoSuchExport(f"export {version!r} (its {need}) not found under {root.location}/exports "
                           f"(known: {', '.join(known) or 'none'})")
    return version
