"""The registry's service functions and ``ragdag models``: stages, who and why in the audit trail."""

from __future__ import annotations

import json

import pytest

from ragdag.cli import main
from ragdag.observability.audit import AuditAction, list_audit
from ragdag.training.registry import (
    ModelRecord,
    ModelStage,
    ModelStatus,
    RegistryError,
    archive_model,
    get_model,
    list_models,
    promote_model,
    save_model,
)


def add_model(db, model_id: str, *, status=ModelStatus.SUCCEEDED, stage=ModelStage.CANDIDATE) -> ModelRecord:
    return save_model(
        db,
        ModelRecord(
            model_id=model_id,
            job_name=f"{model_id}-1",
            status=status,
            stage=stage,
            dataset_version="v-1",
            dataset_manifest_uri="file:///m.json",
            dataset_manifest_sha256="0" * 64,
            base_model="",
            adapter=False,
            backend="local",
            hyperparameters={"max_steps": "30"},
            code_version="test",
            artifact_uri=f"file:///models/{model_id}-1/output/model.tar.gz",
            trained_by_run_id="run-1",
            error="boom" if status is ModelStatus.FAILED else None,
        ),
    )


def test_promote_archives_the_previous_production_and_audits_who_and_why(settings, mongo_db) -> None:
    add_model(mongo_db, "m-old", stage=ModelStage.PRODUCTION)
    add_model(mongo_db, "m-new")
    promoted = promote_model(settings, "m-new", actor="alice", reason="better on the held-out posts")
    assert promoted.stage is ModelStage.PRODUCTION
    old = get_model(settings, "m-old")
    assert old.stage is ModelStage.ARCHIVED and "replaced by m-new" in old.stage_history[-1].reason
    [event] = list_audit(mongo_db, subject="m-new", action=AuditAction.MODEL_PROMOTE)
    assert (event.actor, event.reason, event.details["replaced"]) == ("alice", "better on the held-out posts", "m-old")
    assert [r.model_id for r in list_models(settings, stage="production")] == ["m-new"]
    # created_at survives whole-record writes as a datetime on the embedded MongoDB
    assert mongo_db.model_registry.find_one({"_id": "m-new"})["created_at"].year >= 2026


def test_what_cannot_be_done_says_why(settings, mongo_db) -> None:
    add_model(mongo_db, "m-failed", status=ModelStatus.FAILED, stage=None)
    add_model(mongo_db, "m-ok")
    with pytest.raises(RegistryError, match="failed: only a succeeded model"):
        promote_model(settings, "m-failed", actor="bob", reason="try")
    with pytest.raises(RegistryError, match="say why"):
        archive_model(settings, "m-ok", actor="bob", reason="  ")
    with pytest.raises(RegistryError, match="no model 'nope'"):
        promote_model(settings, "nope", actor="bob", reason="x")
    assert list_audit(mongo_db) == []


def test_cli_list_show_promote_archive(settings, mongo_db, capsys) -> None:
    add_model(mongo_db, "m-a")
    add_model(mongo_db, "m-b", status=ModelStatus.FAILED, stage=None)

    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "m-a" in table and "candidate" in table and "failed" in table

    assert main(["models", "promote", "m-a", "--reason", "first good model", "--by", "carol"]) == 0
    assert "m-a is now production (by carol: first good model)" in capsys.readouterr().out
    assert main(["models", "show", "production"]) == 0
    assert json.loads(capsys.readouterr().out)["model_id"] == "m-a"

    assert main(["models", "promote", "m-b", "--reason", "why not"]) == 1
    assert "only a succeeded model can be promoted" in capsys.readouterr().err

    assert main(["models", "archive", "m-a", "--reason", "superseded by a hand-tuned model"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--stage", "archived", "--json"]) == 0
    [archived] = json.loads(capsys.readouterr().out)
    assert (
        archived["model_id"] == "m-a" and archived["stage_history"][-1]["reason"] == "superseded by a hand-tuned model"
    )
    actions = [e.action for e in list_audit(mongo_db, subject="m-a")]
    assert actions == [AuditAction.MODEL_PROMOTE, AuditAction.MODEL_ARCHIVE]

    assert main(["models", "show", "nope"]) == 1
