"""Running the application: a uvicorn server in the foreground, or in a background thread.

uvicorn handles SIGINT and SIGTERM in the foreground: it stops accepting
connections, lets the requests in flight finish (up to
``graceful_timeout_s``), then runs the application's shutdown, which drains
the batch queues and releases the models.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from corrwise.errors import BackendUnavailable
from corrwise.extras import import_for
from corrwise.runtime.serve.config import ServeConfig

# How long a background server may take to load and start listening (seconds).
START_TIMEOUT_S = 60.0


def build_server(app: Any, config: ServeConfig) -> Any:
    """A ``uvicorn.Server`` for ``app`` on ``config.host:config.port`` (the caller sets up logging)."""
    uvicorn = import_for("uvicorn", "serve", "corr-serve")
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=config.graceful_timeout_s,
        server_header=False,
    )
    return uvicorn.Server(uv_config)


def create_server_app(model_dir: str | Path, config: ServeConfig) -> Any:
    """Load the models of ``model_dir`` and build the ASGI application."""
    app_module = import_for("corrwise.runtime.serve.app", "serve", "corr-serve")
    repository_module = import_for("corrwise.runtime.serve.repository", "serve", "corr-serve")
    repository = repository_module.ModelRepository.load(model_dir, config)
    return app_module.create_app(repository, config)


class BackgroundServer:
    """A server in a daemon thread of this process, for tests, notebooks and embedding.

    Example::

        with BackgroundServer(create_server_app("models", config), config) as server:
            client = tritonclient.http.InferenceServerClient(server.address)

    ``config.port`` 0 picks a free port; :attr:`port` is the one bound.
    Leaving the block shuts the server down gracefully (requests in flight finish).
    """

    def __init__(self, app: Any, config: ServeConfig) -> None:
        self.config = config
        self.server = build_server(app, config)
        self._thread = threading.Thread(target=self.server.run, name="corr-serve", daemon=True)
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (known once started)."""
        if self._port is None:
            raise BackendUnavailable("the server has not started yet; call start() first")
        return self._port

    @property
    def address(self) -> str:
        """``host:port``, as tritonclient takes it."""
        return f"{self.config.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start the thread and wait until the server listens."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise BackendUnavailable(
                    f"the server did not start on {self.config.host}:{self.config.port} "
                    f"within {START_TIMEOUT_S:g} s; see its log"
                )
            time.sleep(0.01)
        self._port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Shut the server down gracefully; wait for it up to ``timeout_s`` seconds (None: forever)."""
        self.server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
