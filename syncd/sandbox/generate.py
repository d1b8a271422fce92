"""Seeded generation of the world. Only `random.Random(seed)` streams, never the global one."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

from syncd.sandbox import model

if TYPE_CHECKING:
    from syncd.sandbox.world import World

DAY = 86400

# Names that break naive code: accents, CJK, Cyrillic, Arabic, emoji, quotes, backslashes.
FULL_NAMES = (
    "José Álvarez", "Zoë O'Connor", "李小龙", "山田 太郎", "Ольга Петрова", "محمد علي", 'Ana "Nina" Silva',
    "Back\\Slash Consulting", "🎉 Party Planner", "Łukasz Żółć", "Nguyễn Văn An", "Søren Kierkegaard",
    "Françoise d'Eaubonne", "Άννα Παπαδοπούλου", "김민수", "Renée 🌸 Dubois", "John Smith", "Mary Johnson",
    "Priya Natarajan", "Ömer Çelik", "Ingrid Bergström", "Chloé Martin", "Jürgen Weiß", "Ngozi Okafor",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "Example.NET", "mail.example.co.uk")
# (IANA zone, UTC offset in minutes): zones without daylight saving, so the offset is stable.
ZONES = (
    ("UTC", 0), ("Africa/Johannesburg", 120), ("America/Bogota", -300), ("Asia/Kolkata", 330),
    ("Asia/Tokyo", 540), ("Asia/Kathmandu", 345), ("America/Sao_Paulo", -180), ("Europe/Istanbul", 180),
)  # fmt: skip
LOCALES = ("en", "de", "fr", "ja", "pt-BR", "uk", None)
LOCATION_TYPES = ("custom", "zoom", "request", "whereby", "google_meet", "kopano_meet", "microsoft_teams")
COLORS = ("#1abc9c", "#3498db", "#9b59b6", "#e67e22", "#e74c3c", "#34495e", "#f1c40f", "#2ecc71")
LOREM = (
    "Lorem ipsum dolor sit amet, «consectetur» adipiscing elit — sed do eiusmod tempor incididunt; "
    'ut labore et "dolore" magna aliqua. Ünïcödé ✓, 日本語のテキスト, C:\\path\\to\\file. '
)
SHORT_NOTES = (
    "Call 10 min before.",
    'Client said: "bring the contract".',
    "Path on the share: \\\\server\\shared\\docs",
    "Rückruf erbeten — bitte auf Deutsch 🙏",
    "多言語対応のメモ",
    "line one\nline two\n\ttabbed",
    "  leading and trailing spaces  ",
)
REASONS = (
    None,
    "",
    "Schedule conflict",
    "Client asked to move it 🙂",
    'Said "no", then \\ maybe',
    "病気のため",
)
QUESTION_KINDS: tuple[tuple[str, str, list[str]], ...] = (
    ("What would you like to discuss?", "textarea", []),
    ("Company", "text", []),
    ("Phone", "phone", []),
    ("How did you hear about us?", "select", ["Search engine", "A friend", "Ärzte-Forum", "広告"]),
    ("Preferred language", "radio", ["English", "Deutsch", "Français"]),
    ("Topics", "checkbox", ["Pricing", "Onboarding", "Integrations 🔌"]),
)
EVENT_TYPE_SPECS = (
    # name, type, duration, durationType, amount, currency, locationType, isMultipleMeeting
    ("Intro call", "regular", 15, "fixed", None, None, "zoom", False),
    ("Consultation — 1 h", "regular", 60, "fixed", 120.0, "EUR", "custom", False),
    ("Team demo", "collective", 45, "fixed", None, None, "google_meet", False),
    ("Support (round robin)", "round-robin", 30, "flexible", None, None, "microsoft_teams", False),
    ("Beratung „Premium“", "regular", 90, "fixed", 249.99, "EUR", "request", True),
    ("相談セッション", "regular", 30, "flexible", 5000, "JPY", "whereby", True),
    ('Workshop "Advanced"', "collective", 120, "fixed", 80.5, "USD", "kopano_meet", False),
    ("Quick chat ☕", "round-robin", 10, "fixed", None, None, "custom", False),
)  # fmt: skip


def email_for(rng: random.Random, name: str, n: int) -> str:
    local = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum()) or "guest"
    return f"{local}.{n}@{rng.choice(EMAIL_DOMAINS)}"


def populate(world: World, n_events: int) -> None:
    rng = random.Random(world.seed)
    anchor = world.anchor
    org_created = anchor - 900 * DAY
    world.organization = model.Organization(
        id=7, uuid=_uuid(rng), slug="acme-scheduling", name="Acme Scheduling GmbH & Co. KG — “Ünïcödé”",
        createdAt=org_created, locale="de", rtl=False, calendarLayout="month", hideUnavailableDates=True,
        sundayIsFirstDay=False, email="office@example.com", intro="Welcome! Willkommen! ようこそ 👋", domain=None,
        socialLink=model.SocialLink(
            id=3, facebookUrl="https://facebook.com/acme", twitterUrl=None,
            instagramUrl="https://instagram.com/acme", linkedinUrl="https://www.linkedin.com/company/acme",
            whatsappUrl=None,
        ),
    )  # fmt: skip
    _users(world, rng, org_created)
    _event_types(world, rng)
    _tags(world, rng)
    for _ in range(n_events):
        scheduled = anchor + rng.randint(-180 * DAY, 120 * DAY) // 900 * 900
        created = min(scheduled, anchor) - rng.randint(3600, 45 * DAY)
        ev = new_event(world, rng, scheduled=scheduled, created=created)
        _history(world, rng, ev)
        world.events[ev.id] = ev
    _long_notes(world, rng)
    _related(world, rng)
    _polls(world, rng)
    _policies_acl_integrations(world)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _users(world: World, rng: random.Random, org_created: int) -> None:
    names = (
        "Mara Lindqvist",
        "Jean-Luc Picard",
        "王芳",
        'Emma "Em" O\'Neil',
        "Dr. Ahmed Al-Farsi 🩺",
        "Ірина",
    )
    for i, name in enumerate(names):
        uid = world.next_id("user", 11)
        zone, offset = ZONES[i % len(ZONES)]
        created = org_created + i * 30 * DAY
        world.users[uid] = model.User(
            id=uid, uuid=_uuid(rng), email=email_for(rng, name, uid), fullName=name, slug=f"user-{uid}",
            subscriptionUsersLimit=10, isSecondFactorConfigured=i % 2 == 0, isEnabled=i != 4,
            dateFormat=("d.m.Y", "m/d/Y", "Y-m-d")[i % 3], address="Hauptstraße 1" if i % 2 else None,
            state=None if i % 3 else "Berlin", city=("Berlin", "Paris", "上海", None)[i % 4],
            zip="10115" if i % 2 else None, countryId=("DE", "FR", "CN", None)[i % 4],
            lat=52.52 if i % 2 else None, lng=13.405 if i % 2 else None, domain=None,
            phone="+49 30 1234567" if i % 2 == 0 else None, companyLogoName=None,
            avatarName=f"avatar-{uid}.png" if i % 3 == 0 else None, createdAt=created,
            lastLogin=None if i == 5 else world.anchor - rng.randint(0, 20 * DAY),
            connections=["google"] if i % 2 == 0 else [], hasPaidSubscription=True, timezone=zone,
            timeFormat="H:i" if i % 2 else "h:i A", timezoneOffset=_offset_text(offset),
        )  # fmt: skip
    world.current_user_id = min(world.users)


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _event_types(world: World, rng: random.Random) -> None:
    user_ids = list(world.users)
    for pos, (name, kind, duration, dtype, amount, currency, loc, multi) in enumerate(EVENT_TYPE_SPECS):
        etid = world.next_id("event_type", 201)
        owner = user_ids[pos % len(user_ids)] if pos else user_ids[0]
        members = [owner] if kind == "regular" else sorted({owner, *rng.sample(user_ids, 2)})
        durations = (
            [
                model.Duration(world.next_id("duration", 501), d)
                for d in (duration, duration * 2, duration * 3)
            ]
            if dtype == "flexible"
            else []
        )
        req_types = (
            [
                model.RequestLocationType(world.next_id("req_loc", 601), t)
                for t in ("custom", "zoom", "google_meet")
            ]
            if loc == "request"
            else []
        )
        questions = []
        for qpos, (label, qtype, options) in enumerate(rng.sample(QUESTION_KINDS, rng.randint(1, 3))):
            questions.append(
                model.Question(label, qtype, qpos == 0, [{"label": o} for o in options], _uuid(rng), qpos)
            )
        weekly = {d: [(9 * 60, 12 * 60), (13 * 60, 17 * 60)] for d in range(5)}
        if pos % 3 == 1:
            weekly[5] = [(10 * 60, 14 * 60)]
        world.event_types[etid] = model.EventType(
            id=etid, name=name, color=COLORS[pos % len(COLORS)], user=owner, type=kind, duration=duration,
            slug=f"et-{etid}", amount=amount, currency=currency, locationType=loc,
            location={"custom": "Friedrichstraße 43, 10117 Berlin", "request": None}.get(loc),
            isEnabled=pos != 6, isSecret=pos == 7, users=members, timezone=ZONES[pos % len(ZONES)][0],
            isLocalized=pos % 2 == 0, durationType=dtype, eventTypeDurations=durations, position=(pos * 3) % 8,
            eventTypeRequestLocationTypes=req_types, uuid=_uuid(rng), isAllowCancel=True,
            isAllowReschedule=pos != 2, isShowPhone=pos % 2 == 1, isPhoneFieldRequired=pos == 1,
            questions=questions, isMultipleMeeting=multi,
            locationLabel="Where should we meet?" if loc == "request" else None,
            groupMeetingLimit=10 if kind == "collective" else None, showGroupMeetingRest=kind == "collective",
            weekly=weekly,
        )  # fmt: skip


def _tags(world: World, rng: random.Random) -> None:
    user_ids = list(world.users)
    for pos, name in enumerate(("Sales", "Support", "VIP ⭐", "Intern/Extern", "日本", "Q&A")):
        tid = world.next_id("tag", 51)
        world.tags[tid] = model.Tag(tid, name, COLORS[pos], pos, pos != 3, user_ids[pos % 2])
    tag_ids = list(world.tags)
    for et in world.event_types.values():
        et.tags = sorted(rng.sample(tag_ids, rng.randint(0, 2)))


def _location(rng: random.Random, loc: str, et: model.EventType) -> tuple[str | None, str | None]:
    """(location, onlineEventId) for a location type."""
    n = rng.randint(10**9, 10**10)
    if loc == "zoom":
        return f"https://zoom.us/j/{n}", str(n)
    if loc == "google_meet":
        return f"https://meet.google.com/abc-{n % 10000:04d}-xyz", f"gm{n}"
    if loc == "microsoft_teams":
        return f"https://teams.microsoft.com/l/meetup-join/{n}", f"msteams-{n}"
    if loc == "whereby":
        return f"https://whereby.com/acme-{n % 1000}", None
    if loc == "kopano_meet":
        return f"https://meet.kopano.example/r/{n}", None
    if loc == "request":
        return rng.choice(("+81 3-1234-5678", "Café Zentral, Herrengasse 14, Wien", "")), None
    return et.location, None


def _notes(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.35:
        return None
    if r < 0.55:
        return ""
    return rng.choice(SHORT_NOTES)


def new_event(world: World, rng: random.Random, *, scheduled: int, created: int) -> model.Event:
    """One plausible active event; history (cancellation, rescheduling) is added by the caller."""
    et = rng.choice(list(world.event_types.values()))
    owner = rng.choice(et.users) if et.type == "round-robin" else et.user
    users = list(et.users) if et.type == "collective" else [owner]
    duration = rng.choice(et.eventTypeDurations).duration if et.eventTypeDurations else et.duration
    zone, offset = rng.choice(ZONES)
    name = rng.choice(FULL_NAMES)
    eid = world.next_id("event", 1001)
    invitee = model.Invitee(
        id=world.next_id("invitee", 5001), email=email_for(rng, name, eid), fullName=name, timezone=zone,
        phoneNumber=rng.choice((None, "+1 (555) 010-7788", "+49 151 23456789", "")),
        locale=rng.choice(LOCALES), cancellationPolicy=None, uuid=_uuid(rng),
    )  # fmt: skip
    loc_type = (
        rng.choice(et.eventTypeRequestLocationTypes).locationType
        if et.eventTypeRequestLocationTypes and rng.random() < 0.5
        else et.locationType
    )
    location, online_id = _location(rng, loc_type, et)
    answers = []
    for q in et.questions:
        if q.config:
            value = rng.choice(q.config)["label"]
        elif q.type == "phone":
            value = "+44 20 7946 0958"
        else:
            value = rng.choice(("", "Pricing for 20 seats", 'We use "Outlook" & Teams', "テスト\\n改行"))
        answers.append(model.Answer(world.next_id("answer", 70001), q.label, q.type, value, value, q.uuid))
    participants = [
        model.Participant(
            world.next_id("participant", 9001), email_for(rng, rng.choice(FULL_NAMES), eid * 10 + k), created
        )
        for k in range(rng.choice((0, 0, 0, 1, 2, 3)))
    ]
    payment = None
    if et.amount is not None:
        payment = model.Payment(
            provider=rng.choice(("stripe", "paypal")), amount=et.amount, currency=et.currency or "EUR",
            status=rng.choice(("paid", "paid", "pending", "refunded", "failed")), system=rng.choice(("live", "test")),
            referenceId=rng.randint(10**6, 10**7), overwritePersonal=False,
        )  # fmt: skip
    return model.Event(
        id=eid, uuid=_uuid(rng), user=owner, eventType=et.id, invitee=invitee, cancellation=None,
        participants=participants, answers=answers, rescheduling=[], payment=payment, createdAt=created,
        updatedAt=created, scheduledAt=scheduled, endDate=scheduled + duration * 60, canceledAt=None,
        state="active", notes=_notes(rng), details=rng.choice((None, None, "Booked via the widget", "")),
        location=location, locationType=loc_type, onlineEventId=online_id,
        sentEmailReminder=rng.choice((0, 1)), lastSentInviteeEmailReminder=rng.choice((None, 60, 1440)),
        lastSentInviteeEmailFollowUp=rng.choice((None, None, 1)), duration=duration, users=users,
        relatedEventIds=[], name=rng.choice((None, None, f"{et.name} \u00d7 {name}")),
        description=rng.choice((None, None, "", "Agenda:\n1. Intro\n2. Fragen?")), offset=offset,
    )  # fmt: skip


def _history(world: World, rng: random.Random, ev: model.Event) -> None:
    """Past life of a generated event: edits, reschedulings, cancellation or no-show."""
    horizon = min(ev.scheduledAt, world.anchor)
    ev.updatedAt = ev.createdAt + rng.randint(0, max(0, horizon - ev.createdAt))
    if rng.random() < 0.1:
        for _ in range(rng.choice((1, 1, 2))):
            moved_by = rng.randint(-10, 10) * DAY or DAY
            ev.rescheduling.append(
                model.Rescheduling(
                    world.next_id("rescheduling", 30001),
                    rng.choice((ev.invitee.fullName, world.users[ev.user].fullName)),
                    rng.choice(REASONS),
                    ev.scheduledAt - moved_by,
                    rng.choice(world.event_types[ev.eventType].users),
                )
            )
    r = rng.random()
    if r < 0.12:
        ev.state = "canceled"
        ev.canceledAt = ev.createdAt + rng.randint(0, max(0, horizon - ev.createdAt))
        canceler = rng.choice((ev.invitee.fullName, world.users[ev.user].fullName))
        ev.cancellation = model.Cancellation(
            world.next_id("cancellation", 40001), canceler, rng.choice(REASONS)
        )
        ev.updatedAt = max(ev.updatedAt, ev.canceledAt)
    elif r < 0.17 and ev.endDate < world.anchor:
        ev.state = "no_show"
        ev.updatedAt = max(ev.updatedAt, min(ev.endDate + 3600, world.anchor))


def _long_notes(world: World, rng: random.Random) -> None:
    """A few notes over 2 kB, to catch truncating columns."""
    ids = list(world.events)
    for eid in rng.sample(ids, min(len(ids), max(1, len(ids) // 50))):
        world.events[eid].notes = LOREM * rng.randint(12, 20)


def _related(world: World, rng: random.Random) -> None:
    """Events of multi-meeting types booked together by one invitee refer to each other."""
    last: dict[int, model.Event] = {}
    for ev in world.events.values():
        if not world.event_types[ev.eventType].isMultipleMeeting:
            continue
        prev = last.get(ev.eventType)
        if prev is not None and rng.random() < 0.3:
            prev.relatedEventIds.append(ev.id)
            ev.relatedEventIds.append(prev.id)
        last[ev.eventType] = ev


def _polls(world: World, rng: random.Random) -> None:
    n = min(40, 5 + len(world.events) // 50)
    et_ids = list(world.event_types)
    for k in range(n):
        pid = world.next_id("poll", 301)
        et = world.event_types[rng.choice(et_ids)]
        slots = []
        base = world.anchor + rng.randint(-30, 30) * DAY
        for s in range(rng.randint(1, 4)):
            results = [
                model.PollResult(
                    email_for(rng, rng.choice(FULL_NAMES), pid * 100 + r), rng.choice((*REASONS[1:], None))
                )
                for r in range(rng.randint(0, 3))
            ]
            slots.append(
                model.PollSlot(world.next_id("poll_slot", 3001), base + s * DAY + 10 * 3600, results)
            )
        world.polls[pid] = model.Poll(
            id=pid, uuid=_uuid(rng), user=et.user, eventType=et.id, voteVisibility=k % 2 == 0,
            commentVisibility=k % 3 != 0, emailNotification=k % 2 == 1, duration=et.duration,
            name=rng.choice(("Team offsite", "Planung Q3 — „Kickoff“", "打ち合わせ", 'Poll "A"\\B')) + f" #{k}",
            createdAt=base - 20 * DAY, availability=slots,
        )  # fmt: skip


def _policies_acl_integrations(world: World) -> None:
    world.organization_policy = model.CancellationPolicy(
        True, 1440, "Cancellation policy", "Cancel at least 24 h ahead — danke!", 1, "organization", False
    )
    world.user_policy = model.CancellationPolicy(False, 60, None, None, 1, "user", False)
    world.acl = [
        {"resource": "event", "attributes": ["view", "edit", "cancel", "delete"], "allowedAttributes": ["view", "edit", "cancel"]},
        {"resource": "eventType", "attributes": ["view", "edit", "delete"], "allowedAttributes": ["view", "edit"]},
        {"resource": "user", "attributes": ["view", "invite", "delete"], "allowedAttributes": ["view"]},
        {"resource": "poll", "attributes": ["view", "create", "delete"], "allowedAttributes": ["view", "create", "delete"]},
    ]  # fmt: skip
    me = world.current_user()
    world.integrations = {
        "user": [
            {
                "id": 1,
                "type": "google_calendar",
                "name": "Google Calendar",
                "account": me.email,
                "enabled": True,
            },
            {"id": 2, "type": "zoom", "name": "Zoom", "account": me.email, "enabled": False},
        ],
        "organization": [
            {"id": 3, "type": "stripe", "name": "Stripe", "account": "acct_1Example", "enabled": True},
        ],
    }
