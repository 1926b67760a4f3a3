"""Validation with the EMA generator: mean log-mel L1 distance and codebook use over the valid
set (items shared out over processes, results summed), plus a few audio clips and mel images
written to TensorBoard by the main process."""

from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn

from simvq_audio.codec.losses import MelLoss
from simvq_audio.codec.mel import MelSpectrogram, log_mel
from simvq_audio.data.segments import ValidationDataset
from simvq_audio.quantize import CodeUsage


@torch.no_grad()
def validate(generator: nn.Module, dataset: ValidationDataset, mel_loss: MelLoss,
             accelerator: Accelerator, num_codes: int) -> dict[str, float]:
    """``valid/mel_loss`` (mean over utterances) and ``valid/codebook_utilisation`` (fraction of
    codes used over the whole valid set)."""
    device = accelerator.device
    total = torch.zeros(2, device=device)  # [sum of losses, utterances]
    usage = CodeUsage(num_codes, device)
    for index in range(accelerator.process_index, len(dataset), accelerator.num_processes):
        wav = dataset[index].wav[None].to(device)
        wav_hat, tokens, _, _ = generator(wav)
        total += torch.stack([mel_loss(wav_hat.float(), wav), torch.ones((), device=device)])
        usage.update(tokens)
    total = accelerator.reduce(total, reduction="sum")
    return {"valid/mel_loss": float(total[0] / total[1].clamp_min(1)),
            "valid/codebook_utilisation": usage.utilisation()}


@torch.no_grad()
def write_examples(writer, generator: nn.Module, dataset: ValidationDataset, count: int,
                   step: int, device: torch.device) -> None:
    """Real and decoded audio of the first ``count`` valid utterances (``valid_audio/<utt-id>/``)
    and an image of both 100-band log-mel spectrograms (``valid_mel/<utt-id>``: real on top,
    low frequencies down) to the TensorBoard ``writer``."""
    mel = MelSpectrogram(dataset.sample_rate, 1024, 256, 100).to(device)
    for index in range(min(count, len(dataset))):
        segment = dataset[index]
        wav = segment.wav[None].to(device)
        wav_hat = generator(wav)[0].float().clamp(-1, 1)
        for name, audio in (("real", wav), ("decoded", wav_hat)):
            writer.add_audio(f"valid_audio/{segment.utt_id}/{name}", audio.cpu(), step,
                             sample_rate=dataset.sample_rate)
        image = torch.cat([log_mel(mel(x))[0].flip(0) for x in (wav, wav_hat)])  # [2 * 100, F]
        image = (image - image.min()) / (image.max() - image.min()).clamp_min(1e-8)
        writer.add_image(f"valid_mel/{segment.utt_id}", image[None].cpu(), step)

