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
