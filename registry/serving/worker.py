"""What each worker process serves."""

from __future__ import annotations

from starlette.applications import Starlette

from registry.app import create_app
from registry.config import Settings


def worker_app(settings: Settings) -> Starlette:
    """The app, opening storage without migrating: the parent ran the migrations once
    before any worker started."""
    return create_app(settings, migrate=False)
