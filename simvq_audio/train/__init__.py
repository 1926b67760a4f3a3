"""Training: the modality-neutral GAN trainer (accelerate, EMA, atomic checkpoints, resume,
fault handling for NaN/inf losses and signals, monitoring), the task protocol it runs, the speech
codec's task, its optimiser schedule, and export of a trained codec.

Entry point: :class:`simvq_audio.train.trainer.GanTrainer` running a
:class:`~simvq_audio.train.task.TrainingTask`: :class:`simvq_audio.train.codec_task.CodecTask`
(``simvq-audio train``) or :class:`simvq_audio.image.training.ImageTask` (``simvq-audio image
train``).
"""
