"""`agi-consent calls`: read the consent log."""

import json

import click

from . import BadInput, main


@main.group(invoke_without_command=True)
@click.option("--live", is_flag=True,
              help="The recorded channels up now (via AMI): consent, pause state, duration.")
@click.option("--json", "as_json", is_flag=True, help="With --live: print JSON lines.")
@click.pass_context
def calls(click_ctx, live, as_json):
    """Read the consent log: recent calls and the evidence of one call."""
    if click_ctx.invoked_subcommand is not None:
        return
    if not live:
        click.echo(click_ctx.get_help())
        return
    from .recording import run_control
    rows = run_control(click_ctx.obj, lambda control: control.live())
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            paused = f"paused since {row['paused_since']}" if row["paused_since"] else "-"
            state = "recording" if row["recording_live"] else "NOT RECORDING"
            click.echo(f"{row['call']}  {row['channel']:32}  {row['result']:9}  {state:13}  "
                       f"{paused:40}  {row['seconds'] if row['seconds'] is not None else '?'} s")
    if not rows and not as_json:
        click.echo("no recorded calls are up")


@calls.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def calls_list(ctx, limit, as_json):
    """The most recent calls, newest first."""
    from ..store import schema
    rows = schema.recent_calls(ctx.db(), limit)
    if not rows and not as_json:
        click.echo(f"no calls in {ctx.config.database} yet")
    for row in rows:
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
    from ..store import schema
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
