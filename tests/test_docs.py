"""The README stays true to the code: every command, option and config key is documented."""

import dataclasses
from pathlib import Path

import click

from agi_consent import config
from agi_consent.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def commands(group, prefix="agi-consent"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path, command


def test_every_command_and_option_is_documented():
    for path, command in commands(main):
        assert path in README, f"{path} is not in the README"
        for parameter in command.params:
            for option in getattr(parameter, "opts", []):
                if option.startswith("--"):
                    assert option in README, f"{path} {option} is not in the README"
    assert "--config" in README and "agi-consent-agi" in README


def test_every_config_key_is_documented():
    for item in dataclasses.fields(config.Config):
        if item.name == "source":
            continue
        value = getattr(config.Config(), item.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                assert f"{item.name}.{sub.name}" in README, f"{item.name}.{sub.name}"
        else:
            assert f"`{item.name}`" in README or f"[{item.name}]" in README, item.name


def test_every_make_target_is_documented():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    targets = [line.split(":")[0] for line in makefile.splitlines()
               if line[:1].isalpha() and ":" in line and "=" not in line]
    for target in targets:
        assert f"make {target}" in README, f"make {target} is not in the README"
