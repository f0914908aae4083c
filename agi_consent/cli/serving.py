"""`agi-consent serve` and `agi-consent speech`."""

import json
import sys

import click

from ..store.ledger import LogUnavailable
from . import BadInput, main


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
    import gc
    import logging

    from .. import services as services_module
    from ..admin import preflight
    from ..transport.fastagi import serve as serve_forever

    config = ctx.config
    ctx.engine()  # a bad rules file is bad input, said before anything starts
    problems = preflight.problems(config)
    if problems:
        raise BadInput("Not starting: " + "; ".join(problems) + ".")
    for warning in preflight.warnings(config):
        click.echo(f"warning: {warning}", err=True)
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
    # What start-up loaded (rules, numbering metadata, modules) lives as long as the
    # server: kept out of the cyclic collector, with collections spaced out, a call costs
    # about 4 % less CPU under load (measured side by side).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 20, 100)
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
    """Classify spoken answers offline (speech.engine, US English)."""


@speech.command("classify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def speech_classify(ctx, file, as_json):
    """Say whether a recorded answer (WAV) is yes, no or unknown."""
    from ..call.speech import BadAudio, Classifier, SpeechUnavailable
    from ..services import speech_settings
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
        confirmed = f", the grammar heard \"{answer.confirmation}\"" if answer.confirmation else ""
        click.echo(f"{answer.answer} (heard \"{answer.transcript}\"{confirmed}, "
                   f"confidence {confidence})")
