#!/usr/bin/env bash
# A real single-node Slurm cluster for orchestra's Slurm tests and benchmark, on a Debian/Ubuntu
# machine, as root, without systemd or cgroups: munged, slurmctld and slurmd, everything (config,
# state, logs, munge key) under $SLURM_ROOT; nothing is written to /etc.
#
#   eval "$(bash .ci/slurm-up.sh)"      # prints "export SLURM_CONF=..." and SLURM_STARTED_HERE=0|1
#                                       # (1: this call started the daemons) on stdout; logs on stderr
#   bash .ci/slurm-down.sh              # stops the daemons by their pid files
#
# The node advertises $NCPUS CPUs (default: 8, or the real count if larger; slurmd is told to trust
# the configuration) and $NGPUS fake GPUs as GRES (default 4): `--gres=gpu:1` really queues and
# sets CUDA_VISIBLE_DEVICES. Two partitions: `debug` (default) and `urgent`, whose jobs preempt
# `debug` jobs by requeueing them. `ACCOUNTING=1` adds MariaDB and slurmdbd so that `sacct` works
# (about 16 s more); orchestra never needs it. Exit status 3: Slurm cannot be installed here.
set -euo pipefail

SLURM_ROOT=${SLURM_ROOT:-${TMPDIR:-/tmp}/orchestra-slurm}
REAL_CPUS=$(nproc)
NCPUS=${NCPUS:-$(( REAL_CPUS > 8 ? REAL_CPUS : 8 ))}
NGPUS=${NGPUS:-4}
REAL_MEM_MB=${REAL_MEM_MB:-8000}
ACCOUNTING=${ACCOUNTING:-0}
DB_PORT=${DB_PORT:-3306}
HOST=$(hostname -s)     # NodeName must equal `hostname -s` for slurmd to find itself
log() { echo "[slurm-up $(date +%T)] $*" >&2; }

if [ "$(id -u)" != 0 ]; then log "needs root (to install packages and run the daemons)"; exit 3; fi

# 1. packages (~5-10 s with fresh apt lists); policy-rc.d and no systemd: nothing is auto-started
pkgs=(slurmctld slurmd slurm-client munge)
[ "$ACCOUNTING" = 1 ] && pkgs+=(slurmdbd mariadb-server)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { log "no apt-get: cannot install ${missing[*]}"; exit 3; }
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1; then
    log "apt-get could not install ${missing[*]}"; exit 3
  fi
fi

# Already up (same root, daemons alive)? Then wait until it answers and only print the export
# line: a busy controller is not a reason to write its configuration again.
export SLURM_CONF="$SLURM_ROOT/etc/slurm.conf"
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$SLURM_ROOT/run/slurmctld.pid" && alive "$SLURM_ROOT/run/slurmd.pid"; then
  for _ in $(seq 1 30); do
    if timeout 5 sinfo -h >/dev/null 2>&1; then
      log "already up"
      echo "export SLURM_CONF=$SLURM_CONF"
      echo "SLURM_STARTED_HERE=0"   # someone else's cluster: whoever stops it, it is not us
      exit 0
    fi
    sleep 1
  done
  log "slurmctld and slurmd run but do not answer; see $SLURM_ROOT/log/"
  exit 1
fi

mkdir -p "$SLURM_ROOT"/{etc,state,spool,log,run,munge,fakedev}
chmod 755 "$SLURM_ROOT"

# 2. munge: its own key and socket under $SLURM_ROOT, run as the munge user (Debian's convention)
chown munge:munge "$SLURM_ROOT/munge"; chmod 0755 "$SLURM_ROOT/munge"
[ -s "$SLURM_ROOT/munge/munge.key" ] || dd if=/dev/urandom bs=1 count=1024 of="$SLURM_ROOT/munge/munge.key" status=none
chown munge:munge "$SLURM_ROOT/munge/munge.key"; chmod 0400 "$SLURM_ROOT/munge/munge.key"
MUNGE_SOCK="$SLURM_ROOT/munge/munge.socket.2"

# 3. fake GPUs: slurmd wants File= to be a device, so symlinks to /dev/null; gres/gpu takes
#    CUDA_VISIBLE_DEVICES from the number that ends the name (nvidia2 -> 2)
for i in $(seq 0 $((NGPUS - 1))); do ln -sfn /dev/null "$SLURM_ROOT/fakedev/nvidia$i"; done

