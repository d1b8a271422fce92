"""The naive baseline the issue asks for: sequential pages, one ORM `session.merge()` per event.

It is deliberately the obvious first implementation, and it does *less* than syncd: only the
flattened top row of each event (no child, link or referenced rows, no hash comparison). Its rate
is therefore an upper bound for the naive approach.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, registry

from syncd.api import ApiClient
from syncd.api.contract import DTOS
from syncd.api.paging import iter_pages
from syncd.db.mirror_tables import table_for
from syncd.mapping import content_hash, map_object
from syncd.resources import RESOURCES


@dataclass(frozen=True)
class BaselineResult:
    events: int
    pages: int
    wall_s: float
    partial: bool  # stopped at its time budget; the rate is still per event

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0


def run_baseline(engine: Engine, base_url: str, api_key: str, *, budget_s: float) -> BaselineResult:
    """Mirror events the naive way until the list ends or `budget_s` is spent."""
    resource = RESOURCES["events"]
    dto = DTOS[resource.dto]

    class EventRow:  # a fresh class per run: a class can be mapped only once
        def __init__(self, **columns: Any) -> None:
            for name, value in columns.items():
                setattr(self, name, value)

    registry().map_imperatively(EventRow, table_for(resource))
    events = pages = 0
    partial = False
    started = time.perf_counter()
    params = {"orderField": "id", "orderDirection": "asc"}
    with ApiClient(base_url, api_key, rate_limit_per_s=None) as client, Session(engine) as session:
        for page in iter_pages(client, "event.list", params, on_page=100):
            now = dt.datetime.now(dt.UTC)
            for obj in page.items:
                row = map_object(resource.name, dto, obj, resource.key).row
                row.update(
                    raw=obj,
                    content_hash=content_hash(obj),
                    first_synced_at=now,
                    synced_at=now,
                    deleted_at=None,
                )
                session.merge(EventRow(**row))
                events += 1
            session.commit()
            pages += 1
            if time.perf_counter() - started > budget_s:
                partial = True
                break
    return BaselineResult(events, pages, time.perf_counter() - started, partial)
