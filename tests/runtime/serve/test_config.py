"""ServeConfig: safe defaults, and every bad value refused with its name."""

import pytest
from corrwise.errors import ConfigError
from corrwise.runtime.serve.config import ServeConfig


def test_defaults_are_safe():
    config = ServeConfig()
    assert config.host == "127.0.0.1" and config.is_loopback
    assert config.max_body_bytes == 64 * 1024 * 1024 and config.max_delay_s == pytest.approx(0.002)
    assert not ServeConfig(host="0.0.0.0").is_loopback


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"max_batch": 0}, "max_batch"),
        ({"max_batch": 2.5}, "max_batch"),
        ({"max_queue": -1}, "max_queue"),
        ({"max_sequences": 0}, "max_sequences"),
        ({"max_side": True}, "max_side"),
        ({"sequence_timeout_s": 0}, "sequence_timeout_s"),
        ({"max_body_mb": -1.0}, "max_body_mb"),
        ({"graceful_timeout_s": 0}, "graceful_timeout_s"),
        ({"threads": 0}, "threads"),
        ({"max_delay_ms": -1.0}, "max_delay_ms"),
        ({"port": 70000}, "port"),
        ({"scene_cut": "fade"}, "scene_cut"),
        ({"cut_threshold": 1.0}, "cut_threshold"),
    ],
)
def test_bad_values_are_named(changes, name):
    with pytest.raises(ConfigError, match=name):
        ServeConfig(**changes)
