"""`make bench`: every quality bar in one run, side by side, written to bench/RESULTS.md.

- FastAGI: consent flows/s and p50/p99 time-to-first-prompt at 1, 50 and 500 concurrent
  simulated calls, for `agi-consent serve` and for a bare asyncio server running the same
  command script, both in their own process, driven by the same load generator.
- Classic AGI: process start to first AGI command, and peak RSS.
- `decide` in a fresh process (time, peak RSS) and decisions/s in a warm process.
- Consent log: events/s sustained by 500 concurrent calls through the writer thread.
- Speech: false accepts, accuracy by noise level and CPU per answer of the grammar
  (bench/speech.py), and every `speech.engine` on the development set and two held-out sets
  (bench/heldout.py).
"""

import asyncio
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.fakes import AsteriskPeer, Script

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.prefix) / "bin"
LEVELS = ((1, 300), (50, 3000), (500, 5000))  # (concurrent calls, total calls)
ROUNDS = 5  # per level and server, in alternating order: the median round is reported
RESULTS = REPO / "bench" / "RESULTS.md"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class TimedPeer(AsteriskPeer):
    """Records when the first prompt command arrives (time to first prompt)."""

    async def timed_call(self, args):
        started = time.perf_counter()
        first = {}

        def replies(words, script):
            if words[:2] == ["STREAM", "FILE"] and "t" not in first:
                first["t"] = time.perf_counter() - started
            return None
        await self.call(args, replies)
        return first.get("t", float("nan"))


async def load(port, concurrency, total):
    semaphore = asyncio.Semaphore(concurrency)
    latencies = []

    async def one(n):
        async with semaphore:
            peer = TimedPeer("127.0.0.1", port, Script(keys=["1"]),
                             env={"agi_callerid": "+14155550123", "agi_uniqueid": str(n)})
            latencies.append(await peer.timed_call(["region=US-NY"]))
    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(total)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"flows_per_s": total / elapsed, "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1]}


def cpu_seconds(pid, task=None):
    """User + system CPU of a process (or one of its threads) so far, from /proc (Linux)."""
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_load(port, process, concurrency, total):
    """The load's figures, with the server's CPU and this load generator's per flow. The
    server's is also split: its main thread (the event loop) and the rest (in ours, the
    consent-log writer thread above all), which share one GIL."""
    before, loop_before, own = (cpu_seconds(process.pid),
                                cpu_seconds(process.pid, process.pid), os.times())
    result = asyncio.run(load(port, concurrency, total))
    after = os.times()
    result["cpu_ms_per_flow"] = 1000 * (cpu_seconds(process.pid) - before) / total
    result["loop_cpu_ms_per_flow"] = 1000 * (cpu_seconds(process.pid, process.pid) -
                                             loop_before) / total
    result["load_cpu_ms_per_flow"] = 1000 * (after.user - own.user + after.system -
                                             own.system) / total
    return result


def write_prompts(directory):
    """English prompts of 5 s each, published as `make prompts` and `agi-consent prompts
    import` publish them: every format, and the version file a call reads first."""
    import io
    import wave

    from agi_consent.admin.prompts import publish
    from agi_consent.call.prompts import NAMES, SPEECH_NAMES
    audio = io.BytesIO()
    with wave.open(audio, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x01" * 8000 * 5)
    folder = Path(directory) / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for name in NAMES + SPEECH_NAMES:
        publish(folder, name, {"wav": audio.getvalue(), "sln16": b"\x00\x01" * 16000 * 5,
                               "txt": name.encode()}, 5.0)


BEFORE_CHAIN = "687882c"  # the last commit before the evidence chain: the same server without it


def server_config(work, name, port, evidence=True):
    config = Path(work) / f"{name}.toml"
    config.write_text(f'database = "{work}/{name}.db"\n[server]\nport = {port}\n'
                      f'[prompts]\ndirectory = "{work}/prompts"\nlanguages = ["en"]\n'
                      f'[recording]\ndirectory = "{work}/recordings"\n' +
                      (f'[evidence]\nkey_file = "{work}/{name}.key"\n' if evidence else ""))
    return config


def checkout(work, commit):
    """That commit's tree, to run its server beside ours; None where git cannot give it."""
    tree = Path(work) / f"tree-{commit}"
    made = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree),
                           commit], capture_output=True)
    return tree if made.returncode == 0 else None


