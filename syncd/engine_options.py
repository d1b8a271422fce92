"""Each engine's options, read from the settings: the engines take options, never the settings."""

from __future__ import annotations

import datetime as dt

from syncd.netpolicy import AddressPolicy
from syncd.replay import ReplayOptions
from syncd.settings import Settings
from syncd.sync import SyncOptions
from syncd.webhooks import WebhookOptions


def sync_options(settings: Settings) -> SyncOptions:
    return SyncOptions(
        availability_days=settings.availability_days,
        incremental_overlap=dt.timedelta(seconds=settings.incremental_overlap_s),
        api_timezone=settings.api_timezone,
    )


def replay_options(settings: Settings) -> ReplayOptions:
    return ReplayOptions(
        batch_size=settings.replay_batch_size,
        concurrency=settings.replay_concurrency,
        max_attempts=settings.replay_max_attempts,
        max_age_s=settings.replay_max_age_s,
        api_timezone=settings.api_timezone,
    )


def webhook_options(settings: Settings) -> WebhookOptions:
    return WebhookOptions(
        batch=settings.webhook_batch,
        retry_for_s=settings.webhook_retry_for_s,
        timeout_s=settings.webhook_timeout_s,
        connect_timeout_s=settings.webhook_connect_timeout_s,
        policy=AddressPolicy.from_settings(settings.webhook_allow_private, settings.webhook_allow_cidrs),
    )
