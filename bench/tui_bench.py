#!/usr/bin/env python3
"""The TUI at 1000 hosts: key press -> updated screen latency, idle CPU, RSS.

    python bench/tui_bench.py [--hosts 1000] [--size 80x24] [--idle 45] [--rounds 20] [--starts 5]

Setup (all on loopback, all real processes):
  1. ``opsdash demo --hosts N --headless --dir D``: the simulated fleet (asyncssh +
     HTTP servers, its own process) and a headless collector polling it through
     the real SSH/HTTP probes and writing the SQLite store. Runs for the whole bench.
  2. ``opsdash run --no-collector`` against that store, in a real pty: a detached
     tmux session of the given size. The TUI reads the store every second
     (live data: the collector keeps writing) and redraws.

What "key press -> updated screen" means here: the time from just before
``tmux send-keys`` is called until a ``tmux capture-pane`` of the pane shows
the expected change, i.e. the bytes the TUI wrote after handling the key have
reached the terminal (tmux) and been drawn there. The screen is polled with
back-to-back capture-pane calls; each figure is taken at the END of the first
capture that shows the change, so it includes up to one capture interval
(reported) of polling slack: the figures are upper bounds.

At 160x48 all six panes show at once. The bench then reads the Health pane
only (the left half of the pane area, its box border cut off), and ``2`` /
``1`` move the focus: the change is the Health cursor line's colours going
from focused to blurred and back. The other keys read as below.

Keys (80x24, tabs):
  - ``2`` / ``1``: jump to Latency / Health; the change is the table header
    of the other pane replacing this one's.
  - ``down``: cursor one row down (the DataTable's key; ``j`` is not bound);
    the change is the cursor line (the one line with its own background)
    showing the next host; it scrolls the table once it reaches the bottom.
  - ``/``: open the filter prompt on the bottom line (its placeholder appears).
  - typing ``node-07`` (7 keys sent in one burst) -> every table line shows a
    node-07xx host: seven filter passes over 6 panes x ~1000 rows.
  - ``enter``: keep the filter -> the prompt loses focus (its colours change).
  - ``escape``: clear the filter -> the prompt is gone and other hosts' rows are
    back. A lone Esc is reported only after ESCDELAY (50 ms by default in
    ``opsdash run``), so this figure includes that wait.
Key presses are spaced by 150-400 ms at random, so they land anywhere in the
1 s refresh cycle, with the collector writing all the time.

First full screen (``--starts`` times, after the keys): a fresh ``opsdash run
--no-collector`` in a second tmux window of the same size, with the collector
still writing: the time from just before ``tmux new-session`` (so the process's
start, Python's and every import included) until a capture shows the whole
screen: the fleet header with every host counted and every visible pane's table
filled with its rows (no pane still "waiting for the first poll"). The TUI runs
from byte-compiled modules, as an installed opsdash does: the bench gives it a
``PYTHONPYCACHEPREFIX`` of its own (the first TUI's start writes it) even when
``PYTHONDONTWRITEBYTECODE`` is set, which would otherwise recompile every opsdash
module at each start.

The bench's tmux runs on a socket of its own (``tmux -L``): its server, and so
the TUI, is a child of the bench and shares its scheduling priority (run the
whole bench under ``nice -n -10`` to keep other work on a shared machine from
deciding the figures; fleet, collector and TUI then still compete as equals).

Idle CPU: with no key pressed for ``--idle`` seconds while live data flows, the
TUI process's user+sys CPU seconds (from /proc/PID/stat) divided by wall time.
RSS: VmRSS and VmHWM of the TUI process at the end.

Prints a Markdown section to stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSION = f"opsdash-tui-bench-{os.getpid()}"
SOCKET = SESSION  # tmux -L: a server of the bench's own, started (and niced) by it
TICK = os.sysconf("SC_CLK_TCK")
BG = re.compile(r"48;(?:5;\d+|2;\d+;\d+;\d+)")


def log(msg: str) -> None:
    print(f"[tui_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tmux(*args: str, check: bool = True) -> str:
    r = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


# At 160x48 the panes sit in a grid: predicates read the Health pane (the first
# CROP visible columns of the pane area, without its box border). None: tabs.
CROP: int | None = None
SGR = re.compile(r"\x1b\[[0-9;:]*m")


def capture(escapes: bool = False, target: str | None = None, crop: bool = True) -> list[str]:
    args = ["capture-pane", "-p", "-t", target or SESSION]
    if escapes:
        args.insert(2, "-e")
    lines = tmux(*args).split("\n")
    while lines and not lines[-1]:
        lines.pop()  # capture-pane ends with a newline
    if CROP is None or not crop or len(lines) < 3:
        return lines
    return [lines[0], *(inside_box(l, CROP) for l in lines[1:-2]), *lines[-2:]]


def inside_box(line: str, width: int) -> str:
    """Visible columns 1..width-2 of ``line`` (a box's inside), keeping the escapes that style them."""
    out, col, i = [], 0, 0
    while i < len(line) and col < width - 1:
        m = SGR.match(line, i)
        if m:
            out.append(m.group())
            i = m.end()
            continue
        if col >= 1:
            out.append(line[i])
        col += 1
        i += 1
    return "".join(out)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def mem_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_screen(pred, timeout: float, escapes: bool = False, target: str | None = None,
                crop: bool = True) -> tuple[float, list[str]]:
    """Poll the screen until pred(lines) holds; returns (seconds at the end of that capture, lines)."""
    t0 = time.perf_counter()
    while True:
        lines = capture(escapes, target, crop)
        t = time.perf_counter()
        if pred(lines):
            return t, lines
        if t - t0 > timeout:
            raise TimeoutError("\n".join(lines))


def press(keys: list[str], pred, *, timeout: float = 10.0, escapes: bool = False) -> float:
    """Send keys; seconds until the screen satisfies pred (an upper bound: see the docstring)."""
    t0 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, *keys)
    t, _ = wait_screen(pred, timeout, escapes)
    return t - t0


