"""The HTTP server: KServe v2 / Open Inference Protocol routes on FastAPI, served by uvicorn.

Routes::

    GET  /v2/health/live                                   200 while the process runs
    GET  /v2/health/ready                                  200 once models are loaded, 503 while stopping
    GET  /v2                                               server metadata
    GET  /v2/models/{name}[/versions/{version}]            model metadata
    GET  /v2/models/{name}[/versions/{version}]/ready      200 when the model can take requests
    POST /v2/models/{name}[/versions/{version}]/infer      inference (JSON or binary tensors)
    POST /v2/repository/index                              the served models
    GET  /metrics                                          Prometheus metrics

Every error is a JSON body ``{"error": "..."}``: malformed requests and
requests that do not fit the model are 400, unknown models 404, bodies over
the limit 413, no room for another sequence 429, a full queue 503 with
``Retry-After``. A 500 means a fault of the server, never of the input.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from corrwise import __version__
from corrwise.errors import InputError
from corrwise.runtime.serve.config import ServeConfig
from corrwise.runtime.serve.logs import LOGGER
from corrwise.runtime.serve.metrics import ServeMetrics
from corrwise.runtime.serve.protocol import (
    HEADER_LENGTH,
    decode_content,
    encode_infer_response,
    parse_infer_request,
)
from corrwise.runtime.serve.repository import ModelRepository
from corrwise.runtime.serve.served import ServedModel
from corrwise.runtime.serve.service import InferenceService, Rejection
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

SERVER_NAME = "corrwise"
EXTENSIONS = ["binary_tensor_data", "sequence", "parameters"]
MODEL = "/v2/models/{model_name}"
VERSION = "/v2/models/{model_name}/versions/{model_version}"
log = logging.getLogger(LOGGER)


def create_app(repository: ModelRepository, config: ServeConfig) -> FastAPI:
    """The ASGI application serving ``repository`` (run it with uvicorn, see :mod:`.server`)."""
    app = FastAPI(
        title="corrwise inference server",
        version=__version__,
        summary="KServe v2 / Open Inference Protocol for corrwise models",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = InferenceService(repository, config, ServeMetrics(config.max_batch))
    app.add_api_route("/v2/health/live", live, methods=["GET"])
    app.add_api_route("/v2/health/ready", ready, methods=["GET"])
    app.add_api_route("/v2", server_metadata, methods=["GET"])
    app.add_api_route("/v2/repository/index", repository_index, methods=["POST"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    for prefix in (MODEL, VERSION):
        app.add_api_route(prefix, model_metadata, methods=["GET"])
        app.add_api_route(f"{prefix}/ready", model_ready, methods=["GET"])
        app.add_api_route(f"{prefix}/infer", infer, methods=["POST"])
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the service with the server; on shutdown (after requests in flight finish) stop it."""
    service: InferenceService = app.state.service
    await service.start()
    names = [m.name for m in service.repository]
    log.info("ready", extra={"fields": {"models": names, "max_batch": service.config.max_batch}})
    try:
        yield
    finally:
        await service.stop()
        log.info("stopped")


def error_response(status: int, message: str, retry_after_s: int | None = None) -> JSONResponse:
    """``{"error": message}`` with ``status`` (and ``Retry-After`` when given)."""
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def live(request: Request) -> Response:
    return Response(status_code=200)


async def ready(request: Request) -> Response:
    if _service(request).ready:
        return Response(status_code=200)
    return error_response(503, "the server is not ready (starting or shutting down)", 1)


