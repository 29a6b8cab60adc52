"""The durable store: records, errors and the ``Store`` contract (``open_store`` is in ``open``).

Everything the handlers, the pause scheduler and the CLI keep goes through ``Store``. One
implementation, ``SqlStore`` (``agi_scripts.storage.sql``), runs on two dialects: SQLite
(``agi_scripts.storage.sqlite``) for one server, PostgreSQL (``agi_scripts.storage.postgres``) for
several servers sharing one database. Both follow the same numbered migrations
(``agi_scripts.storage.migrations``) and pass the same tests.

Conventions every backend keeps:
- Times are timezone-aware UTC ``datetime`` objects in Python; a naive datetime is refused
  (``ValueError``), an aware one in another zone is converted to UTC.
- Methods that create or change a row take the time as an argument (``at``/``now``) and default to
  the current time, so tests and replays are deterministic.
- ``call_id`` is Asterisk's uniqueid/linkedid. Calls, compliments, incidents and cases refer to it
  by value, without a foreign key: a flag or a compliment is kept even if its call row was never
  written (server restarted mid-call) or was purged by retention while its case is kept.
- A withheld caller number is stored as ``""``; ``open_case_for_caller`` never matches a blank one, so two
  anonymous callers are never taken for the same person. Handlers normalise "anonymous",
  "unknown" and the like to ``""`` before calling the store.
- Database failures (locked too long, disk full, ...) surface as ``StoreError``; handlers catch it
  and let the call through.

Retention and privacy (``agi_scripts.privacy``) decide *what* to delete; the store only forgets a
recording it was told is gone (``forget_recording``), gathers everything about one caller number
(``caller_records``) and erases it (``erase_caller``), keeping the cases still needed as evidence.
A recording's transcript is forgotten with it (``forget_recording``).
An erasure that kept cases waits in ``pending_erasures`` (``queue_erasure``, ``finish_erasure``)
until the retention sweep can finish it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Literal, Protocol

UTC = timezone.utc

CaseStatus = Literal["open", "assigned", "closed"]
CASE_STATUSES: tuple[CaseStatus, ...] = ("open", "assigned", "closed")
IncidentDimension = Literal["category", "team", "queue", "month", "outcome"]
INCIDENT_DIMENSIONS: tuple[IncidentDimension, ...] = ("category", "team", "queue", "month", "outcome")


class StoreError(Exception):
    """The store could not do what was asked (database locked, disk full, bad state)."""


class NotFound(StoreError):
    """The call, compliment, incident, case or pause asked for does not exist."""


class SchemaTooNew(StoreError):
    """The database was written by a newer Respectline than this one."""


class UnsupportedStoreUrl(StoreError, ValueError):
    """``open_store`` was given a URL it cannot open."""


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Call:
    call_id: str
    started_at: datetime
    caller: str
    queue: str
    """The queue the caller dialled."""
    language: str
    route: str
    """Where the call was sent: the queue itself, or a team's queue for a caller with a case."""
    campaign: str | None
    agent: str | None
    ended_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class Compliment:
    id: int
    call_id: str
    agent: str
    queue: str
    campaign: str | None
    rating: int | None
    """1 to 5; None when the caller hung up before rating."""
    recording: str | None
    """Path of the spoken compliment, None when there is none (yet)."""
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    """When the agent heard it on the agent line; None while it is new to them."""


@dataclass(frozen=True)
class CaseToOpen:
    """The case an escalation opens (its team, how urgent, the evidence recording if any)."""

    team: str
    priority: int
    recording: str | None = None


@dataclass(frozen=True)
class PauseToBook:
    """The agent's recovery pause an escalation applied (``agent`` is the queue member interface)."""

    agent: str
    reason: str
    resume_at: datetime
    resumed_at: datetime | None = None
    """Set when the server already lifted the pause while the store was down: booked as ended."""


