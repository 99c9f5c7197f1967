#!/usr/bin/env python3
"""Audit the pins of requirements.lock against the vulnerabilities the package index publishes.

Why not pip-audit: its sources (the per-version JSON API and OSV) are not reachable from this project's
machines and CI, so it would skip every package and pass. The one source that is reachable is the index's
project JSON (`<index>/pypi/<name>/json`), whose `vulnerabilities` list is for the project's LATEST release.
So a pin equal to the latest release is audited exactly; an older pin is reported as not audited exactly,
and still fails when a vulnerability of the latest release has no fix, or a fix newer than the pin (that
pin is then affected too). An index that cannot be reached is exit 2, never a pass.

Exit status: 0 clean, 1 vulnerabilities (or a pin the index does not know), 2 the audit could not run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


class AuditError(Exception):
    """The audit cannot run (unreadable lock or ignore file, index unreachable): exit 2."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str


@dataclass(frozen=True)
class Ignore:
    id: str
    reason: str
    package: str | None


@dataclass
class Vulnerability:
    """One advisory, its ids and aliases merged (PyPI lists a PYSEC and a GHSA entry for the same flaw)."""

    ids: list[str]
    fixed_in: list[str]
    summary: str
    link: str

    @property
    def name(self) -> str:
        return " / ".join(self.ids)


@dataclass
class Finding:
    pin: Pin
    vulnerability: Vulnerability
    why: str
    ignored_because: str | None = None


@dataclass
class Project:
    """What the index says about one pinned project."""

    pin: Pin
    latest: str | None = None
    known: bool = True
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    error: str | None = None


def normalize(name: str) -> str:
    """PEP 503 name, as the index's URLs and the ignore file's `package` use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> list[Pin]:
    """Every `name==version` line of the lock; anything else but comments is an error, not skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise AuditError(f"cannot read {path}: {error}") from error
    pins = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match is None:
            raise AuditError(f"{path}:{number}: not a 'name==version' pin: {line!r}")
        pins.append(Pin(normalize(match.group(1)), match.group(2)))
    if not pins:
        raise AuditError(f"{path}: no pins")
    return pins


def read_ignores(path: Path) -> list[Ignore]:
    """The `[[ignore]]` entries; each needs an `id` and a non-empty `reason`, so no advisory is waved through
    silently."""
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuditError(f"cannot read {path}: {error}") from error
    unknown = set(data) - {"ignore"}
    if unknown:
        raise AuditError(f"{path}: unknown keys {sorted(unknown)} (only [[ignore]] entries)")
    entries = data.get("ignore", [])
    if not isinstance(entries, list):
        raise AuditError(f"{path}: 'ignore' must be a list of [[ignore]] tables")
    ignores = []
    for index, entry in enumerate(entries, 1):
        where = f"{path}: [[ignore]] entry {index}"
        if not isinstance(entry, dict):
            raise AuditError(f"{where}: not a table")
        extra = set(entry) - {"id", "reason", "package"}
        if extra:
            raise AuditError(f"{where}: unknown keys {sorted(extra)}")
        ident, reason, package = entry.get("id"), entry.get("reason"), entry.get("package")
        if not isinstance(ident, str) or not ident.strip():
            raise AuditError(f"{where}: needs an 'id' (the advisory id or one of its aliases)")
        if not isinstance(reason, str) or not reason.strip():
            raise AuditError(f"{where} ({ident}): needs a 'reason' saying why it does not affect us")
        if package is not None and not isinstance(package, str):
            raise AuditError(f"{where} ({ident}): 'package' must be a string")
        ignores.append(Ignore(ident.strip(), reason.strip(), normalize(package) if package else None))
    return ignores


def merge_vulnerabilities(entries: list[dict[str, Any]]) -> list[Vulnerability]:
    """Group the index's entries that share an id or alias, and drop withdrawn ones."""
    merged: list[tuple[set[str], Vulnerability]] = []
    for entry in entries:
        if entry.get("withdrawn"):
            continue
        ids = [str(entry["id"]), *(str(alias) for alias in entry.get("aliases") or [])]
        fixed = [str(version) for version in entry.get("fixed_in") or []]
        text = (entry.get("summary") or entry.get("details") or "").strip().splitlines()
        for keys, vulnerability in merged:
            if keys & set(ids):
                keys.update(ids)
                vulnerability.ids += [i for i in ids if i not in vulnerability.ids]
                vulnerability.fixed_in += [v for v in fixed if v not in vulnerability.fixed_in]
                break
        else:
            vulnerability = Vulnerability(ids, fixed, text[0] if text else "", str(entry.get("link") or ""))
            merged.append((set(ids), vulnerability))
    return [vulnerability for _, vulnerability in merged]