# --- what the screen shows ------------------------------------------------------------------

HEALTH_HEAD = re.compile(r"^\s*State\s+Host\s+CPU")
LATENCY_HEAD = re.compile(r"^\s*State\s+Endpoint\s+From\s+p50")
HOST = re.compile(r"\b((?:node-\d{4})|(?:[a-z]+-\d+))\b")


def header_line(lines: list[str]) -> int | None:
    for i, line in enumerate(lines[:8]):
        if HEALTH_HEAD.search(line) or LATENCY_HEAD.search(line):
            return i
    return None


def shows(head: re.Pattern) -> callable:
    return lambda lines: any(head.search(l) for l in lines[:8])


def data_lines(lines: list[str]) -> list[str]:
    """The table's rows on screen (between the column header and the footer, or the bottom of
    the pane's box in the grid)."""
    plain = [SGR.sub("", l) for l in lines]
    h = header_line(plain)
    if h is None:
        return []
    box_end = next((i for i in range(h + 1, len(plain)) if plain[i].startswith("─")), None)
    if box_end is not None:
        return lines[h + 1:box_end]
    body = lines[h + 1:]
    while body and not SGR.sub("", body[-1]).strip():
        body.pop()
    return body[:-1]  # the footer


def cursor_line(esc_lines: list[str]) -> tuple[str | None, frozenset[str]]:
    """The cursor line's host and its own background colours: the one table line with a
    background no other line has (its colours differ when the table has focus and when not)."""
    rows = data_lines(esc_lines)
    bgs = [set(BG.findall(l)) for l in rows]
    for i, b in enumerate(bgs):
        others = set().union(*(bgs[:i] + bgs[i + 1:])) if len(bgs) > 1 else set()
        if b - others:
            m = HOST.search(SGR.sub("", rows[i]))
            return (m.group(1) if m else None), frozenset(b - others)
    return None, frozenset()


def cursor_host(esc_lines: list[str]) -> str | None:
    return cursor_line(esc_lines)[0]


def bottom(lines: list[str]) -> list[str]:
    """The last two lines: where the filter bar is drawn (over the footer)."""
    return lines[-2:]


def filter_line(esc_lines: list[str]) -> str | None:
    """The filter prompt's line, escapes and all: its colours show whether it has focus."""
    return next((l for l in esc_lines[-2:] if "filter:" in SGR.sub("", l)), None)


def first_host(lines: list[str]) -> str | None:
    rows = data_lines(lines)
    if not rows:
        return None
    m = HOST.search(rows[0])
    return m.group(1) if m else None


def all_rows_match(text: str) -> callable:
    def pred(lines: list[str]) -> bool:
        rows = [r for r in data_lines(lines) if r.strip()]
        return bool(rows) and all(text in r for r in rows) and any(text in l for l in bottom(lines))
    return pred


# --- the run ---------------------------------------------------------------------------------


