"""Test doubles (kept out of the wheel; tests and benchmarks import them): a scripted channel
for the flow, and `AsteriskPeer`, which plays Asterisk's side of a FastAGI session over a real
socket (environment block, one reply per command, keys pressed on cue). The benchmark's load
generator uses the peer too.
"""

import asyncio
import wave
from dataclasses import dataclass, field

from agi_consent.call.channel import Hangup, Played


def split_command(line):
    """Split an AGI command line the way res_agi.c's parse_args does (quotes, backslashes)."""
    words, current, quoted, escaped, started = [], [], False, False, False
    for char in line.rstrip("\n"):
        if escaped:
            current.append(char)
            escaped, started = False, True
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char in " \t" and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


@dataclass
class Script:
    """What the simulated caller does: keys to press, one per prompt or wait, in order.

    A key of None means "press nothing"; "hangup" hangs up at that point. `missing` holds
    prompt paths Asterisk cannot open. Recorders started with MixMonitor's i() option stay in
    `recorders` (ID -> file) until StopMixMonitor, as app_mixmonitor keeps its datastore.
    """

    keys: list = field(default_factory=list)
    said: list = field(default_factory=list)  # what the caller said in answer windows
    variables: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)
    mixmonitor: list = field(default_factory=list)
    recorders: dict = field(default_factory=dict)
    missing: set = field(default_factory=set)
    hung_up: bool = False

    def next_key(self):
        return self.keys.pop(0) if self.keys else None


DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
DEAD_SAFE = ("EXEC", "GET VARIABLE", "SET VARIABLE", "VERBOSE", "NOOP", "GET FULL")


def start_mixmonitor(script, options):
    """MixMonitor(file,options): the i(VAR) option stores the recorder's ID in VAR."""
    path, _, flags = options.partition(",")
    script.mixmonitor.append(options)
    if "i(" in flags:
        variable = flags.split("i(", 1)[1].split(")", 1)[0]
        recorder = f"0x{0x55aa0000 + len(script.mixmonitor):x}"
        script.variables[variable] = recorder
        script.recorders[recorder] = path


