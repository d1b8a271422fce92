"""`syncd completion bash|zsh`: scripts the shells accept, that complete syncd's own commands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env, run_syncd

pytestmark = pytest.mark.acceptance


def _script(shell: str, tmp_path: Path) -> Path:
    # Settings play no part: even a bad one does not stop the script from being printed.
    result = run_syncd("completion", shell, env=clean_env({"SYNCD_LOG_FORMAT": "xml"}, home=tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    path = tmp_path / f"syncd.{shell}"
    path.write_text(result.stdout)
    return path


def _bash_complete(script: Path, line: str) -> list[str]:
    """What bash offers for `line` (its last word), through the function the script registers."""
    words = line.split(" ")
    program = f"""
source {script}
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=({" ".join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}
fn=$(complete -p syncd | sed -E 's/.* -F ([^ ]+) .*/\\1/')
"$fn" syncd {words[-1]!r} {words[-2]!r}
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [word for word in result.stdout.split("\n") if word]


def test_bash_completes_commands_kinds_and_options(tmp_path: Path) -> None:
    script = _script("bash", tmp_path)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    commands = _bash_complete(script, "syncd ")
    assert {"sync", "status", "intent", "intents", "completion", "db"} <= set(commands)
    assert _bash_complete(script, "syncd st") == ["status"]
    assert _bash_complete(script, "syncd intent n") == ["notes", "no-show"]
    assert _bash_complete(script, "syncd intent reschedule 5 --al") == ["--allow-past"]
    assert _bash_complete(script, "syncd status --j") == ["--json"]
    assert _bash_complete(script, "syncd completion ") == ["bash", "zsh"]


def test_zsh_script(tmp_path: Path) -> None:
    script = _script("zsh", tmp_path)
    assert script.read_text().startswith("#compdef syncd")
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed: its syntax check needs it")
    syntax = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_an_unknown_shell_is_bad_usage() -> None:
    result = run_syncd("completion", "fish")
    assert result.returncode == 2
    assert "invalid choice: 'fish'" in result.stderr


def test_completion_costs_start_up_nothing() -> None:
    # A static script: nothing of the completion library is loaded when syncd parses its arguments.
    probe = (
        "import sys\nfrom syncd.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('shtab' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert result.stderr.strip() == "False", result.stderr
