"""corrwise.runtime.serve: the inference server ``corr-serve`` (KServe v2 / Open Inference Protocol).

Needs the ``serve`` extra (FastAPI, uvicorn, prometheus-client); names load
on first use, so ``import corrwise.runtime`` never pulls them in, and a
missing dependency raises BackendUnavailable naming the extra.

Example::

    from corrwise.runtime.serve import BackgroundServer, ServeConfig, create_server_app

    config = ServeConfig(port=0)
    with BackgroundServer(create_server_app("models/", config), config) as server:
        print(server.address)  # give it to tritonclient.http.InferenceServerClient
"""

from __future__ import annotations

from typing import Any

from corrwise.extras import import_for

_WHERE = {
    "BackgroundServer": "server",
    "InferenceService": "service",
    "ModelRepository": "repository",
    "ServeConfig": "config",
    "build_server": "server",
    "create_app": "app",
    "create_server_app": "server",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_for(f"corrwise.runtime.serve.{_WHERE[name]}", "serve", "corr-serve"), name)
    raise AttributeError(f"module 'corrwise.runtime.serve' has no attribute {name!r}")
