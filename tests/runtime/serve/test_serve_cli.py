"""corr-serve: options explained, user errors in one line, JSON logs, a clean SIGTERM, the extra named."""

import json
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tritonclient.http as triton
from click.testing import CliRunner
from corrwise.runtime.serve.cli import main

from tests.conftest import moving_frames

OPTIONS = [
    "--host",
    "--port",
    "--backend",
    "--threads",
    "--max-batch",
    "--max-delay-ms",
    "--max-queue",
    "--max-sequences",
    "--sequence-timeout-s",
    "--max-body-mb",
    "--max-side",
    "--scene-cut",
    "--cut-threshold",
    "--graceful-timeout-s",
    "--log-json",
    "--log-level",
]


def test_help_explains_every_option():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in OPTIONS:
        assert option in result.output
    assert "127.0.0.1" in result.output and "sequence_id" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/missing"], "does not exist"),
        (["{tmp}"], "no models in"),
        (["{models}", "--max-batch", "0"], "max_batch must be a positive integer"),
        (["{models}", "--cut-threshold", "1.5"], "cut_threshold must be in [0, 1)"),
        (["{models}", "--backend", "nonsense"], "unknown backend 'nonsense'"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, model_dir, args, message):
    args = [a.format(tmp=tmp_path, models=model_dir) for a in args]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output and result.output.startswith("error: ")


def wait_for_port(process: subprocess.Popen) -> tuple[int, list[str]]:
    """The port from the server's 'running on' log line, and the lines read so far."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1)), lines
    raise AssertionError(f"the server exited before listening: {''.join(lines)}")


def test_a_served_process_logs_json_and_stops_cleanly_on_sigterm(model_dir):
    command = [
        sys.executable,
        "-m",
        "corrwise.runtime.serve.cli",
        str(model_dir),
        "--port",
        "0",
        "--log-json",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        port, lines = wait_for_port(process)
        with triton.InferenceServerClient(f"127.0.0.1:{port}") as client:
            assert client.is_server_ready()
            f0, f1 = (f[None] for f in moving_frames(2, 16, 24))
            inputs = [triton.InferInput(n, list(f0.shape), "UINT8") for n in ("frame0", "frame1")]
            inputs[0].set_data_from_numpy(f0)
            inputs[1].set_data_from_numpy(f1)
            assert client.infer("interp", inputs, request_id="cli-1").as_numpy("frame").dtype == np.uint8
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    # uvicorn re-raises the signal it stopped for after the graceful shutdown (older versions exit 0)
    assert process.returncode in (0, -signal.SIGTERM)
    records = [json.loads(line) for line in [*lines, *rest.splitlines()] if line.startswith("{")]
    infer = [r for r in records if r["event"] == "infer"]
    assert len(infer) == 1 and infer[0]["model"] == "interp" and infer[0]["status"] == 200
    assert infer[0]["request_id"] == "cli-1" and infer[0]["batch_size"] == 1 and infer[0]["latency_ms"] > 0
    assert any(r["event"] == "stopped" for r in records)


BLOCK_SERVE_EXTRA = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockServeExtra(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("fastapi", "uvicorn", "starlette", "prometheus_client"):
                raise ImportError(f"{name} is blocked in this test", name=name)
            return None

    sys.meta_path.insert(0, BlockServeExtra())
    """
)


def test_without_the_serve_extra_the_error_names_it(model_dir):
    code = BLOCK_SERVE_EXTRA + textwrap.dedent(
        f"""
        import corrwise.runtime, corrwise.runtime.serve
        from click.testing import CliRunner
        from corrwise.errors import BackendUnavailable
        from corrwise.runtime.serve.cli import main
        assert not {{"fastapi", "uvicorn", "prometheus_client"}} & set(sys.modules)
        try:
            corrwise.runtime.serve.create_app
        except BackendUnavailable as err:
            print("lazy:", err)
        assert CliRunner().invoke(main, ["--help"]).exit_code == 0
        result = CliRunner().invoke(main, [{str(model_dir)!r}])
        print(result.exit_code, result.output.strip())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lazy, cli = proc.stdout.strip().splitlines()
    assert "pip install 'corrwise[serve]'" in lazy
    assert cli.startswith("2 error: ") and "pip install 'corrwise[serve]'" in cli


BLOCK_TORCH = BLOCK_SERVE_EXTRA.replace(
    '("fastapi", "uvicorn", "starlette", "prometheus_client")',
    '("torch",)',
).replace("BlockServeExtra", "BlockTorch")


def test_the_server_runs_without_torch(model_dir):
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        import urllib.request
        from corrwise.runtime.serve import BackgroundServer, ServeConfig, create_server_app
        config = ServeConfig(port=0)
        with BackgroundServer(create_server_app({str(model_dir)!r}, config), config) as server:
            with urllib.request.urlopen(f"http://{{server.address}}/v2/models/predict") as answer:
                print(answer.status)
        assert "torch" not in sys.modules and not any(m.startswith("corrwise.models") for m in sys.modules)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "200"
