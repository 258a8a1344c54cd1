"""``--set FIELD=VALUE``: configuration fields set from the command line, checked and typed."""

import pytest

from pipeline.core import PipelineConfig, with_overrides


def test_fields_of_every_section_are_set_with_their_own_types():
    cfg = with_overrides(PipelineConfig(), ["tracker.group_lateral=2", "tracker.gate.min_iou=0.3", "discovery.gap=3",
                                            "lookback=4", "join_parts=false", "end=10", "discover=true"])
    assert cfg.tracker.group_lateral == 2.0 and isinstance(cfg.tracker.group_lateral, float)
    assert cfg.tracker.gate.min_iou == 0.3
    assert cfg.discovery.gap == 3 and isinstance(cfg.discovery.gap, int)
    assert cfg.lookback == 4 and cfg.join_parts is False and cfg.end == 10 and cfg.discover is True
    # the rest stays as it was, and the given config is not changed
    assert cfg.tracker.max_age == PipelineConfig().tracker.max_age
    assert PipelineConfig().tracker.group_lateral != 2.0


def test_a_field_that_may_be_none_takes_a_number_or_none():
    cfg = with_overrides(PipelineConfig(), ["discovery.trail=0.1"])
    assert cfg.discovery.trail == 0.1
    assert with_overrides(cfg, ["discovery.trail=none"]).discovery.trail is None
    # later overrides win
    assert with_overrides(PipelineConfig(), ["lookback=2", "lookback=5"]).lookback == 5


@pytest.mark.parametrize("item, message", [
    ("tracker.group_lateal=1", "did you mean group_lateral"),
    ("tracker=1", "tracker is a section"),
    ("tracker.max_age.x=1", "max_age is a value, not a section"),
    ("tracker.max_age=1.5", "'1.5' is not a whole number"),
    ("discovery.pad=wide", "'wide' is not a number"),
    ("join_parts=maybe", "'maybe' is not true or false"),
    ("variant=none", "variant cannot be none"),
    ("classes=car", "has its own option"),
    ("lookback", "expected FIELD=VALUE"),
    ("tracker.n_init=0", "n_init >= 1"),  # the section's own checks run
])
def test_a_bad_override_is_refused_with_a_reason(item, message):
    with pytest.raises(ValueError, match=message):
        with_overrides(PipelineConfig(), [item])
