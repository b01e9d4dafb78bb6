"""``corr-serve``: serve exported models over HTTP with the KServe v2 / Open Inference Protocol."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from corrwise.cli import user_errors
from corrwise.runtime.serve.config import ServeConfig
from corrwise.runtime.serve.logs import LOGGER, configure_logging
from corrwise.runtime.serve.server import build_server, create_server_app


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("model_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Loopback by default; 0.0.0.0 serves every interface (put a TLS proxy in front).",
)
@click.option("--port", type=int, default=8000, show_default=True, help="TCP port (0: any free port).")
@click.option(
    "--backend",
    default="onnxruntime",
    show_default=True,
    help="Backend for .onnx files: onnxruntime, tensorrt, pytorch or auto (the best one that runs here). "
    "Engines (.engine/.plan/.trt) always run on TensorRT and .pt2 programs on PyTorch.",
)
@click.option("--threads", type=int, default=None, help="Intra-op threads per model (default: every core).")
@click.option(
    "--max-batch",
    type=int,
    default=8,
    show_default=True,
    help="Most frames in one model call; concurrent requests of one model and frame size are batched "
    "up to it. 1 turns batching off. Also the most frames one request may carry.",
)
@click.option(
    "--max-delay-ms",
    type=float,
    default=2.0,
    show_default=True,
    help="How long the first request of a batch waits for more (milliseconds).",
)
@click.option(
    "--max-queue",
    type=int,
    default=64,
    show_default=True,
    help="Requests waiting per model and frame size; beyond it the server answers 503 with Retry-After.",
)
@click.option(
    "--max-sequences",
    type=int,
    default=64,
    show_default=True,
    help="Live prediction sequences (sequence_id) held at once; a new one beyond it is answered 429.",
)
@click.option(
    "--sequence-timeout-s",
    type=float,
    default=60.0,
    show_default=True,
    help="A sequence with no request for this long is evicted (seconds).",
)
@click.option(
    "--max-body-mb",
    type=float,
    default=64.0,
    show_default=True,
    help="Largest request body (MiB, after decompression); larger bodies are answered 413.",
)
@click.option(
    "--max-side",
    type=int,
    default=8192,
    show_default=True,
    help="Largest frame height or width accepted (pixels).",
)
@click.option(
    "--scene-cut",
    type=click.Choice(["repeat", "blend"]),
    default="repeat",
    show_default=True,
    help="Interpolating across a scene cut: repeat the first frame, or blend the two (no model run).",
)
@click.option(
    "--cut-threshold",
    type=float,
    default=0.2,
    show_default=True,
    help="Thumbnail SSIM below which two frames are a scene cut, in [0, 1); 0 turns detection off. "
    "Prediction sequences restart their context at a cut.",
)
@click.option(
    "--graceful-timeout-s",
    type=float,
    default=30.0,
    show_default=True,
    help="On SIGINT/SIGTERM, how long requests in flight may take to finish (seconds).",
)
@click.option(
    "--log-json",
    is_flag=True,
    help="Log one JSON object per line (one per request: model, status, "
    "batch size, latency) instead of text.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="Least severe log level written to stderr.",
)
def main(model_dir: Path, log_level: str, **options: object) -> None:
    """Serve every model in MODEL_DIR over HTTP (KServe v2 / Open Inference Protocol, as Triton speaks it).

    MODEL_DIR holds exported artifacts (.onnx from `corr-export onnx`, TensorRT
    engines, .pt2 programs), each served under its file stem, version 1; or it
    is a Triton model repository (`corr-export triton`, or the triton/ folder
    of `corr-export all`), each entry served under its folder name.
    Frames are UINT8 tensors [N, H, W, 3] (RGB), in JSON or with the binary
    tensor extension. Interpolation models take their two frame inputs (and a
    time in (0, 1) for models with a time input); prediction models take one
    'frame' per request with the parameters sequence_id / sequence_start /
    sequence_end and answer with the predicted next frame. Health, metadata,
    readiness and Prometheus metrics (/metrics) are served too. Any
    tritonclient.http client works unchanged.

    Stop it with Ctrl-C or SIGTERM: requests in flight finish first.
    """
    with user_errors():
        config = ServeConfig(**options)
        configure_logging(config.log_json, log_level)
        app = create_server_app(model_dir, config)
        if not config.is_loopback:
            logging.getLogger(LOGGER).warning(
                "listening on %s: reachable from other machines, without authentication or TLS", config.host
            )
        build_server(app, config).run()


if __name__ == "__main__":
    main()
