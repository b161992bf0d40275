"""Synthetic journeys: a few HTTP steps run in order, as a user would (log in, open the cart, check out).

Config (``[[journeys]]`` with ``[[journeys.steps]]``, docs/config.md): each step
has a method, a URL (``{var}`` filled from an earlier step's ``extract``), headers,
a form (``password_file = PATH`` sends the file's content as ``password``) or a
JSON body, and what it expects: a status, a substring of the body, JSON values
(opsdash/parsers/jsonpath.py), a TTFB limit. ``extract`` takes a value from the
JSON body, a regex group or a header for the steps after it.

One run (``probe``): one ``httpx.AsyncClient``, so one cookie jar per run and
none shared between runs or journeys; redirects are not followed, so a login's
302 is a status the step can expect. A step's time runs from sending the request
to the end of its body (TTFB: to its headers); the journey's total is timed
around the same steps, so the steps add up to it. The run stops at the first
failing step, and the row says which and why in one line:
``checkout: step 3 checkout: status 500``. A failure of the journey is the row's
state, never an exception.

p50/p95 are over the durations of the last ``RECENT`` successful runs, kept in
the row and read back with ``ctx.previous`` (a failed run has no comparable
duration: it stopped early, or ran into the timeout; journey-failed covers it).

Secrets: form values from ``*_file`` are read at probe time with
``ctx.read_file`` (off the loop), sent, and scrubbed from the whole row (plain
and URL-encoded), so no reason, step or body excerpt carries them; they are
never stored.

A remote vantage (a host name) runs each step as one script through the one
remote runner: curl with a config file (URL, headers, form: nothing on its
command line), in a temp dir its trap removes, the secrets written there by the
shell's printf; the cookie jar comes back with the step and goes out with the
next. Its times are curl's on that host, and the journey's total is their sum.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shlex
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping
from urllib.parse import quote, quote_plus, urlsplit

# httpx is the probe's, imported where a run needs it (warm() loads it in the collector's
# thread first): a viewer that only reads the config never pays its import, which pulls
# httpx's command line (click, rich, pygments) in too.
if TYPE_CHECKING:
    import httpx

from ..errors import ParseError
from ..model import Sample
from ..parsers import curl, journey_curl, jsonpath
from .base import BuiltinRule, Column, KeyChecker, Kind, Metric, ProbeContext, is_number

__all__ = ["KIND", "Journey", "JourneyKind", "JourneyRow", "Step"]

RECENT = 20  # journey durations kept in the row for p50/p95
BODY_CAP = 1 << 20  # bytes of a body read; the rest is not waited for
EXCERPT = 200  # characters of a failing step's body kept in the row
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
WARN_MS, CRIT_MS = 5000.0, 10000.0  # journey-slow's defaults on the p95

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name


# --- config ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extract:
    var: str
    how: str  # "json" | "regex" | "header"
    arg: str  # the path's text, the regex or the header name
    path: tuple[jsonpath.Step, ...] = ()
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Step:
    name: str
    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str, bool], ...] | None = None  # (field, value or secret file path, from a file)
    json_body: str | None = None  # the JSON text sent
    expect_status: tuple[int, ...] = (200,)
    expect_body: str | None = None
    expect_json: tuple[tuple[str, tuple[jsonpath.Step, ...], Any], ...] = ()
    extract: tuple[Extract, ...] = ()
    max_ttfb: float | None = None  # seconds

    @property
    def secret_files(self) -> tuple[tuple[str, str], ...]:
        return tuple((f, p) for f, p, from_file in (self.form or ()) if from_file)


@dataclass(frozen=True)
class Journey:
    name: str
    steps: tuple[Step, ...]
    interval: float = 60.0
    timeout: float = 30.0
    vantage: tuple[str, ...] = ("local",)
    verify_tls: bool = True
    ca_file: str | None = None
    warn_duration: float | None = None  # seconds, journey-slow's warn on this journey's p95
    max_duration: float | None = None  # seconds, its crit

    def slow_thresholds_ms(self) -> tuple[float | None, float | None] | None:
        """This journey's own (warn, crit) for journey-slow, or None for the defaults. A
        ``max_duration`` alone warns at half of it; a ``warn_duration`` alone keeps the default
        critical, or twice the warning when that is higher."""
        if self.warn_duration is None and self.max_duration is None:
            return None
        if self.max_duration is None:
            warn = self.warn_duration * 1000  # type: ignore[operator]
            return warn, max(CRIT_MS, 2 * warn)
        crit = self.max_duration * 1000
        return (self.warn_duration * 1000 if self.warn_duration is not None else crit / 2), crit


def _nonempty(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("a non-empty string")
    return v


def _positive(duration: Callable[[Any], float]) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        d = duration(v)
        if d <= 0:
            raise ValueError('a duration above zero like "500ms", "30s" or "1m"')
        return d
    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ValueError('a list of names like ["local"]')
    return tuple(v)


def _method(v: Any) -> str:
    if not isinstance(v, str) or v.upper() not in METHODS:
        raise ValueError("one of " + ", ".join(METHODS))
    return v.upper()


def _statuses(v: Any) -> tuple[int, ...]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if (not isinstance(v, list) or not v
            or not all(isinstance(x, int) and not isinstance(x, bool) and 100 <= x <= 599 for x in v)):
        raise ValueError("a list of HTTP statuses 100-599 like [200, 302]")
    return tuple(v)


def _str_table(v: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
        raise ValueError('a table of strings like { Accept = "application/json" }')
    return tuple(v.items())


def _form(v: Any) -> tuple[tuple[str, str, bool], ...]:
    if not isinstance(v, dict) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                          for x in v.values()):
        raise ValueError('a table of values like { user = "synthetic", password_file = "/etc/opsdash/pass" }')
    return tuple((k[:-5], os.path.expanduser(str(x)), True) if k.endswith("_file") else (k, str(x), False)
                 for k, x in v.items())


def _json_body(v: Any) -> str:
    try:
        return json.dumps(v, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise ValueError("JSON values (no dates, nan or inf)") from None


def _table(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError("a table")
    return v


def _origin(url: str) -> tuple[str, str] | None:
    """(scheme, host:port) of a URL, None unless http(s) with a host."""
    try:
        u = urlsplit(url)
        ok = u.scheme in ("http", "https") and bool(u.hostname)
    except ValueError:
        return None
    return (u.scheme, u.netloc.lower()) if ok else None


def _literal_origin(template: str) -> tuple[str, str] | None:
    """The origin written in the config before any {var}: values from the server may fill
    the path ("{next}" from a Location), never choose the host."""
    m = _VAR.search(template)
    return _origin(template[: m.start()] if m else template)


def _step(ck: KeyChecker, data: Any, sp: str, defined: set[str], ordinal: int) -> Step | None:
    v = ck.table(data, sp, {
        "name": (_nonempty, ck.REQUIRED),
        "method": (_method, "GET"),
        "url": (_nonempty, ck.REQUIRED),
        "headers": (_str_table, ()),
        "form": (_form, None),
        "json": (_json_body, None),
        "expect_status": (_statuses, (200,)),
        "expect_body": (_nonempty, None),
        "expect_json": (_table, {}),
        "extract": (_table, {}),
        "max_ttfb": (_positive(ck.duration), None),
    })
    name = v["name"] or f"#{ordinal}"
    ok = v["name"] is not None and v["url"] is not None
    if v["url"] is not None:
        if _literal_origin(v["url"]) is None:
            ck.problem(f"{sp}.url", f'expected an http:// or https:// URL with its host before any {{var}}, '
                                    f'got "{v["url"][:200]}"')
            ok = False
        texts = [("url", v["url"])] + [(f"headers.{k}", x) for k, x in v["headers"]]
        for where, text in texts:
            for var in _VAR.findall(text):
                if var not in defined:
                    have = ", ".join(sorted(defined)) or "none"
                    ck.problem(f"{sp}.{where}", f'step {ordinal} "{name}" uses {{{var}}}, which no earlier step '
                                                f"extracts (extracted before it: {have})")
                    ok = False
    for k, _ in v["headers"]:
        if not _TOKEN.fullmatch(k):
            ck.problem(f"{sp}.headers", f'"{k}" is not a header name')
            ok = False
    if v["form"] is not None:
        seen: set[str] = set()
        for f, _, from_file in v["form"]:
            if from_file and not f:
                ck.problem(f"{sp}.form", '"_file" names no field: write e.g. password_file')
                ok = False
            elif f in seen:
                ck.problem(f"{sp}.form.{f}", f'the field "{f}" is given twice (as {f} and {f}_file)')
                ok = False
            seen.add(f)
        if v["json"] is not None:
            ck.problem(f"{sp}.json", "a step sends a form or a JSON body, not both")
            ok = False
    expects = []
    for key, want in v["expect_json"].items():
        try:
            expects.append((key, jsonpath.compile(key), want))
        except ParseError as e:
            ck.problem(f"{sp}.expect_json", f'expected JSON paths like "$.status" as keys: {e}')
            ok = False
        if not isinstance(want, (str, int, float, bool, list, dict)):
            ck.problem(f"{sp}.expect_json", f'"{key}": expected a JSON value (no dates)')
            ok = False
    extracts = []
    for var, how in v["extract"].items():
        ex = _extract(ck, f"{sp}.extract.{var}", var, how)
        if ex is None:
            ok = False
        else:
            extracts.append(ex)
    defined.update(e.var for e in extracts)
    if not ok:
        return None
    return Step(name=v["name"], url=v["url"], method=v["method"], headers=v["headers"], form=v["form"],
                json_body=v["json"], expect_status=v["expect_status"], expect_body=v["expect_body"],
                expect_json=tuple(expects), extract=tuple(extracts), max_ttfb=v["max_ttfb"])


def _extract(ck: KeyChecker, path: str, var: str, how: Any) -> Extract | None:
    if not _IDENT.fullmatch(var):
        ck.problem(path, "a variable is a name of letters, digits and _ (not starting with a digit)")
        return None
    expected = 'expected "json:$.path", "regex:<a regex with one group>" or "header:<Name>"'
    if not isinstance(how, str) or ":" not in how:
        ck.problem(path, expected)
        return None
    kind, _, arg = how.partition(":")
    if kind == "json":
        try:
            return Extract(var, kind, arg, path=jsonpath.compile(arg))
        except ParseError as e:
            ck.problem(path, f"expected a JSON path like $.id: {e}")
            return None
    if kind == "regex":
        try:
            rx = re.compile(arg)
        except re.error as e:
            ck.problem(path, f"not a regex: {e}")
            return None
        if rx.groups != 1:
            ck.problem(path, f"expected a regex with exactly one group (it has {rx.groups})")
            return None
        return Extract(var, kind, arg, regex=rx)
    if kind == "header":
        if not _TOKEN.fullmatch(arg):
            ck.problem(path, f'"{arg}" is not a header name')
            return None
        return Extract(var, kind, arg)
    ck.problem(path, expected)
    return None


# --- the row --------------------------------------------------------------------------------


@dataclass
class JourneyRow:
    ok: bool
    t: float
    reason: str | None = None
    failed_step: int | None = None  # 1-based
    failed_step_name: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # {name, method, status, ms, ttfb_ms, ok}
    total_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    recent: list[float] = field(default_factory=list)  # the last RECENT ok runs' total_ms, oldest first
    excerpt: str | None = None  # the start of the failing step's body

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "t": self.t, "reason": self.reason, "failed_step": self.failed_step,
            "failed_step_name": self.failed_step_name, "steps": [dict(s) for s in self.steps],
            "total_ms": self.total_ms, "p50_ms": self.p50_ms, "p95_ms": self.p95_ms,
            "recent": list(self.recent), "excerpt": self.excerpt,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "JourneyRow":
        def num(v: Any) -> float | None:
            return float(v) if is_number(v) else None

        fs = d.get("failed_step")
        return cls(
            ok=d.get("ok") is True, t=num(d.get("t")) or 0.0,
            reason=d.get("reason") if isinstance(d.get("reason"), str) else None,
            failed_step=fs if isinstance(fs, int) and not isinstance(fs, bool) else None,
            failed_step_name=d.get("failed_step_name") if isinstance(d.get("failed_step_name"), str) else None,
            steps=[dict(s) for s in d["steps"] if isinstance(s, dict)] if isinstance(d.get("steps"), list) else [],
            total_ms=num(d.get("total_ms")), p50_ms=num(d.get("p50_ms")), p95_ms=num(d.get("p95_ms")),
            recent=_recent(d), excerpt=d.get("excerpt") if isinstance(d.get("excerpt"), str) else None,
        )

    def samples(self, t: float, target: str, labels: Mapping[str, str]) -> list[Sample]:
        lb = dict(labels)
        out = [Sample(t, target, "journey.up", 1.0 if self.ok else 0.0, lb)]
        if self.ok and self.total_ms is not None:
            out.append(Sample(t, target, "journey.duration_ms", self.total_ms, lb))
        if self.p50_ms is not None:
            out.append(Sample(t, target, "journey.duration_p50_ms", self.p50_ms, lb))
        if self.p95_ms is not None:
            out.append(Sample(t, target, "journey.duration_p95_ms", self.p95_ms, lb))
        for s in self.steps:
            if is_number(s.get("ms")) and isinstance(s.get("name"), str):
                out.append(Sample(t, target, "journey.step_ms", float(s["ms"]), {**lb, "step": s["name"]}))
        return out


def _recent(prev: Mapping[str, Any] | None) -> list[float]:
    """The durations a previous row kept: numbers only (a row from an older opsdash, or a
    damaged store, gives none rather than an error)."""
    r = (prev or {}).get("recent")
    if not isinstance(r, list):
        return []
    return [float(x) for x in r if is_number(x) and x >= 0][-RECENT:]


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 1)


class _Scrub:
    """Replaces each secret (as sent: plain and URL-encoded) by *** in every string of a row."""

    def __init__(self, secrets: Iterable[str]):
        forms = {f for s in secrets if s for f in (s, quote_plus(s), quote(s, safe=""))}
        self.forms = sorted(forms, key=len, reverse=True)

    def text(self, s: str) -> str:
        for f in self.forms:
            s = s.replace(f, "***")
        return s

    def __call__(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self(x) for x in v]
        if isinstance(v, dict):
            return {self(k): self(x) for k, x in v.items()}
        return v


# --- one run --------------------------------------------------------------------------------


class StepFailed(Exception):
    """A step did not do what it must; ``what`` is the reason's last part ("status 500")."""

    def __init__(self, what: str, excerpt: str | None = None):
        super().__init__(what)
        self.what = what
        self.excerpt = excerpt


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, bool) or isinstance(want, bool):
        return isinstance(got, bool) and isinstance(want, bool) and got == want
    if is_number(got) and is_number(want):
        return float(got) == float(want)
    return type(got) is type(want) and got == want


