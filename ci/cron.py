"""Cron expressions read the way cron and GitLab read them, in an IANA time zone, on top of APScheduler's
``CronTrigger`` (used for pipeline schedules, ``ci.schedules``).

Two differences from APScheduler 3's own ``from_crontab`` matter to users: cron numbers the days of the week from
Sunday (0, and 7 again) where APScheduler 3 counts from Monday, and when both the day-of-month and day-of-week
fields are restricted cron runs on a day matching *either* (APScheduler would require both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger

from forge.db.models_base import utcnow
from forge.errors import InvalidInput
from forge.i18n import N_

# The day-of-week field is always handed to APScheduler as names, never numbers.
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted (for validation and the form's suggestions)."""
    return tuple(sorted(available_timezones()))


def check_timezone(name: str) -> ZoneInfo:
    """The zone called ``name``; InvalidInput for anything that is not an IANA name ("Asia/Shanghai", "UTC")."""
    if name not in timezone_names():
        raise InvalidInput(N_("“%(zone)s” is not a time zone name; use an IANA name such as Asia/Shanghai or UTC."),
                           zone=name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but unreadable: the same answer
        raise InvalidInput(N_("“%(zone)s” is not a time zone name; use an IANA name such as Asia/Shanghai or "
                              "UTC."), zone=name) from exc


def _day_number(text: str) -> int:
    """0–7 or a day name, as cron numbers it (7 is kept so that a range such as 5-7 works)."""
    lowered = text.lower()
    if lowered in _DAY_NAMES:
        return _DAY_NAMES.index(lowered)
    if lowered.isdigit() and 0 <= int(lowered) <= 7:
        return int(lowered)
    raise ValueError(text)


def _weekdays(field: str) -> str:
    """A cron day-of-week field (numbers, names, ranges, lists, steps) as a list of names for APScheduler."""
    days: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(part)
            step = int(step_text)
        if base in ("*", "?"):
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _day_number(first), _day_number(last)
            if low > high:
                raise ValueError(part)
        else:
            low = _day_number(base)
            high = 7 if slash else low  # "1/2": from Monday to the end of the week, every other day
        days.update(v % 7 for v in range(low, high + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


@dataclass(frozen=True)
class Cron:
    """A parsed five-field cron expression in one time zone."""

    expression: str  # normalised: the fields separated by single spaces
    timezone: str
    triggers: tuple[CronTrigger, ...]

    def next_after(self, after: datetime) -> datetime | None:
        """The first time strictly after ``after`` that the expression matches, in UTC; None if it never will."""
        best: datetime | None = None
        for trigger in self.triggers:
            found = trigger.get_next_fire_time(None, after)
            if found is not None and found <= after:
                found = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
            if found is not None and (best is None or found < best):
                best = found
        return best.astimezone(UTC) if best is not None else None


def parse_cron(expression: str, timezone: str) -> Cron:
    """Read ``expression`` with cron's meaning: five fields (minute, hour, day of month, month, day of week), days
    of the week 0–7 with 0 and 7 Sunday, and — when both day fields are restricted — a day matching *either* (cron's
    and GitLab's rule). Raises InvalidInput with the reason."""
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidInput(N_("A cron expression has five fields (minute, hour, day of month, month, day of week); "
                              "“%(cron)s” has %(count)s."), cron=expression.strip(), count=len(fields))
    minute, hour, day, month, weekday = fields
    zone = check_timezone(timezone)
    try:
        days = _weekdays(weekday)
    except ValueError as exc:
        raise InvalidInput(N_("“%(field)s” is not a valid day of the week: use 0–7 (0 and 7 are Sunday) or sun–sat, "
                              "with ranges (1-5), lists (1,3) and steps (*/2)."), field=weekday) from exc

    def trigger(day_field: str, weekday_field: str) -> CronTrigger:
        return CronTrigger(minute=minute, hour=hour, day=day_field, month=month, day_of_week=weekday_field,
                           timezone=zone)

    try:
        if not day.startswith("*") and not weekday.startswith("*"):
            triggers: tuple[CronTrigger, ...] = (trigger(day, "*"), trigger("*", days))
        else:
            triggers = (trigger(day, days),)
    except ValueError as exc:
        raise InvalidInput(N_("“%(cron)s” is not a valid cron expression: %(detail)s"), cron=" ".join(fields),
                           detail=str(exc)) from exc
    cron = Cron(" ".join(fields), timezone, triggers)
    if cron.next_after(utcnow()) is None:
        raise InvalidInput(N_("“%(cron)s” never matches a date."), cron=cron.expression)
    return cron
