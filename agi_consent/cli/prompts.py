"""`agi-consent prompts`: import, list, check, install."""

import json

import click

from . import BadInput, main


@main.group()
def prompts():
    """Import, list, check and install the disclosure prompts."""


def _prompt_admin():
    from ..admin import prompts as prompt_admin
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
