"""The CLI's plain-text tables: columns padded to their widest cell, the last one left as is."""

from __future__ import annotations

from collections.abc import Sequence


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print ``rows`` (the first is the header) as aligned columns."""
    if not rows:
        return
    padded = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(padded)]
    for row in rows:
        print("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[padded]]))
