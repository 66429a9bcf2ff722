"""Sizes and durations as people read them: 1.5 GiB, 3m05s."""

from __future__ import annotations

SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(size: float) -> str:
    """Bytes in binary units: 0 B, 512 B, 1.5 KiB, 12.0 MiB."""
    for unit in SIZE_UNITS[:-1]:
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} {SIZE_UNITS[-1]}"


def format_duration(seconds: float) -> str:
    """Whole seconds, then minutes and hours: 7s, 3m05s, 2h03m."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
