"""Prefect flows, one per stage, and the parent build flow. Nothing runs at import time."""
