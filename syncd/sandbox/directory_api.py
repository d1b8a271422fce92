"""Everything but events: users, event types and their availability, tags, polls, policies, ACL."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta

from syncd.sandbox import model
from syncd.sandbox.errors import ApiError
from syncd.sandbox.profiles import shorten
from syncd.sandbox.query import filter_ints, filter_str, list_params, page_window, parse_php_query, to_bool
from syncd.sandbox.validate import Fields, check_email, json_body
from syncd.sandbox.wire import Ids, Reply, Request, Route, empty_reply, json_reply, route
from syncd.sandbox.world import World

EVENT_TYPE_ORDER = ("id", "position", "name", "duration", "slug")
POLL_ORDER = ("id", "createdAt", "name")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_AVAILABILITY_DAYS = 62
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _hhmm(raw: str | None, name: str) -> int:
    m = _HHMM.match(raw or "")
    if m is None:
        raise ApiError(400, f"{name}: expected a time HH:MM, got {raw!r}")
    return int(m[1]) * 60 + int(m[2])


def _day(raw: str | None, name: str) -> date:
    """YYYY-MM-DD (a `Y-m-d H:i:s` value is read for its date)."""
    if raw is None or raw == "":
        raise ApiError(400, f"{name}: this field is required")
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S" if len(raw) == 19 else "%Y-%m-%d").date()
    except ValueError:
        raise ApiError(400, f"{name}: expected a date YYYY-MM-DD, got {raw!r}") from None


class DirectoryApi:
    def __init__(self, world: World) -> None:
        self.w = world

    def routes(self) -> list[Route]:
        return [
            route("GET", r"/acl", self.acl),
            route("PUT", r"/availability-rule", self.availability_rule),
            route("GET PUT", r"/organization-cancellation-policy", self.organization_policy),
            route("GET PUT", r"/user-cancellation-policy", self.user_policy),
            route("GET", r"/event-type/list", self.event_type_list),
            route("GET", r"/event-type/availability/(\d+)", self.availability),
            route("POST", r"/event-type/single-use-link/(\d+)", self.single_use_link),
            route("GET", r"/event-type/(\d+)/tag/list", self.event_type_tags),
            route("PUT DELETE", r"/event-type/(\d+)/tag/(\d+)", self.event_type_tag),
            route("GET", r"/event-type/(\d+)", self.event_type),
            route("GET", r"/integration/list", self.integrations),
            route("GET", r"/poll/list", self.poll_list),
            route("POST", r"/poll", self.poll_create),
            route("POST", r"/poll/result", self.poll_result),
            route("GET DELETE", r"/poll/(\d+)", self.poll),
            route("GET", r"/user/current", self.current_user),
            route("GET", r"/user/list", self.user_list),
            route("GET", r"/user-event-type-tag/list", self.tag_list),
            route("POST", r"/user-event-type-tag", self.tag_create),
            route("PUT DELETE", r"/user-event-type-tag/(\d+)", self.tag),
        ]

    def _event_type(self, et_id: int, field: str | None = None) -> model.EventType:
        et = self.w.event_types.get(et_id)
        if et is None:
            raise ApiError(404, (f"{field}: " if field else "") + f"event type {et_id} not found")
        return et

    # -- users, ACL, integrations ---------------------------------------------------------------

    def acl(self, req: Request, ids: Ids) -> Reply:
        r = self.w.render
        return json_reply(r.whole_list([r.answer("AclRuleDTO", a, a["resource"]) for a in self.w.acl]))

    def integrations(self, req: Request, ids: Ids) -> Reply:
        return json_reply(self.w.integrations)

    def current_user(self, req: Request, ids: Ids) -> Reply:
        r = self.w.render
        return json_reply(r.answer("UserDTO", r.user(self.w.current_user_id)))

    def user_list(self, req: Request, ids: Ids) -> Reply:
        r = self.w.render
        return json_reply([r.answer("UserDTO", r.user(u)) for u in sorted(self.w.users)])

    # -- cancellation policies ------------------------------------------------------------------

    def organization_policy(self, req: Request, ids: Ids) -> Reply:
        return self._policy(req, self.w.organization_policy)

    def user_policy(self, req: Request, ids: Ids) -> Reply:
        return self._policy(req, self.w.user_policy)

    def _policy(self, req: Request, policy: model.CancellationPolicy) -> Reply:
        if req.method == "PUT":
            # Fields sent are changed, fields left out are kept; every save is a new version.
            b = json_body(req.body)
            enabled, period = b.boolean("enabled"), b.integer("period")
            label, text, overwrite = b.string("label"), b.string("text"), b.boolean("overwritePersonal")
            if period is not None and period < 0:
                raise ApiError(400, "period: must be >= 0 minutes")
            if enabled is not None:
                policy.enabled = enabled
            if period is not None:
                policy.period = period
            if b.has("label"):
                policy.label = label
            if b.has("text"):
                policy.text = text
            if overwrite is not None:
                policy.overwrite_personal = overwrite
            policy.version += 1
        return json_reply(
            self.w.render.answer(
                "CancellationPolicyDTO", self.w.render.cancellation_policy(policy), policy.type
            )
        )

    # -- event types ----------------------------------------------------------------------------

    def event_type(self, req: Request, ids: Ids) -> Reply:
        r = self.w.render
        return json_reply(r.answer("EventTypeDTO", r.event_type(self._event_type(ids[0]).id)))

    def event_type_list(self, req: Request, ids: Ids) -> Reply:
        p = list_params(parse_php_query(req.query), order_fields=EVENT_TYPE_ORDER, default_order="position")
        p = shorten(p, self.w.profile)
        f, me = p.filter, self.w.current_user_id
        items = list(self.w.event_types.values())
        if (wanted := filter_ints(f, "ids")) is not None:
            items = [et for et in items if et.id in wanted]
        if (kind := filter_str(f, "type")) is not None:
            items = [et for et in items if et.type == kind]
        if (mine := filter_str(f, "forCurrentUser")) is not None and to_bool(mine, "filter[forCurrentUser]"):
            items = [et for et in items if et.user == me or me in et.users]
        if (rr := filter_str(f, "manageRoundRobin")) is not None and to_bool(rr, "filter[manageRoundRobin]"):
            items = [et for et in items if et.type == "round-robin" and me in et.users]
        items.sort(key=lambda et: (getattr(et, p.order_field), et.id), reverse=p.descending)
        start, stop, meta = page_window(len(items), p)
        r = self.w.render
        page = [r.answer("EventTypeDTO", r.event_type(et.id)) for et in items[start:stop]]
        return json_reply(page if self.w.profile.bare_lists else r.envelope(page, meta))

    def event_type_tags(self, req: Request, ids: Ids) -> Reply:
        et = self._event_type(ids[0])
        tags = sorted((self.w.tags[t] for t in et.tags if t in self.w.tags), key=lambda t: (t.position, t.id))
        r = self.w.render
        return json_reply(r.whole_list([r.answer("EventTypeTagDTO", r.event_type_tag(t)) for t in tags]))

    def event_type_tag(self, req: Request, ids: Ids) -> Reply:
        et = self._event_type(ids[0])
        tag_id = ids[1]
        if tag_id not in self.w.tags:
            raise ApiError(404, f"tag {tag_id} not found")
        if req.method == "PUT":
            if tag_id not in et.tags:  # adding twice changes nothing
                et.tags.append(tag_id)
        else:
            if tag_id not in et.tags:
                raise ApiError(404, f"tag {tag_id} is not attached to event type {et.id}")
            et.tags.remove(tag_id)
        return empty_reply()

    def single_use_link(self, req: Request, ids: Ids) -> Reply:
        et = self._event_type(ids[0])
        code = f"{self.w.rng.getrandbits(64):016x}"
        owner = self.w.users[et.user]
        self.w.single_use_links.append((et.id, code))
        return json_reply(
            {"code": code, "url": f"https://simplymeet.me/{owner.slug}/{et.slug}?single_use={code}"}
        )

    def availability(self, req: Request, ids: Ids) -> Reply:
        """Slots from the weekly pattern (or a date override) in the asked zone; taken or past = unavailable."""
        et = self._event_type(ids[0])
        q = parse_php_query(req.query)
        raw = {k: q.get(k) for k in ("startDate", "endDate", "timezone", "durationId", "userId")}
        if any(v is not None and not isinstance(v, str) for v in raw.values()):
            raise ApiError(400, "query: expected single values")
        first, last = _day(raw["startDate"], "startDate"), _day(raw["endDate"], "endDate")
        if last < first:
            raise ApiError(400, "endDate: must not be before startDate")
        if (last - first).days >= MAX_AVAILABILITY_DAYS:
            raise ApiError(400, f"endDate: at most {MAX_AVAILABILITY_DAYS} days per request")
        try:
            tz = zoneinfo.ZoneInfo(raw["timezone"] or et.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ApiError(400, f"timezone: unknown time zone {raw['timezone']!r}") from None
        duration = et.duration
        if raw["durationId"]:
            match = [d for d in et.eventTypeDurations if str(d.id) == raw["durationId"]]
            if not match:
                raise ApiError(
                    404, f"durationId: duration {raw['durationId']} not found for event type {et.id}"
                )
            duration = match[0].duration
        user_id: int | None = None
        if raw["userId"]:
            if not raw["userId"].isdigit() or int(raw["userId"]) not in self.w.users:
                raise ApiError(404, f"userId: user {raw['userId']} not found")
            user_id = int(raw["userId"])
        lo = int(datetime.combine(first, datetime.min.time(), tz).timestamp()) - 86400
        hi = int(datetime.combine(last, datetime.min.time(), tz).timestamp()) + 2 * 86400
        busy = [
            (e.scheduledAt, e.endDate)
            for e in self.w.events.values()
            if e.state == "active" and e.eventType == et.id and e.scheduledAt < hi and e.endDate > lo
            and (user_id is None or e.user == user_id)
        ]  # fmt: skip
        now = self.w.now()
        days = []
        day = first
        while day <= last:
            intervals = et.dates.get(day.isoformat(), et.weekly.get(day.weekday(), []))
            hours = []
            for start_min, end_min in intervals:
                for m in range(start_min, end_min - duration + 1, duration):
                    local = datetime.combine(day, datetime.min.time(), tz) + timedelta(minutes=m)
                    s = int(local.astimezone(UTC).timestamp())
                    free = s >= now and not any(b0 < s + duration * 60 and b1 > s for b0, b1 in busy)
                    hours.append({"start": f"{m // 60:02d}:{m % 60:02d}", "available": free})
            days.append(
                {"date": day.isoformat(), "hours": hours, "available": any(h["available"] for h in hours)}
            )
            day += timedelta(days=1)
        r = self.w.render
        found = [r.answer("EventTypeAvailabilityDTO", d, f"{et.id}:{d['date']}") for d in days]
        return json_reply(r.whole_list(found))

    def availability_rule(self, req: Request, ids: Ids) -> Reply:
        b = json_body(req.body)
        et_ids = b.ids("eventTypeIds")
        ets = [self._event_type(i, "eventTypeIds") for i in et_ids]
        only = b.string("availabilityType")
        if only is not None and only not in ("weekday", "date"):
            raise ApiError(400, "availabilityType: one of weekday, date")
        b.string("periodType")
        b.obj("periodTypeConfig")
        rules: list[tuple[str, str | int, list[tuple[int, int]]]] = []
        for r in b.objects("availabilityRules", required=True):
            kind = r.string("type", required=True)
            config = r.obj("config", required=True)
            assert config is not None
            key: str | int
            if kind == "weekday":
                name = (config.string("weekday", required=True) or "").lower()
                if name not in WEEKDAYS:
                    raise ApiError(400, f"{config.name('weekday')}: one of {', '.join(WEEKDAYS)}")
                key = WEEKDAYS.index(name)
            elif kind == "date":
                key = _day(config.string("date", required=True), config.name("date")).isoformat()
            else:
                raise ApiError(400, f"{r.name('type')}: one of weekday, date")
            intervals = []
            for h in r.objects("hourIntervals", required=True):
                start = _hhmm(h.string("start", required=True), h.name("start"))
                end = _hhmm(h.string("end", required=True), h.name("end"))
                if end <= start:
                    raise ApiError(400, f"{h.name('end')}: must be after start")
                intervals.append((start, end))
            rules.append((kind, key, sorted(intervals)))
        for et in ets:
            for kind, key, intervals in rules:
                if only is not None and kind != only:
                    continue
                if isinstance(key, int):
                    et.weekly[key] = intervals
                else:
                    et.dates[key] = intervals
        self.w.availability_rules.append(dict(b.data))
        return empty_reply()

    # -- polls ----------------------------------------------------------------------------------

    def _poll(self, poll_id: int) -> model.Poll:
        poll = self.w.polls.get(poll_id)
        if poll is None:
            raise ApiError(404, f"poll {poll_id} not found")
        return poll

    def poll_list(self, req: Request, ids: Ids) -> Reply:
        p = list_params(parse_php_query(req.query), order_fields=POLL_ORDER, default_order="id")
        p = shorten(p, self.w.profile)
        polls = sorted(
            self.w.polls.values(), key=lambda x: (getattr(x, p.order_field), x.id), reverse=p.descending
        )
        start, stop, _meta = page_window(len(polls), p)
        return json_reply([self.w.render.answer("PollDTO", self.w.render.poll(x)) for x in polls[start:stop]])

    def poll(self, req: Request, ids: Ids) -> Reply:
        poll = self._poll(ids[0])
        if req.method == "DELETE":
            del self.w.polls[poll.id]
            return empty_reply()
        return json_reply(self.w.render.answer("PollDTO", self.w.render.poll(poll)))

    def poll_create(self, req: Request, ids: Ids) -> Reply:
        b = json_body(req.body)
        et_id = b.integer("eventTypeId", required=True)
        assert et_id is not None
        et = self._event_type(et_id, "eventTypeId")
        flags = [bool(b.boolean(k)) for k in ("voteVisibility", "commentVisibility", "emailNotification")]
        duration = b.integer("duration")
        if duration is not None and duration <= 0:
            raise ApiError(400, "duration: must be greater than 0")
        name = b.string("name", required=True, non_empty=True) or ""
        slots = b.objects("availability", required=True)
        if not slots:
            raise ApiError(400, "availability: must not be empty")
        dates = [s.datetime("date", required=True) or 0 for s in slots]
        w = self.w
        poll = model.Poll(
            id=w.next_id("poll", 301), uuid=w.new_uuid(), user=w.current_user_id, eventType=et.id,
            voteVisibility=flags[0], commentVisibility=flags[1], emailNotification=flags[2],
            duration=duration or et.duration, name=name, createdAt=w.now(),
            availability=[model.PollSlot(w.next_id("poll_slot", 3001), d, []) for d in dates],
        )  # fmt: skip
        w.polls[poll.id] = poll
        return json_reply(w.render.answer("PollDTO", w.render.poll(poll)))

    def poll_result(self, req: Request, ids: Ids) -> Reply:
        b = json_body(req.body)
        uuid = b.string("uuid", required=True)
        poll = next((p for p in self.w.polls.values() if p.uuid == uuid), None)
        if poll is None:
            raise ApiError(404, f"uuid: poll {uuid!r} not found")
        slot_ids = b.ids("availability")
        email = check_email(b.string("email", required=True) or "", "email")
        comment = b.string("comment")
        slots = {s.id: s for s in poll.availability}
        missing = [i for i in slot_ids if i not in slots]
        if missing:
            raise ApiError(404, f"availability: slots not in poll {poll.id}: {', '.join(map(str, missing))}")
        for i in slot_ids:
            # One vote per e-mail and slot: voting again replaces the earlier answer.
            results = [r for r in slots[i].results if r.email.casefold() != email.casefold()]
            slots[i].results = [*results, model.PollResult(email, comment)]
        return empty_reply()

    # -- user event type tags -------------------------------------------------------------------

    def tag_list(self, req: Request, ids: Ids) -> Reply:
        tags = sorted(self.w.tags.values(), key=lambda t: (t.position, t.id))
        r = self.w.render
        return json_reply([r.answer("UserEventTypeTagDTO", r.user_event_type_tag(t)) for t in tags])

    def _tag_fields(self, b: Fields, *, creating: bool) -> tuple[str | None, str | None, int | None]:
        name = b.string("name", required=creating, non_empty=True)
        return name, b.string("color"), b.integer("position")

    def tag_create(self, req: Request, ids: Ids) -> Reply:
        name, color, position = self._tag_fields(json_body(req.body), creating=True)
        if position is None:
            position = max((t.position for t in self.w.tags.values()), default=-1) + 1
        tag = model.Tag(
            self.w.next_id("tag", 51), name or "", color or "#3498db", position, True, self.w.current_user_id
        )
        self.w.tags[tag.id] = tag
        return json_reply(self.w.render.answer("UserEventTypeTagDTO", self.w.render.user_event_type_tag(tag)))

    def tag(self, req: Request, ids: Ids) -> Reply:
        tag = self.w.tags.get(ids[0])
        if tag is None:
            raise ApiError(404, f"user event type tag {ids[0]} not found")
        if req.method == "DELETE":
            del self.w.tags[tag.id]
            for et in self.w.event_types.values():
                if tag.id in et.tags:
                    et.tags.remove(tag.id)
            return empty_reply()
        name, color, position = self._tag_fields(json_body(req.body), creating=False)
        tag.name = name if name is not None else tag.name
        tag.color = color if color is not None else tag.color
        tag.position = position if position is not None else tag.position
        return json_reply(self.w.render.answer("UserEventTypeTagDTO", self.w.render.user_event_type_tag(tag)))