@dataclass(frozen=True)
class Escalation:
    """One accepted flag and everything it books, written by ``book_escalation`` in one transaction.

    Built by the ladder before it acts on the call, so it can wait in the outbox while the store is
    down and be booked later, exactly once: ``(call_id, category, number_in_category)`` is its key.
    """

    call_id: str
    category: str
    number_in_call: int
    """1-based among all categories of this call."""
    number_in_category: int
    agent: str
    caller: str
    queue: str
    at: datetime
    outcome: str | None
    """What the caller got (warn, disconnect, transfer): the incident's action."""
    team: str | None = None
    case: CaseToOpen | None = None
    pause: PauseToBook | None = None
    events: tuple[tuple[str, str], ...] = ()
    """The opened case's events after ``case_opened``, as (action, detail), all at ``at``."""

    @property
    def key(self) -> str:
        return f"{self.call_id}/{self.category}/{self.number_in_category}"


@dataclass(frozen=True)
class EscalationBooked:
    incident_id: int
    case_id: int | None
    """The case this escalation opened (None when its rung opens none)."""
    pause_id: int | None
    already: bool = False
    """The escalation had been booked before (a retry from the outbox): nothing was written."""


@dataclass(frozen=True)
class Incident:
    id: int
    call_id: str
    category: str
    number_in_call: int
    """1-based among all categories of this call."""
    number_in_category: int
    team: str | None
    action: str | None
    """What the caller got (warn, disconnect, transfer); None when the flag's rung did none of these."""
    case_id: int | None
    agent: str
    caller: str
    queue: str
    at: datetime


@dataclass(frozen=True)
class CaseEvent:
    id: int
    case_id: int
    at: datetime
    action: str
    """warn, disconnect, transfer, case_opened, agent_paused, assigned, note, closed, routed, ..."""
    detail: str
    author: str | None
    """Who did it (a staff member for notes, assignment, closing); None for the server itself."""


@dataclass(frozen=True)
class Case:
    id: int
    category: str
    team: str
    priority: int
    """Smaller is more urgent; ``list_cases`` sorts by it."""
    status: CaseStatus
    caller: str
    agent: str
    queue: str
    call_id: str
    recording: str | None
    opened_at: datetime
    closed_at: datetime | None
    assignee: str | None
    resolution: str | None
    events: tuple[CaseEvent, ...]
    """Oldest first. Always filled, by every method that returns a Case."""


@dataclass(frozen=True)
class AgentPause:
    id: int
    agent: str
    queues: tuple[str, ...]
    reason: str
    paused_at: datetime
    resume_at: datetime | None
    """None: stays paused until someone lifts it."""
    resumed_at: datetime | None
    case_id: int | None


@dataclass(frozen=True)
class AgentCompliments:
    """One row of the compliments-per-agent report."""

    agent: str
    compliments: int
    """All compliments, partial ones included."""
    rated: int
    average_rating: float | None
    with_recording: int


@dataclass(frozen=True)
class IncidentCount:
    """One row of the incident report; a dimension that was not grouped by is None."""

    count: int
    category: str | None = None
    team: str | None = None
    queue: str | None = None
    month: str | None = None
    """YYYY-MM in the report's time zone."""
    outcome: str | None = None


@dataclass(frozen=True)
class PendingErasure:
    """A caller's erasure request not finished yet: cases of theirs were kept as evidence.

    The number is kept here only as long as it takes: the row goes when the erasure is finished."""

    caller: str
    requested_at: datetime
    """When the caller first asked; a second request while this one waits keeps this time."""
    last_tried_at: datetime
    """When the erasure last ran (at the request, then at each retention sweep)."""


TranscriptKind = Literal["evidence", "compliment"]
TranscriptStatus = Literal["done", "skipped"]


@dataclass(frozen=True)
class TranscriptSegment:
    start: float
    """Seconds from the start of the recording."""
    end: float
    speaker: str
    """``caller`` or ``agent`` (from the two directions of the evidence), ``caller`` for a spoken
    compliment, ``unknown`` when only the mixed recording was there."""
    text: str


