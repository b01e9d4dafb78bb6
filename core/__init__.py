"""corrwise: correspondence-wise losses for video prediction and frame interpolation.

The package is one pipeline of four stages, each a subpackage:

- :mod:`corrwise.models`  network definitions, registry, checkpoints (torch)
- :mod:`corrwise.train`   datasets, losses, trainer (torch)
- :mod:`corrwise.export`  checkpoint -> ONNX (torch, onnx)
- :mod:`corrwise.runtime` frame-by-frame inference (numpy + onnxruntime, no torch)

This top level holds only what every stage shares and that needs nothing but
the standard library and numpy: the error hierarchy, the I/O contract of an
exported model, and the numeric tolerance table.
"""

from corrwise.contract import IOContract
from corrwise.errors import (
    BackendUnavailable,
    CheckpointError,
    ConfigError,
    ContractError,
    CorrwiseError,
    ExportError,
    InputError,
    ParityError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "CheckpointError",
    "ConfigError",
    "ContractError",
    "CorrwiseError",
    "ExportError",
    "IOContract",
    "InputError",
    "ParityError",
    "__version__",
]
