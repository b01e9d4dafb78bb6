"""The runtime installs and runs on an edge box without torch."""

import subprocess
import sys
import textwrap

BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockTorch())
    """
)


def run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_torch_is_really_blocked():
    proc = run_without_torch("import torch")
    assert proc.returncode != 0 and "blocked" in proc.stderr


def test_runtime_imports_and_interpolates_without_torch(onnx_path):
    proc = run_without_torch(
        f"""
        import numpy as np
        import corrwise.runtime
        from corrwise.runtime import Interpolator
        rng = np.random.default_rng(0)
        f0, f1 = (rng.integers(0, 256, size=(37, 61, 3), dtype=np.uint8) for _ in range(2))
        with Interpolator({str(onnx_path)!r}) as interp:
            out = interp.interpolate(f0, f1)
        assert out.shape == (37, 61, 3) and out.dtype == np.uint8
        assert "torch" not in sys.modules and not any(m.startswith("corrwise.models") for m in sys.modules)
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_training_and_export_commands_name_the_missing_extra(tmp_path):
    """Without torch, --help still works and the commands say which extra to install."""
    proc = run_without_torch(
        f"""
        from click.testing import CliRunner
        from corrwise.export.cli import main as export_main
        from corrwise.train.cli import main as train_main
        assert CliRunner().invoke(export_main, ["onnx", "--help"]).exit_code == 0
        out = {str(tmp_path / "m.onnx")!r}
        result = CliRunner().invoke(export_main, ["onnx", "m.safetensors", "-o", out])
        print(result.exit_code, result.output.strip())
        result = CliRunner().invoke(train_main, ["interpolate", "--out", {str(tmp_path / "run")!r}])
        print(result.exit_code, result.output.strip())
        """
    )
    assert proc.returncode == 0, proc.stderr
    export_line, train_line = proc.stdout.strip().splitlines()
    assert export_line.startswith("2 ") and "pip install 'corrwise[export]'" in export_line
    assert train_line.startswith("2 ") and "pip install 'corrwise[train]'" in train_line