@dataclass(frozen=True)
class Transcript:
    """What was said in one recording (``agi_scripts.storage.transcripts`` keeps them)."""

    recording: str
    """The case's or compliment's recording path, as they hold it: the transcript's key."""
    kind: TranscriptKind
    call_id: str
    status: TranscriptStatus
    """``done``; ``skipped`` when the file was not transcribed (``note`` says why)."""
    language: str
    model: str
    segments: tuple[TranscriptSegment, ...]
    """Ordered by start time, both speakers interleaved."""
    note: str
    created_at: datetime

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)


@dataclass(frozen=True)
class CallerRecords:
    """Everything the store holds about one caller number (a GDPR access request)."""

    caller: str
    calls: tuple[Call, ...]
    compliments: tuple[Compliment, ...]
    """Compliments given on this caller's calls (linked by call id)."""
    incidents: tuple[Incident, ...]
    cases: tuple[Case, ...]
    pending_erasure: PendingErasure | None = None
    """Their erasure request waiting for kept cases, if any (it holds the number too)."""
    transcripts: tuple[Transcript, ...] = ()
    """Transcripts of their cases' evidence and of the compliments on their calls."""


@dataclass(frozen=True)
class CallerErasure:
    """What ``erase_caller`` did; the recordings listed are for the caller of the store to delete."""

    calls_deleted: int
    compliment_recordings: tuple[str, ...]
    """Paths of the compliments' recordings, now unlinked (the ratings stay, without a caller)."""
    incidents_anonymised: int
    cases_anonymised: int
    case_recordings: tuple[str, ...]
    """Recordings of the anonymised (closed, past retention) cases."""
    cases_kept: tuple[int, ...]
    kept_call_ids: tuple[str, ...] = ()
    """Calls of the kept cases: their evidence and incidents stay."""
    kept_closed_at: tuple[datetime | None, ...] = ()
    """When each kept case (in the order of ``cases_kept``) was closed; None while it is open."""


# ---------------------------------------------------------------- the contract


