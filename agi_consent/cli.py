"""The `agi-consent` command line: the only module that imports click.

Library errors become one sentence and an exit code (2 for bad input, 1 for failures);
users never see a traceback.
"""

import json
import sys

import click

from . import __version__
from . import config as config_module
from .core.engine import BadRegion, Engine
from .core.rules import RulesError
from .store.ledger import LogUnavailable


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

    def engine(self):
        try:
            return Engine(self.config)
        except RulesError as error:
            raise BadInput(str(error))

    def db(self):
        from .store import schema
        try:
            return schema.open_db(self.config.database)
        except (OSError, LogUnavailable) as error:
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def decide(ctx, number, region, direction, as_json):
    """Decide all-party consent or notice for a call with NUMBER, and say why."""
    engine = ctx.engine()
    try:
        region = engine.region_for(region)
    except BadRegion as error:
        raise BadInput(str(error))
    remote, decision = engine.decide(number, region, direction)
    result = {"number": number, "e164": remote.e164, **decision.as_dict()}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{decision.mode} (governing: {decision.governing}; rules {decision.rules_version})")
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


@main.group()
def calls():
    """Read the consent log: recent calls and the evidence of one call."""


@calls.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def calls_list(ctx, limit, as_json):
    """The most recent calls, newest first."""
    from .store import schema
    for row in schema.recent_calls(ctx.db(), limit):
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['started_at']}  {row['id']}  {row['remote_number'] or '-':>14}  "
                       f"{row['mode'] or '-':9}  {row['governing'] or '-':7}  "
                       f"{row['result'] or '-':10}  {row['recording'] or ''}")


