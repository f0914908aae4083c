"""A bare asyncio FastAGI server: the same command script as a granted consent call, with no
decision, no prompts lookup, no log. The yardstick the real server is measured against."""

import asyncio
import sys

from agi_consent.transport.fastagi import BACKLOG

SCRIPT = [
    'ANSWER\n',
    'STREAM FILE "/prompts/en/consent-request" "12"\n',
    'GET VARIABLE "CHANNEL(audiowriteformat)"\n',  # the key cut the prompt: at what rate?
    'EXEC "MixMonitor" "/recordings/call.wav,i(CONSENT_MIXMON_ID)"\n',
    'GET VARIABLE "CONSENT_MIXMON_ID"\n',
    'GET VARIABLE "MIXMONITOR(0x55aa0001,filename)"\n',
    'SET VARIABLE "CONSENT_MODE" "all-party"\n',
    'SET VARIABLE "CONSENT_JURISDICTION" "US-CA"\n',
    'SET VARIABLE "CONSENT_ID" "0"\n',
    'SET VARIABLE "CONSENT_RECORDING" "/recordings/call.wav"\n',
    'SET VARIABLE "CONSENT_RESULT" "granted"\n',
    'STREAM FILE "/prompts/en/consent-confirmed" ""\n',
]


async def handle(reader, writer):
    while (await reader.readline()) not in (b"\n", b""):
        pass
    for line in SCRIPT:
        writer.write(line.encode())
        await writer.drain()
        if not await reader.readline():
            break
    writer.close()


async def main(port):
    # our server's backlog: a burst of connections must not cost the yardstick SYN retransmits
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=BACKLOG)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
