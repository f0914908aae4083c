"""FastAGI server: one asyncio process, route `consent`, the production path.

Our own small protocol layer instead of panoramisk.fast_agi, because panoramisk 1.4 spins
forever on a client that closes before sending its environment, takes Asterisk's unsolicited
`HANGUP` line as the next reply (shifting every later one), misreads multi-line `520` replies,
raises ValueError on EOF, and has no per-command timeout (see stack-pitfalls.md). The wire
format itself lives in `wire` as pure functions.

Everything a client sends is bounded (line length, environment lines, reply lines, time), the
number of sessions is capped, and a client can be held to an address allow-list and a shared
secret in the AGI URL (`agi://host/consent?secret=…`), so no local process can write a
`granted` row by pretending to be Asterisk.
"""

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import signal

from ..call.channel import ChannelError, Hangup
from ..call.flow import run_guarded
from ..core import contract as v
from .agi_channel import AgiChannel
from .link import Link
from .wire import (
    MAX_ENV_LINES,
    MAX_REPLY_LINES,
    is_out_of_band,
    parse_env,
    parse_reply,
    reply_complete,
    route_of,
)

log = logging.getLogger("agi_consent.fastagi")
BACKLOG = 4096  # a burst of calls waits in the kernel, not in SYN retransmits


async def read_env(link, timeout):
    """The environment block's lines, or None for a client that closed, stalled, or sent
    an oversize line or block."""
    async def read():
        lines = []
        while len(lines) <= MAX_ENV_LINES:
            line = await link.readline()
            if not line.endswith(b"\n"):
                return None  # EOF before the blank line: a health check or port scan
            text = line.decode("utf-8", "replace").strip()
            if not text:
                return lines
            lines.append(text)
        return None

    try:
        async with asyncio.timeout(timeout):
            return await read()
    except (TimeoutError, ConnectionError, ValueError):  # ValueError: line over the limit
        return None


class Connection:
    """One AGI session's command/reply exchange over a socket; the flow sends one command at
    a time, so no lock: a second concurrent command is a bug and says so.

    Each command has a deadline, but not a timer of its own: asyncio.timeout per command
    (a timer handle pushed and cancelled, a context manager) was about a tenth of the event
    loop's time under load. One timer per session fires at the oldest deadline and moves
    itself on to the current one; replies, which come in milliseconds, only set a float.
    """

    def __init__(self, link):
        self.link = link
        self.busy = False
        self.broken = None  # after a timeout a late reply would desynchronise us: stop
        self.deadline = None  # loop time by which the command in flight must be answered
        self.timer = None
        self.task = None
        self.expired = False

    async def send(self, line, timeout):
        if self.broken:
            raise ChannelError(self.broken)
        if self.busy:
            raise RuntimeError("two AGI commands at once on one session")
        self.busy = True
        self._arm(timeout)
        try:
            await self.link.write(line.encode())
            return await self._reply()
        except asyncio.CancelledError:
            if self.expired and self.task.uncancel() == 0:  # our deadline, not a shutdown
                self.broken = f"no reply to {line.split(' ')[0]} within {timeout:.0f} s"
                raise ChannelError(self.broken) from None
            self.broken = "cancelled while waiting for a reply"
            raise
        except ValueError:  # a reply line over the limit
            self.broken = f"oversize reply to {line.split(' ')[0]}"
            raise ChannelError(self.broken)
        except (ConnectionError, OSError):
            self.broken = "connection to Asterisk lost"
            raise Hangup(self.broken)
        finally:
            self.busy, self.deadline = False, None

    def _arm(self, timeout):
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + timeout
        self.task = asyncio.current_task()
        if self.timer is None:
            self.timer = loop.call_at(self.deadline, self._expire)

    def _expire(self):
        self.timer = None
        if self.deadline is None or self.broken:
            return  # no command in flight: the next one arms a timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self.deadline:  # answered since, and a later command is in flight
            self.timer = loop.call_at(self.deadline, self._expire)
            return
        self.expired = True
        self.task.cancel()

    async def _reply(self):
        lines = []
        while not lines or not reply_complete(lines):
            raw = await self.link.readline()
            if not raw.endswith(b"\n"):
                self.broken = "Asterisk closed the connection"
                raise Hangup(self.broken)
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not lines and is_out_of_band(text):
                continue  # the next command's reply (or 511) tells us the channel is gone
            lines.append(text)
            if len(lines) > MAX_REPLY_LINES:  # an endless reply: the stream is lost
                self.broken = f"AGI reply longer than {MAX_REPLY_LINES} lines"
                raise ChannelError(self.broken)
        return parse_reply(lines)

    async def close(self):
        if self.timer:
            self.timer.cancel()
        with contextlib.suppress(Exception):
            await self.link.close()


