"""Configuration: TOML with embedded defaults, so the plugin runs with no file at all.

Looked up from `--config`, else `$AGI_CONSENT_CONFIG`, else defaults. Every key is checked
for name and type; an error names the file and the key and says what would be valid.
"""

import ipaddress
import os
import sys
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .core.judge import SPOKEN_LANGUAGES, WHISPER_MIN_LOGPROB
from .core.phrases import ACCEPT, DECLINE
from .core.rules import normalise_code

PACKAGE_DIR = Path(__file__).parent
ENV_VAR = "AGI_CONSENT_CONFIG"


def shipped_prompts():
    """The shipped prompt tree: this checkout's `prompts/` when run from one, else the installed
    package's data files (`<prefix>/share/agi-consent/prompts`, wherever pip put them)."""
    checkout = PACKAGE_DIR.parent / "prompts"
    if (checkout / "en").is_dir():
        return checkout
    installed = Path(sys.prefix) / "share" / "agi-consent" / "prompts"
    if installed.is_dir():
        return installed
    from importlib import metadata  # a --user or --prefix install: ask the installed files
    try:
        files = metadata.distribution("agi-consent").files or []
    except metadata.PackageNotFoundError:
        files = []
    for item in files:
        if item.name == "consent-request.txt" and "share/agi-consent/prompts" in str(item):
            return Path(item.locate()).resolve().parents[1]
    return installed


class ConfigError(ValueError):
    """Invalid configuration; the message is a sentence for the admin."""


def default_database():
    """Root daemons keep the log under /var/lib; a newcomer without root under XDG data."""
    if os.geteuid() == 0:
        return "/var/lib/agi-consent/consent.db"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "agi-consent" / "consent.db")


def read_secret_file(path, key):
    """A secret from an owner-only file: never in the config, never in a group- or
    world-readable file."""
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise ConfigError(f"{path} ({key}) is readable by others (mode {mode & 0o777:o}); "
                              f"make it owner-only: chmod 600 {path}.")
        with open(path, encoding="utf-8") as handle:
            secret = handle.read().strip()
    except OSError as error:
        raise ConfigError(f"{key} {path} cannot be read ({error.strerror}).")
    if not secret:
        raise ConfigError(f"{key} {path} is empty.")
    return secret


@dataclass(frozen=True)
class Server:
    host: str = "127.0.0.1"
    port: int = 4573
    env_timeout: float = 5.0  # seconds for Asterisk to send the AGI environment
    command_timeout: float = 60.0  # seconds for any one AGI command to answer
    max_sessions: int = 2000  # concurrent AGI sessions; more are refused (the gate goes on)
    allowed_peers: list = field(default_factory=list)  # addresses/networks; empty: any
    secret_file: str = ""  # owner-only file with the secret the AGI URL must carry

    def read_secret(self):
        return read_secret_file(self.secret_file, "server.secret_file") \
            if self.secret_file else ""


@dataclass(frozen=True)
class Flow:
    accept_key: str = "1"
    decline_key: str = "2"
    opt_out_key: str = ""  # one-party opt-out, off by default
    attempts: int = 2
    answer_timeout: float = 5.0  # seconds to wait for an answer after each prompt
    answer_channel: bool = True  # answer the channel first if it is not up


@dataclass(frozen=True)
class Recording:
    directory: str = "/var/spool/asterisk/monitor/consent"  # as Asterisk sees it
    format: str = "wav"
    options: str = ""  # MixMonitor options, e.g. "b" to record only while bridged


@dataclass(frozen=True)
class Prompts:
    directory: str = field(default_factory=lambda: str(shipped_prompts()))  # as Asterisk sees it
    language: str = "en"
    languages: list = field(default_factory=lambda: ["en", "es", "fr", "de"])  # prompts check
    max_seconds: float = 60.0  # longest prompt an import accepts


