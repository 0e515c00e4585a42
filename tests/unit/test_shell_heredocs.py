"""No shell script of the project runs a command from inside an unquoted heredoc.

An unquoted heredoc (<<EOF) expands $VAR, `cmd` and $(cmd) while the file is written: a comment
in up.sh quoting `openstack aggregate zone-map` ran that command against whatever cloud OS_CLOUD
named. Variables are what such heredocs are for; commands belong outside (shellcheck flags only
the backtick form, and only as a style note).
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPEN = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


def scripts() -> list[Path]:
    found = [p for d in ("osc_netpath", "tools", "tests", ".ci") for p in (ROOT / d).rglob("*.sh")]
    return sorted(found + [ROOT / ".ci" / "run"])


def commands_in_unquoted_heredocs(text: str) -> list[tuple[int, str]]:
    hits, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = OPEN.search(lines[i])
        i += 1
        if not m:
            continue
        dash, quote, word = m.groups()
        while i < len(lines) and (lines[i].lstrip("\t") if dash else lines[i]) != word:
            if not quote and re.search(r"`|\$\(", lines[i]):
                hits.append((i + 1, lines[i]))
            i += 1
        i += 1
    return hits


def test_the_check_sees_a_command_in_an_unquoted_heredoc() -> None:
    body = "cat <<EOF\n# see `openstack x`\nv = $(date)\nEOF\ncat <<'EOF'\n`ok`\nEOF\n"
    assert [n for n, _ in commands_in_unquoted_heredocs(body)] == [2, 3]


def test_no_script_runs_a_command_inside_an_unquoted_heredoc() -> None:
    found = {str(p.relative_to(ROOT)): commands_in_unquoted_heredocs(p.read_text())
             for p in scripts()}
    assert {k: v for k, v in found.items() if v} == {}
