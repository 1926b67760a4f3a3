#!/usr/bin/env bash
# The recipes' default launcher (--cmd ../../tools/launch/local.sh): runs a stage command here.
#
# Every launcher is called by run_stage (tools/recipe.sh) as `LAUNCHER [ITS OPTIONS] COMMAND
# [ARG...]`, once per command of a stage. It runs COMMAND with its arguments exactly as given,
# waits for it, lets its output through to stdout/stderr as it comes (run_stage time-stamps it
# into the stage log) and exits with its status. slurm.sh runs it as a Slurm job step instead;
# write your own for another scheduler.
set -euo pipefail

[ $# -gt 0 ] || { echo "local.sh: error: no command given (usage: local.sh COMMAND [ARG...])" >&2
                  exit 2; }
command -v "$1" > /dev/null || { echo "local.sh: error: '$1' is not a command" >&2; exit 127; }
exec "$@"
