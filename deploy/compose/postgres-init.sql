-- Runs once, when the compose postgres volume is first created: MLflow keeps its tracking
-- data in a database of its own, beside inferq's (both run Alembic, on one version table each).
CREATE DATABASE mlflow;
