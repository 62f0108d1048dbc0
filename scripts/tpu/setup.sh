#!/usr/bin/env bash
# Installs flan (with TPU JAX) on every worker of a Cloud TPU VM pod slice.
#
#   scripts/tpu/setup.sh TPU_NAME ZONE [GIT_URL]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 TPU_NAME ZONE [GIT_URL]" >&2
  exit 2
fi
tpu=$1 zone=$2 url=${3:-$(git config --get remote.origin.url)}
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  [ -d ~/flan ] || git clone '$url' ~/flan
  cd ~/flan && git pull --ff-only
  python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[tpu]'
  .venv/bin/python -c 'import jax; print(jax.process_index(), jax.device_count())'
"