# In a URL an extracted value keeps the URL's own punctuation (a Location's "/cart?x=1"
# works) and has the rest percent-encoded; the host is the config's (checked after filling).
_URL_SAFE = "/?&=:@!$'()*+,;~%-._"


def _fill(template: str, values: Mapping[str, str], in_url: bool) -> str:
    return _VAR.sub(lambda m: quote(values[m.group(1)], safe=_URL_SAFE) if in_url else values[m.group(1)],
                    template)


def _as_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


class _Run:
    """One run of one journey: its cookie jar (the client's locally, curl's file remotely),
    the variables extracted so far, the steps done."""

    def __init__(self, journey: Journey, secrets: Mapping[tuple[int, str], str], scrub: "_Scrub"):
        # scrub before cutting: an excerpt or a value cut mid-secret would keep its first part
        self.j, self.secrets, self.scrub = journey, secrets, scrub
        self.vars: dict[str, str] = {}
        self.steps: list[dict[str, Any]] = []
        self.current = 0  # index of the step running
        self.jar = ""  # a remote run's cookie jar (curl's file), carried from step to step

    def show(self, v: Any) -> str:
        text = self.scrub.text(json.dumps(v, ensure_ascii=False, separators=(",", ":"))[:4096])
        return text if len(text) <= 60 else text[:57] + "..."

    def begin(self, i: int, st: Step) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The step's URL and headers with the variables filled, and its record in ``steps``."""
        self.current = i
        rec: dict[str, Any] = {"name": st.name, "method": st.method, "status": None, "ms": None,
                               "ttfb_ms": None, "ok": False}
        self.steps.append(rec)
        url = _fill(st.url, self.vars, True)
        if _origin(url) != _literal_origin(st.url):
            rec["ms"] = 0.0
            raise StepFailed("an extracted value would send the step to another host")
        headers = {k: _fill(x, self.vars, False) for k, x in st.headers}
        if st.json_body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        return url, headers, rec

    def judge(self, st: Step, rec: dict[str, Any], status: int, headers: httpx.Headers, ttfb_s: float,
              text: str) -> None:
        try:
            self.check(st, status, headers, ttfb_s, text)
        except StepFailed as e:
            e.excerpt = self.scrub.text(text)[:EXCERPT]
            raise
        rec["ok"] = True

    async def step(self, client: httpx.AsyncClient, i: int, st: Step) -> None:
        """One step from here: from sending the request to the end of its body."""
        import httpx

        url, headers, rec = self.begin(i, st)
        data = None
        if st.form is not None:
            data = {f: (self.secrets[(i, f)] if from_file else x) for f, x, from_file in st.form}
        content = st.json_body.encode() if st.json_body is not None else None
        t0 = time.perf_counter()
        try:
            async with client.stream(st.method, url, headers=headers, data=data, content=content) as resp:
                t_head = time.perf_counter()
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) >= BODY_CAP:
                        break  # enough to judge; leaving the block drops the rest
            # after the response is released (the connection back to the pool or closed): that
            # is the step's too, so the steps add up to the journey
            t_end = time.perf_counter()
        except httpx.TimeoutException:
            rec["ms"] = round((time.perf_counter() - t0) * 1000, 1)
            raise StepFailed("timeout") from None
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as e:
            rec["ms"] = round((time.perf_counter() - t0) * 1000, 1)
            raise StepFailed(_transport(e)) from None
        rec.update(status=resp.status_code, ms=round((t_end - t0) * 1000, 1),
                   ttfb_ms=round((t_head - t0) * 1000, 1))
        text = body[:BODY_CAP].decode(resp.encoding or "utf-8", errors="replace")
        self.judge(st, rec, resp.status_code, resp.headers, t_head - t0, text)

    async def step_remote(self, ctx: ProbeContext, vantage: str, i: int, st: Step, remaining: float,
                          cadata: str | None) -> None:
        """One step from ``vantage``: curl in a temp dir there (its trap removes it), its time
        as curl measured it; the cookie jar comes back and goes out with the next step."""
        url, headers, rec = self.begin(i, st)
        files: dict[str, str] = {"jar": self.jar}
        form: list[tuple[str, str | None, str | None]] | None = None
        if st.form is not None:
            form = []
            for n, (f, x, from_file) in enumerate(st.form):
                if from_file:
                    files[f"secret{n}"] = self.secrets[(i, f)]
                    form.append((f, None, f"secret{n}"))
                else:
                    form.append((f, x, None))
        if st.json_body is not None:
            files["json"] = st.json_body
        if cadata is not None:
            files["ca"] = cadata
        try:
            files["cfg"] = journey_curl.step_config(
                url=url, method=st.method, headers=headers.items(), write_out=curl.CURL_WRITE_OUT,
                max_time=remaining, form=form, json_file="json" if st.json_body is not None else None,
                insecure=not self.j.verify_tls, cacert="ca" if cadata is not None else None)
        except ValueError as e:
            raise StepFailed(str(e)) from None
        secs = await ctx.run_script(vantage, remote_script(files), remaining + REMOTE_MARGIN)
        ran = secs.get("curl")
        if ran is None:
            raise StepFailed("the vantage's script gave no curl result")
        if ran.rc == 127:
            raise StepFailed("curl not found on the vantage")
        try:
            res = curl.parse_curl_write_out(ran.out, ran.rc)
        except ParseError as e:
            raise StepFailed(f"curl: {e}") from None
        rec["ms"] = res.phases.total_ms or 0.0
        if res.exit_code == 28:
            raise StepFailed("timeout")
        if res.exit_code != 0:
            # curl's own line ("curl: (60) SSL certificate problem: ..."); advice lines follow it
            said = [ln.strip() for ln in (ran.err or "").splitlines() if ln.strip().startswith("curl: (")]
            why = re.sub(r"^curl: \(\d+\) ", "", said[0])[:160] if said else ""
            raise StepFailed(f"{res.error}" + (f" ({why})" if why else ""))
        self.jar = secs["jar"].out if "jar" in secs else ""
        try:
            status, hdrs = journey_curl.parse_headers(secs["head"].out if "head" in secs else "")
        except ParseError as e:
            raise StepFailed(str(e)) from None
        ttfb = res.phases.ttfb_ms or 0.0
        rec.update(status=status, ttfb_ms=round(ttfb, 1), ms=round(res.phases.total_ms or 0.0, 1))
        import httpx

        self.judge(st, rec, status, httpx.Headers(hdrs), ttfb / 1000, secs["body"].out if "body" in secs else "")

    def check(self, st: Step, status: int, headers: httpx.Headers, ttfb: float, text: str) -> None:
        """Raises StepFailed with what is wrong first: the status, the TTFB, the body, the JSON, the extracts."""
        if status not in st.expect_status:
            raise StepFailed(f"status {status}")
        if st.max_ttfb is not None and ttfb > st.max_ttfb:
            raise StepFailed(f"ttfb {ttfb * 1000:.0f}ms over {st.max_ttfb * 1000:g}ms")
        if st.expect_body is not None and st.expect_body not in text:
            raise StepFailed(f"body lacks {self.show(st.expect_body)}")
        doc: Any = jsonpath.MISSING
        if st.expect_json or any(e.how == "json" for e in st.extract):
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError):  # a hostile body nests deeper than the parser goes
                raise StepFailed("body is not JSON") from None
        for key, path, want in st.expect_json:
            got = jsonpath.find(doc, path)
            if got is jsonpath.MISSING:
                raise StepFailed(f"{key} missing")
            if not _same(got, want):
                raise StepFailed(f"{key} is {self.show(got)}, expected {self.show(want)}")
        for ex in st.extract:
            if ex.how == "json":
                got = jsonpath.find(doc, ex.path)
                if got is jsonpath.MISSING or got is None:
                    raise StepFailed(f"extract {ex.var}: {ex.arg} missing")
                self.vars[ex.var] = _as_text(got)
            elif ex.how == "regex":
                assert ex.regex is not None
                m = ex.regex.search(text)
                if m is None or m.group(1) is None:
                    raise StepFailed(f"extract {ex.var}: the regex finds nothing")
                self.vars[ex.var] = m.group(1)
            else:
                h = headers.get(ex.arg)
                if h is None:
                    raise StepFailed(f"extract {ex.var}: no {ex.arg} header")
                self.vars[ex.var] = h