def write_answer(path, seconds=1.0):
    """The answer window's audio as Asterisk leaves it (8 kHz WAV); the words are in `said`."""
    with wave.open(path, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x00" * int(8000 * seconds))


def stop_mixmonitor(script, recorder=""):
    """StopMixMonitor(id); without an ID Asterisk stops the first recorder it finds."""
    recorder = recorder or next(iter(script.recorders), "")
    script.recorders.pop(recorder, None)


def get_variable(script, name):
    if name == "CHANNEL(audiowriteformat)":
        return script.variables.get(name, "ulaw")  # a narrowband phone line
    if name.startswith("MIXMONITOR(") and name.endswith(",filename)"):
        return script.recorders.get(name[len("MIXMONITOR("):-len(",filename)")])
    return script.variables.get(name)


def asterisk_reply(words, script):
    """Asterisk's reply to one command (as res_agi.c would send it)."""
    name = " ".join(words[:2]).upper()
    if script.hung_up and not name.startswith(DEAD_SAFE):
        return DEAD
    if name.startswith("ANSWER"):
        return "200 result=0"
    if name == "CHANNEL STATUS":
        return "200 result=6"
    if name in ("STREAM FILE", "WAIT FOR"):
        if name == "STREAM FILE" and words[2] in script.missing:
            return "200 result=-1 endpos=0"
        key = script.next_key()
        if key == "hangup":
            script.hung_up = True
            return "200 result=-1 endpos=0" if name == "STREAM FILE" else "200 result=-1"
        if key and len(key) != 1:  # words said while Asterisk only listens for keys: lost
            key = None
        if name == "STREAM FILE":
            return f"200 result={ord(key) if key else 0} endpos={800 if key else 16000}"
        return f"200 result={ord(key) if key else 0}"
    if name == "RECORD FILE":
        key = script.next_key()
        if key == "hangup":
            script.hung_up = True
            return "200 result=-1 (hangup) endpos=0"
        if key and len(key) == 1:
            return f"200 result={ord(key)} (dtmf) endpos=800"
        write_answer(f"{words[2]}.wav")
        if key and key.startswith("say:"):
            script.said.append(key[4:])
        return "200 result=0 (timeout) endpos=16000"
    if name == "SET VARIABLE":
        script.variables[words[2]] = words[3]
        return "200 result=1"
    if name == "GET VARIABLE":
        value = get_variable(script, words[2])
        return f"200 result=1 ({value})" if value is not None else "200 result=0"
    if name.startswith("EXEC"):
        if words[1].lower() == "mixmonitor":
            start_mixmonitor(script, words[2])
        elif words[1].lower() == "stopmixmonitor":
            stop_mixmonitor(script, words[2] if len(words) > 2 else "")
        return "200 result=0"
    return "200 result=1"


class AsteriskPeer:
    """Connects to a FastAGI server as Asterisk would and answers each command."""

    def __init__(self, host, port, script=None, env=None, script_name="consent"):
        self.host, self.port = host, port
        self.script = script or Script()
        self.env = {"agi_network": "yes", "agi_network_script": script_name,
                    "agi_request": f"agi://{host}:{port}/{script_name}",
                    "agi_channel": "PJSIP/test-00000001", "agi_language": "en",
                    "agi_type": "PJSIP", "agi_uniqueid": "1700000000.1",
                    "agi_callerid": "+12125550123", "agi_dnid": "5551000", **(env or {})}

    async def call(self, args=(), replies=None, pace=0.0):
        """Run one session; `replies(words, script)` may override replies (return None to
        use Asterisk's normal one, "close" to hang up the socket, "stall" to never answer).
        `pace` seconds pass before each reply (a caller taking their time).
        Returns the script with everything that was sent."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        env = dict(self.env)
        for n, arg in enumerate(args, 1):
            env[f"agi_arg_{n}"] = arg
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                words = split_command(line.decode())
                self.script.commands.append(words)
                reply = (replies(words, self.script) if replies else None)
                if reply is None:
                    reply = asterisk_reply(words, self.script)
                if reply == "close":
                    break
                if reply == "stall":
                    continue
                if pace:
                    await asyncio.sleep(pace)
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()
        return self.script


class FakeChannel:
    """The channel interface with a scripted caller, recording every call made on it."""

    def __init__(self, keys=(), env=None, fail_on=None):
        self.script = Script(keys=list(keys))
        self.env = {"agi_channel": "PJSIP/fake-1", "agi_callerid": "+12125550123",
                    "agi_language": "en", **(env or {})}
        self.fail_on = fail_on or {}  # method name → exception to raise
        self.calls = []

    async def _step(self, method, *args):
        self.calls.append((method, *args))
        if method in self.fail_on:
            raise self.fail_on[method]

    async def answer(self):
        await self._step("answer")

    async def play(self, path, escape_digits="", duration=60.0):
        await self._step("play", path, escape_digits)
        key = self.script.next_key()
        if key == "hangup":
            raise Hangup("caller hung up")
        if key and key in escape_digits:
            return Played(key, 800)  # 0.1 s in
        if key == "talk":  # the caller spoke and barge-in stopped the prompt 7 s in
            return Played(None, 7 * 8000)
        return Played(None, int(duration * 8000))

    async def wait_digit(self, seconds):
        await self._step("wait_digit", seconds)
        key = self.script.next_key()
        if key == "hangup":
            raise Hangup("caller hung up")
        return key

    async def record(self, path, escape_digits, max_seconds, silence_seconds):
        """A key from the script wins; "say:<words>" is speech, written as a small WAV."""
        await self._step("record", path, escape_digits)
        key = self.script.next_key()
        if key == "hangup":
            raise Hangup("caller hung up")
        write_answer(f"{path}.wav")
        if key and key.startswith("say:"):
            self.script.said.append(key[4:])
            return None
        return key if key and key in escape_digits else None

    async def set_variable(self, name, value):
        await self._step("set_variable", name, value)
        self.script.variables[name] = value

    async def get_variable(self, name):
        await self._step("get_variable", name)
        return get_variable(self.script, name)

    async def exec(self, application, options=""):
        await self._step("exec", application, options)
        if application == "MixMonitor":
            start_mixmonitor(self.script, options)
        elif application == "StopMixMonitor":
            stop_mixmonitor(self.script, options)

    @property
    def variables(self):
        return self.script.variables


class FakeSpeech:
    """Stands in for SpeechService: hears what the scripted caller said (a FakeChannel's, or
    an AsteriskPeer's script)."""

    ANSWERS = {"yes": "yes", "i agree": "yes", "yes i agree": "yes", "yes yes": "yes",
               "no": "no", "i don't agree": "no"}
    SECONDS_PER_WORD = 0.35  # speech length as Silero would measure it: "yes" is short

    def __init__(self, channel):
        self.script = getattr(channel, "script", channel)

    async def classify(self, path):
        from agi_consent.call.speech import Answer
        said = self.script.said.pop(0) if self.script.said else ""
        answer = self.ANSWERS.get(said, "unknown")  # a yes was weighed by the grammar too
        return Answer(answer, said, 0.5, 1.0, confirmation=said if answer == "yes" else "",
                      speech_seconds=self.SECONDS_PER_WORD * len(said.split()))


class FakeAmi:
    """An AMI server that answers what Asterisk 22's manager.c and app_mixmonitor.c answer, for
    the actions the watcher uses; tests steer it (drop the link, stop answering, emit events).

    channels: name -> {"uniqueid", "seconds", "variables": {...}, "recorders": {id: file},
    "muted": {id: bool}}.
    """

    def __init__(self, secret="s3cret"):
        self.secret, self.channels = secret, {}
        self.sessions, self.actions = [], []
        self.answering = True  # False: a half-open link (nothing comes back)
        self.logins = self.refused = 0
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def close(self):
        self.drop()
        self.server.close()
        await self.server.wait_closed()

    def drop(self):
        """Asterisk went away: every session's socket closes."""
        for writer in self.sessions:
            writer.close()
        self.sessions = []

    def emit(self, event):
        text = "".join(f"{k}: {v}\r\n" for k, v in event.items()) + "\r\n"
        for writer in self.sessions:
            writer.write(text.encode())

    async def _session(self, reader, writer):
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        logged_in = False
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields = {}
                for line in block.decode().split("\r\n"):
                    key, _, value = line.partition(": ")
                    if key:
                        fields.setdefault(key.lower(), []).append(value)
                action = {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
                self.actions.append(action)
                if not self.answering:
                    continue
                name = action.get("action", "").lower()
                if name == "login":
                    if action.get("secret") != self.secret:
                        self.refused += 1
                        self._reply(writer, action, "Error", Message="Authentication failed")
                        await writer.drain()
                        writer.close()
                        return
                    logged_in = True
                    self.logins += 1
                    self.sessions.append(writer)
                    self._reply(writer, action, "Success", Message="Authentication accepted")
                elif not logged_in:
                    self._reply(writer, action, "Error", Message="Permission denied")
                else:
                    getattr(self, f"_{name}", self._unknown)(writer, action)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.sessions:
                self.sessions.remove(writer)
            writer.close()

    @staticmethod
    def _reply(writer, action, response, **headers):
        lines = [f"Response: {response}", f"ActionID: {action.get('actionid', '')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _unknown(self, writer, action):
        self._reply(writer, action, "Error", Message="Invalid/unknown command")

    def _ping(self, writer, action):
        self._reply(writer, action, "Success", Ping="Pong", Timestamp="1.0")

    def _status(self, writer, action):
        self._reply(writer, action, "Success", EventList="start",
                    Message="Channel status will follow")
        wanted = [v for v in action.get("variables", "").split(",") if v]
        for name, channel in self.channels.items():
            lines = ["Event: Status", f"ActionID: {action.get('actionid', '')}",
                     f"Channel: {name}", f"Uniqueid: {channel['uniqueid']}",
                     f"Seconds: {channel.get('seconds', 0)}"]
            lines += [f"Variable: {v}={channel['variables'].get(v, '')}" for v in wanted]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        writer.write((f"Event: StatusComplete\r\nActionID: {action.get('actionid', '')}\r\n"
                      f"EventList: Complete\r\nListItems: {len(self.channels)}\r\n\r\n").encode())

    def _getvar(self, writer, action):
        channel = self.channels.get(action.get("channel", ""))
        if channel is None:
            self._reply(writer, action, "Error", Message="No such channel")
            return
        variable = action.get("variable", "")
        value = channel["variables"].get(variable, "")
        if variable.startswith("MIXMONITOR(") and variable.endswith(",filename)"):
            value = channel.get("recorders", {}).get(variable[11:-10], "")
        self._reply(writer, action, "Success", Variable=variable, Value=value)

    def _mixmonitormute(self, writer, action):
        channel = self.channels.get(action.get("channel", ""))
        recorder = action.get("mixmonitorid", "")
        if channel is None:
            self._reply(writer, action, "Error", Message="No such channel")
        elif recorder not in channel.get("recorders", {}):  # mute_mixmonitor_instance: -1
            self._reply(writer, action, "Error", Message="Cannot set mute flag")
        else:
            channel.setdefault("muted", {})[recorder] = action.get("state") not in (
                "0", "no", "off", "false")  # ast_false()
            self._reply(writer, action, "Success")

    def _stopmixmonitor(self, writer, action):
        channel = self.channels.get(action.get("channel", ""))
        if channel is None:
            self._reply(writer, action, "Error", Message="No such channel")
            return
        channel.get("recorders", {}).pop(action.get("mixmonitorid", ""), None)
        self._reply(writer, action, "Success", Message="Stopped MixMonitor")
