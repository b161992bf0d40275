"""The maintenance calendar (opsdash/maintenance.py) and its config: which windows run at a
time and when the next starts, by wall clock in the window's zone across DST changes;
`every` and `start` parsed, and every mistake one line naming the key."""

from __future__ import annotations

import datetime as dt

import pytest

from opsdash import maintenance as m
from opsdash.config import parse_config, parse_every
from opsdash.errors import ConfigError

UTC = dt.timezone.utc


def utc(*a: int) -> float:
    return dt.datetime(*a, tzinfo=UTC).timestamp()


def window(every: str = "sat 02:00", duration: str = "2h", tz: str = "Europe/Berlin", extra: str = "") -> object:
    cfg = parse_config(f'[[hosts]]\nname = "db-1"\ntags = {{ role = "db" }}\n[[maintenance]]\nname = "w"\n'
                       f'match = {{ role = "db" }}\nevery = "{every}"\nduration = "{duration}"\ntz = "{tz}"\n{extra}')
    return cfg.maintenance[0]


def starts(w, since: float, days: int) -> list[str]:
    return [dt.datetime.fromtimestamp(o.start, UTC).strftime("%a %m-%d %H:%M")
            for o in m.upcoming([w], since, days * 86400)]


def test_every_accepts_days_lists_ranges_and_words() -> None:
    assert parse_every("sat 02:00") == ((5,), (2, 0))
    assert parse_every("mon,wed 03:30") == ((0, 2), (3, 30))
    assert parse_every("daily 02:00") == (tuple(range(7)), (2, 0))
    assert parse_every("Fri-Mon 23:15") == ((0, 4, 5, 6), (23, 15))
    assert parse_every("weekdays 22:00")[0] == (0, 1, 2, 3, 4)
    assert parse_every("saturday 2:00") == ((5,), (2, 0))


def test_a_weekly_window_keeps_its_wall_clock_across_the_spring_change() -> None:
    # Europe/Berlin goes to summer time on Sunday 2026-03-29: 02:00 local is 01:00 UTC before, 00:00 after
    w = window()
    assert starts(w, utc(2026, 3, 20), 16) == ["Sat 03-21 01:00", "Sat 03-28 01:00", "Sat 04-04 00:00"]


def test_a_daily_window_in_the_week_of_each_change() -> None:
    w = window(every="daily 03:30", duration="1h")
    spring = starts(w, utc(2026, 3, 27), 4)
    assert spring == ["Fri 03-27 02:30", "Sat 03-28 02:30", "Sun 03-29 01:30", "Mon 03-30 01:30"]
    autumn = starts(w, utc(2026, 10, 23), 4)
    assert autumn == ["Fri 10-23 01:30", "Sat 10-24 01:30", "Sun 10-25 02:30", "Mon 10-26 02:30"]


