"""The generated world the offline default runs on: a multilingual benchmark from a grammar and a lexicon
(`benchmark`), and tiny XLM-R encoders pretrained on its corpus (`pretraining`).

Nothing here is a task format or a training loop: the built-in tasks are registered beside the real ones
(`study.tasks.builtin_tasks`), and the model code loads a pretrained tiny encoder like any other checkpoint.
"""
