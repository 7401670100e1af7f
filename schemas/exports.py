"""The export folder contract: `exports/<version>/` and `exports/LATEST`, the file naming the latest version.

The export stage writes `exports/LATEST` last, atomically. The one rule that reads it (train, evaluate,
the review sheet and the catalog all use it, on local and s3:// roots alike) is storage/exports.py.
"""
from __future__ import annotations

LATEST = "LATEST"


class NoSuchExport(FileNotFoundError):
    """The export version (or LATEST) asked for is not under exports/."""
