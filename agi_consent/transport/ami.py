"""AMI: one supervised manager link, on panoramisk, with what panoramisk 1.4 leaves out.

panoramisk parses the protocol and routes replies by ActionID; this module owns the rest
(see stack-pitfalls.md): it logs in itself and reads the reply, so a wrong secret is one clear
log line and not a silent retry loop; it reconnects with backoff and jitter (panoramisk's own
reconnect is switched off: `close()` cannot cancel it, and the actions it parks wait for a
FullyBooted event our `read = call` user never gets); it times out every action; and it checks
that pings are answered, since a half-open link otherwise goes unnoticed. Events are handed
over through a bounded queue because an exception inside a panoramisk callback closes the link.
"""

import asyncio
import logging
import random
import time

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

log = logging.getLogger("agi_consent.ami")

EVENT_QUEUE = 10000  # events waiting for the watcher; beyond, it resynchronises


class AmiUnavailable(RuntimeError):
    """AMI is not logged in, or did not answer in time."""


class AmiRefused(AmiUnavailable):
    """Asterisk refused the login (wrong user or secret, or an address it does not permit)."""


class AmiActionFailed(RuntimeError):
    """Asterisk answered the action with an error; the message is Asterisk's."""


class _Manager(Manager):
    """panoramisk's Manager with its reconnect loop and pinger off: the link does both."""

    def connection_lost(self, exc):
        self._connected = False
        self.lost.set()


def backoff(failures, first=1.0, most=30.0):
    """Seconds before the next attempt: doubling up to `most`, with jitter so that many
    servers restarted together do not reconnect together."""
    return min(most, first * 2 ** max(failures - 1, 0)) * random.uniform(0.5, 1.0)


class AmiLink:
    """Keeps one AMI session logged in until `close()`; `action()` uses it.

    `on_up` (a coroutine function) runs after every login, for resynchronisation: events
    sent while the link was down are lost for good.
    """

    def __init__(self, settings, secret, on_up=None, action_timeout=5.0):
        self.settings, self.secret, self.on_up = settings, secret, on_up
        self.action_timeout = action_timeout
        self.events = asyncio.Queue(EVENT_QUEUE)
        self.manager = None
        self.up = asyncio.Event()
        self.overflowed = False  # events were dropped: the watcher must resynchronise
        self.state, self.problem = "starting", ""
        self.down_since = time.monotonic()
        self._task = None

    @property
    def where(self):
        return f"{self.settings.host}:{self.settings.port}"

    def start(self):
        self._task = asyncio.get_running_loop().create_task(self.run(), name="ami-link")
        return self._task

    async def close(self):
        # Cancelled again until it ends: a cancel that lands as a reply completes can be lost
        # in a library's own wait, and one lost cancel must not leave `serve` unable to stop.
        while self._task and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
        self._drop()

    async def run(self):
        failures = 0
        while True:
            try:
                manager = await self._open()
            except AmiRefused as error:
                self._report("refused", f"AMI at {self.where} refused the login: {error}. "
                             "Check ami.username and the secret in ami.secret_file against "
                             "the [agi-consent] user in Asterisk's manager.conf; retrying. "
                             "FastAGI goes on serving; calls are still gated")
            except (TimeoutError, OSError, AmiUnavailable) as error:
                reason = str(error) or type(error).__name__
                self._report("unreachable", f"AMI at {self.where} is unreachable ({reason}); "
                             "retrying. FastAGI goes on serving; calls are still gated")
            else:
                failures = 0
                await self._serve(manager)
            failures += 1
            await asyncio.sleep(backoff(failures))

    async def _open(self):
        loop = asyncio.get_running_loop()
        manager = _Manager(host=self.settings.host, port=self.settings.port, loop=loop,
                           ping_delay=10 ** 9, events="off")
        manager.lost = asyncio.Event()
        connected = loop.create_future()
        async with asyncio.timeout(self.action_timeout):
            connected.set_result(await loop.create_connection(
                AMIProtocol, self.settings.host, self.settings.port))
        manager.connection_made(connected)  # no username in its config: it does not log in
        manager.register_event("*", self._on_event)
        try:
            reply = await self._send(manager, {"Action": "Login", "Username":
                                               self.settings.username, "Secret": self.secret,
                                               "Events": "call"})
        except BaseException:
            manager.close()
            raise
        if not reply.success:
            manager.close()
            raise AmiRefused(reply.get("Message") or "no reason given")
        return manager

    async def _serve(self, manager):
        """The link is up: resynchronise, then ping until it is lost."""
        self.manager = manager
        was_down = time.monotonic() - self.down_since
        self._report("up", f"AMI logged in at {self.where} as {self.settings.username}"
                     + (f", back after {was_down:.0f} s" if self.state != "starting" else ""),
                     level=logging.INFO)
        self.up.set()
        watchdog = asyncio.get_running_loop().create_task(self._ping(manager))
        try:
            if self.on_up:
                try:
                    await self.on_up()
                except Exception as error:  # AMI or the log failed mid-way: next login retries
                    log.error("AMI resynchronisation after login failed: %s", error)
            await manager.lost.wait()
        finally:
            watchdog.cancel()
            self._drop()
        self._report("lost", f"AMI link to {self.where} lost; reconnecting. FastAGI goes "
                     "on serving; hangups are reconciled when AMI is back", logging.WARNING)

    async def _ping(self, manager):
        """A Ping every ping_seconds that must be answered, or the link is dropped."""
        while True:
            await asyncio.sleep(self.settings.ping_seconds)
            try:
                await self._send(manager, {"Action": "Ping"})
            except AmiUnavailable:
                log.warning("AMI at %s did not answer a ping within %.0f s; dropping the link",
                            self.where, self.action_timeout)
                manager.close()
                manager.lost.set()
                return

    def _drop(self):
        self.up.clear()
        if self.manager:
            self.manager.close()
            self.manager = None
            self.down_since = time.monotonic()

    def _report(self, state, message, level=logging.ERROR):
        """Log changes of state only: a link down for an hour is one line, not 1,000."""
        if state != self.state:
            log.log(level, "%s", message)
        self.state, self.problem = state, "" if state == "up" else message

    def _on_event(self, manager, event):
        if manager is not self.manager:
            return
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True

    async def _send(self, manager, fields, as_list=None):
        future = manager.send_action(dict(fields), as_list=as_list)
        # asyncio.timeout, not wait_for: 3.11's wait_for loses a cancel landing with the reply
        try:
            async with asyncio.timeout(self.action_timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            future.cancel()
            raise AmiUnavailable(f"no answer to {fields['Action']} within "
                                 f"{self.action_timeout:.0f} s") from None

    async def action(self, fields, as_list=None, check=True):
        """Send one action and return Asterisk's reply (a list for event lists)."""
        manager = self.manager
        if manager is None:
            raise AmiUnavailable(f"AMI at {self.where} is not connected")
        reply = await self._send(manager, fields, as_list)
        first = reply[0] if isinstance(reply, list) else reply
        if check and not first.success:
            raise AmiActionFailed(first.get("Message") or f"{fields['Action']} failed")
        return reply

    async def getvar(self, channel, variable):
        """A channel variable or function value; empty when Asterisk answers with an error
        (no such channel). Raises AmiUnavailable when AMI does not answer: unknown is not
        empty."""
        reply = await self.action({"Action": "Getvar", "Channel": channel,
                                   "Variable": variable}, check=False)
        return (reply.get("Value") or "") if reply.success else ""

    async def wait_up(self, seconds):
        """Wait until logged in; False when that did not happen within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                await self.up.wait()
            return True
        except TimeoutError:
            return False
