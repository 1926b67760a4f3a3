#!/usr/bin/env bash
# Launcher running each stage command as a Slurm job step (srun), waiting for it:
#
#   bash run.sh --cmd "../../tools/launch/slurm.sh --partition=gpu --gres=gpu:8 --time=2-00:00:00"
#
# The options before the command are srun's (the cluster's partition, account, GPUs, time limit);
# this adds --ntasks=1 (one process per command: accelerate starts its GPU processes itself),
# --unbuffered (the output reaches the stage log while the job runs) and --kill-on-bad-exit=1.
# srun asks for an allocation of its own, or, when the recipe itself runs inside one (sbatch),
# starts the step there. The exit status is the command's. The interface: tools/launch/local.sh.
set -euo pipefail

[ $# -gt 0 ] || { echo "slurm.sh: error: no command given (usage: slurm.sh [SRUN OPTION...]" \
                       "COMMAND [ARG...])" >&2; exit 2; }
command -v srun > /dev/null \
    || { echo "slurm.sh: error: srun not found: run the recipe where Slurm is installed" >&2
         exit 127; }
exec srun --ntasks=1 --unbuffered --kill-on-bad-exit=1 "$@"
