"""One FastAGI session's socket as lines: an asyncio Protocol, bounded like the rest.

Written here rather than using asyncio's streams because AGI needs only a fraction of them
(whole lines in, short lines out, one at a time), and the streams' layering — readline over
readuntil, a future per wait, a drain per write — is CPU on every command: the bare
benchmark server's command script took 0.33–0.41 ms of CPU per call over streams and
0.29–0.33 over a Protocol like this one (same load generator, four rounds).

The bounds are the streams' own: a line longer than MAX_LINE is an error, and a client that
sends faster than the session reads is paused once QUEUE_LIMIT bytes wait.
"""

import asyncio
import collections

from .wire import MAX_LINE

QUEUE_LIMIT = 16 * MAX_LINE  # bytes of complete lines waiting before reading pauses


class Link(asyncio.Protocol):
    def __init__(self, on_connect):
        self.on_connect = on_connect  # coroutine function, given this Link once connected
        self.transport = None
        self.lines = collections.deque()
        self.queued = 0  # bytes in self.lines
        self.partial = b""  # the start of a line whose newline has not come yet
        self.oversize = False
        self.ended = False  # EOF or connection lost: no more lines after those queued
        self.error = None  # what the connection was lost with, if not a clean close
        self.reading_paused = False
        self.waiter = None  # a future while readline waits for data
        self.writable = None  # a future while the transport's write buffer is full
        self.lost = None  # resolved by connection_lost
        self.session = None  # the task running on_connect

    def connection_made(self, transport):
        loop = asyncio.get_running_loop()
        self.transport, self.lost = transport, loop.create_future()
        self.session = loop.create_task(self.on_connect(self))

    def peer(self):
        return self.transport.get_extra_info("peername") or ("?", 0)

    def data_received(self, data):
        if self.oversize:
            return  # the session is ending: what follows is read and dropped, so that
            # closing sends a FIN, not the RST that unread data would
        if self.partial:
            data = self.partial + data
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            if end + 1 - start > MAX_LINE:
                self.oversize = True
                break
            self.lines.append(data[start:end + 1])
            self.queued += end + 1 - start
            start = end + 1
        self.partial = b"" if self.oversize else data[start:]
        if len(self.partial) > MAX_LINE:
            self.oversize = True
        if self.queued > QUEUE_LIMIT:
            self._pause_reading()
        self._wake()

    def eof_received(self):
        self.ended = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc):
        self.ended, self.error = True, exc
        self._wake()
        if self.writable and not self.writable.done():
            self.writable.set_result(None)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self):
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self.writable and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    async def readline(self):
        """The next line with its newline; b"" at a clean end; ValueError for a line over
        MAX_LINE; the connection's error when it was lost with one."""
        while not self.lines:
            if self.oversize:
                raise ValueError(f"a line longer than {MAX_LINE} bytes")
            if self.ended:
                if self.error:
                    raise self.error
                return b""
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        line = self.lines.popleft()
        self.queued -= len(line)
        if self.reading_paused and self.queued <= QUEUE_LIMIT // 2:
            self.reading_paused = False
            self.transport.resume_reading()
        return line

    async def write(self, data):
        if self.ended or self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        self.transport.write(data)
        if self.writable:  # the peer reads slower than we write: wait for room
            await self.writable
            if self.ended:
                raise ConnectionResetError("connection lost")

    async def close(self):
        self.transport.close()
        await self.lost

    def _pause_reading(self):
        if not self.reading_paused and not self.ended:
            self.reading_paused = True
            self.transport.pause_reading()

    def _wake(self):
        if self.waiter and not self.waiter.done():
            self.waiter.set_result(None)
