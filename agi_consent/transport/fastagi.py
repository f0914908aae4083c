"""FastAGI server: one asyncio process, route `consent`, the production path.

Our own small protocol layer instead of panoramisk.fast_agi, because panoramisk 1.4 spins
forever on a client that closes before sending its environment, takes Asterisk's unsolicited
`HANGUP` line as the next reply (shifting every later one), misreads multi-line `520` replies,
raises ValueError on EOF, and has no per-command timeout (see stack-pitfalls.md). The wire
format itself lives in `agiproto` as pure functions.
"""

import asyncio
import contextlib
import logging
import signal

from ..call.channel import ChannelError, Hangup
from ..call.flow import run_guarded
from ..core import contract as v
from .agi_channel import AgiChannel
from .wire import (
    is_out_of_band,
    parse_env_line,
    parse_reply,
    reply_complete,
    route_of,
)

log = logging.getLogger("agi_consent.fastagi")
MAX_ENV_LINES = 200


async def read_env(reader, timeout):
    """The AGI environment block, or None for a client that closed, stalled or sent junk."""
    env = {}

    async def read():
        for _ in range(MAX_ENV_LINES):
            line = await reader.readline()
            if not line.endswith(b"\n"):
                return None  # EOF before the blank line: a health check or port scan
            text = line.decode("utf-8", "replace").strip()
            if not text:
                return env
            item = parse_env_line(text)
            if item:
                env[item[0]] = item[1]
        return None

    try:
        return await asyncio.wait_for(read(), timeout)
    except (TimeoutError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        return None


class Connection:
    """One AGI session's command/reply exchange over a socket, one command at a time."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()
        self.broken = None  # after a timeout a late reply would desynchronise us: stop

    async def send(self, line, timeout):
        async with self.lock:
            if self.broken:
                raise ChannelError(self.broken)
            try:
                self.writer.write(line.encode())
                await self.writer.drain()
                async with asyncio.timeout(timeout):  # no extra task per command
                    return await self._reply()
            except TimeoutError:
                self.broken = f"no reply to {line.split(' ')[0]} within {timeout:.0f} s"
                raise ChannelError(self.broken)
            except asyncio.CancelledError:
                self.broken = "cancelled while waiting for a reply"
                raise
            except (ConnectionError, OSError):
                self.broken = "connection to Asterisk lost"
                raise Hangup(self.broken)

    async def _reply(self):
        lines = []
        while not lines or not reply_complete(lines):
            raw = await self.reader.readline()
            if not raw.endswith(b"\n"):
                self.broken = "Asterisk closed the connection"
                raise Hangup(self.broken)
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not lines and is_out_of_band(text):
                continue  # the next command's reply (or 511) tells us the channel is gone
            lines.append(text)
        return parse_reply(lines)

    async def close(self):
        with contextlib.suppress(Exception):
            self.writer.close()
            await self.writer.wait_closed()


class FastAgiServer:
    def __init__(self, services, server_config):
        self.services = services
        self.settings = server_config
        self.active = set()
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._handle, self.settings.host,
                                                 self.settings.port)
        return self.server.sockets[0].getsockname()[:2]

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        self.active.add(task)
        connection = Connection(reader, writer)
        try:
            env = await read_env(reader, self.settings.env_timeout)
            if env is None:
                return
            channel = AgiChannel(connection.send, env, self.settings.command_timeout)
            if route_of(env) != v.ROUTE:
                log.warning("unknown FastAGI route %r: answering error", route_of(env))
                with contextlib.suppress(Exception):
                    await channel.set_variable(v.RESULT, v.ERROR)
                return
            await run_guarded(channel, self.services)
        except asyncio.CancelledError:
            pass  # shutdown: the flow already failed this call closed
        finally:
            await connection.close()
            self.active.discard(task)

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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready:
        ready(host, port)
    await stop.wait()
    log.info("shutting down: %d call(s) in flight", len(server.active))
    await server.shutdown(grace)
