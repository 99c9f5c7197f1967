"""The embedded language model: a verified GGUF served by llama.cpp in a child process.

`LocalLlmServer` joins and verifies the model parts (`personas/gguf_parts.py`, in a thread), starts
`personas/llama_process.py` (why a process: see its docstring), waits for its ready line and gives
the OpenAI-compatible endpoint to `OpenAiLanguageModel`, so local and cloud replies share one code
path. The server listens on 127.0.0.1 on an OS-chosen port and requires a random per-start API key:
llama.cpp otherwise answers anyone on the machine, with CORS open.

If the child dies (a llama.cpp crash, the OOM killer), it is restarted on the same port with the same
key, so the clients pointed at it need no change; repeated failures back off (1, 2, 5, 10, 30 s). Until
it is back, requests fail fast and each call says its fallback line and goes on.

Use it as an async context manager, e.g. in an aiohttp cleanup context:

    async with LocalLlmServer(settings) as server:
        llm = OpenAiLanguageModel(server.client_settings(request_settings))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from media.engine import Engine
from personas import llama_process
from personas.gguf_parts import KNOWN_MODELS, LocalModelError, ensure_joined, find_parts
from personas.llm import OpenAiLlmSettings

_log = logging.getLogger(__name__)
_LOG_TAIL_BYTES = 2000
_RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class LocalLlmSettings:
    """`context_tokens` is per call slot; llama.cpp splits one KV cache across `parallel_slots`."""

    model: str  # a key of gguf_parts.KNOWN_MODELS
    data_dir: Path  # the joined model goes to <data_dir>/models, the server log to <data_dir>/logs
    threads: int
    context_tokens: int
    parallel_slots: int
    cache_ram_mib: int
    start_timeout_s: float
    stop_timeout_s: float


@dataclass(frozen=True)
class StartTimings:
    """Measured once per start, for logs and the benchmark."""

    prepare_s: float  # find parts, join/verify or trust the sidecar
    load_s: float  # child start to ready line (import, model load, warmup)


class LocalLlmServer(Engine):
    """Owns the llama.cpp child process: start once, stop in `aclose` (idempotent)."""

    def __init__(self, settings: LocalLlmSettings) -> None:
        if settings.model not in KNOWN_MODELS:
            known = ", ".join(sorted(KNOWN_MODELS))
            raise LocalModelError(f"unknown local model {settings.model!r}; known: {known}")
        self._settings = settings
        self._parts = KNOWN_MODELS[settings.model]
        self._api_key = secrets.token_urlsafe(24)
        self._process: asyncio.subprocess.Process | None = None
        self._base_url: str | None = None
        self._model_path: Path | None = None
        self._port = 0
        self._closing = False
        self._watcher: asyncio.Task[None] | None = None
        self.timings: StartTimings | None = None
        self.restarts = 0

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the shape `AsyncOpenAI(base_url=...)` expects."""
        if self._base_url is None:
            raise LocalModelError("local LLM server is not running: call start() first")
        return self._base_url

    @property
    def model_name(self) -> str:
        return self._parts.name

    def client_settings(self, request: OpenAiLlmSettings) -> OpenAiLlmSettings:
        """Point request settings (temperature, max_tokens, timeouts) at this server."""
        return dataclasses.replace(
            request,
            base_url=self.base_url,
            api_key=self._api_key,
            model=self._parts.name,
            reuse_connections=False,  # see OpenAiLlmSettings: llama.cpp drops reused connections
        )

    @property
    def pid(self) -> int | None:
        """The child's process id (tests kill it to prove the restart)."""
        return None if self._process is None else self._process.pid

    async def start(self) -> None:
        if self._process is not None:
            raise LocalModelError("local LLM server already started")
        started = time.perf_counter()
        self._model_path = await asyncio.to_thread(self._prepare_model)
        prepared = time.perf_counter()
        await self._launch()
        self.timings = StartTimings(prepare_s=prepared - started, load_s=time.perf_counter() - prepared)
        _log.info(
            "local LLM %s ready at %s (prepare %.2f s, load %.2f s)",
            self._parts.name,
            self._base_url,
            self.timings.prepare_s,
            self.timings.load_s,
        )
        self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="local-llm-watch")

    async def _launch(self) -> None:
        """Start the child (on `self._port`, 0 the first time) and wait for its ready line."""
        log_path = self._settings.data_dir / "logs" / "llama_server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "model_path": str(self._model_path),
            "threads": self._settings.threads,
            "context_tokens": self._settings.context_tokens,
            "parallel_slots": self._settings.parallel_slots,
            "cache_ram_mib": self._settings.cache_ram_mib,
            "api_key": self._api_key,
            "port": self._port,
        }
        with log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-I",  # isolated: personas/ must not shadow modules that xllamacpp imports
                llama_process.__file__,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                # Its own process group, so a terminal Ctrl-C reaches us and we stop it in order; not its own
                # session: Linux's autogroup scheduler would then share the CPU per session, and on two busy
                # cores llama.cpp's two threads, which wait on each other every layer, collapse (measured:
                # 49 -> 0.7 tokens/s with one other busy process; 15 in our session).
                process_group=0,
            )
        try:
            address = await self._await_ready(config, log_path)
        except BaseException:
            await self._stop_process()
            raise
        self._base_url = address.rstrip("/") + "/v1"
        self._port = int(address.rstrip("/").rsplit(":", 1)[1])

    async def _watch(self) -> None:
        """Restart the child whenever it exits on its own, backing off while restarts keep failing."""
        failures = 0
        while not self._closing:
            process = self._process
            if process is not None:
                code = await process.wait()
                if self._closing:
                    return
                _log.error("local LLM server exited unexpectedly (code %s): restarting it", code)
                await self._stop_process()  # already gone: this closes its pipes
            try:
                await self._launch()
            except (LocalModelError, OSError) as exc:
                delay = _RESTART_BACKOFF_S[min(failures, len(_RESTART_BACKOFF_S) - 1)]
                failures += 1
                _log.error("local LLM server restart failed (%s); next try in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.restarts += 1
            _log.info("local LLM server restarted at %s (restart %d)", self._base_url, self.restarts)

    async def aclose(self) -> None:
        """Stop restarting, then stop the child."""
        self._closing = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await self._stop_process()
        self._base_url = None

    async def _stop_process(self) -> None:
        """Close the child's stdin (its stop signal), then escalate only if it ignores it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            async with asyncio.timeout(self._settings.stop_timeout_s):
                await process.wait()
        except TimeoutError:
            _log.warning("local LLM server did not stop in %.1f s: killing it", self._settings.stop_timeout_s)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    def _prepare_model(self) -> Path:
        """Blocking: runs in a worker thread so hashing never stalls the event loop."""
        part_files = find_parts(self._parts)
        return ensure_joined(self._parts, part_files, self._settings.data_dir / "models")

    async def _await_ready(self, config: dict[str, object], log_path: Path) -> str:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        process.stdin.write((json.dumps(config) + "\n").encode())
        await process.stdin.drain()
        try:
            async with asyncio.timeout(self._settings.start_timeout_s):
                line = await process.stdout.readline()
        except TimeoutError:
            raise LocalModelError(
                f"local LLM server not ready after {self._settings.start_timeout_s:.0f} s; "
                f"log {log_path}: {_tail(log_path)}"
            ) from None
        try:
            return str(json.loads(line)["address"])
        except (ValueError, KeyError, TypeError):
            raise LocalModelError(
                f"local LLM server exited before serving (model {config['model_path']}); "
                f"log {log_path}: {_tail(log_path)}"
            ) from None


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            data = log.read()
    except OSError:
        return "(no log)"
    return data.decode(errors="replace").strip()
