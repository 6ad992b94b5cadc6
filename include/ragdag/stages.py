"""The chain's stage names, one enum: run records, the DAG callbacks, lineage and the UI use it.

In chain order (:data:`ragdag.assets.STAGE_OF_DAG` pairs each with the DAG that runs it). A helper
DAG outside the chain names its run records after its DAG id instead.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    CRAWL = "crawl"
    VALIDATE = "validate"
    EMBED = "embed"
    DATASET = "dataset"
    TRAIN = "train"
