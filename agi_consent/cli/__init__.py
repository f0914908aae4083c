"""The `agi-consent` command line: the only part that imports click, one module per job
(`calls`, `serving`, `prompts`, `evidence`).

Library errors become one sentence and an exit code (2 for bad input, 1 for failures);
users never see a traceback.
"""

import json
import sys

import click

from .. import __version__
from .. import config as config_module
from ..core.engine import BadRegion, Engine
from ..core.rules import RulesError
from ..store.ledger import LogUnavailable


class BadInput(click.ClickException):
    exit_code = 2


class Context:
    def __init__(self, config_path):
        self.config_path = config_path
        self._config = None

    @property
    def config(self):
        if self._config is None:
            try:
                self._config = config_module.load(self.config_path)
            except config_module.ConfigError as error:
                raise BadInput(str(error))
        return self._config

    def engine(self, rules_version=None):
        try:
            return Engine(self.config, self.archived_rules(rules_version) if rules_version
                          else None)
        except RulesError as error:
            raise BadInput(str(error))

    def archived_rules(self, version):
        from ..core.rules import RuleTable
        if len(version) < 12 or not all(c in "0123456789abcdef" for c in version.lower()):
            raise BadInput("--rules-version takes at least 12 hex digits of a version, as "
                           "the decision event or 'agi-consent calls show' gives it.")
        rows = list(self.db().query("SELECT version, content FROM rules_versions WHERE "
                                    "version LIKE ?", [version.lower() + "%"]))
        if len(rows) != 1:
            raise BadInput(f"{'No' if not rows else 'More than one'} archived rules version "
                           f"starts with {version} in {self.config.database}.")
        return RuleTable.from_content(rows[0]["content"])

    def db(self):
        from ..store import schema
        try:
            return schema.open_db(self.config.database, self.config.retention.group)
        except (OSError, KeyError, LogUnavailable) as error:
            raise click.ClickException(
                f"Cannot open the consent log {self.config.database} ({error}); check the "
                "'database' config key and its folder's permissions.")


@click.group()
@click.version_option(__version__, prog_name="agi-consent")
@click.option("--config", "config_path", envvar=config_module.ENV_VAR, metavar="FILE",
              help="Config file (TOML). Default: $AGI_CONSENT_CONFIG, else built-in defaults.")
@click.pass_context
def main(ctx, config_path):
    """Recording consent for Asterisk calls, decided per jurisdiction and logged as evidence."""
    ctx.obj = Context(config_path)


@main.command()
@click.argument("number")
@click.option("--region", help="Trunk/site region, e.g. US-NY or DE (default: config).")
@click.option("--direction", type=click.Choice(["inbound", "outbound"]), default="inbound",
              show_default=True)
@click.option("--rules-version", metavar="V",
              help="Decide with an archived rules version (its first 12+ hex digits), as an "
                   "old call was decided.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def decide(ctx, number, region, direction, rules_version, as_json):
    """Decide all-party consent or notice for a call with NUMBER, and say why."""
    engine = ctx.engine(rules_version)
    try:
        region = engine.region_for(region)
    except BadRegion as error:
        raise BadInput(str(error))
    remote, decision = engine.decide(number, region, direction)
    result = {"number": number, "e164": remote.e164, **decision.as_dict()}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{decision.mode} (governing: {decision.governing}; "
               f"rules {decision.rules_version[:12]})")
    for reason in decision.reasons[1:]:
        click.echo(f"  - {reason}")


@main.group()
def db():
    """Create or migrate the consent log."""


@db.command("init")
@click.pass_obj
def db_init(ctx):
    """Create the consent log if needed and apply pending migrations."""
    ctx.db()
    click.echo(f"consent log ready: {ctx.config.database}")


def run():
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)


from . import calls, evidence, prompts, recording, retention, serving  # noqa: E402,F401 - register commands