@dataclass(frozen=True)
class Speech:
    enabled: bool = False  # spoken answers on the FastAGI server (classic AGI: keys only)
    languages: list = field(default_factory=lambda: ["en"])  # languages with a model
    disabled_regions: list = field(default_factory=list)  # jurisdictions where keys only
    accept: list = field(default_factory=lambda: list(ACCEPT))
    decline: list = field(default_factory=lambda: list(DECLINE))
    confidence_threshold: float = 0.0  # minimum lattice posterior for a spoken yes
    rescore: bool = True  # lattice best-path rescoring: better in noise, ~40 ms more CPU
    max_seconds: float = 5.0  # longest answer window
    silence_seconds: int = 2  # silence that ends the answer window
    workers: int = 1  # decoder processes
    engine: str = "cascade"  # pocketsphinx | whisper | cascade (see README, Spoken answers)
    whisper_model: str = ""  # a CTranslate2 Whisper folder; empty: the bundled tiny.en
    whisper_min_logprob: float = WHISPER_MIN_LOGPROB  # a less sure Whisper yes: asked again
    barge_in: bool = True  # speech during the question stops it (needs [ami])
    barge_in_after: float = 6.0  # seconds of the question that always play: the disclosure
    # a spoken yes with less speech than this is confirmed; the default, above any answer
    # window, confirms every one; 1.0: only short ones ("yes", "yeah?"); 0: none
    confirm_under: float = 60.0


@dataclass(frozen=True)
class Ami:
    host: str = ""  # empty: no AMI watcher
    port: int = 5038
    username: str = "agi-consent"
    secret_file: str = ""  # owner-only file with the AMI secret; never in the config
    action_timeout: float = 5.0  # seconds any one AMI action may take
    ping_seconds: float = 10.0  # an unanswered ping drops and reconnects the link
    close_timeout: float = 30.0  # seconds after a hangup for Asterisk to close the file

    @property
    def enabled(self):
        return bool(self.host)

    def read_secret(self):
        return read_secret_file(self.secret_file, "ami.secret_file")


@dataclass(frozen=True)
class Evidence:
    checkpoint_rows: int = 1000  # sign the chain's head every this many rows ...
    checkpoint_seconds: float = 300.0  # ... or this often, and at shutdown
    key_file: str = ""  # empty: signing.key beside the database (created 0600)
    node: str = ""  # the checkpoints' origin; empty: this host's name

    def key_path(self, database):
        return self.key_file or str(Path(database).parent / "signing.key")

    def origin(self):
        import socket
        return self.node or socket.gethostname()


@dataclass(frozen=True)
class Retention:
    preset: str = ""  # sector presets, comma-separated: mifid2, sec17a4, hipaa, cnil-quality
    default_days: int = 365  # where no rule or preset sets a maximum
    overrides: dict = field(default_factory=dict)  # "FR" = {keep_max_days = 90}
    group: str = ""  # the group that may read recordings, answers and the log

    def presets(self):
        return [name.strip() for name in self.preset.split(",") if name.strip()]


def local_path(config, asterisk_path):
    """Where this process sees a file that Asterisk names `asterisk_path`."""
    root = config.asterisk_root.rstrip("/")
    return root + asterisk_path if root else asterisk_path


@dataclass(frozen=True)
class Config:
    database: str = field(default_factory=default_database)
    rules_file: str = ""
    asterisk_root: str = ""  # where this process sees Asterisk's "/" (chroot, container mount)
    default_region: str = ""
    unknown_mode: str = "all-party"
    uncertain_mode: str = "all-party"
    trunks: dict = field(default_factory=dict)
    server: Server = Server()
    flow: Flow = Flow()
    recording: Recording = Recording()
    prompts: Prompts = Prompts()
    speech: Speech = Speech()
    ami: Ami = Ami()
    evidence: Evidence = Evidence()
    retention: Retention = Retention()
    source: str = "built-in defaults"


SECTIONS = {"server": Server, "flow": Flow, "recording": Recording, "prompts": Prompts,
            "speech": Speech, "ami": Ami, "evidence": Evidence, "retention": Retention}
CHOICES = {"unknown_mode": ("all-party", "one-party"),
           "uncertain_mode": ("all-party", "as-listed")}


TYPE_NAMES = {int: "whole number", float: "number", str: "string", bool: "true or false",
              list: "list in brackets", dict: "table"}


def _typed(value, default, key, source):
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"In {source}, '{key}' must be a {TYPE_NAMES[expected]}, "
                          f"not {value!r}.")
    return value


def _section(cls, values, prefix, source):
    if not isinstance(values, dict):
        raise ConfigError(f"In {source}, [{prefix.rstrip('.')}] must be a table.")
    known = {f.name: f for f in fields(cls)}
    changes = {}
    for key, value in values.items():
        if key not in known or key == "source":
            raise ConfigError(f"In {source}, '{prefix}{key}' is not a known key; known keys "
                              f"here: {', '.join(k for k in known if k != 'source')}.")
        default = getattr(cls(), key)
        if key in SECTIONS or key == "trunks":
            changes[key] = value
        else:
            changes[key] = _typed(value, default, prefix + key, source)
    return changes


def _fail(source, message):
    raise ConfigError(f"In {source}, {message}")


