"""Training: the modality-neutral GAN trainer (accelerate, EMA, atomic checkpoints, resume,
fault handling for NaN/inf losses and signals, monitoring), the task protocol it runs and the
optimiser schedule; what is one modality's (its task, step, data, export) lives with it in
:mod:`simvq_audio.codec` or :mod:`simvq_audio.image`.

Entry point: :class:`simvq_audio.train.trainer.GanTrainer` running a
:class:`~simvq_audio.train.task.TrainingTask`: :class:`simvq_audio.codec.training.CodecTask`
(``simvq-audio train``) or :class:`simvq_audio.image.training.ImageTask` (``simvq-audio image
train``).
"""
