"""Sequences the stateful tests found failing, replayed step by step (Hypothesis' `@example` does not
apply to state machines). Each runs the machine's own steps and checks, so it fails as it did then."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.integration.sync.test_stateful import _quiet, machine_for  # noqa: F401  (_quiet: autouse fixture)

pytestmark = pytest.mark.integration


def test_an_event_type_renamed_is_one_change_and_no_event_is_rewritten(engine: Engine) -> None:
    """Found under every profile: a full sync after renaming an event type recorded `event.updated`
    (fields: eventType) for each of its events, whose own fields had not changed."""
    machine = machine_for("default", engine)()
    machine.build(seed=1)
    machine.edit_event_type(pick=1, name="Intro call")
    machine.settle()
    machine.teardown()


def test_a_user_renamed_is_one_change_under_offset_datetimes(engine: Engine) -> None:
    """offset-datetimes: users were rewritten on every pass (the same instant written another way)."""
    machine = machine_for("offset-datetimes", engine)()
    machine.build(seed=7)
    machine.sync_full()
    machine.edit_user(pick=2, name="Zoë 🎉")
    machine.sync_incremental()
    machine.settle()
    machine.teardown()


@pytest.mark.parametrize("seed", [1, 526])
def test_a_wrong_typed_state_or_connections_is_rejected_until_it_heals(engine: Engine, seed: int) -> None:
    """malformed-objects: `state: 1` was stored as the state "1" and `connections: ""` as content, so
    the mirror held states upstream never had, and the healing was reported as a state change."""
    machine = machine_for("malformed-objects", engine)()
    machine.build(seed=seed)
    machine.settle()
    machine.teardown()


def test_an_object_rejected_directly_but_seen_nested_is_taken_over_once(engine: Engine) -> None:
    """chaos: an event type whose direct read was malformed arrived nested (partial copies) first."""
    machine = machine_for("chaos", engine)()
    machine.build(seed=1)
    machine.settle()
    machine.teardown()


def test_a_wall_time_in_the_repeated_autumn_hour_reads_as_the_first_instant(engine: Engine) -> None:
    """local-datetimes (deep run): an event at 01:30 UTC on 2026-10-25 is written `02:30:00` in
    Berlin, a wall time that names two instants; syncd reads the first, as documented."""
    machine = machine_for("local-datetimes", engine)()
    machine.build(seed=725)
    machine.settle()
    machine.teardown()


def test_a_rejected_event_deleted_by_an_intent_is_deleted(engine: Engine) -> None:
    """bare-lists, malformed-objects (deep run): a delete intent on an event whose answers are
    malformed deletes it; being rejected only keeps a pass from deleting it."""
    machine = machine_for("default", engine)()
    machine.build(seed=3)
    machine.malformed_for_a_while(pick=5, reads=3)
    machine.sync_full()
    assert machine.rejected
    machine.replay_intent(pick=5, kind="delete")
    machine.settle()
    machine.teardown()


def test_a_pass_may_read_an_event_between_two_silent_changes(engine: Engine) -> None:
    """silent-changes (deep run): two upstream changes to event 1021 during one full pass, the pass
    reading it between them; the mirror holds that middle state until the next pass, which the
    oracle must know of (it keeps every state seen while syncd read)."""
    machine = machine_for("silent-changes", engine)()
    machine.build(seed=1596)
    machine.notes(notes="n" * 2100, pick=187350)
    machine.edit_event_type(name="相談 30分", pick=510511)
    machine.sync_full_while_deleted(pick=4449)
    machine.sync_full_interrupted(page=3)
    machine.reschedule(days=50, minutes=90, pick=53194)
    machine.reschedule(days=-12, minutes=45, pick=1586)
    machine.sync_full()
    machine.sync_full_while_deleted(pick=762)
    machine.sync_incremental()
    machine.notes(notes="call back", pick=999999)
    machine.sync_incremental()
    machine.invite(pick=54784, who=2)
    machine.sync_full()
    machine.delete(pick=12728)
    machine.notes(notes='«ünïcødé» \\ "q" 📅', pick=4309)
    machine.sync_full()
    machine.sync_full_while_deleted(pick=246)
    machine.settle()
    machine.teardown()


def test_an_optional_field_cleared_upstream_is_null_under_absent_optional(engine: Engine) -> None:
    """absent-optional (undoing a rule by hand, not found by the sampled examples): a user's phone
    set, then cleared, is left out of the direct read; the mirror must hold null, not the old phone."""
    machine = machine_for("absent-optional", engine)()
    machine.build(seed=3)
    machine.set_user_optional_field(pick=0, name="phone", value="+33 1 23 45 67 89")
    machine.sync_full()
    machine.set_user_optional_field(pick=0, name="phone", value=None)
    machine.sync_full()
    machine.settle()
    machine.teardown()