class Store(Protocol):
    """What every backend offers. All methods are safe to call from several threads."""

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...

    # calls
    def record_call_start(self, call_id: str, *, caller: str, queue: str, language: str, route: str,
                          campaign: str | None = None, agent: str | None = None,
                          started_at: datetime | None = None) -> Call:
        """Write a call's first row. Idempotent: a call_id already known keeps its first row."""
        ...

    def update_call(self, call_id: str, *, agent: str | None = None, campaign: str | None = None,
                    route: str | None = None, language: str | None = None,
                    ended_at: datetime | None = None, outcome: str | None = None) -> Call | None:
        """Set the fields given (None leaves a field as it is); None when the call is unknown."""
        ...

    def get_call(self, call_id: str) -> Call | None: ...

    # compliments
    def start_compliment(self, call_id: str, *, agent: str, queue: str, campaign: str | None,
                         at: datetime | None = None) -> int:
        """Keep a compliment as soon as the caller starts one, so a hang-up loses nothing."""
        ...

    def set_compliment_rating(self, compliment_id: int, rating: int, *, at: datetime | None = None) -> None:
        """Rating 1 to 5 (ValueError otherwise); NotFound for an unknown id."""
        ...

    def set_compliment_recording(self, compliment_id: int, path: str, *, at: datetime | None = None) -> None: ...

    def mark_compliments_delivered(self, compliment_ids: Iterable[int], *, at: datetime | None = None) -> None:
        """The agent heard these; ids already delivered keep their first time."""
        ...

    def get_compliment(self, compliment_id: int) -> Compliment | None: ...

    def list_compliments(self, agent: str | None = None, since: datetime | None = None, *,
                         undelivered_only: bool = False, limit: int | None = None) -> list[Compliment]:
        """Newest first."""
        ...

    # incidents
    def set_incident_action(self, incident_id: int, action: str, *, case_id: int | None = None) -> None: ...

    def book_escalation(self, escalation: Escalation) -> EscalationBooked:
        """Book one flag in one transaction: the incident (with its action), the case it opens with
        ``case_opened``, the earlier flags of the call carried into that case's timeline, the given
        events, and the pause (linked to the case). When a case of this call was opened after
        ``at`` (this flag waited in the outbox), the flag's action joins that case's timeline and
        its incident is linked to that case.
        Idempotent on ``escalation.key``: a second booking writes nothing and says ``already``.
        ValueError, before anything is written, for a naive ``at`` or an event without an action."""
        ...

    def list_incidents(self, *, call_id: str | None = None, since: datetime | None = None) -> list[Incident]:
        """Oldest first."""
        ...

    # cases
    def open_case(self, *, category: str, team: str, priority: int, caller: str, agent: str, queue: str,
                  call_id: str, recording: str | None = None, at: datetime | None = None) -> Case:
        """A new open case with its ``case_opened`` event, in one transaction."""
        ...

    def add_case_event(self, case_id: int, action: str, detail: str = "", *, author: str | None = None,
                       at: datetime | None = None) -> CaseEvent: ...

    def get_case(self, case_id: int) -> Case | None: ...

    def list_cases(self, status: CaseStatus | None = None, team: str | None = None) -> list[Case]:
        """Most urgent first (priority, then oldest)."""
        ...

    def assign_case(self, case_id: int, assignee: str, *, author: str | None = None,
                    at: datetime | None = None) -> Case:
        """Status becomes ``assigned`` (reassigning is allowed); StoreError for a closed case."""
        ...

    def add_case_note(self, case_id: int, author: str, text: str, *, at: datetime | None = None) -> CaseEvent: ...

    def close_case(self, case_id: int, resolution: str, *, author: str | None = None,
                   at: datetime | None = None) -> Case:
        """StoreError when the case is already closed."""
        ...

    def open_case_for_caller(self, caller: str, now: datetime,
                             window_days_by_team: Mapping[str, float]) -> Case | None:
        """The case a repeat caller should be routed by: an open or assigned case, else one closed
        less than ``window_days_by_team[team]`` days before ``now`` (teams not listed: 0 days)."""
        ...

    # agent pauses
    def record_pause(self, *, agent: str, queues: Sequence[str], reason: str, paused_at: datetime,
                     resume_at: datetime | None, case_id: int | None = None) -> AgentPause: ...

    def due_pauses(self, now: datetime) -> list[AgentPause]:
        """Pauses not yet lifted whose ``resume_at`` has come, oldest first (also after a restart)."""
        ...

    def active_pauses(self) -> list[AgentPause]:
        """Every pause not yet lifted, due or not, oldest first."""
        ...

    def mark_resumed(self, pause_id: int, *, at: datetime | None = None) -> None:
        """Idempotent: a pause already lifted keeps its first time."""
        ...

    # retention and privacy
    def forget_recording(self, path: str, *, reason: str, at: datetime | None = None) -> None:
        """A recording file was deleted: compliments stop pointing at it; each case that pointed at it
        keeps the reference and gets a ``recording_deleted`` event with ``reason``."""
        ...

    def forget_callers(self, *, calls_before: datetime, incidents_before: datetime) -> tuple[int, int, int]:
        """Retention of caller numbers: blank the number of calls started before ``calls_before``,
        of incidents before ``incidents_before`` whose call has no open case, and of cases closed
        before ``incidents_before`` (their evidence is gone by then too). Returns how many calls,
        incidents and cases lost their number."""
        ...

    def caller_records(self, caller: str) -> CallerRecords:
        """Every call, compliment, incident and case of one caller number (none for a blank one)."""
        ...

    def erase_caller(self, caller: str, *, evidence_closed_before: datetime,
                     at: datetime | None = None) -> CallerErasure:
        """Erase one caller number, in one transaction: their calls are deleted, compliments on
        them lose their recording, and their cases closed before ``evidence_closed_before`` lose the
        number. Cases still open, or closed since, are kept (decided inside the transaction, so a
        case opened meanwhile is kept too) and get an ``erasure_refused`` event; incidents keep the
        number when their call has a kept case, and lose it otherwise (counts stay for the
        register). ``case_recordings`` lists only recordings no kept case points at. A blank caller
        erases nothing. A kept case gets its ``erasure_refused`` event once: running the same
        erasure again (the retention sweep retrying a pending one) does not repeat it."""
        ...

    def queue_erasure(self, caller: str, *, at: datetime | None = None) -> PendingErasure:
        """Write an erasure request down (before it is worked on): one row per caller number. A
        caller already queued keeps their first ``requested_at``; ``last_tried_at`` becomes ``at``.
        ValueError for a blank number."""
        ...

    def pending_erasures(self) -> list[PendingErasure]:
        """The erasure requests not finished yet, oldest request first."""
        ...

    def finish_erasure(self, caller: str) -> bool:
        """Cross a request off: its row, and the number in it, go. False when none was queued."""
        ...

    # reports
    def compliments_per_agent(self, *, since: datetime | None = None,
                              until: datetime | None = None) -> list[AgentCompliments]:
        """Most complimented first; ``since`` inclusive, ``until`` exclusive."""
        ...

    def incident_counts(self, group_by: Sequence[IncidentDimension], *, since: datetime | None = None,
                        until: datetime | None = None, tz: tzinfo = UTC) -> list[IncidentCount]:
        """Incidents counted per combination of the dimensions asked for, sorted by them."""
        ...


