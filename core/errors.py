"""The one error hierarchy of corrwise.

Every error a user can cause derives from :class:`CorrwiseError`, so a caller
can catch the whole family at once, and the command-line tools turn it into a
one-line message and exit code 2 instead of a traceback. Messages say what was
expected, what arrived, and what to do.
"""


class CorrwiseError(Exception):
    """Base class of every error corrwise raises on purpose."""


class InputError(CorrwiseError, ValueError):
    """A frame, tensor, file or argument supplied by the user is not usable."""


class ConfigError(InputError):
    """A configuration value, model name or option is unknown or out of range."""


class CheckpointError(InputError):
    """A checkpoint file is missing, corrupt, or not a corrwise checkpoint."""


class ContractError(CorrwiseError):
    """An exported model's I/O contract is missing, malformed, or does not fit the use."""


class ExportError(CorrwiseError):
    """Turning a checkpoint into a deployable artifact failed."""


class ParityError(CorrwiseError):
    """An artifact's outputs differ from the PyTorch original beyond the tolerance table."""


class BackendUnavailable(CorrwiseError, ImportError):
    """An inference backend or optional dependency is not installed or cannot run here."""
