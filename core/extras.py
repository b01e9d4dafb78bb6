"""Import optional dependencies on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from corrwise.errors import BackendUnavailable


def import_for(module: str, extra: str | None, purpose: str) -> ModuleType:
    """Import ``module``; if a dependency is missing, raise BackendUnavailable naming ``extra``.

    ``extra=None`` means a dependency of the plain (runtime) install.
    Example: ``import_for("corrwise.export.onnx_export", "export", "corr-export onnx")``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        missing = err.name or str(err)
        target = "corrwise" if extra is None else f"'corrwise[{extra}]'"
        raise BackendUnavailable(
            f"{purpose} needs {missing!r}, which is not installed: pip install {target}"
        ) from err
