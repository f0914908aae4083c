"""`agi-consent serve` refuses to start, with one sentence and exit 2, when a call could only
fail; `serve --check` runs the same checks alone."""

from click.testing import CliRunner

from agi_consent.cli import main


def serve_check(config_file):
    return CliRunner().invoke(main, ["--config", str(config_file), "serve", "--check"])


def write_config(tmp_path, prompt_dir, **paths):
    values = {"database": str(tmp_path / "log" / "consent.db"),
              "recording": str(tmp_path / "spool"), "prompts": str(prompt_dir), **paths}
    path = tmp_path / "site.toml"
    path.write_text(f'database = "{values["database"]}"\n'
                    f'[recording]\ndirectory = "{values["recording"]}"\n'
                    f'[prompts]\ndirectory = "{values["prompts"]}"\nlanguages = ["en", "fr"]\n')
    return path


def test_ready_site_passes(tmp_path, prompt_dir):
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool").chmod(0o2770)  # as the install section makes it
    result = serve_check(write_config(tmp_path, prompt_dir))
    assert result.exit_code == 0 and result.output.startswith("preflight ok")


def test_missing_prompts_refuse(tmp_path, prompt_dir):
    (prompt_dir / "fr" / "notice.wav").unlink()
    result = serve_check(write_config(tmp_path, prompt_dir))
    assert result.exit_code == 2
    assert "Not starting" in result.output and "prompt problem" in result.output
    assert "Traceback" not in result.output


def test_unwritable_database_folder_refuses(tmp_path, prompt_dir):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # even root cannot create a folder inside a file
    result = serve_check(write_config(tmp_path, prompt_dir,
                                      database=str(blocker / "consent.db")))
    assert result.exit_code == 2 and "consent log" in result.output


def test_unusable_recording_folder_refuses(tmp_path, prompt_dir):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = serve_check(write_config(tmp_path, prompt_dir, recording=str(blocker / "spool")))
    assert result.exit_code == 2 and "recording folder" in result.output


def test_bad_config_refuses(tmp_path, prompt_dir):
    path = write_config(tmp_path, prompt_dir)
    path.write_text(path.read_text() + "[flow]\nattempts = 0\n")
    result = serve_check(path)
    assert result.exit_code == 2 and "flow.attempts" in result.output


def test_prompts_out_of_sight_are_a_warning_not_a_refusal(tmp_path, prompt_dir):
    path = write_config(tmp_path, prompt_dir, prompts="/nowhere/agi-consent/prompts")
    result = CliRunner().invoke(main, ["--config", str(path), "serve", "--check"])
    assert result.exit_code == 0 and "not visible from this host" in result.output


def test_an_ami_secret_others_can_read_refuses(tmp_path, prompt_dir):
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    path = write_config(tmp_path, prompt_dir)
    path.write_text(path.read_text() + f'[ami]\nhost = "127.0.0.1"\nsecret_file = "{secret}"\n')
    result = serve_check(path)
    assert result.exit_code == 2 and "readable by others" in result.output
    assert "chmod 600" in result.output and "s3cret" not in result.output
    secret.chmod(0o600)
    assert serve_check(path).exit_code == 0


def test_ami_without_a_secret_file_is_bad_config(tmp_path, prompt_dir):
    path = write_config(tmp_path, prompt_dir)
    path.write_text(path.read_text() + '[ami]\nhost = "127.0.0.1"\n')
    result = serve_check(path)
    assert result.exit_code == 2 and "secret_file" in result.output


def test_a_recording_folder_asterisk_may_not_write_is_a_warning(tmp_path, prompt_dir):
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    spool.chmod(0o700)
    path = write_config(tmp_path, prompt_dir)
    assert "not group-writable" not in serve_check(path).output  # keys only: nothing to write
    path.write_text(path.read_text() + "[speech]\nenabled = true\n")
    result = serve_check(path)
    assert result.exit_code == 0, result.output
    assert "not group-writable" in result.output and "keypad" in result.output
    spool.chmod(0o2770)
    assert "not group-writable" not in serve_check(write_config(tmp_path, prompt_dir)).output


def test_a_default_language_without_prompts_refuses(tmp_path, prompt_dir):
    """Callers whose language is not chosen hear prompts.language: it is checked too."""
    (tmp_path / "spool").mkdir()
    path = write_config(tmp_path, prompt_dir)
    path.write_text(path.read_text().replace('languages = ["en", "fr"]',
                                             'language = "it"\nlanguages = ["en", "fr"]'))
    result = serve_check(path)
    assert result.exit_code == 2 and "it/" in result.output, result.output


def test_a_whisper_folder_without_weights_is_a_warning(tmp_path, prompt_dir):
    (tmp_path / "spool").mkdir()
    path = write_config(tmp_path, prompt_dir)
    path.write_text(path.read_text() + "[speech]\nenabled = true\n"
                    f'whisper_model = "{tmp_path / "none"}"\n')
    result = serve_check(path)
    assert result.exit_code == 0 and "has no model.bin" in result.output, result.output
    assert "answer by key" in result.output