def fetch(index_url: str, pin: Pin, timeout: float, retries: int) -> Project:
    """GET the project's JSON, retrying timeouts, connection errors and 5xx; a 404 means the index does not
    know the project."""
    url = f"{index_url.rstrip('/')}/pypi/{pin.name}/json"
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            request = urllib.request.Request(url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                data = json.load(response)
            return Project(pin, str(data["info"]["version"]), True, merge_vulnerabilities(data["vulnerabilities"]))
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return Project(pin, known=False)
            last = f"HTTP {error.code}"
            if error.code < 500:
                break
        except (KeyError, TypeError, ValueError) as error:
            last = f"not the index's JSON API shape ({error!r})"
            break
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
    return Project(pin, error=f"{url}: {last}")


def version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def judge(project: Project) -> list[Finding]:
    """The vulnerabilities that apply to the pin, as far as the latest release's list can tell."""
    pin, latest, exact = project.pin, project.latest, judge_exact(project)
    findings = []
    for vulnerability in project.vulnerabilities:
        if exact:
            findings.append(Finding(pin, vulnerability, "the pinned version is the latest release, listed as affected"))
            continue
        if not vulnerability.fixed_in:
            findings.append(Finding(pin, vulnerability, f"latest {latest} is affected and no release fixes it"))
            continue
        pinned = version(pin.version)
        newer = [v for v in vulnerability.fixed_in if pinned is None or (version(v) or pinned) > pinned]
        if newer:
            findings.append(Finding(pin, vulnerability, f"fixed in {', '.join(newer)}, newer than the pin"))
    return findings


def apply_ignores(findings: list[Finding], ignores: list[Ignore]) -> set[Ignore]:
    """Mark the findings an ignore entry covers; return the entries that were used."""
    used = set()
    for finding in findings:
        for ignore in ignores:
            if ignore.id in finding.vulnerability.ids and ignore.package in (None, finding.pin.name):
                finding.ignored_because = ignore.reason
                used.add(ignore)
                break
    return used


def audit(lock: Path, ignore_file: Path, index_url: str, timeout: float, retries: int, jobs: int) -> int:
    """Run the audit, print its report, and return the exit status."""
    pins = read_lock(lock)
    ignores = read_ignores(ignore_file)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        projects = list(pool.map(lambda pin: fetch(index_url, pin, timeout, retries), pins))

    failed = [p for p in projects if p.error]
    if len(failed) == len(projects):
        raise AuditError(f"the index {index_url} cannot be reached: {failed[0].error}")
    unknown = [p for p in projects if not p.known]
    answered = [p for p in projects if p.known and not p.error]
    below = [p for p in answered if judge_exact(p) is False]
    findings = [finding for project in answered for finding in judge(project)]
    used = apply_ignores(findings, ignores)
    open_findings = [f for f in findings if f.ignored_because is None]

    print(f"Dependency audit of {lock.name} against {index_url} (the vulnerabilities listed for each latest release)")
    if below:
        print(
            f"\nNot audited exactly ({len(below)}): pinned below the latest release, checked against the latest's list"
        )
        for project in below:
            print(f"  {project.pin.name}: pinned {project.pin.version}, latest {project.latest}")
    if unknown:
        print(f"\nUnknown to the index ({len(unknown)}): nothing to audit them against")
        for project in unknown:
            print(f"  {project.pin.name}=={project.pin.version}")
    if failed:
        print(f"\nNot reached ({len(failed)}):")
        for project in failed:
            print(f"  {project.pin.name}: {project.error}")
    for title, group in (("Ignored", [f for f in findings if f.ignored_because]), ("VULNERABLE", open_findings)):
        if group:
            print(f"\n{title} ({len(group)}):")
        for finding in group:
            v = finding.vulnerability
            print(f"  {finding.pin.name}=={finding.pin.version}: {v.name} ({finding.why}) {v.link}")
            if v.summary:
                print(f"    {v.summary[:160]}")
            if finding.ignored_because:
                print(f"    ignored: {finding.ignored_because}")
    for ignore in ignores:
        if ignore not in used:
            print(f"\nNote: ignore entry {ignore.id} matched nothing; remove it from {ignore_file.name}")

    exact = len(answered) - len(below)
    print(
        f"\nSummary: {len(pins)} pins; audited exactly {exact}/{len(pins)}; {len(below)} below the latest release; "
        f"{len(unknown)} unknown to the index; {len(failed)} not reached; "
        f"vulnerabilities: {len(open_findings)} open, {len(findings) - len(open_findings)} ignored"
    )
    if open_findings or unknown:
        print(
            "FAILED: fix the pins above (raise the minimum in pyproject.toml and ./scripts/lock), or add an "
            f"[[ignore]] entry with a reason to {ignore_file.name}"
        )
        return 1
    if failed:
        print("FAILED: the audit is incomplete (some projects could not be fetched)")
        return 2
    print("OK")
    return 0


def judge_exact(project: Project) -> bool:
    """Whether the pin is the latest release (so the index's list is exactly the pin's)."""
    latest = project.latest or ""
    return latest == project.pin.version or (
        version(project.pin.version) is not None and version(project.pin.version) == version(latest)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--ignore-file", type=Path, default=ROOT / ".ci" / "audit-ignore.toml")
    parser.add_argument("--index-url", default="https://pypi.org", help="serves /pypi/<name>/json (%(default)s)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.add_argument("--retries", type=int, default=2, help="extra attempts after a timeout, network error or 5xx")
    parser.add_argument("--jobs", type=int, default=8, help="requests in flight")
    args = parser.parse_args(argv)
    try:
        return audit(args.lock, args.ignore_file, args.index_url, args.timeout, args.retries, args.jobs)
    except AuditError as error:
        print(f"Dependency audit could not run: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
