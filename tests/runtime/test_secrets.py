"""Issue 11, item 5: secrets are redacted by name and by value shape, and Sweep(env=) secrets never reach disk."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from orchestra.redact import REDACTED, redact_env, redact_value, secret_name
from tests.helpers import orchestra
from tests.runtime.harness import prepare_sweep, run, write_run_config
from tests.runtime.test_entry import sweep_source

# The issue's examples, with values of the shape each service really uses.
ISSUE_EXAMPLES = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D/abcdefghijklmnopqrstuvwx",
    "AZURE_STORAGE_CONNECTION_STRING": (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0==;"
        "EndpointSuffix=core.windows.net"
    ),
    "SENTRY_DSN": "https://0123456789abcdef0123456789abcdef@o123456.ingest.sentry.io/4505",
    "CI_JOB_JWT": "eyJhbGciOiJSUzI1NiJ9.eyJuYW1lc3BhY2VfaWQiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
    "GH_PAT": "ghp_0123456789abcdefghijABCDEFGHIJ012345",
}
# Secrets under names that give nothing away: only their shape can tell.
BY_SHAPE = {
    "AWS_ID": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_OAUTH": "gho_0123456789abcdefghijABCDEFGHIJ012345",
    "FINE_GRAINED": "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123",
    "SLACK_BOT": "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "GITLAB": "glpat-AbCdEf0123456789xYz_",
    "OPENAI": "sk-proj-AbCdEf0123456789AbCdEf0123456789",
    "STRIPE": "sk_live_0123456789AbCdEfGhIj",
    "GOOGLE": "AIzaSyA0123456789abcdefghijklmnopqrstuv",
    "HUGGINGFACE": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567",
    "NOTES": "clone with https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/org/repo",
    "BLOB_URL": "https://acct.blob.core.windows.net/c/f?sv=2021-08-06&se=2030-01-01&sig=AbC%2FdEf%3D",
    "DB": "postgres://me:hunter2@db.example.com:5432/x",
}
PLAIN = {
    "HOME": "/home/me",
    "PWD": "/home/me/proj",
    "TOKENIZERS_PARALLELISM": "false",
    "PATH": "/usr/local/bin:/usr/bin",
    "LS_COLORS": "rs=0:di=01;34:ln=01;36",
    "HTTP_PROXY": "http://proxy.example.com:3128",
    "GIT_REMOTE": "ssh://git@github.com/org/repo.git",
}


@pytest.mark.parametrize("name", sorted(ISSUE_EXAMPLES))
def test_the_issues_examples_are_redacted(name: str) -> None:
    out = redact_env({name: ISSUE_EXAMPLES[name]})[name]
    assert out == REDACTED  # by name
    assert redact_value(ISSUE_EXAMPLES[name]) != ISSUE_EXAMPLES[name]  # and by shape alone


@pytest.mark.parametrize("name", sorted(BY_SHAPE))
def test_secrets_of_a_known_shape_are_redacted_under_any_name(name: str) -> None:
    value = BY_SHAPE[name]
    out = redact_env({name: value})[name]
    assert REDACTED in out
    secret_part = {"NOTES": "ghp_0123", "BLOB_URL": "AbC%2FdEf", "DB": "hunter2"}.get(name, value)
    assert secret_part not in out


def test_what_is_around_a_credential_stays_readable() -> None:
    assert redact_value(BY_SHAPE["DB"]) == f"postgres://me:{REDACTED}@db.example.com:5432/x"
    assert redact_value(BY_SHAPE["BLOB_URL"]).endswith(f"&sig={REDACTED}")
    assert redact_value(ISSUE_EXAMPLES["AZURE_STORAGE_CONNECTION_STRING"]) == (
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={REDACTED};EndpointSuffix=core.windows.net"
    )
    assert redact_value(ISSUE_EXAMPLES["SENTRY_DSN"]) == f"https://{REDACTED}@o123456.ingest.sentry.io/4505"


def test_ordinary_settings_are_left_alone() -> None:
    assert redact_env(PLAIN) == PLAIN
    assert not secret_name("TOKENIZERS_PARALLELISM") and not secret_name("PWD")
    assert secret_name("WANDB_API_KEY") and secret_name("db-password") and secret_name("GH_PAT")


def test_metadata_json_holds_none_of_them(tmp_path: Path) -> None:
    sweep = prepare_sweep(tmp_path, sweep_source("def train():\n    pass\n"))
    fin = run(write_run_config(sweep), extra_env={**ISSUE_EXAMPLES, **BY_SHAPE, **PLAIN})
    assert fin.code == 0, fin.log
    text = fin.run.metadata.read_text()
    for value in [*ISSUE_EXAMPLES.values(), "AKIAIOSFODNN7EXAMPLE", "hunter2", "ghp_0123456789", "AbC%2FdEf"]:
        assert value not in text
    env = fin.metadata["env"]
    assert all(env[name] == REDACTED for name in ISSUE_EXAMPLES)
    assert env["TOKENIZERS_PARALLELISM"] == "false" and env["HTTP_PROXY"] == PLAIN["HTTP_PROXY"]


SECRET = "c29tZSByZWFsIHNlY3JldCB2YWx1ZQ-0123456789"

ENV_SWEEP = """
import hashlib, os
from orchestra import Config, Sweep

