"""`agi-consent serve` as a site runs it: the real CLI in its own process, on a free port."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_process(config, tmp_path, grace=0.5):
    port = free_port()
    path = tmp_path / "serve.toml"
    path.write_text(f'database = "{config.database}"\n[server]\nport = {port}\n'
                    f'[prompts]\ndirectory = "{config.prompts.directory}"\n'
                    'languages = ["en", "fr"]\n'
                    f'[recording]\ndirectory = "{config.recording.directory}"\n')
    return serve_file(path, port, grace)


def serve_file(path, port, grace=0.5):
    """Start `agi-consent --config PATH serve` (its config listening on `port`)."""
    process = subprocess.Popen([str(Path(sys.prefix) / "bin" / "agi-consent"), "--config",
                                str(path), "serve", "--grace", str(grace)],
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    process.kill()
    pytest.fail("agi-consent serve did not start")