if [ "$ACCOUNTING" = 1 ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoragePass=$MUNGE_SOCK
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
  ACCT_LINES="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi

cat > "$SLURM_CONF" <<CONF
ClusterName=orchestra-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK,cred_expire=10
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SLURM_ROOT/state
SlurmdSpoolDir=$SLURM_ROOT/spool
SlurmctldPidFile=$SLURM_ROOT/run/slurmctld.pid
SlurmdPidFile=$SLURM_ROOT/run/slurmd.pid
SlurmctldLogFile=$SLURM_ROOT/log/slurmctld.log
SlurmdLogFile=$SLURM_ROOT/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups, no systemd: processes tracked through /proc, no containment
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT_LINES
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
# the node may advertise more CPUs than the machine has (test jobs mostly sleep)
SlurmdParameters=config_overrides
# preemption: jobs of the urgent partition requeue jobs of the debug partition
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
JobRequeue=1
# quick turnaround for tests (cred_expire above: a requeued job may start again after 11 s, not 121)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
MaxArraySize=10001
MaxJobCount=20000
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$NCPUS RealMemory=$REAL_MEM_MB Gres=gpu:$NGPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO PriorityTier=1
PartitionName=urgent Nodes=$HOST MaxTime=INFINITE State=UP OverSubscribe=NO PriorityTier=10 PreemptMode=OFF
CONF

cat > "$SLURM_ROOT/etc/gres.conf" <<CONF
AutoDetect=off
NodeName=$HOST Name=gpu File=$SLURM_ROOT/fakedev/nvidia[0-$((NGPUS - 1))]
CONF

# 4. munged
if ! alive "$SLURM_ROOT/munge/munged.pid"; then
  runuser -u munge -- /usr/sbin/munged \
    --socket="$MUNGE_SOCK" --key-file="$SLURM_ROOT/munge/munge.key" \
    --pid-file="$SLURM_ROOT/munge/munged.pid" --log-file="$SLURM_ROOT/munge/munged.log" \
    --seed-file="$SLURM_ROOT/munge/munged.seed"
fi
munge -S "$MUNGE_SOCK" -n | unmunge -S "$MUNGE_SOCK" >/dev/null
log "munged up"

# 5. MariaDB and slurmdbd, only for sacct
if [ "$ACCOUNTING" = 1 ]; then
  DB="$SLURM_ROOT/mysql"
  mkdir -p "$DB"; chown mysql:mysql "$DB"
  if [ ! -d "$DB/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DB/data" --user=mysql \
      --auth-root-authentication-method=socket --skip-test-db >"$DB/install.log" 2>&1
  fi
  nohup mariadbd --no-defaults --datadir="$DB/data" --user=mysql \
    --socket="$DB/mysqld.sock" --pid-file="$DB/mysqld.pid" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
    --log-error="$DB/error.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
  for _ in $(seq 1 100); do
    mariadb -S "$DB/mysqld.sock" -u root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2
  done
  mariadb -S "$DB/mysqld.sock" -u root -e \
    "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  cat > "$SLURM_ROOT/etc/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCK
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$SLURM_ROOT/log/slurmdbd.log
PidFile=$SLURM_ROOT/run/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
  chmod 600 "$SLURM_ROOT/etc/slurmdbd.conf"   # slurmdbd refuses a world-readable one
  slurmdbd
  for _ in $(seq 1 100); do timeout 5 sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  log "slurmdbd up"
fi

# 6. the controller, then the node daemon; wait until the node is idle
alive "$SLURM_ROOT/run/slurmctld.pid" || slurmctld -f "$SLURM_CONF"
alive "$SLURM_ROOT/run/slurmd.pid" || slurmd -f "$SLURM_CONF"
state=""
for _ in $(seq 1 150); do
  state=$(timeout 5 sinfo -h -N -p debug -o '%T' 2>/dev/null | head -1 || true)
  [ "$state" = "idle" ] && break
  sleep 0.2
done
if [ "$state" != "idle" ]; then
  log "the node did not become idle (state '${state:-none}'); see $SLURM_ROOT/log/"
  tail -5 "$SLURM_ROOT/log/slurmctld.log" "$SLURM_ROOT/log/slurmd.log" >&2 || true
  exit 1
fi
if [ "$ACCOUNTING" = 1 ]; then
  for _ in $(seq 1 100); do timeout 5 sacct -n -X >/dev/null 2>&1 && break; sleep 0.2; done
fi
sinfo -N -o '%N %P %T %c %m %G' >&2
log "slurm up ($(sinfo --version))"
echo "export SLURM_CONF=$SLURM_CONF"
echo "SLURM_STARTED_HERE=1"
