#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started, by their pid files, in reverse order (jobs first).
set -u
SLURM_ROOT=${SLURM_ROOT:-${TMPDIR:-/tmp}/orchestra-slurm}
export SLURM_CONF="$SLURM_ROOT/etc/slurm.conf"
[ -s "$SLURM_ROOT/run/slurmctld.pid" ] && timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1
for f in "$SLURM_ROOT/run/slurmd.pid" "$SLURM_ROOT/run/slurmctld.pid" \
         "$SLURM_ROOT/run/slurmdbd.pid" "$SLURM_ROOT/mysql/mysqld.pid" \
         "$SLURM_ROOT/munge/munged.pid"; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "[slurm-down] SIGKILL $f ($pid)" >&2; kill -KILL "$pid"; }
  fi
  rm -f "$f"
done
