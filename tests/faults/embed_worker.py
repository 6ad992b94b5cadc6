"""Test-only: run the feature stage in this process and stop dead at one kind of store write.

``python embed_worker.py RUN_ID [--hold-at POINT --marker FILE] [--flush-chunks N]``

With ``--hold-at``, the first write of that kind writes ``FILE`` and then blocks (before writing),
so the test can SIGKILL the process at exactly that point. The settings come from the
environment (``RAGDAG_*``, ``AIRFLOW_CONN_MONGO_DEFAULT``), as in an Airflow task.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

# point -> (function of ragdag.features.vector_store, name of its collection constant); the first
# call of that function on that collection with some ids holds.
HOLD_POINTS = {
    "before-record": ("_upsert", "DOCUMENTS_COLLECTION"),  # chunks written, no document record yet
    "mid-replacement": ("_delete_ids", "CHUNKS_COLLECTION"),  # new chunks written, stale ones not deleted
    "mid-delete": ("_delete_ids", "DOCUMENTS_COLLECTION"),  # chunks of gone documents deleted, records not
}


def _hold_at(point: str, marker: Path) -> None:
    from ragdag.features import vector_store

    name, constant = HOLD_POINTS[point]
    collection = getattr(vector_store, constant)
    real = getattr(vector_store, name)

    def held(client: Any, target: str, ids: Any, *args: Any, **kwargs: Any) -> Any:
        if target == collection and len(ids):
            marker.write_text(f"{point}: {len(ids)} ids\n")
            time.sleep(3600)  # until SIGKILL
        return real(client, target, ids, *args, **kwargs)

    setattr(vector_store, name, held)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_id")
    parser.add_argument("--hold-at", choices=sorted(HOLD_POINTS))
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--flush-chunks", type=int, default=512)
    args = parser.parse_args()
    if args.hold_at:
        _hold_at(args.hold_at, args.marker)

    from ragdag.features.pipeline import PipelineConfig, embed_validated_documents
    from ragdag.settings import get_settings

    report = embed_validated_documents(
        get_settings(), args.run_id, config=PipelineConfig(flush_chunks=args.flush_chunks)
    )
    print(report.model_dump_json())


if __name__ == "__main__":
    main()