def start_servers(work):
    """(name, process, port): ours, ours before the chain (when git has it), the bare one."""
    write_prompts(Path(work) / "prompts")
    servers = []
    port = free_port()
    servers.append(("ours", subprocess.Popen(
        [BIN / "agi-consent", "--config", server_config(work, "ours", port), "serve"],
        stderr=subprocess.DEVNULL), port))
    tree = checkout(work, BEFORE_CHAIN)
    if tree:
        port = free_port()
        config = server_config(work, "unchained", port, evidence=False)
        servers.append(("before the chain", subprocess.Popen(
            [sys.executable, "-c", "from agi_consent.cli import run; run()", "--config",
             config, "serve"], stderr=subprocess.DEVNULL, cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)}), port))
    port = free_port()
    servers.append(("ours, log writes skipped", subprocess.Popen(
        [sys.executable, "-m", "bench.unlogged_server", "--config",
         server_config(work, "unlogged", port), "serve"], stderr=subprocess.DEVNULL, cwd=REPO),
        port))
    port = free_port()
    servers.append(("bare", subprocess.Popen(
        [sys.executable, "-m", "bench.bare_server", str(port)], cwd=REPO), port))
    return servers, tree


def fastagi(work):
    """Per level: (concurrency, total, {server name: its round of median throughput},
    {server name: every round in turn}), every server under the same load in turn, ROUNDS
    times in alternating order, so a machine speeding up or slowing down within the run
    does not favour one server."""
    rows = []
    servers, tree = start_servers(work)
    try:
        for _, _, port in servers:
            wait_port(port)
        for concurrency, total in LEVELS:
            rounds = {name: [] for name, _, _ in servers}
            for turn in range(ROUNDS):
                for name, process, port in servers[::-1] if turn % 2 else servers:
                    rounds[name].append(measured_load(port, process, concurrency, total))
            rows.append((concurrency, total, {name: median_round(measured)
                                              for name, measured in rounds.items()}, rounds))
    finally:
        for _, process, _ in servers:
            process.terminate()
            process.wait()
        if tree:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                            str(tree)], capture_output=True)
    return rows


def median_round(measured):
    return sorted(measured, key=lambda result: result["flows_per_s"])[len(measured) // 2]


def peak_rss_mb(process):
    """The child's own high-water mark (VmHWM), read until it exits: wait4's ru_maxrss also
    counts the forked copy of this (large) benchmark process before exec."""
    peak = 0
    while process.poll() is None:
        try:
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.002)
    process.wait()
    return peak / 1024