def _check_modes(config, source):
    for key, allowed in CHOICES.items():
        if getattr(config, key) not in allowed:
            _fail(source, f"'{key}' must be one of {', '.join(allowed)}.")


def _check_database(config, source):
    if not config.database.strip():
        _fail(source, "'database' must name the consent log's file, e.g. "
              "\"/var/lib/agi-consent/consent.db\".")


def _check_regions(config, source):
    if config.default_region and not normalise_code(config.default_region):
        _fail(source, "'default_region' must be a region code like \"US-NY\" or \"DE\".")
    if not isinstance(config.trunks, dict) or not all(
            isinstance(v, str) and normalise_code(v) for v in config.trunks.values()) or \
            not all(k.strip() for k in config.trunks):  # an empty prefix matches every call
        _fail(source, "[trunks] must map channel or DNID prefixes to region codes like "
              "\"US-NY\".")


def _check_flow(flow, source):
    for key in ("accept_key", "decline_key", "opt_out_key"):
        value = getattr(flow, key)
        if value and (len(value) != 1 or value not in "0123456789*#"):
            _fail(source, f"'flow.{key}' must be one keypad digit (0-9, *, #).")
    keys = [k for k in (flow.accept_key, flow.decline_key, flow.opt_out_key) if k]
    if len(set(keys)) != len(keys) or not flow.accept_key or not flow.decline_key:
        _fail(source, "the flow keys must be set and all different.")
    if not 1 <= flow.attempts <= 10 or not 0 < flow.answer_timeout <= 120:
        _fail(source, "'flow.attempts' must be 1 to 10 and 'flow.answer_timeout' more than 0 "
              "and at most 120 seconds (the caller waits in silence meanwhile).")


def _check_asterisk_path(key, value, source):
    if not value.startswith("/") or any(ch in value for ch in ',"\\|\n'):
        _fail(source, f"'{key}' must be an absolute path without commas, quotes or "
              "backslashes (Asterisk reads it as an argument list).")


def _check_recording(recording, source):
    _check_asterisk_path("recording.directory", recording.directory, source)
    if not recording.format.isalnum() or (recording.options and not recording.options.isalnum()):
        _fail(source, "'recording.format' and 'recording.options' must be letters and digits "
              "only (e.g. \"wav\", \"b\").")


def _check_prompts(prompts, source):
    _check_asterisk_path("prompts.directory", prompts.directory, source)
    if not all(isinstance(x, str) and x.isalpha() and x.islower() and 2 <= len(x) <= 3
               for x in [*prompts.languages, prompts.language]):
        _fail(source, "'prompts.language' and 'prompts.languages' take language codes such "
              "as \"en\" or \"fr\".")


def _check_speech(speech, source):
    if not all(isinstance(p, str) and p.strip() and p == p.lower()
               and all(ch.isalpha() or ch in " '" for ch in p)
               for p in speech.accept + speech.decline):
        _fail(source, "'speech.accept' and 'speech.decline' take lower-case phrases of words, "
              "e.g. \"yes i agree\".")
    if not 0 < speech.max_seconds <= 60 or not 1 <= speech.silence_seconds <= 10 or \
            not 1 <= speech.workers <= 64:
        _fail(source, "'speech.max_seconds' must be more than 0 and at most 60, "
              "'speech.silence_seconds' 1 to 10, and 'speech.workers' 1 to 64 (each worker "
              "holds about 250 MB).")
    if speech.whisper_min_logprob > 0:
        _fail(source, "'speech.whisper_min_logprob' is a mean log-probability: 0 or less.")
    if speech.confidence_threshold and not speech.rescore:
        _fail(source, "'speech.confidence_threshold' needs 'speech.rescore = true' (the "
              "confidence is the lattice posterior).")
    if not 0 <= speech.confirm_under <= 60:
        _fail(source, "'speech.confirm_under' must be 0 to 60 seconds (a spoken yes with less "
              "speech is confirmed before it counts; 0 never asks; more than "
              "'speech.max_seconds' asks for every spoken yes).")
    if speech.barge_in_after < 0:
        _fail(source, "'speech.barge_in_after' must be ≥ 0 seconds (how much of the question "
              "always plays before the caller's speech may stop it).")
    if speech.engine not in ("pocketsphinx", "whisper", "cascade"):
        _fail(source, "'speech.engine' must be pocketsphinx, whisper or cascade.")
    if not all(isinstance(r, str) and normalise_code(r) for r in speech.disabled_regions):
        _fail(source, "'speech.disabled_regions' takes region codes.")
    unheard = [str(x) for x in speech.languages if x not in SPOKEN_LANGUAGES]
    if unheard:  # an English model would hear (or translate) another language's answers
        _fail(source, f"'speech.languages' lists {', '.join(unheard)}, but spoken answers "
              f"are understood only in {', '.join(SPOKEN_LANGUAGES)} (the bundled models and "
              "the answer judge are English); remove it: callers in other languages answer "
              "by key.")