def start_collector(d: Path, hosts: int, src: Path) -> subprocess.Popen:
    log(f"starting the fleet + headless collector: {hosts} hosts in {d}")
    return subprocess.Popen(
        [sys.executable, "-m", "opsdash", "demo", "--hosts", str(hosts), "--headless", "--dir", str(d),
         "--duration", "2h"],
        cwd=src, stdin=subprocess.DEVNULL, stdout=open(d / "collector.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the demo exited early: {(path.parent / 'collector.log').read_text()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"{path} did not appear within {timeout:g}s")
        time.sleep(0.2)


def pctl(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--size", default="80x24")
    ap.add_argument("--idle", type=float, default=45.0, help="seconds of idle CPU measurement")
    ap.add_argument("--rounds", type=int, default=20, help="presses of each key (filter: rounds // 2 cycles)")
    ap.add_argument("--warm", type=float, default=20.0, help="seconds of live data before measuring")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--filter", default="node-07", help="text typed into the filter (must match some hosts)")
    ap.add_argument("--starts", type=int, default=5, help="fresh TUI starts timed to their first full screen")
    ap.add_argument("--src", type=Path, default=ROOT,
                    help="the opsdash checkout to run (fleet, collector and TUI): e.g. an older commit's, to compare")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is not installed: apt-get install tmux")
    width, height = (int(x) for x in args.size.split("x"))
    global CROP
    from opsdash.ui.app import is_wide

    wide = is_wide(width, height)
    CROP = width // 2 if wide else None
    rng = random.Random(args.seed)
    d = Path(tempfile.mkdtemp(prefix="opsdash-tui-bench-"))
    load_start = loadavg()
    src = args.src.resolve()
    coll = start_collector(d, args.hosts, src)
    t_coll = time.monotonic()
    tui_pid = None
    try:
        wait_for(d / "config.toml", coll, 60)
        wait_for(d / "opsdash.sqlite", coll, 60)
        # Byte-compiled modules, as installed: a cache of its own, written by this first start.
        cmd = (f"cd {src} && exec env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX={d / 'pycache'} "
               f"{sys.executable} -m opsdash run --no-collector --config {d / 'config.toml'} "
               f"--store {d / 'opsdash.sqlite'} --theme opsdash-dark")
        tmux("new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height), cmd)
        t_tui = time.perf_counter()
        tui_pid = int(tmux("list-panes", "-t", SESSION, "-F", "#{pane_pid}").split()[0])
        log(f"TUI pid {tui_pid} in tmux session {SESSION} ({args.size})")
        up = re.compile(r"hosts (\d+)/(\d+) up")

        def fleet_seen(lines: list[str]) -> bool:
            m = up.search(lines[0]) if lines else None
            # all hosts known and nearly all up: the collector's first connections are done
            return bool(m) and int(m.group(2)) >= args.hosts and int(m.group(1)) >= 0.95 * args.hosts \
                and bool(data_lines(lines))

        t_first, lines = wait_screen(fleet_seen, 400)
        log(f"TUI shows the fleet after {t_first - t_tui:.0f}s: {lines[0].strip()}")
        time.sleep(args.warm)

        res: dict[str, list[float]] = {"2 (Latency)": [], "1 (Health)": [], "down (cursor)": [],
                                       "/ (filter prompt)": [], f"type {args.filter} (filter)": [], "enter (keep filter)": [],
                                       "escape (clear filter)": []}

        def pause() -> None:
            time.sleep(rng.uniform(0.15, 0.4))

        # panes
        if wide:  # all six show: the key moves the focus, and the Health cursor's colours follow
            # Health focused for sure (the app may still be settling its focus): its cursor colours
            press(["1"], lambda ls: cursor_line(ls)[0] is not None, escapes=True)
            time.sleep(0.5)
            _, focused = cursor_line(capture(True))
            for _ in range(args.rounds):
                res["2 (Latency)"].append(press(["2"], lambda ls: cursor_line(ls)[1] not in (focused, frozenset()),
                                                escapes=True))
                pause()
                res["1 (Health)"].append(press(["1"], lambda ls: cursor_line(ls)[1] == focused, escapes=True))
                pause()
        else:
            for _ in range(args.rounds):
                res["2 (Latency)"].append(press(["2"], shows(LATENCY_HEAD)))
                pause()
                res["1 (Health)"].append(press(["1"], shows(HEALTH_HEAD)))
                pause()
        # cursor: down from the top, scrolling past the first screen
        for _ in range(args.rounds * 2):
            before = cursor_host(capture(True))
            dt = press(["Down"], lambda ls, b=before: (c := cursor_host(ls)) is not None and c != b, escapes=True)
            res["down (cursor)"].append(dt)
            pause()
        # filter
        placeholder = "filter: text, or tag=value"
        for _ in range(max(1, args.rounds // 2)):
            res["/ (filter prompt)"].append(press(["/"], lambda ls: any(placeholder in l for l in bottom(ls))))
            pause()
            res[f"type {args.filter} (filter)"].append(press(["-l", args.filter], all_rows_match(args.filter)))
            pause()
            box = filter_line(capture(True))
            res["enter (keep filter)"].append(press(["Enter"], lambda ls, b=box: filter_line(ls) not in (b, None),
                                                    escapes=True))
            pause()
            res["escape (clear filter)"].append(press(["Escape"], lambda ls: not any("filter:" in l for l in bottom(ls))
                                                      and any(args.filter not in r for r in data_lines(ls))))
            pause()

        # capture-pane cost (the polling slack)
        cap = []
        for _ in range(20):
            t0 = time.perf_counter()
            capture(True)
            cap.append(time.perf_counter() - t0)

        log(f"idle for {args.idle:g}s")
        c0, t0 = cpu_seconds(tui_pid), time.monotonic()
        cc0 = sum(cpu_seconds(p) for p in _tree(coll.pid))
        time.sleep(args.idle)
        c1, t1 = cpu_seconds(tui_pid), time.monotonic()
        cc1 = sum(cpu_seconds(p) for p in _tree(coll.pid))
        idle_cpu = (c1 - c0) / (t1 - t0)
        coll_cpu = (cc1 - cc0) / (t1 - t0)
        mem = mem_kb(tui_pid)
        coll_mem = mem_kb(coll.pid)
        coll_age = time.monotonic() - t_coll
        screen = capture()

        # the first full screen of a fresh TUI, the collector writing all the while
        firsts, first_cpu = [], []
        for i in range(args.starts):
            name = f"{SESSION}-start{i}"
            t0 = time.perf_counter()
            tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), cmd)
            pid = int(tmux("list-panes", "-t", name, "-F", "#{pane_pid}").split()[0])
            t, _ = wait_screen(lambda ls: full_screen(ls, args.hosts, wide), 60, target=name, crop=False)
            firsts.append(t - t0)
            first_cpu.append(cpu_seconds(pid))  # the TUI's own CPU until then: what load cannot stretch
            tmux("kill-session", "-t", name, check=False)
            _wait_gone(pid, 10)
            time.sleep(1.0)
        log("first full screen: " + ", ".join(f"{x:.2f}s" for x in firsts))
        load_end = loadavg()
    finally:
        tmux("kill-server", check=False)
        if coll.poll() is None:
            os.killpg(coll.pid, signal.SIGTERM)
            try:
                coll.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(coll.pid, signal.SIGKILL)
                coll.wait()
        shutil.rmtree(d, ignore_errors=True)

    all_keys = [x for v in res.values() for x in v]
    out = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load_start} at start, {load_end} at the end "
        f"(the fleet + collector run beside the TUI on the same 2 cores).",
        "",
        f"{args.hosts} hosts (`opsdash demo --hosts {args.hosts} --headless` writing the store), the TUI "
        f"(`opsdash run --no-collector`) in a {args.size} tmux pane "
        f"({'all six panes in a grid' if wide else 'one pane at a time, in tabs'}), theme opsdash-dark. Key -> screen: "
        "`tmux send-keys` until a `tmux capture-pane` shows the change (upper bound: includes up to one "
        f"capture of polling slack, median capture {statistics.median(cap) * 1000:.1f} ms).",
        "",
        "| key | what must appear | n | p50 | p95 | max |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows_shown = "row 10" if wide else "row 19"
    what = {
        "2 (Latency)": "Latency has focus: the Health cursor blurs" if wide else "the Latency table replaces Health",
        "1 (Health)": "Health has focus again" if wide else "the Health table replaces Latency",
        "down (cursor)": f"cursor line on the next host (scrolls past {rows_shown})",
        "/ (filter prompt)": "the filter prompt with its placeholder",
        f"type {args.filter} (filter)": f"{len(args.filter)} keys in one burst; only rows with {args.filter}",
        "enter (keep filter)": "the filter prompt loses focus (its colours change), the filter stays",
        "escape (clear filter)": "filter cleared, all rows back (includes the 50 ms ESCDELAY wait)",
    }
    for k, v in res.items():
        out.append(f"| `{k}` | {what[k]} | {len(v)} | {pctl(v, 50) * 1000:.0f} ms | {pctl(v, 95) * 1000:.0f} ms | "
                   f"{max(v) * 1000:.0f} ms |")
    p95 = pctl(all_keys, 95)
    target = 0.05 if args.hosts <= 1000 else 0.1  # issue 22: 50 ms at 1000 hosts, 100 ms at 5000
    first_ok = max(firsts, default=0.0) < 1.0
    out += [
        f"| all | | {len(all_keys)} | {pctl(all_keys, 50) * 1000:.0f} ms | **{p95 * 1000:.0f} ms** | "
        f"{max(all_keys) * 1000:.0f} ms |",
        "",
        "| idle with live data | value |",
        "|---|---|",
        f"| TUI CPU (user+sys / wall over {args.idle:g} s, no keys) | **{idle_cpu:.2f} core** ({idle_cpu * 100:.0f} % of one core) |",
        f"| collector + fleet CPU over the same window (for scale) | {coll_cpu:.2f} core |",
        f"| TUI RSS at the end / peak | {mem.get('VmRSS', 0) / 1024:.0f} MB / {mem.get('VmHWM', 0) / 1024:.0f} MB |",
        f"| the live collector's RSS ({args.hosts} SSH connections, after {coll_age:.0f} s; fleet not counted) | "
        f"{coll_mem.get('VmRSS', 0) / 1024:.0f} MB |",
        "",
        f"| first full screen of a fresh TUI (n={len(firsts)}, collector writing) | median | max |",
        "|---|---:|---:|",
        f"| `tmux new-session` -> header with {args.hosts} hosts and every visible pane's rows | "
        f"{statistics.median(firsts):.2f} s | **{max(firsts):.2f} s** |" if firsts else "| (not measured) | | |",
        f"| the TUI process's CPU (user+sys) until then | {statistics.median(first_cpu):.2f} s | "
        f"{max(first_cpu):.2f} s |" if first_cpu else "",
        "",
        f"Targets (issues 3 and 22): key -> screen p95 under {target * 1000:.0f} ms at {args.hosts} hosts "
        f"({'met' if p95 < target else 'MISSED'}: {p95 * 1000:.0f} ms); the first full screen under 1 s "
        f"({'met' if first_ok else 'MISSED'}: {max(firsts, default=0):.2f} s at worst); idle CPU well under one core "
        f"({'met' if idle_cpu < 0.5 else 'MISSED'}: {idle_cpu:.2f}). No peer: no other tool shows this dashboard.",
    ]
    print("\n".join(out))
    print(json.dumps({"p95_ms": p95 * 1000, "idle_cpu": idle_cpu, "screen_top": screen[0],
                      "first_screen_s": [round(x, 3) for x in firsts],
                      "first_screen_cpu_s": [round(x, 3) for x in first_cpu],
                      "ms": {k: [round(x * 1000) for x in v] for k, v in res.items()}}), file=sys.stderr)
    return 0 if p95 < target and first_ok and idle_cpu < 0.5 else 1


def full_screen(lines: list[str], hosts: int, wide: bool) -> bool:
    """The whole first screen: every host counted in the header, and every visible pane's rows
    (the Health table's lines, and no pane still waiting for its first poll)."""
    m = re.search(r"hosts (\d+)/(\d+) up", lines[0]) if lines else None
    if not m or int(m.group(2)) < hosts:
        return False
    if any("waiting for the first poll" in line for line in lines):
        return False
    crop = [lines[0], *(inside_box(l, CROP) for l in lines[1:-2]), *lines[-2:]] if wide and CROP else lines
    return bool([r for r in data_lines(crop) if HOST.search(r)])


def _wait_gone(pid: int, timeout: float) -> None:
    t0 = time.monotonic()
    while Path(f"/proc/{pid}").exists() and time.monotonic() - t0 < timeout:
        time.sleep(0.05)


def _tree(pid: int) -> list[int]:
    """pid and its descendants (the demo's fleet process is a child)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            kids = []
        todo += [int(k) for k in kids]
    return [p for p in out if Path(f"/proc/{p}").exists()]


if __name__ == "__main__":
    sys.exit(main())
