"""`agi-consent verify`, `key show`, `checkpoint export`, `evidence`: proving the log."""

import json
from pathlib import Path

import click

from . import BadInput, main


def _signer(ctx):
    from ..store.checkpoint import CheckpointError, Signer
    evidence = ctx.config.evidence
    try:
        return Signer(evidence.key_path(ctx.config.database), evidence.origin())
    except (CheckpointError, OSError) as error:
        raise click.ClickException(f"The signing key cannot be used ({error}); check "
                                   "evidence.key_file and its permissions.")


def _verifier(ctx, key):
    """(name, public key) from --key, else from this node's key file when it can be read."""
    from ..store.checkpoint import CheckpointError, parse_verifier
    if key:
        try:
            return parse_verifier(key)
        except CheckpointError as error:
            raise BadInput(f"--key is {error} Give the line 'agi-consent key show' prints.")
    path = Path(ctx.config.evidence.key_path(ctx.config.database))
    if not path.exists():
        return None
    return parse_verifier(_signer(ctx).verifier())


@main.group()
def key():
    """The node's evidence signing key (Ed25519)."""


@key.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def key_show(ctx, as_json):
    """Print the public key that verifies this node's checkpoints (created on first use)."""
    signer = _signer(ctx)
    row = {"name": signer.name, "key_id": signer.key_id.hex(), "verifier": signer.verifier(),
           "file": str(signer.path)}
    if as_json:
        click.echo(json.dumps(row))
        return
    click.echo(signer.verifier())
    click.echo(f"(key {signer.key_id.hex()} of node {signer.name}; private part in "
               f"{signer.path}, owner-only)")


@main.group()
def checkpoint():
    """Signed checkpoints of the evidence chain."""


@checkpoint.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
def checkpoint_export(ctx, file):
    """Sign the log's current head and write that checkpoint to FILE, for an outside anchor."""
    from ..store.checkpoint import Checkpoints
    from ..store.ledger import LogUnavailable, Writer
    ctx.db()
    signer = _signer(ctx)
    try:
        writer = Writer(ctx.config.database, checkpoints=Checkpoints(signer, signer.name))
        writer.checkpoint_now()
        note = writer.connection.execute("SELECT note, size FROM checkpoints ORDER BY size "
                                         "DESC, id DESC LIMIT 1").fetchone()
        writer.close()
    except LogUnavailable as error:
        raise click.ClickException(str(error))
    if note is None:
        raise BadInput("The log is empty: there is nothing to checkpoint yet.")
    Path(file).write_text(note[0])
    click.echo(f"checkpoint of {note[1]} rows written to {file}; keep it where this host "
               "cannot change it, and check it later with 'agi-consent verify --against'")


@main.command()
@click.option("--against", "anchor", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint exported earlier ('checkpoint export'): the log must still "
                   "contain it.")
@click.option("--key", metavar="VERIFIER",
              help="The public key line 'agi-consent key show' printed (default: this "
                   "node's key file).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def verify(ctx, anchor, key, as_json):
    """Check the whole log: chain, checkpoints, personal values, calls; exit 0 only if intact."""
    from ..store import audit
    ctx.db()
    verifier = _verifier(ctx, key)
    report = audit.verify(ctx.config.database, verifier,
                          Path(anchor).read_text() if anchor else None)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "signatures_checked": bool(verifier)}))
    else:
        state = "intact" if report.ok else "NOT INTACT"
        click.echo(f"{state}: {report.rows} rows, {report.calls} calls, {report.checkpoints} "
                   f"checkpoints (latest covers {report.latest_checkpoint} rows)"
                   f"{'' if verifier else ', signatures not checked (no key)'}"
                   f"{f', {report.erased} personal values erased' if report.erased else ''}")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    if not report.ok:
        raise SystemExit(1)


@main.command()
@click.argument("call_id", metavar="CALL")
@click.option("--format", "form", type=click.Choice(["json", "html"]), default="json",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.pass_obj
def evidence(ctx, call_id, form, out):
    """One call's evidence, self-contained: JSON, or an HTML page a person can read."""
    from ..admin import evidence as evidence_module
    try:
        record = evidence_module.gather(ctx.config, ctx.db(), call_id,
                                        _verifier(ctx, None))
    except evidence_module.NoSuchCall as error:
        raise BadInput(str(error))
    text = evidence_module.html(record) if form == "html" else \
        json.dumps(record, ensure_ascii=False, indent=1)
    if out:
        Path(out).write_text(text)
        click.echo(f"evidence of call {call_id} written to {out}")
    else:
        click.echo(text)
