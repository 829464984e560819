"""A column kind is declared once, in core/models.py: a field added there (here at test time) is
checked by ``validate``, sent by a run, guarded, compared and exported with no other change.

The fixture adds three fields to ``app_config`` the way a developer would add them to
:class:`~bulkpatch.core.models.AgentConfig`: a whole number of minutes (1..120), an instant and a
list of days.  The models are changed in place (the simulator checks its PATCH bodies with the
same class), and the column registry is derived again from them by its own function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import AwareDatetime, BeforeValidator, Field, create_model

from bulkpatch.core import columns, models
from bulkpatch.ops.validate import validate_sheet
from bulkpatch.simulator import Simulator
from support.roundtrips import export, read_csv, write_rows
from support.runs import StartSimulator, run_sheet, write_sheet

MINUTES = "app_config.max_call_minutes"
PAUSE = "app_config.pause_until"
QUIET = "app_config.quiet_days"
#: The new leaf type, as it would be written in core/models.py.
MaxCallMinutes = Annotated[int, BeforeValidator(models._whole_number), Field(ge=1, le=120)]
_SWAPPED = ("__pydantic_fields__", "__pydantic_validator__", "__pydantic_serializer__")


def _swap(monkeypatch: pytest.MonkeyPatch, model: type[Any], grown: type[Any]) -> None:
    for attr in (*_SWAPPED, "__pydantic_core_schema__"):
        monkeypatch.setattr(model, attr, getattr(grown, attr))


@pytest.fixture
def new_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AgentConfig`` holds three more optional fields, and the registry knows them."""
    agent: Any = create_model(
        "AgentConfig",
        __base__=models.AgentConfig,
        max_call_minutes=(MaxCallMinutes | None, None),
        pause_until=(AwareDatetime | None, None),
        quiet_days=(models.DayList | None, None),
    )
    request: Any = create_model(
        "UpdateCampaignRequest",
        __base__=models.UpdateCampaignRequest,
        app_config=(agent | None, None),
    )
    _swap(monkeypatch, models.AgentConfig, agent)
    _swap(monkeypatch, models.UpdateCampaignRequest, request)
    for path, spec in columns.change_paths().items():
        if path not in columns.CHANGE_PATHS:
            monkeypatch.setitem(columns.CHANGE_PATHS, path, spec)
            monkeypatch.setitem(columns.EXPECT_PATHS, path, spec)


def test_the_registry_derives_each_new_columns_kind_from_its_type(new_fields: None) -> None:
    assert columns.kind_at(MINUTES) == "scalar"
    assert columns.kind_at(PAUSE) == "instant"
    assert columns.kind_at(QUIET) == "days"
    assert MINUTES in columns.all_valid_columns()
    assert f"expect.{PAUSE}" in columns.all_valid_columns()


def _sheet(path: Path, sim: Simulator, values: list[dict[str, str]]) -> Path:
    ids = sorted(d["campaign_id"] for d in sim.state.dump())
    keys = {"org_id": "org-demo", "workspace_id": "ws-demo"}
    return write_sheet(
        path, [{**keys, "campaign_id": i, **v} for i, v in zip(ids, values, strict=False)]
    )


def _stored(sim: Simulator) -> dict[str, dict[str, Any]]:
    return {d["campaign_id"]: d["app_config"] for d in sim.state.dump()}


async def test_a_new_whole_number_column_is_validated_by_its_declared_rule(
    new_fields: None, tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(generate=3, status_weights=(("paused", 1.0),))
    sheet = _sheet(tmp_path / "s.csv", sim, [{MINUTES: "45"}, {MINUTES: "121"}, {MINUTES: "4.5"}])

    check = validate_sheet(sheet)

    assert check.header_problems == []
    assert {(p.row, p.column) for p in check.problems} == {(2, MINUTES), (3, MINUTES)}
    assert [p.rule for p in check.problems if p.row == 2] == ["must be at most 120"]


async def test_new_columns_are_sent_guarded_as_their_kind_and_exported_back_exactly(
    new_fields: None,
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = await start_simulator(generate=2, status_weights=(("paused", 1.0),))
    change = {MINUTES: "45", PAUSE: "2026-03-01T15:30:00+05:30", QUIET: "Sat,Sun"}
    run = await run_sheet(_sheet(tmp_path / "s.csv", sim, [change]), sim, monkeypatch)
    assert run.code == 0, run.output
    assert sorted(run.outcomes().values()) == ["updated"]
    (stored,) = (c for c in _stored(sim).values() if "max_call_minutes" in c)
    assert stored["max_call_minutes"] == 45
    assert stored["quiet_days"] == ["Saturday", "Sunday"]

    # The same instant written in UTC meets the guard: an instant column compares as instants.
    guarded = {**change, f"expect.{PAUSE}": "2026-03-01T10:00:00Z"}
    again = await run_sheet(_sheet(tmp_path / "g.csv", sim, [guarded]), sim, monkeypatch)
    assert again.code == 0, again.output
    assert list(again.outcomes().values()) == ["unchanged"]

    out = tmp_path / "out.csv"
    done = await export(out, sim, monkeypatch, columns=[MINUTES, PAUSE, QUIET])
    assert done.code == 0, done.output
    (row,) = read_csv(out)
    assert (row[MINUTES], row[QUIET]) == ("45", "Saturday,Sunday")
    assert row[f"expect.{QUIET}"] == "Saturday,Sunday"
    back = await run_sheet(write_rows(tmp_path / "back.csv", [row]), sim, monkeypatch)
    assert back.code == 0, back.output
    assert list(back.outcomes().values()) == ["unchanged"]