def train():
    got = os.environ.get("COMET_API_KEY", "")
    return {{"comet": hashlib.sha256(got.encode()).hexdigest(), "plain": os.environ.get("PLAIN_SETTING")}}

sweep = Sweep(train, Config({{}}), env={env})
"""


def everything_under(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_sweep_env_secrets_are_recorded_by_name_and_given_to_the_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMET_API_KEY", SECRET)
    source = ENV_SWEEP.format(env='{"COMET_API_KEY": os.environ["COMET_API_KEY"], "PLAIN_SETTING": "1"}')
    sweep = prepare_sweep(tmp_path, source)
    settings = sweep.rec.record["settings"]
    assert settings["env"] == {"PLAIN_SETTING": "1"} and settings["env_from_launch"] == ["COMET_API_KEY"]
    fin = run(write_run_config(sweep), extra_env={"COMET_API_KEY": SECRET, "PLAIN_SETTING": "1"})
    assert fin.code == 0, fin.log
    import hashlib

    assert fin.result["return"] == {"comet": hashlib.sha256(SECRET.encode()).hexdigest(), "plain": "1"}
    assert SECRET.encode() not in everything_under(sweep.dir.path)


def test_up_takes_a_sweep_env_secret_from_its_environment_and_writes_it_nowhere(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(textwrap.dedent(ENV_SWEEP.format(env='["COMET_API_KEY"]')))
    out = orchestra("up", "sweep.py", "--headless", cwd=tmp_path, env={"COMET_API_KEY": SECRET})
    assert out.returncode == 0, out.stdout + out.stderr
    result = (tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0" / "result.json").read_text()
    import hashlib

    assert hashlib.sha256(SECRET.encode()).hexdigest() in result  # the run got the value
    assert SECRET.encode() not in everything_under(tmp_path / "sweeps")  # and it is on disk nowhere


def test_up_without_the_secret_in_its_environment_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "sweep.py").write_text(textwrap.dedent(ENV_SWEEP.format(env='{"COMET_API_KEY": None}')))
    env = {k: v for k, v in os.environ.items() if k != "COMET_API_KEY"}
    out = orchestra("up", "sweep.py", "--headless", cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "COMET_API_KEY" in line and "export COMET_API_KEY" in line
    assert not (tmp_path / "sweeps").exists()


def test_a_secret_written_into_the_sweep_file_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    literal = '{"WANDB_API_KEY": "0123456789abcdef0123456789abcdef01234567"}'
    (tmp_path / "sweep.py").write_text(textwrap.dedent(ENV_SWEEP.format(env=literal)))
    out = orchestra("up", "sweep.py", "--headless", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "WANDB_API_KEY" in line and "looks like a secret" in line and "None" in line
    assert not (tmp_path / "sweeps").exists()


FAIL_ONCE = """
import hashlib, os
from orchestra import Config, Sweep

def train():
    if not os.path.exists("failed-once"):
        open("failed-once", "w").close()
        raise RuntimeError("first attempt fails")
    return hashlib.sha256(os.environ["COMET_API_KEY"].encode()).hexdigest()

sweep = Sweep(train, Config({}), env=["COMET_API_KEY"])
"""


def test_up_of_a_sweep_directory_takes_its_recorded_secrets_from_the_environment_again(
    tmp_path: Path,
) -> None:
    import hashlib

    (tmp_path / "sweep.py").write_text(textwrap.dedent(FAIL_ONCE))
    assert (
        orchestra("up", "sweep.py", "--headless", cwd=tmp_path, env={"COMET_API_KEY": SECRET}).returncode == 1
    )
    (tmp_path / "sweep.py").unlink()  # run again from the directory alone, the secret from this environment
    env = {k: v for k, v in os.environ.items() if k != "COMET_API_KEY"}
    out = orchestra("up", "sweeps/sweep", "--headless", "--retry-failed", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "export COMET_API_KEY" in out.stderr, out.stdout + out.stderr
    other = "another-secret-value-0123456789abcdef"
    out = orchestra(
        "up", "sweeps/sweep", "--headless", "--retry-failed", cwd=tmp_path, env={"COMET_API_KEY": other}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    result = (tmp_path / "sweeps" / "sweep" / "runs" / "default" / "0" / "result.json").read_text()
    assert hashlib.sha256(other.encode()).hexdigest() in result
    assert SECRET.encode() not in everything_under(tmp_path / "sweeps")
    assert other.encode() not in everything_under(tmp_path / "sweeps")
