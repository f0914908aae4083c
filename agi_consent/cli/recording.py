"""`agi-consent pause` / `resume`: a card-payment pause of a live recording, through AMI."""

import asyncio
import getpass
import json

import click

from ..config import ConfigError
from . import BadInput, main


def run_control(ctx, job):
    """Run `job(Control)` over a one-off AMI session; failures are sentences."""
    from ..store.ledger import LogUnavailable
    from ..watch.control import ControlError, with_link
    config = ctx.config
    if not config.ami.enabled:
        raise BadInput("AMI is not configured: set [ami] host, username and secret_file in "
                       f"{config.source} (the same user the watcher in 'serve' uses).")
    ctx.db()  # a missing or unmigrated log is said before AMI is tried
    try:
        return asyncio.run(with_link(config, job))
    except (ControlError, ConfigError, LogUnavailable) as error:
        raise click.ClickException(str(error))


def _who():
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _report(outcome, as_json):
    if as_json:
        click.echo(json.dumps(outcome, ensure_ascii=False))
        return
    extra = f" after {outcome['paused_seconds']} s" if "paused_seconds" in outcome else ""
    click.echo(f"call {outcome['call']}: recording {outcome['state']}{extra} "
               f"(channel {outcome['channel']}, by {outcome['by']})")


@main.command()
@click.argument("call")
@click.option("--reason", required=True, help="Why (logged), e.g. \"card payment\".")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def pause(ctx, call, reason, as_json):
    """Mute a live recording both ways (silence in the file) until `resume`.

    CALL is the consent id, the channel's uniqueid or its channel name."""
    _report(run_control(ctx, lambda control: control.pause(call, reason, _who())), as_json)


@main.command()
@click.argument("call")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def resume(ctx, call, as_json):
    """Unmute a paused recording; the log says how long the pause lasted."""
    _report(run_control(ctx, lambda control: control.resume(call, _who())), as_json)