def _check_server(server, source):
    if server.max_sessions < 1 or server.env_timeout <= 0 or server.command_timeout <= 0:
        _fail(source, "'server.max_sessions' must be ≥ 1 and the server timeouts > 0.")
    if not 0 <= server.port < 65536:  # 0: any free port (the tests' servers)
        _fail(source, "'server.port' must be a port number up to 65535 (FastAGI's is 4573).")
    for peer in server.allowed_peers:
        try:
            ipaddress.ip_network(str(peer), strict=False)
        except ValueError:
            _fail(source, f"'server.allowed_peers' takes addresses or networks such as "
                  f"\"127.0.0.1\" or \"10.0.0.0/24\", not {peer!r}.")


def _check_evidence(evidence, source):
    if evidence.checkpoint_rows < 1 or evidence.checkpoint_seconds <= 0:
        _fail(source, "'evidence.checkpoint_rows' must be ≥ 1 and "
              "'evidence.checkpoint_seconds' > 0.")
    if evidence.node and not all(ch.isalnum() or ch in ".-_" for ch in evidence.node):
        _fail(source, "'evidence.node' takes a host-like name (letters, digits, . - _).")


def _check_retention(retention, source):
    from .core.retention import PRESETS
    unknown = [name for name in retention.presets() if name not in PRESETS]
    if unknown:
        _fail(source, f"'retention.preset' names {', '.join(unknown)}; presets: "
              f"{', '.join(PRESETS)}.")
    if retention.default_days < 1:
        _fail(source, "'retention.default_days' must be ≥ 1.")
    for code, values in retention.overrides.items():
        if not normalise_code(code) or not isinstance(values, dict) or not values or not all(
                key in ("keep_min_days", "keep_max_days") and isinstance(days, int)
                and not isinstance(days, bool) and days >= 0 for key, days in values.items()):
            _fail(source, f"'retention.overrides' takes region codes with keep_min_days and/or "
                  f"keep_max_days in days, e.g. FR = {{ keep_max_days = 90 }}; not {code!r}.")
    if retention.group and not all(ch.isalnum() or ch in "-_" for ch in retention.group):
        _fail(source, "'retention.group' takes a group name such as \"consent-audit\".")


def _check_ami(ami, source):
    if not ami.enabled:
        return
    if not ami.secret_file or not ami.username:
        _fail(source, "[ami] needs 'username' and 'secret_file' (an owner-only file holding "
              "the AMI secret) when 'host' is set.")
    if not 0 < ami.port < 65536 or min(ami.action_timeout, ami.ping_seconds,
                                       ami.close_timeout) <= 0:
        _fail(source, "'ami.port' must be a port number and the [ami] timeouts > 0.")


SECTION_CHECKS = {"ami": _check_ami, "retention": _check_retention, "evidence": _check_evidence,
                  "server": _check_server, "flow": _check_flow, "recording": _check_recording,
                  "prompts": _check_prompts, "speech": _check_speech}


def _validate(config):
    """Each part checks itself; the first problem is the error."""
    _check_database(config, config.source)
    _check_modes(config, config.source)
    _check_regions(config, config.source)
    for name, check in SECTION_CHECKS.items():
        check(getattr(config, name), config.source)
    return config


def parse(document, source):
    top = _section(Config, document, "", source)
    for name, cls in SECTIONS.items():
        if name in top:
            top[name] = cls(**_section(cls, top[name], name + ".", source))
    return _validate(replace(Config(), source=source, **top))


SYSTEM_PATH = "/etc/agi-consent/agi-consent.toml"


def load(path=None):
    """Load the config from `path`, `$AGI_CONSENT_CONFIG`, /etc/agi-consent, or defaults."""
    path = path or os.environ.get(ENV_VAR) or (SYSTEM_PATH if os.path.exists(SYSTEM_PATH)
                                                else None)
    if not path:
        return Config()
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist; check --config or ${ENV_VAR}.")
    except PermissionError:
        raise ConfigError(f"Config file {path} is not readable by this user.")
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {path} is not valid TOML: {error}.")
    return parse(document, str(path))
