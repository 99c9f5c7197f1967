"""Child-process entry point that hosts llama.cpp's OpenAI-compatible server (xllamacpp).

Why a process and not a thread: `xllamacpp.Server(params)` loads the model while holding the GIL
(measured: a 10 ms ticker thread stalled for the whole 1.06 s load), so even `asyncio.to_thread`
would freeze the event loop and every call on it. A child process also keeps a llama.cpp crash
from taking the orchestrator down.

Protocol with the parent (`personas/local_llm.py`), deliberately tiny:
  stdin   one JSON line of settings (model path, threads, context, API key, port), then nothing;
          end of file means "stop" (so the server also dies with its parent).
  stdout  one JSON line once serving: {"address": "http://127.0.0.1:PORT"}; nothing else, because
          fd 1 is pointed at stderr before llama.cpp starts logging.
  stderr  llama.cpp's log (the parent sends it to a file).

This file imports only the standard library and xllamacpp, and is run by path, so it needs no
installed `personas` package.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _params(config: dict[str, Any]) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.n_ctx = int(config["context_tokens"]) * int(config["parallel_slots"])
    params.n_parallel = int(config["parallel_slots"])
    params.cpuparams.n_threads = int(config["threads"])
    params.cpuparams_batch.n_threads = int(config["threads"])
    params.hostnames = ["127.0.0.1"]  # never reachable from outside the machine
    # 0: the OS picks a free port (no probe-then-bind race); a restart asks for its predecessor's port
    # so the clients already pointed at it need no change.
    params.port = int(config.get("port", 0))
    params.api_keys = [config["api_key"]]  # other local users cannot borrow the model
    params.use_jinja = True  # the model's own template, with tools
    params.ui = False
    params.endpoint_slots = False  # /slots would reveal callers' prompts
    params.endpoint_metrics = False
    params.cache_prompt = True  # reuse the stable persona prefix between turns
    params.cache_ram_mib = int(config["cache_ram_mib"])
    params.warmup = True
    return params


def main() -> int:
    config = json.loads(sys.stdin.readline())
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever llama.cpp prints must not corrupt the ready line
    import xllamacpp

    server = xllamacpp.Server(_params(config))
    ready.write(json.dumps({"address": server.listening_address}) + "\n")
    ready.flush()
    while sys.stdin.read(4096):  # block until the parent closes our stdin
        pass
    del server  # ~Server stops the HTTP listener and the slot loop
    return 0


if __name__ == "__main__":
    sys.exit(main())
