"""The /event endpoints: list, get, create, edit and the state-changing writes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from syncd.sandbox import model
from syncd.sandbox.errors import ApiError
from syncd.sandbox.generate import DAY, LOCATION_TYPES
from syncd.sandbox.profiles import shorten
from syncd.sandbox.query import (
    filter_date,
    filter_ints,
    filter_str,
    list_params,
    page_window,
    parse_php_query,
)
from syncd.sandbox.render import dumps_str
from syncd.sandbox.validate import check_email, json_body, parse_request_datetime
from syncd.sandbox.wire import Ids, Reply, Request, Route, empty_reply, json_reply, raw_json_reply, route
from syncd.sandbox.world import EVENT_ORDER_KEYS, Conflict, World

Predicate = Callable[[model.Event], bool]
STATUSES = ("upcoming", "past")  # filter[status]: undocumented values, inferred


class EventsApi:
    def __init__(self, world: World) -> None:
        self.w = world

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/event/list", self.list_events),
            route("POST", r"/event", self.create),
            route("PUT POST", r"/event/cancel/(\d+)", self.cancel),
            route("PUT POST", r"/event/cancel-list", self.cancel_list),
            route("DELETE", r"/event/delete-list", self.delete_list),
            route("PUT", r"/event/notes/(\d+)", self.notes),
            route("POST", r"/event/invite-participants/(\d+)", self.invite),
            route("PUT", r"/event/no-show/(\d+)", self.no_show),
            route("PUT", r"/event/no-show-list", self.no_show_list),
            route("PUT", r"/event/reschedule/(\d+)", self.reschedule),
            route("PUT", r"/event/resend-notification/(\d+)", self.resend_notification),
            route("GET", r"/event/(\d+)", self.get),
            route("PUT", r"/event/(\d+)", self.edit),
            route("DELETE", r"/event/(\d+)", self.delete),
        ]

    # -- reads ----------------------------------------------------------------------------------

    def get(self, req: Request, ids: Ids) -> Reply:
        return raw_json_reply(self.w.render.event_json(self.w.event(ids[0])))

    def list_events(self, req: Request, ids: Ids) -> Reply:
        p = list_params(parse_php_query(req.query), order_fields=EVENT_ORDER_KEYS, default_order="id")
        p = shorten(p, self.w.profile)
        if not p.skip_pagination:
            self.w.list_pass_read(p.page)
        ordered = self.w.sorted_events(p.order_field)
        pred = self._filter(p.filter)
        if pred is None:  # the benchmark path: O(page) after the cached sort
            total = len(ordered)
            start, stop, meta = page_window(total, p)
            page = ordered[total - stop : total - start][::-1] if p.descending else ordered[start:stop]
        else:
            matched = [e for e in ordered if pred(e)]
            if p.descending:
                matched.reverse()
            start, stop, meta = page_window(len(matched), p)
            page = matched[start:stop]
        render = self.w.render
        if render.wire is not None:  # the envelope is documented: only its contents vary
            return json_reply(
                render.envelope([render.answer("EventDTO", render.event(e)) for e in page], meta)
            )
        items = ",".join(render.event_json(e) for e in page)
        return raw_json_reply(f'{{"meta":{dumps_str(meta)},"items":[{items}]}}')

    def _filter(self, f: Mapping[str, Any]) -> Predicate | None:
        checks: list[Predicate] = []
        w = self.w
        if (ids := filter_ints(f, "ids")) is not None:
            checks.append(lambda e: e.id in ids)
        if (state := filter_str(f, "state")) is not None:
            if state not in model.EVENT_STATES:
                raise ApiError(400, f"filter[state]: one of {', '.join(model.EVENT_STATES)}")
            checks.append(lambda e: e.state == state)
        if (status := filter_str(f, "status")) is not None:
            if status not in STATUSES:
                raise ApiError(400, f"filter[status]: one of {', '.join(STATUSES)}")
            now = w.now()
            checks.append(lambda e: (e.scheduledAt >= now) == (status == "upcoming"))
        if (pay := filter_str(f, "paymentStatus")) is not None:
            checks.append(lambda e: e.payment is not None and e.payment.status == pay)
        if (who := filter_str(f, "invitee")) is not None:
            needle = who.casefold()
            checks.append(
                lambda e: needle in e.invitee.email.casefold() or needle in e.invitee.fullName.casefold()
            )
        if (uuid := filter_str(f, "uuid")) is not None:
            checks.append(lambda e: e.uuid == uuid)
        if (et_ids := filter_ints(f, "eventTypeList")) is not None:
            checks.append(lambda e: e.eventType in et_ids)
        if (user_ids := filter_ints(f, "userList")) is not None:
            checks.append(lambda e: e.user in user_ids or not user_ids.isdisjoint(e.users))
        if (tag_ids := filter_ints(f, "organizationTagList")) is not None:
            tagged = {et.id for et in w.event_types.values() if not tag_ids.isdisjoint(et.tags)}
            checks.append(lambda e: e.eventType in tagged)
        if (frm := filter_date(f, "scheduledAtFrom")) is not None:
            checks.append(lambda e: e.scheduledAt >= frm)
        if (to := filter_date(f, "scheduledAtTo")) is not None:
            checks.append(lambda e: e.scheduledAt < to + DAY)  # the whole "to" day is included
        if (et_type := filter_str(f, "eventTypeType")) is not None:
            typed = {et.id for et in w.event_types.values() if et.type == et_type}
            checks.append(lambda e: e.eventType in typed)
        if not checks:
            return None
        return lambda e: all(c(e) for c in checks)

    # -- writes ---------------------------------------------------------------------------------

    def _me(self) -> str:
        return self.w.current_user().fullName

    def _existing(self, ids: list[int]) -> list[model.Event]:
        """All-or-nothing: every id must exist before anything changes."""
        missing = [i for i in ids if i not in self.w.events]
        if missing:
            raise ApiError(404, f"ids: events not found: {', '.join(map(str, missing))}")
        return [self.w.events[i] for i in ids]

    def create(self, req: Request, ids: Ids) -> Reply:
        b = json_body(req.body)
        et_id = b.integer("eventType", required=True)
        assert et_id is not None
        et = self.w.event_types.get(et_id)
        if et is None:
            raise ApiError(404, f"eventType: event type {et_id} not found")
        starts = []
        if (first := b.datetime("scheduledAt")) is not None:
            starts.append(first)
        for i, raw in enumerate(b.array("multipleScheduledAt") or []):
            if not isinstance(raw, str):
                raise ApiError(400, f"multipleScheduledAt[{i}]: expected a string")
            starts.append(parse_request_datetime(raw, f"multipleScheduledAt[{i}]"))
        if not starts:
            raise ApiError(400, "scheduledAt: this field is required")
        inv = b.obj("invitee", required=True)
        assert inv is not None
        full_name = inv.string("fullName", required=True, non_empty=True)
        email = check_email(inv.string("email", required=True) or "", "invitee.email")
        timezone = inv.string("timezone") or et.timezone
        locale, phone, policy = (
            inv.string("locale"),
            inv.string("phoneNumber"),
            inv.string("cancellationPolicy"),
        )
        duration = et.duration
        if (duration_id := b.integer("durationId")) is not None:
            match = [d for d in et.eventTypeDurations if d.id == duration_id]
            if not match:
                raise ApiError(404, f"durationId: duration {duration_id} not found for event type {et.id}")
            duration = match[0].duration
        questions = {q.uuid: q for q in et.questions}
        answers: list[tuple[model.Question, str]] = []
        for a in b.objects("answers"):
            value = a.string("value", required=True) or ""
            q_uuid = a.string("question", required=True) or ""
            if q_uuid not in questions:
                raise ApiError(
                    404, f"{a.name('question')}: question {q_uuid!r} not found for event type {et.id}"
                )
            answers.append((questions[q_uuid], value))
        emails = []
        for p in b.objects("participants"):
            emails.append(check_email(p.string("email", required=True) or "", p.name("email")))
        loc_type = b.string("locationType")
        if loc_type is not None and loc_type not in LOCATION_TYPES:
            raise ApiError(400, f"locationType: one of {', '.join(LOCATION_TYPES)}")
        location, name, description = b.string("location"), b.string("name"), b.string("description")

        w, now = self.w, self.w.now()
        created: list[model.Event] = []
        for start in starts:
            eid = w.next_id("event", 1001)
            ev = model.Event(
                id=eid, uuid=w.new_uuid(), user=et.user, eventType=et.id,
                invitee=model.Invitee(w.next_id("invitee", 5001), email, full_name or "", timezone, phone, locale,
                                      policy, w.new_uuid()),
                cancellation=None,
                participants=[model.Participant(w.next_id("participant", 9001), e, now) for e in emails],
                answers=[model.Answer(w.next_id("answer", 70001), q.label, q.type, v, v, q.uuid) for q, v in answers],
                rescheduling=[], payment=None, createdAt=now, updatedAt=now, scheduledAt=start,
                endDate=start + duration * 60, canceledAt=None, state="active", notes=None, details=None,
                location=location if location is not None else et.location, locationType=loc_type or et.locationType,
                onlineEventId=None, sentEmailReminder=0, lastSentInviteeEmailReminder=None,
                lastSentInviteeEmailFollowUp=None, duration=duration,
                users=list(et.users) if et.type == "collective" else [et.user], relatedEventIds=[], name=name,
                description=description,
            )  # fmt: skip
            created.append(ev)
        for ev in created:
            ev.relatedEventIds = [o.id for o in created if o is not ev]
            w.events[ev.id] = ev
        w.changed()
        return raw_json_reply(w.render.event_json(created[0]))

    def edit(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        b = json_body(req.body)
        b.integer("id")  # documented as "ignore this field"; still type-checked
        inv = b.obj("invitee")
        full_name = inv.string("fullName", non_empty=True) if inv else None
        phone = inv.string("phoneNumber") if inv else None
        by_id = {a.id: a for a in ev.answers}
        edits: list[tuple[model.Answer, str]] = []
        for a in b.objects("answers"):
            aid = a.integer("id", required=True)
            value = a.string("value", required=True)
            if aid not in by_id:
                raise ApiError(404, f"{a.name('id')}: answer {aid} not found in event {ev.id}")
            edits.append((by_id[aid], value or ""))
        if full_name is not None:
            ev.invitee.fullName = full_name
        if inv is not None and inv.has("phoneNumber"):
            ev.invitee.phoneNumber = phone
        for answer, value in edits:
            answer.value = answer.plainValue = value
        self.w.changed(ev)
        return empty_reply()

    def delete(self, req: Request, ids: Ids) -> Reply:
        del self.w.events[self.w.event(ids[0]).id]
        self.w.changed()
        return empty_reply()

    def delete_list(self, req: Request, ids: Ids) -> Reply:
        for ev in self._existing(json_body(req.body).ids("ids")):
            del self.w.events[ev.id]
        self.w.changed()
        return empty_reply()

    def cancel(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        reason = json_body(req.body, required=False).string("reason")
        self.w.cancel(ev, reason, self._me())
        return empty_reply()

    def cancel_list(self, req: Request, ids: Ids) -> Reply:
        b = json_body(req.body)
        events = self._existing(b.ids("ids"))
        reason = b.string("reason")
        done = [e.id for e in events if e.state == "canceled"]
        if done:
            raise ApiError(400, f"ids: events already canceled: {', '.join(map(str, done))}")
        for ev in events:
            self.w.cancel(ev, reason, self._me())
        return empty_reply()

    def notes(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        notes = json_body(req.body).string("notes", required=True)
        ev.notes = notes
        self.w.changed(ev, touch=not self.w.profile.silent_changes)
        return empty_reply()

    def invite(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        b = json_body(req.body)
        raw = b.array("emails", required=True) or []
        if not raw:
            raise ApiError(400, "emails: must not be empty")
        emails = []
        for i, e in enumerate(raw):
            if not isinstance(e, str):
                raise ApiError(400, f"emails[{i}]: expected a string")
            emails.append(check_email(e, f"emails[{i}]"))
        message = b.string("message")
        if ev.state == "canceled":
            raise Conflict(f"event {ev.id} is canceled")
        known = {p.email.casefold() for p in ev.participants}
        now = self.w.now()
        for e in emails:
            if e.casefold() not in known:
                known.add(e.casefold())
                ev.participants.append(model.Participant(self.w.next_id("participant", 9001), e, now))
        self.w.invitations.append((ev.id, emails, message))
        self.w.changed(ev, touch=not self.w.profile.silent_changes)
        return empty_reply()

    def _no_show(self, events: list[model.Event]) -> None:
        canceled = [e.id for e in events if e.state == "canceled"]
        if canceled:
            raise Conflict(f"canceled events cannot be marked no-show: {', '.join(map(str, canceled))}")
        for ev in events:
            if ev.state != "no_show":  # marking twice changes nothing
                ev.state = "no_show"
                self.w.changed(ev)

    def no_show(self, req: Request, ids: Ids) -> Reply:
        self._no_show([self.w.event(ids[0])])
        return empty_reply()

    def no_show_list(self, req: Request, ids: Ids) -> Reply:
        self._no_show(self._existing(json_body(req.body).ids("ids")))
        return empty_reply()

    def reschedule(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        b = json_body(req.body)
        start, end = b.datetime("start", required=True), b.datetime("end", required=True)
        assert start is not None
        assert end is not None
        if end <= start:
            raise ApiError(400, "end: must be after start")
        # The docs: "the new date and time for the event, the event type ID, and an optional user ID".
        et_id, user_id = b.integer("eventTypeId", required=True), b.integer("userId")
        if et_id not in self.w.event_types:
            raise ApiError(404, f"eventTypeId: event type {et_id} not found")
        if user_id is not None and user_id not in self.w.users:
            raise ApiError(404, f"userId: user {user_id} not found")
        if ev.state == "canceled":
            raise Conflict(f"event {ev.id} is canceled and cannot be rescheduled")
        ev.rescheduling.append(
            model.Rescheduling(
                self.w.next_id("rescheduling", 30001), self._me(), None, ev.scheduledAt, ev.user
            )
        )
        ev.scheduledAt, ev.endDate, ev.duration = start, end, (end - start) // 60
        assert et_id is not None
        ev.eventType = et_id
        if user_id is not None and user_id != ev.user:
            ev.users = [user_id if u == ev.user else u for u in ev.users] or [user_id]
            ev.user = user_id
        self.w.changed(ev)
        return empty_reply()

    def resend_notification(self, req: Request, ids: Ids) -> Reply:
        ev = self.w.event(ids[0])
        self.w.notifications.append((ev.id, self.w.clock()))
        return empty_reply()