def classic(work, runs=20):
    """Start agi-consent-agi on pipes, as Asterisk does; time to its first command."""
    config = Path(work) / "classic.toml"
    config.write_text(f'database = "{work}/ours.db"\ndefault_region = "US-NY"\n'
                      f'[prompts]\ndirectory = "{work}/prompts"\n'
                      f'[recording]\ndirectory = "{work}/recordings"\n')
    env_block = ("agi_request: agi-consent-agi\nagi_channel: PJSIP/x-1\n"
                 "agi_callerid: +14155550123\nagi_uniqueid: 1\nagi_arg_1: region=US-NY\n\n")
    starts, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen([BIN / "agi-consent-agi"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   env={**os.environ, "AGI_CONSENT_CONFIG": str(config)})
        process.stdin.write(env_block)
        process.stdin.flush()
        first = process.stdout.readline()
        starts.append(time.perf_counter() - started)
        assert first.startswith("ANSWER"), first
        process.stdin.write("200 result=0\n200 result=49 endpos=100\n" + "200 result=0\n" * 20)
        process.stdin.close()
        peaks.append(peak_rss_mb(process))
    return {"median_ms": 1000 * statistics.median(starts), "max_ms": 1000 * max(starts),
            "peak_rss_mb": max(peaks), "runs": runs}


def decide_fresh(runs=10):
    times, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen([BIN / "agi-consent", "decide", "+14155550123", "--region",
                                    "US-NY", "--json"], stdout=subprocess.DEVNULL)
        peak = peak_rss_mb(process)
        times.append(time.perf_counter() - started)
        peaks.append(peak)
    return {"median_ms": 1000 * statistics.median(times), "peak_rss_mb": max(peaks)}


def decide_warm(seconds=2.0):
    from agi_consent.config import Config
    from agi_consent.core.engine import Engine
    engine = Engine(Config())
    numbers = ["+14155550123", "+12125550123", "anonymous", "+4930123456", "+19025550100"]
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for number in numbers:
            engine.decide(number, "US-NY")
        count += len(numbers)
    return count / (time.perf_counter() - started)


def log_throughput(work, calls=500, events_per_call=40):
    from agi_consent.call.calllog import CallLog
    from agi_consent.store import schema as store
    from agi_consent.store.ledger import ThreadedLedger
    path = f"{work}/log-bench.db"
    db = store.open_db(path)

    async def run():
        ledger = ThreadedLedger(path)
        logs = [CallLog(ledger, f"c{n}") for n in range(calls)]
        started = time.perf_counter()

        async def steps(log):  # as a call does: rows queued step by step, two barriers
            with ledger.open_call():
                log.event("call-start", transport="bench")
                for n in range(events_per_call - 1):
                    log.event("step", n=n)
                    await asyncio.sleep(0)
                    if n == events_per_call // 2:
                        await log.commit()
                await log.commit()
        await asyncio.gather(*(steps(log) for log in logs))
        elapsed = time.perf_counter() - started
        ledger.close()
        return elapsed
    elapsed = asyncio.run(run())
    stored = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return {"events_per_s": calls * events_per_call / elapsed, "stored": stored,
            "expected": calls * events_per_call}


def header():
    return ["# Benchmarks", "", f"Command: `make bench` (= `{Path(sys.executable).name} -m "
            "bench.run`), written by bench/run.py.", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
            ""]


def fastagi_lines(fast):
    lines = ["## FastAGI: agi-consent serve vs a bare asyncio server, same command script",
             "", "Each simulated call: environment, then replies to ANSWER, the consent prompt "
             "(caller presses 1), the channel's audio format (the key cut the prompt: at what "
             "rate was it heard), MixMonitor with an ID, the two checks that the recorder is "
             "attached, 5 variables, the confirmation prompt (ours finds each prompt as "
             "`make prompts` installs it: a version file beside the audio). Ours commits the "
             "consent log "
             "durably (synchronous=FULL) twice per call before replying on: the consent with "
             "the recording request, and the call's end. Both servers in their own process, "
             f"one load generator; each level runs every server {ROUNDS} times in alternating "
             "order, and each server's round of median throughput is shown; \"each round\" "
             "is its ratio to the bare server's round of the same turn, in the order run: "
             "their spread is the machine's noise.", "",
             "| concurrent | calls | server | flows/s | ratio to bare | each round | p50 / p99 "
             "ms to first prompt | server CPU ms/flow | of it, event loop / other threads | "
             "load generator CPU ms/flow |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for concurrency, total, measured, rounds in fast:
        bare = measured["bare"]["flows_per_s"]
        for name, result in measured.items():
            each = ", ".join(f"{mine['flows_per_s'] / theirs['flows_per_s']:.2f}"
                             for mine, theirs in zip(rounds[name], rounds["bare"], strict=True))
            lines.append(f"| {concurrency} | {total} | {name} | {result['flows_per_s']:.0f} | "
                         f"{result['flows_per_s'] / bare:.2f} | {each} | "
                         f"{result['p50_ms']:.1f} / "
                         f"{result['p99_ms']:.1f} | {result['cpu_ms_per_flow']:.2f} | "
                         f"{result['loop_cpu_ms_per_flow']:.2f} / "
                         f"{result['cpu_ms_per_flow'] - result['loop_cpu_ms_per_flow']:.2f} | "
                         f"{result['load_cpu_ms_per_flow']:.2f} |")
    return lines + ["", f"\"before the chain\" is this server at commit {BEFORE_CHAIN}, run "
                    "from a git worktree beside it: the chain's cost, side by side. \"ours, log "
                    "writes skipped\" is this server with every log commit returning at once "
                    "(bench/unlogged_server.py, a diagnostic, never a way to run it): the ceiling "
                    "of its event loop alone. The event loop runs in the server's main thread; "
                    "the other threads are, in ours, chiefly the consent-log writer (both need "
                    "the one GIL, so their times add up rather than overlap). The load generator "
                    "shares the machine's cores. Targets: ratio ≥ 0.5 at 50 concurrent calls with "
                    "durable commits (DESIGN: ≥ 0.7); p99 to first prompt at 500 ≤ 2× bare.", ""]


def core_lines(fast, classic_start, fresh, warm, ledger, evidence_lines, retention_lines):
    """Everything but speech: the sections from FastAGI to retention."""
    return [*fastagi_lines(fast),
            "## Classic AGI (agi-consent-agi)", "",
            f"Process start to first AGI command: median {classic_start['median_ms']:.0f} ms, "
            f"max {classic_start['max_ms']:.0f} ms over {classic_start['runs']} runs; peak "
            f"RSS {classic_start['peak_rss_mb']:.1f} MB. Target ≤ 150 ms, ≤ 60 MB.", "",
            "## Decision", "",
            f"`agi-consent decide` in a fresh process: median {fresh['median_ms']:.0f} ms, "
            f"peak RSS {fresh['peak_rss_mb']:.1f} MB (includes click).",
            f"Warm process: {warm:,.0f} decisions/s (number parsing included).", "",
            "## Consent log", "",
            f"{ledger['events_per_s']:,.0f} events/s committed from 500 concurrent calls "
            "(each queues 40 steps and awaits two commit barriers) through the writer thread; "
            f" {ledger['stored']} of {ledger['expected']} events stored. "
            "Target ≥ 10,000 events/s, nothing lost.", "", *evidence_lines, *retention_lines]


def measure_core(work):
    from bench import evidence, retention

    fast = fastagi(work)
    classic_start = classic(work)
    verified = evidence.verify_speed(work)
    return core_lines(fast, classic_start, decide_fresh(), decide_warm(), log_throughput(work),
                      evidence.report(evidence.chain_cost(), verified),
                      retention.lines(retention.purge_speed(work),
                                      retention.report_speed(verified["database"])))


def rerun(part):
    """`python -m bench.run fastagi` (about three minutes) or `core` (every section but speech,
    about four), against the hour of a full run: put in place in RESULTS.md, with a line
    under the header saying which part is newer."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    with tempfile.TemporaryDirectory() as work:
        if part == "fastagi":
            new, what, until = fastagi_lines(fastagi(work)), "The FastAGI table", "## Classic AGI"
        else:
            new, what, until = measure_core(work), "Every section but speech", "## Speech"
    stamp = (f"{what} was rerun at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
             f"with `python -m bench.run {part}` (a section no such line names is from the run "
             "dated above).")
    lines = RESULTS.read_text().splitlines()
    machine = next(n for n, line in enumerate(lines) if line.startswith("Machine:"))
    covered = ("The FastAGI table", what)  # older stamps this rerun replaces
    while lines[machine + 1].startswith(covered):
        del lines[machine + 1]
    lines.insert(machine + 1, stamp)
    text = "\n".join(lines) + "\n"  # splitlines took the file's last newline
    start, end = text.index("## FastAGI"), text.index(until)
    RESULTS.write_text(text[:start] + "\n".join(new) + text[end:])
    print("\n".join(new))


def main():
    from bench import heldout, speech

    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    with tempfile.TemporaryDirectory() as work:
        lines = [*header(), *measure_core(work), *speech.report(speech.run()),
                 *[line for spec in heldout.SETS.values() for line in heldout.measure(spec)]]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:] in (["fastagi"], ["core"]):
        rerun(sys.argv[1])
    else:
        main()
