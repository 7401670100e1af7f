"""Evaluation of ECG interpreters (teachers or trained checkpoints) on a split of an exported dataset.

`spec` names what a run works on and where it writes; `stage` interprets and judges shards;
`labels`, `grounding` and `rubric` compute the metrics; `report` and `review` present them.
See docs/evaluation.md.
"""
