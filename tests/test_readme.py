"""The README's commands run as written on a fresh clone: no activated venv assumed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from casualty_models.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [" ".join(x.split()) for x in lines if x.strip() and not x.startswith("#")]


def test_every_command_uses_the_venv_it_installed():
    cmds = _commands()
    assert len(cmds) >= 10
    for cmd in cmds:
        for part in re.split(r"&&|;", cmd):
            prog = part.split()[0]
            # python3 makes the venv; everything after it runs from .venv/bin/
            assert prog == "python3" or prog.startswith(".venv/bin/"), cmd


def test_every_cli_command_parses():
    parser = build_parser()
    cli = [c for c in _commands() if c.startswith(".venv/bin/casualty-models ")]
    assert len(cli) >= 8
    for cmd in cli:
        args = parser.parse_args(shlex.split(cmd)[1:])  # argparse exits on a bad option
        assert callable(args.func), cmd
