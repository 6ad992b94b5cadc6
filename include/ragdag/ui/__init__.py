"""The platform's page in the Airflow UI (mounted by the plugin in ``plugins/``)."""
