"""The GEM model: ECG and vision towers, projectors, LLM, data, DeepSpeed training and inference.

Imports no Prefect; see docs/training.md. Entry points: `model.train.main(argv)`,
`model.infer.interpret(record_path, ckpt)`.
"""
