"""The OpenLineage extractor of the bundle's TaskFlow tasks (``[openlineage] extractors``)."""

from __future__ import annotations

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

from ragdag.observability.openlineage import task_datasets


class RagdagTaskExtractor(BaseExtractor):
    """Inputs and outputs of a task: its Asset inlets / outlets and its stage's store collections."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator", "PythonOperator"]

    def _execute_extraction(self) -> OperatorLineage | None:
        task = self.operator
        inputs, outputs = task_datasets(task.dag_id, task.task_id, task.inlets, task.outlets)
        return OperatorLineage(inputs=inputs, outputs=outputs)
