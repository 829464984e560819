"""The shared models carry the field rules of docs/sheet.md."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from bulkpatch.core.columns import CHANGE_PATHS, classify_header, suggest
from bulkpatch.core.models import AllowedSchedule, UpdateCampaignRequest


def test_a_full_schedule_with_start_before_end_is_accepted() -> None:
    schedule = AllowedSchedule.model_validate(
        {
            "allowed_start_time": "09:00",
            "allowed_end_time": "18:00",
            "allowed_days": ["Monday", "Tuesday"],
            "timezone": "Asia/Kolkata",
        }
    )
    assert schedule.allowed_days == ["Monday", "Tuesday"]


def test_a_schedule_whose_start_is_after_its_end_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be before"):
        AllowedSchedule.model_validate(
            {"allowed_start_time": "19:00", "allowed_end_time": "10:00", "allowed_days": ["Monday"]}
        )


def test_a_partial_app_config_is_refused_because_it_replaces_the_stored_one() -> None:
    with pytest.raises(ValidationError, match="connection_configs"):
        UpdateCampaignRequest.model_validate({"app_config": {"app_version": 2}})


def test_an_unknown_body_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        UpdateCampaignRequest.model_validate({"nme": "x"})


def test_every_inner_path_of_the_body_is_a_change_column() -> None:
    assert "allowed_schedule.timezone" in CHANGE_PATHS
    assert "app_config.retry_config.max_retries" in CHANGE_PATHS
    assert "app_config.webhook_config.url" in CHANGE_PATHS
    assert CHANGE_PATHS["app_config"].is_object
    assert not CHANGE_PATHS["app_config.app_version"].is_object


def test_a_misspelt_column_is_refused_with_the_closest_valid_name() -> None:
    _, problems = classify_header(["campaign_id", "allowed_schedule.timezon"])
    assert [p.message for p in problems] == [
        "unknown column `allowed_schedule.timezon` — did you mean `allowed_schedule.timezone`?"
    ]
    assert suggest("timezone") == "allowed_schedule.timezone"


def test_note_and_guard_columns_are_sorted_into_their_kinds() -> None:
    header, problems = classify_header(["campaign_id", "#why", "_owner", "expect.status", "name"])
    assert problems == []
    assert header.notes == ("#why", "_owner")
    assert header.expects == {"expect.status": "status"}
    assert header.changes == ("name",)


#: In a process of its own: which models are built once the column grammar is read, and after
#: one validation.
BUILT = """
import json, pydantic
from bulkpatch.core import columns, models
every = [v for v in vars(models).values() if isinstance(v, type)
         and issubclass(v, pydantic.BaseModel) and v.__module__ == models.__name__]
built = lambda: sorted(m.__name__ for m in every if m.__pydantic_complete__)
before = built()
models.UpdateCampaignRequest.model_validate({"name": "x"})
print(json.dumps([len(every), before, built(), len(columns.CHANGE_PATHS)]))
"""


def test_the_models_build_their_validators_on_first_use_not_on_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILT], capture_output=True, text=True, timeout=60, check=True
    )
    count, before, after, paths = json.loads(done.stdout)

    assert count > 10
    assert paths > 20
    # a run that never validates a whole object or an answer never pays for building them
    assert before == []
    assert "UpdateCampaignRequest" in after
    assert "CampaignDetail" not in after
