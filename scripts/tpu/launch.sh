#!/usr/bin/env bash
# Runs one command on every worker of a Cloud TPU VM pod slice, detached, in the flan checkout.
#
#   scripts/tpu/launch.sh TPU_NAME ZONE -- [VAR=VALUE ...] flan train --distributed ...
#   scripts/tpu/launch.sh TPU_NAME ZONE status [RUN]    running / exit code + last log line, per worker
#   scripts/tpu/launch.sh TPU_NAME ZONE logs [RUN]      the last 20 lines of every worker's log
#   scripts/tpu/launch.sh TPU_NAME ZONE stop [RUN]      SIGTERM to the run (flan saves a checkpoint)
#
# Every argument after `--` reaches the workers exactly as typed here: each is quoted for the
# remote shell, so `--gin.MIXTURE="'mix:flan'"` arrives as --gin.MIXTURE='mix:flan' (a gin
# string), and values with spaces or gs:// paths stay one argument. The job runs detached from
# the ssh session (setsid + nohup: a dropped connection does not stop a pod run), in
# ~/flan-runs/RUN on each worker: HOST.log (stdout and stderr), HOST.pid (the job's process
# group), HOST.rc (exit code, when done). RUN is $FLAN_RUN or the launch time (UTC); the verbs default to the latest run.
set -euo pipefail
usage() {
  echo "usage: $0 TPU_NAME ZONE -- COMMAND...   |   $0 TPU_NAME ZONE status|logs|stop [RUN]" >&2
  exit 2
}
[ $# -ge 3 ] || usage
tpu=$1 zone=$2 verb=$3
shift 3
runs='$HOME/flan-runs'
ssh_all() { gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "$1"; }

case "$verb" in
  --)
    [ $# -ge 1 ] || usage
    run=${FLAN_RUN:-$(date -u +%Y%m%d-%H%M%S)}
    [[ "$run" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "FLAN_RUN=$run: letters, digits, . _ - only" >&2; exit 2; }
    inner=$(printf '%q ' "$@")
    # The job records its process group (setsid made it the group's leader) for status/stop.
    job="echo \$\$ > $runs/$run/\$(hostname).pid; cd ~/flan && source .venv/bin/activate && $inner"
    job+="; echo \$? > $runs/$run/\$(hostname).rc"
    remote="mkdir -p $runs/$run && ln -sfn $run $runs/latest && cd $runs/$run"
    remote+=" && rm -f \$(hostname).rc \$(hostname).pid"
    remote+=" && { nohup setsid bash -c $(printf '%q' "$job") > \$(hostname).log 2>&1 < /dev/null & }"
    remote+=" && echo \"\$(hostname): started $run\""
    ssh_all "$remote"
    echo "run $run: $0 $tpu $zone status|logs|stop $run"
    ;;
  status|logs|stop)
    run=${1:-latest}
    [[ "$run" =~ ^[A-Za-z0-9._-]+$ ]] || usage
    dir="$runs/$run" host='$(hostname)'
    # Alive: no exit code yet and the process group is there (a finished group may linger as a
    # zombie where nothing reaps it).
    alive="[ ! -f $dir/$host.rc ] && kill -0 -- -\$(cat $dir/$host.pid 2>/dev/null) 2>/dev/null"
    case "$verb" in
      status) remote="if [ -f $dir/$host.rc ]; then echo \"$host: exited \$(cat $dir/$host.rc)\";"
              remote+=" elif $alive; then echo \"$host: running\"; else echo \"$host: not running\"; fi;"
              remote+=" tail -n 1 $dir/$host.log 2>/dev/null | sed \"s/^/  /\"" ;;
      logs)   remote="echo \"== $host\"; tail -n 20 $dir/$host.log" ;;
      stop)   remote="if $alive; then kill -TERM -- -\$(cat $dir/$host.pid) && echo \"$host: stopping\";"
              remote+=" else echo \"$host: not running\"; fi" ;;
    esac
    ssh_all "$remote"
    ;;
  *) usage ;;
esac
