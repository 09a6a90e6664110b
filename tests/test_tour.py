"""docs/tour.md cannot go stale: every ``curl`` and Python snippet runs against a live server.

The tour's fenced ``sh`` blocks that call ``curl`` run in bash (``-euo pipefail``), its
``python`` blocks in this interpreter, in the order of the page, with the variables the tour
asks the reader to export (BASE, TOKEN, KEY, MASKED_KEY) set from a freshly seeded demo. Each
``# → text`` line in a block is output the tour promises: it must appear in what the block
printed. The screenshots are the browser test's (tests/browser/test_tour.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from customers.models import Customer, CustomerId

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "docs" / "tour.md"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
PROMISE = "# → "


@dataclass
class Snippet:
    language: str
    code: str
    line: int

    @property
    def promises(self) -> list[str]:
        return [
            line.strip()[len(PROMISE) :]
            for line in self.code.splitlines()
            if line.strip().startswith(PROMISE)
        ]


def tour_snippets(text: str) -> list[Snippet]:
    """The blocks the test runs: ``sh`` blocks with a ``curl`` call, and ``python`` blocks."""
    out = []
    for match in FENCE.finditer(text):
        language, code = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if (language in {"sh", "bash"} and re.search(r"^\s*curl ", code, re.M)) or (
            language == "python"
        ):
            out.append(Snippet(language, code, line))
    return out


def test_the_parser_finds_every_runnable_block() -> None:
    text = "```sh\n./bin/demo\n```\n```sh\ncurl -s x\n# → ok\n```\n```python\nprint(1)\n```\n"
    found = tour_snippets(text)
    assert [(s.language, s.line) for s in found] == [("sh", 4), ("python", 8)]
    assert found[0].promises == ["ok"]


def run_snippet(snippet: Snippet, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if snippet.language == "python":
        args = [sys.executable, "-c", snippet.code]
    else:
        args = ["bash", "-euo", "pipefail", "-c", snippet.code]
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.django_db(transaction=True)
def test_every_tour_snippet_runs_against_the_demo(live_server: Any) -> None:
    out = io.StringIO()
    call_command("seed_demo", customers=5, json=True, stdout=out)
    demo = json.loads(out.getvalue().strip().splitlines()[-1])
    keys = {k["name"]: f"{k['key_id']}:{k['secret']}" for k in demo["api_keys"]}
    env = {
        **os.environ,
        "BASE": live_server.url,
        "TOKEN": demo["project_token"],
        "KEY": keys["Demo full access"],
        "MASKED_KEY": keys["Demo without personal data"],
    }

    snippets = tour_snippets(TOUR.read_text())
    assert sum(s.language == "sh" for s in snippets) >= 4
    assert sum(s.language == "python" for s in snippets) >= 2
    for snippet in snippets:
        where = f"docs/tour.md:{snippet.line}"
        result = run_snippet(snippet, env)
        assert result.returncode == 0, (where, result.stdout, result.stderr)
        assert snippet.promises, f"{where}: say what the reader will see (# → ...)"
        for promise in snippet.promises:
            assert promise in result.stdout, (where, promise, result.stdout)
        # A key's secret never appears in what the reader is shown.
        assert env["KEY"].split(":")[1] not in result.stdout + result.stderr, where

    # What the snippets did is in the database: tracked, then anonymized through the API.
    assert not CustomerId.objects.filter(value="tour@example.com").exists()
    tour_customer = Customer.objects.get(properties__plan="basic", anonymized_at__isnull=False)
    # The demo's personal attributes are gone; city is not flagged here (the tour's step 1
    # flags it in the browser), so it stays.
    assert tour_customer.properties == {"city": "Brno", "plan": "basic"}
