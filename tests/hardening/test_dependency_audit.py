"""scripts/audit_dependencies.py can fail: it is run as CI runs it (a subprocess) against a real HTTP server on
127.0.0.1 that speaks the package index's JSON API (`/pypi/<name>/json`: info.version, releases and the
vulnerabilities of the latest release), with a small lock file and ignore file in tmp.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"


def vulnerability(ident: str, fixed_in: list[str], *aliases: str) -> dict[str, Any]:
    """One entry as the index lists it (OSV fields)."""
    return {
        "id": ident,
        "aliases": list(aliases),
        "fixed_in": fixed_in,
        "summary": None,
        "details": f"{ident}: something bad.",
        "link": f"https://osv.dev/vulnerability/{ident}",
        "source": "osv",
        "withdrawn": None,
    }


@dataclass
class FakeIndex:
    """Projects by normalized name: (latest version, its vulnerabilities); `flaky` answers 503 first."""

    url: str = ""
    projects: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    flaky: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)

    async def project(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append(name)
        if name in self.flaky:
            self.flaky.discard(name)
            return web.Response(status=503, text="try again")
        if name not in self.projects:
            return web.json_response({"message": "Not Found"}, status=404)
        latest, vulnerabilities = self.projects[name]
        releases = {version: [] for version in ("0.9", "1.0", "1.5", "2.0", latest)}
        return web.json_response(
            {"info": {"name": name, "version": latest}, "releases": releases, "vulnerabilities": vulnerabilities}
        )


@pytest.fixture
async def index() -> AsyncIterator[FakeIndex]:
    fake = FakeIndex()
    app = web.Application()
    app.router.add_get("/pypi/{name}/json", fake.project)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def run_audit(tmp_path: Path, index_url: str, lock: str, ignore: str | None = None) -> tuple[int, str]:
    """Run the script on a lock (and ignore file) written to tmp; return its exit status and output."""
    (tmp_path / "requirements.lock").write_text(lock)
    args = ["--lock", str(tmp_path / "requirements.lock"), "--ignore-file", str(tmp_path / "audit-ignore.toml")]
    if ignore is not None:
        (tmp_path / "audit-ignore.toml").write_text(ignore)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        *args,
        "--index-url",
        index_url,
        "--timeout",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


LOCK = "# a lock\nclean-lib==2.0\nSome_Vulnerable.Lib==1.5\n"


async def test_a_vulnerable_latest_pin_fails(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {
        "clean-lib": ("2.0", []),
        "some-vulnerable-lib": ("1.5", [vulnerability("PYSEC-2099-1", [], "GHSA-aaaa-bbbb-cccc")]),
    }
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 1, output
    assert "some-vulnerable-lib==1.5: PYSEC-2099-1 / GHSA-aaaa-bbbb-cccc" in output
    assert "audited exactly 2/2" in output
    assert "vulnerabilities: 1 open, 0 ignored" in output
    assert sorted(index.requests) == ["clean-lib", "some-vulnerable-lib"]  # the name normalized for the URL


async def test_a_clean_lock_passes(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {"clean-lib": ("2.0", []), "some-vulnerable-lib": ("1.5", [])}
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 0, output
    assert "audited exactly 2/2" in output
    assert "vulnerabilities: 0 open, 0 ignored" in output
    assert output.rstrip().endswith("OK")


async def test_an_ignore_entry_needs_a_reason(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {
        "clean-lib": ("2.0", []),
        "some-vulnerable-lib": ("1.5", [vulnerability("PYSEC-2099-1", [], "GHSA-aaaa-bbbb-cccc")]),
    }
    reasoned = '[[ignore]]\nid = "GHSA-aaaa-bbbb-cccc"\npackage = "some-vulnerable-lib"\nreason = "we never call it"\n'
    status, output = await run_audit(tmp_path, index.url, LOCK, reasoned)
    assert status == 0, output
    assert "ignored: we never call it" in output
    assert "vulnerabilities: 0 open, 1 ignored" in output

    for_another_package = reasoned.replace('package = "some-vulnerable-lib"', 'package = "clean-lib"')
    status, output = await run_audit(tmp_path, index.url, LOCK, for_another_package)
    assert status == 1, output

    for entry in ('[[ignore]]\nid = "PYSEC-2099-1"\n', '[[ignore]]\nid = "PYSEC-2099-1"\nreason = "  "\n'):
        status, output = await run_audit(tmp_path, index.url, LOCK, entry)
        assert status == 2, output
        assert "needs a 'reason'" in output


async def test_an_older_pin_fails_when_the_latest_release_has_no_fix(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {"clean-lib": ("2.0", []), "some-vulnerable-lib": ("2.0", [vulnerability("PYSEC-2099-2", [])])}
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 1, output
    assert "some-vulnerable-lib==1.5: PYSEC-2099-2 (latest 2.0 is affected and no release fixes it)" in output
    assert "some-vulnerable-lib: pinned 1.5, latest 2.0" in output


async def test_an_older_pin_fails_when_the_fix_is_newer_than_it(index: FakeIndex, tmp_path: Path) -> None:
    # Two branches fixed: 1.4.2 is older than the pin but 1.6 is newer, so 1.5 may be affected.
    index.projects = {
        "clean-lib": ("2.0", []),
        "some-vulnerable-lib": ("2.0", [vulnerability("PYSEC-2099-3", ["1.4.2", "1.6"])]),
    }
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 1, output
    assert "PYSEC-2099-3 (fixed in 1.6, newer than the pin)" in output


async def test_an_older_pin_past_the_fix_passes_but_is_not_audited_exactly(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {
        "clean-lib": ("2.0", []),
        "some-vulnerable-lib": ("2.0", [vulnerability("PYSEC-2099-4", ["1.0"])]),
    }
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 0, output
    assert "Not audited exactly (1)" in output
    assert "some-vulnerable-lib: pinned 1.5, latest 2.0" in output
    assert "audited exactly 1/2; 1 below the latest release" in output


async def test_a_project_the_index_does_not_know_fails(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {"clean-lib": ("2.0", [])}
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 1, output
    assert "Unknown to the index (1)" in output
    assert "some-vulnerable-lib==1.5" in output


async def test_a_server_error_is_retried(index: FakeIndex, tmp_path: Path) -> None:
    index.projects = {"clean-lib": ("2.0", []), "some-vulnerable-lib": ("1.5", [])}
    index.flaky = {"clean-lib"}
    status, output = await run_audit(tmp_path, index.url, LOCK)
    assert status == 0, output
    assert index.requests.count("clean-lib") == 2


async def test_an_unreachable_index_is_not_a_pass(tmp_path: Path) -> None:
    with socket.socket() as listener:  # a port nobody listens on once this socket closes
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    status, output = await run_audit(tmp_path, f"http://127.0.0.1:{port}", LOCK)
    assert status == 2, output
    assert "could not run: the index" in output
    assert "cannot be reached" in output
