"""Torch datasets of training samples; kept for existing imports.

The datasets live in :mod:`corrwise.train.data`; :class:`SyntheticTriplets`
is re-exported here because older code imports it from this module.
"""

from __future__ import annotations

from corrwise.train.data.synthetic import SyntheticTriplets

__all__ = ["SyntheticTriplets"]