# A remote step's script: files written by the shell's printf (a builtin: the secrets in
# them are never an argument of a process), curl run on a config file in the temp dir.
REMOTE_MARGIN = 3.0  # seconds for the SSH round trip beyond curl's max-time (the job allows timeout + 5)
_REMOTE_PRELUDE = """umask 077
_t=$(mktemp -d) || exit 70
trap 'rm -rf "$_t"' EXIT
trap 'exit 129' HUP INT TERM
cd "$_t" || exit 70
"""


def remote_script(files: Mapping[str, str]) -> str:
    writes = "".join(f"printf '%s' {shlex.quote(v)} >{name}\n" for name, v in files.items())
    return (_REMOTE_PRELUDE + writes + "sec curl curl -K cfg\nsec head cat head\n"
            f"sec body head -c {BODY_CAP} body\nsec jar cat jar\n")


def _transport(e: Exception) -> str:
    import httpx

    text = str(e) or type(e).__name__
    if isinstance(e, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return "TLS: " + text.splitlines()[0][:160]
        return "connect failed: " + text.splitlines()[0][:160]
    return f"{type(e).__name__}: " + text.splitlines()[0][:160]


# --- the kind -------------------------------------------------------------------------------

RUNBOOK_FAILED = (
    "the reason names the step and what it got (status, body, JSON value, extract, ttfb, timeout); "
    "`opsdash once --format json` shows each step's status and time. Replay the journey by hand with one "
    "cookie jar: curl -sv -c /tmp/jar -b /tmp/jar -d user=synthetic --data-urlencode password@FILE "
    "URL_OF_STEP_1, then curl -sv -b /tmp/jar URL_OF_THE_FAILING_STEP; a 5xx is the app: its error log "
    "for that URL at that time (journalctl -u APP --since '-15min'), recent deploys, its database and "
    "payment/upstream dependencies; a 401/403 or a 302 to the login: the synthetic user's password or "
    "session; a missing JSON value or body text: the API or page changed (update the journey's expect_*)"
)
RUNBOOK_SLOW = (
    "the drill-down lists each step's time and TTFB: find the slow step, then time it by hand: "
    "curl -s -o /dev/null -w 'ttfb %{time_starttransfer}s total %{time_total}s\\n' URL; compare with the "
    "endpoint latency of the same host in the Latency pane; check the app's slow log, the database's slow "
    "queries, upstream latency and the host's CPU (top) and load"
)


class JourneyKind(Kind):
    name: ClassVar[str] = "journey"
    section: ClassVar[str] = "journeys"
    title: ClassVar[str] = "Journey"
    pane: ClassVar[str] = "latency"
    up_metric: ClassVar[str | None] = "journey.up"
    row_type: ClassVar[Any] = JourneyRow
    metrics: ClassVar[tuple[Metric, ...]] = (
        Metric("journey.up", "journey works", "bool", "1 when every step of the synthetic journey passed, else 0"),
        Metric("journey.duration_ms", "journey duration", "ms",
               "time of a successful run of the whole journey, milliseconds (the sum of its steps)"),
        Metric("journey.duration_p50_ms", "journey duration p50", "ms",
               "median duration of the journey's last 20 successful runs, milliseconds"),
        Metric("journey.duration_p95_ms", "journey duration p95", "ms",
               "95th percentile duration of the journey's last 20 successful runs, milliseconds"),
        Metric("journey.step_ms", "journey step time", "ms",
               "time of one step (label step) from sending its request to the end of its body, milliseconds"),
    )
    rules: ClassVar[tuple[BuiltinRule, ...]] = (
        BuiltinRule(
            name="journey-failed", metric="journey.up", op="<", crit=0.5, attempts=2,  # one blip never pages
            description="a synthetic journey failed: the reason names the step and what it got "
                        '("checkout: step 3 checkout: status 500")',
            runbook=RUNBOOK_FAILED, tier={"warning": "L1", "critical": "L2"},
        ),
        BuiltinRule(
            name="journey-slow", metric="journey.duration_p95_ms", warn=WARN_MS, crit=CRIT_MS,
            clear=WARN_MS * 0.8, for_s=300,
            description="journey duration p95 over its last 20 runs (warning 5 s, critical 10 s; per journey: "
                        "warn_duration / max_duration)",
            runbook=RUNBOOK_SLOW,
            per_check=lambda j: j.slow_thresholds_ms() if isinstance(j, Journey) else None,
        ),
    )
    columns: ClassVar[tuple[Column, ...]] = (
        Column("p50", "p50_ms", "ms", "journey.duration_p50_ms"),
        Column("p95", "p95_ms", "ms", "journey.duration_p95_ms"),
    )

    def __init__(self) -> None:
        self._ssl: dict[tuple[bool, bytes | None], ssl.SSLContext] = {}
        self._secrets: dict[str, tuple[str, ...]] = {}  # check name -> values read at its last run (memory only)
        # (check, vantage) -> the durations of its last row, for a failed() row that has no previous
        self._recent: dict[tuple[str, str], list[float]] = {}

    # --- config

    def load(self, ck: KeyChecker, items: list[Any], path: str) -> tuple[Journey, ...]:
        out: list[Journey] = []
        tables = [x for x in items if isinstance(x, dict)]
        ck.unique(tables, path)
        for i, item in enumerate(items):
            jp = f"{path}[{i}]"
            v = ck.table(item, jp, {
                "name": (_nonempty, ck.REQUIRED),
                "interval": (_positive(ck.duration), 60.0),
                "timeout": (_positive(ck.duration), 30.0),
                "vantage": (_str_list, ("local",)),
                "verify_tls": (_bool, True),
                "ca_file": (_nonempty, None),
                "warn_duration": (_positive(ck.duration), None),
                "max_duration": (_positive(ck.duration), None),
                "steps": (lambda x: x, ck.REQUIRED),
            })
            ok = v["name"] is not None
            for vi, vant in enumerate(v["vantage"]):
                if vant != "local" and vant not in ck.hosts:
                    ck.problem(f"{jp}.vantage[{vi}]", f'unknown vantage "{vant}": expected "local" or a host name')
                    ok = False
            if (v["warn_duration"] is not None and v["max_duration"] is not None
                    and v["warn_duration"] >= v["max_duration"]):
                ck.problem(f"{jp}.warn_duration", "expected less than max_duration")
                ok = False
            raw_steps = ck.array(v["steps"], f"{jp}.steps") if v["steps"] is not None else []
            if v["steps"] is not None and not raw_steps and isinstance(v["steps"], list):
                ck.problem(f"{jp}.steps", "expected at least one [[journeys.steps]]")
                ok = False
            ck.unique([s for s in raw_steps if isinstance(s, dict)], f"{jp}.steps")
            defined: set[str] = set()
            steps = [_step(ck, s, f"{jp}.steps[{si}]", defined, si + 1) for si, s in enumerate(raw_steps)]
            if ok and steps and all(s is not None for s in steps):
                out.append(Journey(
                    name=v["name"], steps=tuple(s for s in steps if s is not None), interval=v["interval"],
                    timeout=v["timeout"], vantage=v["vantage"], verify_tls=v["verify_tls"],
                    ca_file=os.path.expanduser(v["ca_file"]) if v["ca_file"] else None, warn_duration=v["warn_duration"], max_duration=v["max_duration"],
                ))
        return tuple(out)

    def secrets(self, check: Any) -> Iterable[str]:
        return self._secrets.get(getattr(check, "name", ""), ())

    # --- probing

    def warm(self) -> None:
        import httpx  # noqa: F401

    async def probe(self, check: Journey, vantage: str, ctx: ProbeContext) -> JourneyRow:
        row = await self._probe(check, vantage, ctx)
        self._recent[(check.name, vantage)] = row.recent
        return row

    async def _probe(self, check: Journey, vantage: str, ctx: ProbeContext) -> JourneyRow:
        import httpx

        t = ctx.clock()
        recent = _recent(await ctx.previous(self.name, check.name, vantage))
        secrets: dict[tuple[int, str], str] = {}
        for i, st in enumerate(check.steps):
            for fld, fpath in st.secret_files:
                try:
                    raw = await ctx.read_file(fpath)
                    value = raw.decode("utf-8").rstrip("\r\n")
                except OSError as e:
                    why = f"cannot read {fld}_file {fpath}: {e.strerror or type(e).__name__}"
                    return self._done(check, t, recent, [], None, i, why, None, secrets.values())
                except UnicodeDecodeError:
                    why = f"{fld}_file {fpath} is not UTF-8 text"
                    return self._done(check, t, recent, [], None, i, why, None, secrets.values())
                if not value:
                    return self._done(check, t, recent, [], None, i, f"{fld}_file {fpath} is empty", None,
                                      secrets.values())
                secrets[(i, fld)] = value
        self._secrets[check.name] = tuple(secrets.values())
        run = _Run(check, secrets, _Scrub(secrets.values()))
        failure: StepFailed | None = None
        if vantage == "local":
            verify = await self._verify(check, ctx)
            if isinstance(verify, str):
                return self._done(check, t, recent, [], None, None, verify, None, secrets.values())
            async with httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=False,
                                         timeout=check.timeout) as client:
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(check.timeout):
                        for i, st in enumerate(check.steps):
                            await run.step(client, i, st)
                except StepFailed as e:
                    failure = e
                except TimeoutError:
                    failure = StepFailed(f"journey timeout after {check.timeout:g}s")
                    if run.steps and run.steps[-1]["ms"] is None:
                        run.steps[-1]["ms"] = round((time.perf_counter() - start) * 1000
                                                    - sum(s["ms"] or 0 for s in run.steps), 1)
                # timed around the same steps, so the steps add up to it
                total_ms = round((time.perf_counter() - start) * 1000, 1)
        else:
            cadata: str | None = None
            if check.verify_tls and check.ca_file:
                try:
                    cadata = (await ctx.read_file(check.ca_file, max_bytes=1 << 20)).decode("ascii", "replace")
                except OSError as e:
                    why = f"cannot read ca_file {check.ca_file}: {e.strerror or type(e).__name__}"
                    return self._done(check, t, recent, [], None, None, why, None, secrets.values())
            # Each step is one script on the vantage; its time is curl's there, so the SSH round
            # trips between steps are not the journey's (they would be the collector's).
            deadline = time.perf_counter() + check.timeout
            try:
                for i, st in enumerate(check.steps):
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        run.current = i
                        raise StepFailed(f"journey timeout after {check.timeout:g}s")
                    await run.step_remote(ctx, vantage, i, st, remaining, cadata)
            except StepFailed as e:
                failure = e
            total_ms = round(sum(s["ms"] or 0.0 for s in run.steps), 1)
        if failure is None:
            return self._done(check, t, recent, run.steps, total_ms, None, None, None, secrets.values())
        # A failure is the step's; a journey whose whole time ran out names the step it was in.
        return self._done(check, t, recent, run.steps, total_ms, run.current, failure.what, failure.excerpt,
                          secrets.values())

    async def _verify(self, check: Journey, ctx: ProbeContext) -> ssl.SSLContext | bool | str:
        """The TLS verification for the journey's client: False, or a context (the system
        store or ca_file) built once off the loop and reused; a text when ca_file is unusable."""
        if not check.verify_tls:
            return False
        cadata: bytes | None = None
        if check.ca_file:
            try:
                cadata = await ctx.read_file(check.ca_file, max_bytes=1 << 20)
            except OSError as e:
                return f"cannot read ca_file {check.ca_file}: {e.strerror or type(e).__name__}"
        key = (True, cadata)
        if key not in self._ssl:
            def build() -> ssl.SSLContext:
                if cadata is None:
                    return ssl.create_default_context()
                return ssl.create_default_context(cadata=cadata.decode("ascii", errors="replace"))
            try:
                self._ssl[key] = await asyncio.to_thread(build)
            except (ssl.SSLError, ValueError) as e:
                return f"ca_file {check.ca_file} holds no usable certificate: {e}"
        return self._ssl[key]

    def _done(self, check: Journey, t: float, recent: list[float], steps: list[dict[str, Any]],
              total_ms: float | None, failed_at: int | None, what: str | None, excerpt: str | None,
              secrets: Iterable[str]) -> JourneyRow:
        ok = what is None
        if ok and total_ms is not None:
            recent = (recent + [total_ms])[-RECENT:]
        row = JourneyRow(ok=ok, t=t, steps=steps, total_ms=total_ms, recent=recent,
                         p50_ms=percentile(recent, 0.5), p95_ms=percentile(recent, 0.95))
        if not ok and failed_at is None:  # the journey could not start (ca_file, vantage)
            row.reason = f"{check.name}: {what}"
        elif not ok:
            n, step_name = failed_at + 1, check.steps[failed_at].name
            row.failed_step, row.failed_step_name = n, step_name
            row.reason = f"{check.name}: step {n} {step_name}: {what}"
            row.excerpt = excerpt
        # One place for the secrets: every string of the row, whatever put it there.
        return JourneyRow.from_json(_Scrub(secrets)(row.to_json()))

    def failed(self, check: Any, vantage: str, reason: str, t: float) -> JourneyRow:
        """The vantage could not be used (SSH down, the job's time out): the durations so far
        stay, so p50/p95 do not start over; a secret is scrubbed from the error's text too."""
        recent = self._recent.get((check.name, vantage), [])
        row = JourneyRow(ok=False, t=t, reason=f"{check.name}: {reason}", recent=recent,
                         p50_ms=percentile(recent, 0.5), p95_ms=percentile(recent, 0.95))
        return JourneyRow.from_json(_Scrub(self._secrets.get(check.name, ()))(row.to_json()))

    # --- showing

    def state(self, row: Mapping[str, Any]) -> tuple[str, bool]:
        if row.get("ok") is True:
            return "ok", False
        n = row.get("failed_step")
        if isinstance(n, int) and not isinstance(n, bool):
            return f"step {n}", True
        return "error", True

    def detail(self, row: Mapping[str, Any]) -> list[str]:
        r = JourneyRow.from_json(row)
        head = "ok" if r.ok else "FAILED"
        lines = [f"journey: {head}" + (f" in {r.total_ms:g} ms" if r.total_ms is not None else "")]
        if r.p50_ms is not None and r.p95_ms is not None:
            lines.append(f"duration p50 {r.p50_ms:g} ms, p95 {r.p95_ms:g} ms (last {len(r.recent)} ok runs)")
        if r.reason:
            lines.append(f"reason: {r.reason}")
        for i, s in enumerate(r.steps, start=1):
            status = s.get("status") if s.get("status") is not None else "-"
            ms = f"{s['ms']:g} ms" if is_number(s.get("ms")) else "-"
            ttfb = f", ttfb {s['ttfb_ms']:g} ms" if is_number(s.get("ttfb_ms")) else ""
            mark = "ok" if s.get("ok") else "FAILED"
            lines.append(f"step {i} {s.get('name')}: {s.get('method', '')} {status} {ms}{ttfb} {mark}")
        if r.excerpt:
            lines.append("body: " + r.excerpt.replace("\n", " ")[:EXCERPT])
        return lines

    def handover_line(self, target: str, vantage: str, row: Mapping[str, Any]) -> str | None:
        word, failing = self.state(row)
        if not failing:
            return None
        reason = str(row.get("reason") or word)
        reason = reason.removeprefix(f"{target}: ")  # the reason starts with the journey's name
        return f"{self.title} {target} from {vantage}: {reason}"


KIND = JourneyKind()