@calls.command("show")
@click.argument("call_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def calls_show(ctx, call_id, as_json):
    """Everything logged for one call: the record and each step in order."""
    from .store import schema
    database = ctx.db()
    call = schema.get_call(database, call_id)
    if call is None:
        raise BadInput(f"No call {call_id} in {ctx.config.database}; "
                       "'agi-consent calls list' shows the ids.")
    events = schema.call_events(database, call_id)
    if as_json:
        click.echo(json.dumps({"call": call, "events": events}, ensure_ascii=False))
        return
    for key, value in call.items():
        click.echo(f"{key:21} {value if value is not None else ''}")
    for event in events:
        click.echo(f"  {event['seq']:3} {event['at']}  {event['kind']:18} {event['detail']}")


@main.command()
@click.option("--host", help="Address to listen on (default: config server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: 4573).")
@click.option("--grace", default=10.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds in-flight calls get to finish on SIGTERM before failing closed.")
@click.option("--check", is_flag=True,
              help="Run the preflight only (prompts, log, recording folder) and exit.")
@click.pass_obj
def serve(ctx, host, port, grace, check):
    """Run the FastAGI server (route /consent) until SIGTERM."""
    import asyncio
    import dataclasses
    import logging

    from . import services as services_module
    from .admin import preflight
    from .transport.fastagi import serve as serve_forever

    config = ctx.config
    ctx.engine()  # a bad rules file is bad input, said before anything starts
    problems = preflight.problems(config)
    if problems:
        raise BadInput("Not starting: " + "; ".join(problems) + ".")
    if check:
        click.echo(f"preflight ok: prompts, consent log {config.database}, recording folder "
                   f"{config.recording.directory}")
        return
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = dataclasses.replace(config.server, host=host or config.server.host,
                                   port=port or config.server.port)
    try:
        services = services_module.build(config, "fastagi")
    except (services_module.SetupError, LogUnavailable) as error:
        raise BadInput(str(error))
    try:
        asyncio.run(serve_forever(services, settings, grace))
    except OSError as error:
        raise click.ClickException(
            f"Cannot listen on {settings.host}:{settings.port} ({error.strerror or error}); "
            "stop what holds the port or choose another with --port.")
    finally:
        services.close()


@main.group()
def speech():
    """Classify spoken answers offline (pocketsphinx, US English)."""


@speech.command("classify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def speech_classify(ctx, file, as_json):
    """Say whether a recorded answer (WAV) is yes, no or unknown."""
    from .call.speech import BadAudio, Classifier, SpeechUnavailable
    from .services import speech_settings
    try:
        answer = Classifier(**speech_settings(ctx.config)).classify_file(file)
    except BadAudio as error:
        raise BadInput(str(error))
    except SpeechUnavailable as error:
        raise click.ClickException(str(error))
    if as_json:
        click.echo(json.dumps(answer.as_dict()))
    else:
        confidence = "n/a" if answer.confidence is None else f"{answer.confidence:.3f}"
        click.echo(f"{answer.answer} (heard \"{answer.transcript}\", confidence {confidence})")


@main.group()
def prompts():
    """Import, list, check and install the disclosure prompts."""


def _prompt_admin():
    from .admin import prompts as prompt_admin
    return prompt_admin


@prompts.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--name", help="Prompt name, e.g. consent-request (not with --from-dir).")
@click.option("--lang", required=True, help="Language code, e.g. en, fr.")
@click.option("--region", help="Region override folder, e.g. US-CA or DE (default: none).")
@click.option("--text", help="What the prompt says (kept beside the audio as evidence).")
@click.option("--from-dir", type=click.Path(file_okay=False),
              help="Import every <name>.<audio> in a folder, text from <name>.txt.")
@click.pass_obj
def prompts_import(ctx, file, name, lang, region, text, from_dir):
    """Convert an audio FILE (WAV, MP3, FLAC, OGG…) into a prompt, replacing it atomically."""
    admin = _prompt_admin()
    if bool(file) == bool(from_dir) or (file and not name) or (from_dir and (name or text)):
        raise BadInput("Give FILE with --name (and --text for a new prompt), or --from-dir "
                       "DIR alone.")
    try:
        if from_dir:
            files, database, results = admin.folder_files(from_dir), ctx.db(), []
            with click.progressbar(files, label="importing prompts",
                                   item_show_func=_show_path) as bar:
                for path, prompt_name, prompt_text in bar:
                    results.append(admin.import_prompt(ctx.config, database, path, prompt_name,
                                                       lang, region, prompt_text))
        else:
            results = [admin.import_prompt(ctx.config, ctx.db(), file, name, lang, region,
                                           text)]
    except admin.PromptError as error:
        raise BadInput(str(error))
    for result in results:
        replaced = f"replaced {result.old_sha256[:12]}, kept in .history" if \
            result.old_sha256 else "new"
        click.echo(f"{result.path}: {result.seconds:.1f} s, sha256 {result.new_sha256[:12]} "
                   f"({replaced})")


def _show_path(item):
    return item[0].name if item else ""


@prompts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def prompts_list(ctx, as_json):
    """The prompt each region × language × name resolves to, with length, hash and source."""
    for row in _prompt_admin().effective(ctx.config):
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        where = row["file"] or row.get("problem", "")
        seconds = f"{row['seconds']:5.1f}s" if row["seconds"] is not None else "    -"
        click.echo(f"{row['region']:7} {row['language']:3} {row['name']:18} {seconds} "
                   f"{(row['sha256'] or '-')[:12]:12} {row['source']:8} {where}")


@prompts.command("check")
@click.pass_obj
def prompts_check(ctx):
    """Exit 1 naming every missing or broken prompt the configured languages need."""
    problems = _prompt_admin().check(ctx.config)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.ClickException(f"{len(problems)} prompt problem(s); import or rebuild "
                                   "them ('agi-consent prompts import', 'make prompts').")
    click.echo(f"prompts ok: {', '.join(ctx.config.prompts.languages)}")


@prompts.command("install")
@click.option("--sounds-dir", required=True, type=click.Path(file_okay=False),
              help="Folder Asterisk plays from, e.g. /var/lib/asterisk/sounds/consent.")
@click.pass_obj
def prompts_install(ctx, sounds_dir):
    """Copy the effective prompts where Asterisk can play them (when it runs elsewhere)."""
    admin = _prompt_admin()
    try:
        copied = admin.install(ctx.config, sounds_dir)
    except admin.PromptError as error:
        raise BadInput(str(error))
    click.echo(f"{copied} files installed under {sounds_dir}; set prompts.directory to it "
               "as Asterisk sees it.")


def run():
    try:
        main(standalone_mode=True)
    except KeyboardInterrupt:
        sys.exit(130)
