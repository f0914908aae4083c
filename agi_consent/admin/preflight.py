"""What `agi-consent serve` checks before it takes a call (and `serve --check` alone).

A server that starts with missing prompts, an unwritable log or no recording folder would
fail every call closed; refusing to start says so once, at deploy time, instead.
"""

import os
import sqlite3

from ..config import local_path
from ..store.ledger import LogUnavailable


def warnings(config):
    """What the preflight cannot check from here (said, not refused)."""
    found = []
    tree = local_path(config, config.prompts.directory)
    if not os.path.isdir(tree):
        found.append(f"the prompt tree {tree} is not visible from this host, so its files "
                     "cannot be checked or hashed; callers hear the language defaults "
                     "Asterisk has there")
    return found + answer_folder_warnings(config) + whisper_warnings(config)


def whisper_warnings(config):
    """A Whisper folder without weights leaves speech off at start (keys only), said here."""
    from ..call.whisper import weights_file
    speech = config.speech
    model = speech.whisper_model
    if not speech.enabled or speech.engine == "pocketsphinx" or not model or \
            os.path.isfile(weights_file(model)):
        return []
    return [f"speech.whisper_model {model} has no model.bin: spoken answers will be off and "
            "callers answer by key; fix the path, or leave it empty for the bundled tiny.en"]


def answer_folder_warnings(config):
    """Asterisk, another user, writes the spoken answers into folders this plugin creates:
    a recording folder that is not group-writable may leave it unable to (the calls then fall
    back to the keypad); the preflight cannot tell which user Asterisk runs as."""
    folder = local_path(config, config.recording.directory)
    if not config.speech.enabled or not os.path.isdir(folder):
        return []
    mode = os.stat(folder).st_mode
    if mode & 0o070 == 0o070:
        return []
    return [f"the recording folder {folder} is not group-writable (mode {mode & 0o7777:o}): "
            "if Asterisk runs as another user it cannot write spoken answers there and callers "
            "fall back to the keypad; give it Asterisk's group and mode 2770"]


def prompt_problems(config):
    from .prompts import check

    if not os.path.isdir(local_path(config, config.prompts.directory)):
        return []  # out of sight: a warning, not a refusal
    found = check(config)
    if not found:
        return []
    return [f"{len(found)} prompt problem(s), the first: {found[0]} (run 'agi-consent prompts "
            "check' for all, then import or rebuild them)"]


def database_problems(config):
    from ..store import schema

    try:
        schema.open_db(config.database, config.retention.group).close()
    except KeyError:
        return [f"retention.group '{config.retention.group}' is not a group on this host; "
                "create it (groupadd) or fix the key"]
    except (OSError, sqlite3.Error, LogUnavailable) as error:
        return [f"the consent log {config.database} cannot be created or migrated ({error}); "
                "check the 'database' key and its folder's owner and permissions"]
    return []


def recording_problems(config):
    root = config.asterisk_root
    if root and not os.path.isdir(root):
        return [f"asterisk_root {root} is not a folder this process can see; fix "
                "'asterisk_root' or leave it empty"]
    folder = local_path(config, config.recording.directory)
    try:
        os.makedirs(folder, mode=0o770, exist_ok=True)
    except OSError as error:
        return [f"the recording folder {folder} cannot be created ({error.strerror}); create "
                "it and give this user write access (see 'Install on a production host')"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"the recording folder {folder} is not writable by this user; add the user "
                "to the folder's group and make it group-writable"]
    return []


def problems(config):
    """Every reason the server must not start, as sentences; empty when ready."""
    return [*prompt_problems(config), *database_problems(config), *recording_problems(config),
            *ami_problems(config)]


def ami_problems(config):
    """With [ami] set, the watcher's secret must be readable, owner-only and not empty."""
    from ..config import ConfigError
    if not config.ami.enabled:
        return []
    try:
        config.ami.read_secret()
    except ConfigError as error:
        return [str(error).rstrip(".")]
    return []
