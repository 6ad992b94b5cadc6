"""Observability and governance: run records and summaries, alerts and notifications, the audit trail,
OpenLineage events, lineage queries, and the generated docs."""