async def server_metadata(request: Request) -> Response:
    return JSONResponse({"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS})


async def repository_index(request: Request) -> Response:
    service = _service(request)
    state = "READY" if service.ready else "UNAVAILABLE"
    return JSONResponse([{"name": m.name, "version": m.version, "state": state} for m in service.repository])


async def metrics(request: Request) -> Response:
    content, content_type = _service(request).metrics.render()
    return Response(content, media_type=content_type)


async def model_metadata(request: Request) -> Response:
    model = _model(request)
    return _unknown_model(request) if model is None else JSONResponse(model.metadata())


async def model_ready(request: Request) -> Response:
    if _model(request) is None:
        return _unknown_model(request)
    return await ready(request)


async def infer(request: Request) -> Response:
    """``POST .../infer``: parse, check, batch, run, answer; one log line and the metrics per request."""
    started = time.perf_counter()
    service = _service(request)
    model = _model(request)
    if model is None:
        return _unknown_model(request)
    try:
        response, batch_size, request_id = await _answer(service, model, request)
    except InputError as err:
        response, batch_size, request_id = error_response(400, str(err)), 0, None
    except Exception as err:  # a fault of the server, not of the input: logged, counted, answered 500
        log.error("server error", exc_info=err, extra={"fields": {"model": model.name}})
        response, batch_size, request_id = error_response(500, _fault(err)), 0, None
    _record(service, model, response.status_code, batch_size, request_id, started)
    return response


async def _answer(
    service: InferenceService, model: ServedModel, request: Request
) -> tuple[Response, int, str | None]:
    """The response to an inference request, the size of the batch it ran in, and its id."""
    body = await _read_body(request, service.config)
    if isinstance(body, Response):
        return body, 0, None
    parsed = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
    result = await service.infer(model, parsed)
    if isinstance(result, Rejection):
        return error_response(result.status, result.message, result.retry_after_s), 0, parsed.id
    outputs = model.outputs_for(parsed, result.output)
    content, headers = encode_infer_response(model.name, model.version, parsed.id, outputs)
    return Response(content, headers=headers), result.batch_size, parsed.id


async def _read_body(request: Request, config: ServeConfig) -> bytes | Response:
    """The request body, decompressed; a 413 response when it is larger than the limit."""
    limit = config.max_body_bytes
    too_large = error_response(413, f"the request body is larger than the server's limit of {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding") is None:
        return body
    decoded = decode_content(body, request.headers.get("content-encoding"), limit)
    return too_large if decoded is None else decoded


def _record(
    service: InferenceService,
    model: ServedModel,
    status: int,
    batch_size: int,
    request_id: str | None,
    started: float,
) -> None:
    """Metrics and one log line for an answered inference request."""
    seconds = time.perf_counter() - started
    service.metrics.request_done(model.name, status, seconds)
    fields = {
        "model": model.name,
        "status": status,
        "batch_size": batch_size,
        "latency_ms": round(seconds * 1000.0, 3),
        "request_id": request_id,
    }
    log.info("infer", extra={"fields": fields})


def _service(request: Request) -> InferenceService:
    return request.app.state.service


def _model(request: Request) -> ServedModel | None:
    params = request.path_params
    return _service(request).repository.find(params["model_name"], params.get("model_version"))


def _unknown_model(request: Request) -> Response:
    params = request.path_params
    names = sorted(m.name for m in _service(request).repository)
    version = params.get("model_version")
    what = f"model {params['model_name']!r}" + (f" version {version!r}" if version is not None else "")
    return error_response(404, f"unknown {what}; this server has {names}, version 1 each")


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (404 no such route, 405 wrong method) as ``{"error": ...}``."""
    status = getattr(exc, "status_code", 400)
    return error_response(status, f"{request.method} {request.url.path}: {getattr(exc, 'detail', exc)}")


async def validation_error(request: Request, exc: Exception) -> Response:
    return error_response(400, f"malformed request: {exc}")


async def server_error(request: Request, exc: Exception) -> Response:
    """A fault of the server (never of the input): logged with its traceback, answered 500."""
    log.error("server error", exc_info=exc, extra={"fields": {"path": request.url.path}})
    return error_response(500, _fault(exc))


def _fault(exc: Exception) -> str:
    return f"internal server error ({type(exc).__name__}); see the server log"
