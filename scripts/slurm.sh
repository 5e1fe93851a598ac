#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the sharded-sweep tests (and for trying
# `difftheory slurm` without a cluster): Debian's slurm-wlm and munge, started without systemd.
#
#   scripts/slurm.sh install   apt-get install slurm-wlm munge (if missing)
#   scripts/slurm.sh start     write slurm.conf into the state folder, start munged, slurmctld and
#                              slurmd, wait until the node is idle; prints `export SLURM_CONF=…`
#   scripts/slurm.sh stop      stop the daemons by pid and wipe the state folder (runs repeat)
#
# The state folder is $DT_SLURM_STATE (default /tmp/difftheory-slurm). One node named as
# `hostname -s` with `nproc` CPUs, ProctrackType=proctrack/linuxproc, TaskPlugin=task/none and no
# scheduling delay. Needs root (munged runs as the munge user, the Slurm daemons as root).
# Measured on the 2-core development machine: install 13 s, start 0.1 s (node idle at once).
set -euo pipefail
state="${DT_SLURM_STATE:-/tmp/difftheory-slurm}"
conf="$state/slurm.conf"
log() { printf '[slurm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return 0
  fi
  log "apt-get install slurm-wlm munge"
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

stop() {
  if [ "$(id -u)" != 0 ] && [ -d "$state" ] && command -v sudo >/dev/null; then
    exec sudo DT_SLURM_STATE="$state" bash "${BASH_SOURCE[0]}" stop
  fi
  for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munged.pid"; do
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$state"
}

start() {
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "slurm.sh start: needs root or sudo (munged and slurmd)" >&2; exit 2; }
    exec sudo DT_SLURM_STATE="$state" bash "${BASH_SOURCE[0]}" start
  fi
  install
  stop
  mkdir -p "$state/ctld" "$state/slurmd" "$state/munge"
  chown munge:munge "$state/munge"
  chmod 755 "$state/munge"
  [ -s /etc/munge/munge.key ] || { runuser -u munge -- mungekey --create --keyfile /etc/munge/munge.key; }
  local host cpus
  host="$(hostname -s)"
  cpus="$(nproc)"
  cat > "$conf" <<EOF
ClusterName=difftheory
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$state/munge/munge.socket
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
MinJobAge=3600
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmdSpoolDir=$state/slurmd
StateSaveLocation=$state/ctld
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  runuser -u munge -- munged --socket="$state/munge/munge.socket" --pid-file="$state/munge/munged.pid" \
    --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed"
  for _ in $(seq 50); do [ -f "$state/munge/munged.pid" ] && break; sleep 0.1; done
  cp "$state/munge/munged.pid" "$state/munged.pid"
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for _ in $(seq 200); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
      log "node $host idle ($cpus CPUs); state in $state"
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 0.1
  done
  log "the node did not become idle in 20 s; the logs:"
  tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
  stop
  exit 1
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/slurm.sh install|start|stop" >&2; exit 2 ;;
esac
