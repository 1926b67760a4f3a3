"""Training: the accelerate-based GAN trainer, its optimiser schedule, EMA, atomic checkpoints,
fault handling (NaN/inf losses, signals), monitoring, and export of a trained model.

Entry point: :class:`simvq_audio.train.trainer.Trainer` (used by ``simvq-audio train``).
"""
