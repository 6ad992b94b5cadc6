"""The adapters to the stores: MongoDB (its collections and indexes), Qdrant, the object store, Airflow connections."""