def allowed(peer_host, networks):
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(peer_host)
    except ValueError:
        return False
    return any(address in network for network in networks)


class FastAgiServer:
    def __init__(self, services, server_config):
        self.services = services
        self.settings = server_config
        self.networks = [ipaddress.ip_network(p, strict=False)
                         for p in server_config.allowed_peers]
        self.secret = server_config.read_secret()
        self.active = set()
        self.refused = 0  # sessions turned away at the cap, logged once per burst
        self.server = None

    async def start(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: Link(self._handle), self.settings.host,
                                               self.settings.port, backlog=BACKLOG)
        return self.server.sockets[0].getsockname()[:2]

    async def _handle(self, link):
        peer = link.peer()
        if not self._admit(peer):
            await link.close()
            return
        task = asyncio.current_task()
        self.active.add(task)
        connection = Connection(link)
        try:
            await self._session(connection, f"{peer[0]}:{peer[1]}")
        except asyncio.CancelledError:
            pass  # shutdown: the flow already failed this call closed
        finally:
            await connection.close()
            self.active.discard(task)

    def _admit(self, peer):
        if not allowed(peer[0], self.networks):
            log.warning("refused FastAGI client %s: not in server.allowed_peers", peer[0])
            return False
        if len(self.active) >= self.settings.max_sessions:
            if not self.refused:
                log.error("session cap reached (server.max_sessions = %d): refusing new "
                          "calls; the gate lets them go on unrecorded",
                          self.settings.max_sessions)
            self.refused += 1
            return False
        if self.refused:
            log.warning("accepting calls again after refusing %d at the cap", self.refused)
            self.refused = 0
        return True

    async def _session(self, connection, peer):
        lines = await read_env(connection.link, self.settings.env_timeout)
        if lines is None:
            return
        env, problem = parse_env(lines)
        channel = AgiChannel(connection.send, env, self.settings.command_timeout)
        route, query = route_of(env)
        known = route == v.ROUTE or route in v.MID_CALL_ROUTES
        if not known or not self._secret_ok(query):
            log.warning("FastAGI client %s: %s; answering error", peer,
                        "wrong or missing secret" if known else
                        f"unknown route {route[:40]!r}")
            with contextlib.suppress(Exception):
                await channel.set_variable(v.RESULT, v.ERROR)
            return
        if route != v.ROUTE:
            await self.services.mid_call(route, channel, problem)
            return
        await run_guarded(channel, self.services, peer=peer, problem=problem)

    def _secret_ok(self, query):
        if not self.secret:
            return True
        return hmac.compare_digest(query.get("secret", "").encode(), self.secret.encode())

    async def shutdown(self, grace):
        """Stop accepting; let in-flight calls finish for `grace` s, then fail them closed."""
        self.server.close()
        if self.active:
            _, pending = await asyncio.wait(set(self.active), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)


async def serve(services, server_config, grace=10.0, ready=None):
    """Run until SIGTERM/SIGINT; `ready(host, port)` is called once listening."""
    server = FastAgiServer(services, server_config)
    host, port = await server.start()
    log.info("FastAGI listening on %s:%s (route /%s)", host, port, v.ROUTE)
    await services.start_watching()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready:
        ready(host, port)
    await stop.wait()
    log.info("shutting down: %d call(s) in flight", len(server.active))
    await server.shutdown(grace)
    await services.stop_watching()
