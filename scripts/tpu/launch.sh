#!/usr/bin/env bash
# Runs one command on every worker of a Cloud TPU VM pod slice, in the flan checkout there.
#
#   scripts/tpu/launch.sh TPU_NAME ZONE -- flan train --distributed --gin_file=... [...]
#
# Every host runs the same program: `--distributed` calls jax.distributed.initialize(), each host
# reads its own shard of the data (seqio.ShardInfo) and feeds its rows of the global batch.
set -euo pipefail
if [ $# -lt 4 ] || [ "$3" != "--" ]; then
  echo "usage: $0 TPU_NAME ZONE -- COMMAND..." >&2
  exit 2
fi
tpu=$1 zone=$2
shift 3
command="cd ~/flan && source .venv/bin/activate && $*"
exec gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$command"
