"""`agi-consent purge`, `hold`, `release`, `erase`, `export`, `access-log`: keeping and
deleting recordings lawfully, and who touched them."""

import json
import sys

import click

from . import BadInput, main


def _admin():
    from ..admin import retention
    return retention


def _calls(ctx, call, number):
    if bool(call) == bool(number):
        raise BadInput("Name one CALL (consent id, uniqueid or channel) or --number N.")
    admin = _admin()
    try:
        return admin.find_calls(ctx.db(), call, number)
    except admin.RetentionError as error:
        raise BadInput(str(error))


def _echo(as_json, data, lines):
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        for line in lines:
            click.echo(line)


@main.command()
@click.option("--dry-run", is_flag=True, help="Say what would go; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def purge(ctx, dry_run, as_json):
    """Delete recordings and answer audio past their keep window (each logged), not held."""
    admin = _admin()
    db = ctx.db()

    def progress(items):  # a bar on a terminal; cron's mail gets the summary only
        if not sys.stdout.isatty() or as_json:
            yield from items
            return
        with click.progressbar(items, label="purging", show_pos=True) as bar:
            yield from bar
    try:
        items, kept = admin.purge(ctx.config, ctx.engine().rules, db, dry_run, progress)
    except admin.RetentionError as error:
        raise click.ClickException(str(error))
    files = sum(len(item.files) for item in items)
    verb = "would delete" if dry_run else "deleted"
    data = {"dry_run": dry_run, "calls": len(items), "files": files,
            "bytes": sum(f["size"] for item in items for f in item.files),
            "purged": [{"call": i.call.call_id, "files": i.files,
                        "keep_max_days": i.window.keep_max_days} for i in items],
            "kept": [{"call": c, "why": why} for c, why in kept]}
    _echo(as_json, data, [f"{verb} {files} file(s) of {len(items)} call(s), "
                          f"{data['bytes']:,} bytes"] +
          [f"  kept {call}: {why}" for call, why in kept])


@main.command()
@click.argument("call", required=False)
@click.option("--number", help="Every call with this phone number.")
@click.option("--reason", required=True, help="Why (a case, a claim, a regulator's request).")
@click.option("--until", help="Hold until this date (YYYY-MM-DD); default: until released.")
@click.pass_obj
def hold(ctx, call, number, reason, until):
    """Put a legal hold on calls: purge and erasure keep them until released."""
    admin = _admin()
    calls = _calls(ctx, call, number)
    try:
        admin.hold(ctx.config, ctx.db(), calls, reason, until)
    except admin.RetentionError as error:
        raise BadInput(str(error))
    click.echo(f"held {len(calls)} call(s): {', '.join(calls)}")


@main.command()
@click.argument("call", required=False)
@click.option("--number", help="Every call with this phone number.")
@click.option("--reason", default="hold lifted", show_default=True, help="Why.")
@click.pass_obj
def release(ctx, call, number, reason):
    """Lift a legal hold."""
    released = _admin().release(ctx.config, ctx.db(), _calls(ctx, call, number), reason)
    click.echo(f"released {len(released)} call(s)" +
               (f": {', '.join(released)}" if released else " (none was held)"))


@main.command()
@click.option("--number", required=True, help="The person's phone number.")
@click.option("--dry-run", is_flag=True, help="Say what would be erased; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def erase(ctx, number, dry_run, as_json):
    """Erase a person's recordings, answer audio and personal data (except under hold)."""
    admin = _admin()
    try:
        result = admin.erase(ctx.config, ctx.db(), number, dry_run)
    except admin.RetentionError as error:
        raise BadInput(str(error))
    verb = "would erase" if dry_run else "erased"
    lines = [f"{verb}: {len(result['erased'])} call(s) with {number}"]
    for item in result["erased"]:
        lines.append(f"  {item['call']} of {item['started_at']}: {len(item['files'])} "
                     f"file(s), personal values {', '.join(item['personal_values']) or '-'}")
    for item in result["held"]:
        lines.append(f"  kept {item['call']}: under legal hold ({item['reason']}); GDPR "
                     "Art. 17(3)(b)/(e) lets it be kept")
    lines.append("The consent log keeps that these calls happened and were erased, without "
                 "the number.")
    _echo(as_json, {"dry_run": dry_run, **result}, lines)


@main.command()
@click.argument("call_id", metavar="CALL")
@click.option("--to", "target", required=True, type=click.Path(file_okay=False),
              help="Folder to write the recording, its evidence page and SHA256SUMS into.")
@click.option("--reason", required=True, help="Why it is handed out, and to whom.")
@click.pass_obj
def export(ctx, call_id, target, reason):
    """Hand out one consented recording with its evidence, logged (who, when, why)."""
    from ..admin import evidence
    admin = _admin()
    db = ctx.db()
    try:
        record = evidence.gather(ctx.config, db, call_id)
        written = admin.export(ctx.config, ctx.engine().rules, db, call_id, target, reason,
                               evidence.html(record))
    except (admin.RetentionError, evidence.NoSuchCall) as error:
        raise BadInput(str(error))
    click.echo(f"exported {call_id}: " + ", ".join(written))


@main.command("access-log")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def access_log(ctx, limit, as_json):
    """Exports, holds, releases, erasures, purges and rules changes, newest first."""
    rows = _admin().access_log(ctx.db(), limit)
    if not rows and not as_json:
        click.echo(f"no exports, holds, erasures, purges or rules changes in "
                   f"{ctx.config.database} yet")
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            extra = row.get("reason") or row.get("to") or ""
            click.echo(f"{row['at']}  {row['action']:13} {row['call']}  {row.get('by', '')}  "
                       f"{extra}")


@main.command()
@click.option("--format", "form", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@click.option("--diff", "old_version", metavar="OLD_VERSION",
              help="Instead, what changed in the rules since this archived version.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.pass_obj
def policy(ctx, form, old_version, out):
    """The site's written recording policy, from the effective config and rules."""
    from ..admin import policy as policy_module
    rules = ctx.engine().rules
    if old_version:
        old = ctx.archived_rules(old_version)
        lines = policy_module.diff(old.content, rules) or ["no change"]
        text = "\n".join([f"rules {old.version[:12]} → {rules.version[:12]}", *lines]) + "\n"
    else:
        text = policy_module.html(ctx.config, rules) if form == "html" else \
            policy_module.markdown(ctx.config, rules)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"policy written to {out}")
    else:
        click.echo(text, nl=False)


DAY = click.DateTime(formats=["%Y-%m-%d"])


@main.command()
@click.option("--since", type=DAY, metavar="DATE", help="Calls started on or after "
              "(YYYY-MM-DD).")
@click.option("--until", type=DAY, metavar="DATE", help="Calls started before (YYYY-MM-DD).")
@click.option("--by", type=click.Choice(["region", "day", "trunk", "language"]),
              default="region", show_default=True)
@click.option("--chart", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Also draw the recorded share over time, one line per region.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def report(ctx, since, until, by, chart, as_json):
    """Calls and their outcomes (granted, declined, no-answer, …) with rates."""
    from ..admin import report as report_module
    db = ctx.db()
    since, until = (day.date().isoformat() if day else None for day in (since, until))
    rows = report_module.rows(db, by, since, until)
    if not rows and not as_json:
        click.echo("no calls in the log" + (" for those dates" if since or until else ""))
    for row in rows:
        if as_json:
            click.echo(json.dumps(row))
            continue
        shares = "  ".join(f"{o} {row[o]} ({100 * row[o + '_rate']:.0f}%)"
                           for o in report_module.OUTCOMES if row[o])
        click.echo(f"{row['group']:12} {row['calls']:6} calls  {shares}")
    if chart:
        try:
            series = report_module.chart(db, chart, since, until)
        except report_module.ChartUnavailable as error:
            raise click.ClickException(str(error))
        click.echo(f"chart of {series} region(s) written to {chart}")