def test_a_start_time_the_clocks_skip_or_repeat() -> None:
    # 02:30 does not exist on 2026-03-29 in Berlin (02:00 -> 03:00): read as 03:30 summer time
    w = window(every="sun 02:30", duration="1h")
    (o,) = m.upcoming([w], utc(2026, 3, 28), 2 * 86400)
    assert dt.datetime.fromtimestamp(o.start, UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 02:30 happens twice on 2026-10-25 (03:00 -> 02:00): the first one (summer time, 00:30 UTC)
    (o,) = m.upcoming([w], utc(2026, 10, 24), 2 * 86400)
    assert dt.datetime.fromtimestamp(o.start, UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert o.end - o.start == 3600  # duration is elapsed time


def test_active_and_next_change() -> None:
    w = window()
    sat = utc(2026, 12, 5, 1, 0)  # 02:00 Berlin (winter: UTC+1)
    assert m.active([w], sat - 1) == []
    (o,) = m.active([w], sat)
    assert o.start == sat and o.end == sat + 7200 and m.suppression(o) == "maintenance w"
    assert m.active([w], sat + 7200) == []  # the end is not in the window
    assert m.next_change([w], sat - 10) == sat
    assert m.next_change([w], sat) == sat + 7200
    assert m.next_change([w], sat + 7200) == sat + 7 * 86400
    assert m.covers(o, {"role": "db", "target": "db-1"}) and not m.covers(o, {"role": "web"})


def test_a_window_that_runs_past_midnight_is_active_the_next_day() -> None:
    w = window(every="sat 23:00", duration="4h", tz="UTC")
    (o,) = m.active([w], utc(2026, 12, 6, 2, 0))
    assert o.start == utc(2026, 12, 5, 23, 0)


def test_one_window_by_start() -> None:
    cfg = parse_config('[[hosts]]\nname = "db-1"\n[[maintenance]]\nname = "once"\nmatch = { target = "db-1" }\n'
                       'start = "2026-12-05T02:00:00Z"\nduration = "2h"\n'
                       '[[maintenance]]\nname = "local"\nmatch = { target = "db-1" }\n'
                       'start = 2026-12-05T02:00:00\nduration = "30m"\ntz = "Europe/Berlin"\n')
    once, local = cfg.maintenance
    assert once.start == utc(2026, 12, 5, 2, 0) and local.start == utc(2026, 12, 5, 1, 0)
    assert m.active([once], utc(2026, 12, 5, 3, 59))
    assert not m.active([once], utc(2026, 12, 5, 4, 0))
    assert m.next_change([once], utc(2026, 12, 5, 4, 0)) is None


@pytest.mark.parametrize(("body", "message"), [
    ('match = { role = "db" }\nevery = "sat 02:00"\nduration = "2h"\ntz = "Europe/Berln"',
     'maintenance[0].tz: unknown time zone "Europe/Berln" (did you mean "Europe/Berlin"?)'),
    ('match = { rolle = "db" }\nevery = "sat 02:00"\nduration = "2h"',
     'maintenance[0].match.rolle: unknown label "rolle" (did you mean "role"?)'),
    ('match = { target = "db-2" }\nevery = "sat 02:00"\nduration = "2h"',
     'maintenance[0].match.target: expected a host or endpoint name from this file, got "db-2" (did you mean "db-1"?)'),
    ('match = { severity = "page" }\nevery = "sat 02:00"\nduration = "2h"',
     'maintenance[0].match.severity: expected "warning" or "critical", got "page"'),
    ('match = { role = "db" }\nevery = "sat 2am"\nduration = "2h"', "maintenance[0].every: expected days and a time"),
    ('match = { role = "db" }\nevery = "caturday 02:00"\nduration = "2h"', "(not a day: 'caturday')"),
    ('match = { role = "db" }\nduration = "2h"', "maintenance[0]: expected exactly one of every"),
    ('match = { role = "db" }\nevery = "sat 02:00"\nstart = "2026-12-05T02:00:00Z"\nduration = "2h"',
     "maintenance[0]: expected exactly one of every"),
    ('match = { role = "db" }\nevery = "sat 02:00"', "maintenance[0].duration: is required"),
    ('match = {}\nevery = "sat 02:00"\nduration = "2h"', "maintenance[0].match: expected at least one matcher"),
    ('match = { role = "db" }\nstart = "next saturday"\nduration = "2h"', "maintenance[0].start: expected a date"),
    ('match = { role = "db" }\nevery = "sat 02:00"\nduration = "2h"\nwhen = "x"', 'maintenance[0].when: unknown key'),
])
def test_each_mistake_in_a_window_is_one_line(body: str, message: str) -> None:
    text = f'[[hosts]]\nname = "db-1"\ntags = {{ role = "db" }}\n[[maintenance]]\nname = "w"\n{body}\n'
    with pytest.raises(ConfigError) as e:
        parse_config(text)
    lines = str(e.value).splitlines()
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.parametrize(("hosts", "message"), [
    ('[[hosts]]\nname = "bastion"\n[[hosts]]\nname = "web"\ndepends_on = ["bastoin"]\n',
     'hosts[1].depends_on[0]: expected a host or endpoint name from this file, got "bastoin" (did you mean "bastion"?)'),
    ('[[hosts]]\nname = "web"\ndepends_on = ["web"]\n', 'hosts[0].depends_on[0]: "web" cannot depend on itself'),
    ('[[hosts]]\nname = "a"\ndepends_on = ["b"]\n[[hosts]]\nname = "b"\njump = "a"\n',
     "hosts[0].depends_on: dependencies loop: a -> b -> a"),
    ('[[hosts]]\nname = "a"\n[[endpoints]]\nname = "shop"\nurl = "http://127.0.0.1:1/"\ndepends_on = ["api"]\n'
     '[[endpoints]]\nname = "api"\nurl = "http://127.0.0.1:2/"\ndepends_on = ["shop"]\n',
     "endpoints[1].depends_on: dependencies loop: api -> shop -> api"),
])
def test_each_mistake_in_depends_on_is_one_line(hosts: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(hosts)
    lines = str(e.value).splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_a_jump_host_is_an_implicit_parent() -> None:
    cfg = parse_config('[[hosts]]\nname = "bastion"\n[[hosts]]\nname = "db"\njump = "bastion"\n'
                       '[[hosts]]\nname = "far"\njump = "ops@10.0.0.1:22"\n'
                       '[[endpoints]]\nname = "shop"\nurl = "http://127.0.0.1:1/"\ndepends_on = ["db"]\n')
    assert cfg.parents() == {"db": ("bastion",), "shop": ("db",)}
