"""Prefect flows and the CLI. Importing this package first keeps Prefect and litellm offline-safe."""
import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