# ---------------------------------------------------------------- store URLs


_EXAMPLES = ("sqlite:///relative/path.sqlite, sqlite:////absolute/path.sqlite, sqlite:///:memory:"
             " or postgresql://user:password@host:5432/database")


def is_postgresql_url(url: str) -> bool:
    """``postgresql://`` or ``postgres://``: the two spellings libpq accepts (lower case only)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme in ("postgresql", "postgres")


def sqlite_path(url: str) -> str:
    """The file path (or ``:memory:``) a ``sqlite:///`` URL names; UnsupportedStoreUrl otherwise.

    Error messages show the scheme only: a database URL may carry a password.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise UnsupportedStoreUrl(f"store URL is not a URL; expected {_EXAMPLES}")
    if scheme.lower().startswith("postgresql+") or scheme.lower().startswith("postgres+"):
        raise UnsupportedStoreUrl(f"store URL scheme '{scheme}' names a driver; write postgresql://"
                                  f" without one; expected {_EXAMPLES}")
    if scheme != "sqlite":
        raise UnsupportedStoreUrl(f"store URL scheme '{scheme}' is not supported; expected {_EXAMPLES}")
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise UnsupportedStoreUrl(f"a sqlite URL needs three slashes and a path; expected {_EXAMPLES}")
    path = url[len(prefix):]
    if "?" in path:
        raise UnsupportedStoreUrl("sqlite store URLs take no query parameters")
    return path


def is_memory_path(path: str) -> bool:
    return path == ":memory:"


def ensure_parent_folder(path: str) -> None:
    if not is_memory_path(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------- time


def check_incident_dimensions(group_by: Sequence[str]) -> None:
    """ValueError naming the dimensions ``incident_counts`` cannot group by."""
    unknown = [name for name in group_by if name not in INCIDENT_DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group incidents by {', '.join(unknown)};"
                         f" choose from {', '.join(INCIDENT_DIMENSIONS)}")


def count_incidents(rows: Iterable[tuple[str, str | None, str, str, str | None, int]],
                    group_by: Sequence[IncidentDimension]) -> list[IncidentCount]:
    """``(category, team, queue, month, action, count)`` rows summed per combination of ``group_by``.

    The database counts per local month (``rules.local_months``); the sums and the order are made
    here, the same whatever the database's collation."""
    counts: Counter[tuple[str | None, ...]] = Counter()
    for category, team, queue, month, action, counted in rows:
        values: dict[str, str | None] = {"category": category, "team": team, "queue": queue, "month": month,
                                         "outcome": action}
        counts[tuple(values[name] for name in group_by)] += counted
    ordered = sorted(counts.items(), key=lambda item: tuple(value or "" for value in item[0]))
    return [IncidentCount(count=count, **dict(zip(group_by, key))) for key, count in ordered]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Refuse naive datetimes (their zone is a guess) and convert aware ones to UTC."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
