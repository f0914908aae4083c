"""One process's services, wired in one place for both transports.

Classic AGI (a process per call) gets the engine and a synchronous ledger, nothing heavy;
the FastAGI server gets the writer thread and, when enabled, the speech decoders.
"""

import asyncio
import logging
from dataclasses import dataclass, field

log = logging.getLogger("agi_consent")


class SetupError(RuntimeError):
    """The services cannot start; the message is a sentence that says what to do."""


@dataclass
class Services:
    config: object
    engine: object
    ledger: object
    transport: str  # "fastagi" or "classic"
    speech: object = None  # a SpeechService on the server; None: answers by key only
    ami_secret: str = ""  # read at start: a bad secret file stops `serve` with a sentence
    control: object = None  # watch.control.Control while the AMI watcher runs
    _talk: object = None  # watch.talk.Talk: barge-in, while the AMI watcher runs
    _events: object = None
    _watching: list = field(default_factory=list)

    def events(self):
        """The store for events after a call's AGI session (hangup, pause, withdrawal)."""
        if self._events is None:
            from .store.ledger import Appender
            self._events = Appender(self.config.database)
        return self._events

    async def start_watching(self):
        """In the server's event loop: the AMI link and its watcher, when [ami] is set."""
        if self.ami_secret:
            from .watch.watcher import start
            self.control, self._talk, *self._watching = start(self.config, self.ami_secret,
                                                              self.events())

    def talk(self):
        """Barge-in (watch.talk.Talk) while AMI is logged in, else None: the question then
        plays to its end before the answer window opens."""
        return self._talk if self._talk and self._talk.available else None

    async def mid_call(self, route, channel, problem=None):
        """A mid-call route (withdraw, pause, resume) on an already consented call."""
        from .watch import routes
        if problem:  # the transport found the environment untrustworthy
            log.error("%s route refused: %s", route, problem)
            await routes.refuse(route, channel)
            return "error"
        return await routes.run(route, channel, self)

    async def stop_watching(self):
        if self._watching:
            link, task = self._watching
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await link.close()
        self._watching, self.control, self._talk = [], None, None

    def close(self):
        self.ledger.close()
        if self.speech:
            self.speech.close()
        if self._events:
            self._events.close()


def build(config, transport):
    from .core.engine import Engine
    from .store import ledger as ledgers

    engine = Engine(config)
    previous = ledgers.archive_rules(config.database, engine.rules.version,
                                     engine.rules.content)
    if previous:  # the rules changed: the log says so, for the policy review
        writer = ledgers.Writer(config.database)
        writer.append("system", "rules-changed", {"version": engine.rules.version,
                                                  "previous": previous}, create=True)
        writer.close()
    if transport == "classic":  # no signing key in a per-call process: `serve` signs
        return Services(config, engine, ledgers.Ledger(config.database), transport)
    ami_secret = read_ami_secret(config)
    checkpoints = start_checkpoints(config)
    speech = start_speech(config)
    try:
        ledger = ledgers.ThreadedLedger(config.database, checkpoints=checkpoints)
    except Exception:
        if speech:
            speech.close()
        raise
    return Services(config, engine, ledger, transport, speech, ami_secret)


def read_ami_secret(config):
    from .config import ConfigError
    if not config.ami.enabled:
        return ""
    try:
        return config.ami.read_secret()
    except ConfigError as error:
        raise SetupError(f"The AMI watcher cannot start: {error}")


def start_checkpoints(config):
    from .store.checkpoint import CheckpointError, Checkpoints, Signer

    evidence = config.evidence
    try:
        signer = Signer(evidence.key_path(config.database), evidence.origin())
    except (CheckpointError, OSError) as error:
        raise SetupError(f"The evidence signing key cannot be used ({error}); check "
                         "evidence.key_file.")
    return Checkpoints(signer, evidence.origin(), evidence.checkpoint_rows,
                       evidence.checkpoint_seconds)


def speech_settings(config):
    return {"accept": config.speech.accept, "decline": config.speech.decline,
            "confidence_threshold": config.speech.confidence_threshold,
            "rescore": config.speech.rescore, "engine": config.speech.engine,
            "whisper_model": config.speech.whisper_model,
            "whisper_min_logprob": config.speech.whisper_min_logprob}


def start_speech(config):
    """Decoder processes for spoken answers, or None (keys only) with the reason logged."""
    if not config.speech.enabled:
        return None
    from .call.speech import SpeechService, SpeechUnavailable
    try:
        return SpeechService(speech_settings(config), config.speech.workers)
    except SpeechUnavailable as error:
        log.warning("%s", error)
        return None
    except RuntimeError as error:  # a phrase pocketsphinx's dictionary does not know
        raise SetupError(f"Speech cannot start ({error}); check speech.accept and "
                         "speech.decline, or set speech.enabled = false.")
