"""Migration 0002 on both backends; manifest matching; the summary's call rule."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from core.patient_call import CallRule, call_label
from db.jobs import NewItem, add_items, create_job
from db.manifests import ManifestRow, apply_to_existing, attach_metadata, store_entries
from db.migrate import alembic_config, upgrade
from db.models import Base, Item
from db.session import get_session
from db.summary import GroupStats


def test_migrations_go_down_and_up_and_match_the_models(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0001")
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_rows_match_by_path_before_base_name(database_url: str) -> None:
    rows = [
        ManifestRow("x.png", patient_id="by-name"),
        ManifestRow("a/x.png", patient_id="by-path"),
    ]
    with get_session(database_url) as session:
        job, _ = create_job([], session=session, closed=False)
        store_entries(job.id, rows, session=session)
        items = [NewItem(name, f"{i:064x}", 1) for i, name in enumerate(["a/x.png", "b/x.png"])]
        attached = attach_metadata(job.id, items, session=session)
        assert [i.patient_id for i in attached] == ["by-path", "by-name"]
        create_job([NewItem("c/x.png", "f" * 64, 1)], session=session)  # another job's item
        store_entries(job.id, [ManifestRow("x.png", patient_id="replaced")], session=session)
        add_items(job, [NewItem("d/x.png", "e" * 64, 1)], session=session)
        apply_to_existing(job.id, {"x.png"}, session=session)
        patients = dict(session.query(Item.filename, Item.patient_id).filter_by(job_id=job.id))
    assert patients == {"d/x.png": "replaced"}


def group(labels: dict[str, int], positives: int, means: dict[str, float]) -> GroupStats:
    stats = GroupStats("P", None, n_classified=sum(labels.values()), positive_tiles=positives)
    stats.label_counts.update(labels)
    stats.score_sums = {name: mean * stats.n_classified for name, mean in means.items()}
    return stats


def test_call_rule() -> None:
    classes = ["benign", "malignant"]
    rule = CallRule(threshold=0.5, positive_class="malignant", min_fraction=0.25)
    assert call_label(group({"benign": 3, "malignant": 1}, 1, {}), rule, classes) == "malignant"
    assert call_label(group({"benign": 5, "malignant": 1}, 1, {}), rule, classes) == "benign"
    zero = CallRule(threshold=0.5, positive_class="malignant", min_fraction=0.0)
    assert call_label(group({"benign": 5}, 0, {}), zero, classes) == "benign"  # needs one tile
    majority = CallRule()
    tie = group({"benign": 2, "malignant": 2}, 0, {"benign": 0.4, "malignant": 0.6})
    assert call_label(tie, majority, classes) == "malignant"
    assert call_label(GroupStats("P", None), majority, classes) is None
