# Sourced by the parallel launchers (after env.sh): start N training processes, in the background or
# (FOREGROUND=1) waiting for them and returning the first non-zero exit status.

die() { echo "error: $*" >&2; exit 1; }

# abs_path FILE: absolute path of an existing file, relative to the caller's directory
abs_path() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }

# free_port: a TCP port nobody listens on now (MASTER_PORT overrides)
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_master HOST PORT SECONDS: true once HOST:PORT accepts a TCP connection (tried every second), else one
# line on stdout saying why
wait_for_master() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end, last = time.time() + limit, "no answer"
while True:
    try:
        socket.create_connection((host, port), timeout=min(5.0, max(limit, 0.5))).close()
        sys.exit(0)
    except OSError as exc:
        last = exc.strerror or str(exc) or type(exc).__name__
    if time.time() >= end:
        print(last)
        sys.exit(1)
    time.sleep(1.0)
PYEOF
}

# cores_per_rank N: the CPU cores of this machine (CORES, default nproc: the cores this process may use) per
# local process, at least 1
cores_per_rank() {
  local cores="${CORES:-$(nproc 2>/dev/null || echo 1)}"
  is_int "$cores" && [ "$cores" -ge 1 ] || die "CORES must be a positive integer, got '$cores'"
  local per=$((cores / $1)); [ "$per" -ge 1 ] || per=1
  echo "$per"
}

# workers_arg N ARGS...: "--workers W" (data decoding workers per rank: the cores per local process less one for
# the training process, at least 1) unless ARGS give --workers already
workers_arg() {
  local n="$1"; shift
  local a; for a in "$@"; do case "$a" in --workers|--workers=*|--num_workers|--num_work) return 0;; esac; done
  local per; per="$(cores_per_rank "$n")"
  echo "--workers $(( per > 1 ? per - 1 : 1 ))"
}

# launch_mpirun MODEL_DIR N [--bind_core] [--key value ...]: OpenMPI's mpirun with N GPU processes on this
# machine. Each rank takes the device of its local rank (OMPI_COMM_WORLD_LOCAL_RANK, read by
# common.core.env.set_device); the CUDA/NCCL environment is forwarded with -x (PATH, LD_LIBRARY_PATH,
# CUDA_HOME, CUDA_VISIBLE_DEVICES, NCCL_*, PYTHONPATH, ...: those set here); --bind_core binds each rank to its
# share of the cores (--map-by slot:PE=cores_per_rank --bind-to core). Log: LOG_DIR/mpirun.log (+ LOG_DIR/mpi/).
# DRY_RUN=1 prints the command and each rank's device id instead of running it.
launch_mpirun() {
  local model_dir="$1" n="$2"; shift 2
  is_int "$n" && [ "$n" -ge 1 ] || die "the number of processes must be a positive integer, got '$n'"
  local bind=0 args=() a
  for a in "$@"; do case "$a" in --bind_core|--bind_core=true|--bind_core=True) bind=1;;
    --bind_core=false|--bind_core=False) bind=0;; *) args+=("$a");; esac; done
  local w; w="$(workers_arg "$n" "${args[@]+"${args[@]}"}")"
  [ -z "$w" ] || args=($w "${args[@]+"${args[@]}"}")  # the user's own options stay last
  local mpirun; mpirun="$(command -v mpirun || true)"
  if [ -z "$mpirun" ]; then
    [ "${DRY_RUN:-0}" = "1" ] && mpirun=mpirun || die "mpirun not found on PATH (install OpenMPI, or leave LAUNCHER unset for msrun)"
  fi
  check_launch train "$model_dir" --device_target GPU "${args[@]+"${args[@]}"}"  # options, paths, device (foreground)
  LOG_DIR="${LOG_DIR:-$PWD/train_$(basename "$model_dir")_gpu_${n}p}"
  local cmd=("$mpirun" -n "$n" --allow-run-as-root) v
  if [ "$bind" = 1 ]; then cmd+=(--map-by "slot:PE=$(cores_per_rank "$n")" --bind-to core)
  else cmd+=(--bind-to none); fi
  for v in PYTHONPATH ONEDNN_MAX_CPU_ISA GLOG_v PATH LD_LIBRARY_PATH CUDA_HOME CUDA_VISIBLE_DEVICES            CUDA_DEVICE_ORDER $(compgen -e | grep -E '^(NCCL_|FACEID_)' || true); do
    [ -n "${!v+x}" ] && cmd+=(-x "$v")
  done
  cmd+=(--output-filename "$LOG_DIR/mpi" "$PY" "$model_dir/train.py" --device_target GPU "${args[@]+"${args[@]}"}")
  if [ "${DRY_RUN:-0}" = "1" ] || [ "${CHECK_ONLY:-0}" = "1" ]; then
    printf '%q ' "${cmd[@]}"; echo
    local r; for ((r = 0; r < n; r++)); do echo "rank $r: device id $r (OMPI_COMM_WORLD_LOCAL_RANK=$r)"; done
    return 0
  fi
  mkdir -p "$LOG_DIR"
  local name; name="$(basename "$model_dir")"
  if [ "${FOREGROUND:-0}" = "1" ]; then "${cmd[@]}" > "$LOG_DIR/mpirun.log" 2>&1; return $?; fi
  nohup "${cmd[@]}" > "$LOG_DIR/mpirun.log" 2>&1 &
  watch_start "training $name on $n GPUs with mpirun" "$LOG_DIR/mpirun.log" $! || exit 1
  echo "training $name on $n GPUs with mpirun in the background (pid $!); log: $LOG_DIR/mpirun.log"
}

# launch_msrun TARGET MODEL_DIR N [--nodes M --node_rank K --master_addr HOST [--master_port P]] [--key value ...]:
# msrun with N workers on this machine (GPU NCCL, CPU mccl). With --nodes M > 1 this is node K of M machines
# (ranks K*N .. K*N+N-1 of M*N): start the same command on every node with its own --node_rank; node 0 hosts
# the scheduler at HOST:P (P default 8118). A node K > 0 first waits up to MASTER_TIMEOUT s (default 120) for
# the master to answer and stops with one line if it does not; msrun's cluster building is bounded by
# CLUSTER_TIMEOUT s (default 300). Logs: LOG_DIR/worker_<rank>.log (+ scheduler.log on node 0, msrun.log);
# LOG_DIR defaults to ./train_MODEL_TARGET_<M*N>p[_node<K>]; each rank also writes OUT/logs/train_rank<r>.log.
# TARGET Ascend/GPU: msrun gives each worker the device of its local rank. --bind_core: msrun binds each worker
# to its share of the cores (--bind_core=True). On GPU/Ascend each rank gets --workers (the cores per local
# process less one) unless the options give it. DRY_RUN=1 prints the msrun command and each local rank's device instead.
launch_msrun() {
  local target="$1" model_dir="$2" n="$3"; shift 3
  is_int "$n" && [ "$n" -ge 1 ] || die "the number of processes must be a positive integer, got '$n'"
  local nodes=1 node_rank=0 master_addr="" port="${MASTER_PORT:-}" args=() key val bind=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes|--node_rank|--master_addr|--master_port)
        [ $# -ge 2 ] || die "$1 needs a value"; key="$1"; val="$2"; shift 2;;
      --nodes=*|--node_rank=*|--master_addr=*|--master_port=*) key="${1%%=*}"; val="${1#*=}"; shift;;
      --bind_core|--bind_core=true|--bind_core=True) bind=1; shift; continue;;
      --bind_core=false|--bind_core=False) bind=0; shift; continue;;
      *) args+=("$1"); shift; continue;;
    esac
    case "$key" in
      --nodes) nodes="$val";; --node_rank) node_rank="$val";; --master_addr) master_addr="$val";;
      --master_port) port="$val";;
    esac
  done
  is_int "$nodes" && [ "$nodes" -ge 1 ] || die "--nodes must be a positive integer, got '$nodes'"
  is_int "$node_rank" && [ "$node_rank" -lt "$nodes" ] || die "--node_rank must be in 0..$((nodes - 1)), got '$node_rank'"
  [ -z "$port" ] || { is_int "$port" && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ]; } ||
    die "--master_port must be a port number in 1024..65535, got '$port'"
  if [ "$nodes" -gt 1 ]; then
    [ -n "$master_addr" ] || die "--nodes $nodes needs --master_addr HOST (the address of node 0, reachable from every node)"
    port="${port:-8118}"
  fi
  local total=$((n * nodes)) name; name="$(basename "$model_dir")"
  local suffix=""; [ "$nodes" -eq 1 ] || suffix="_node${node_rank}"
  LOG_DIR="${LOG_DIR:-$PWD/train_${name}_$(echo "$target" | tr 'A-Z' 'a-z')_${total}p${suffix}}"
  local msrun; msrun="$(dirname "$PY")/msrun"
  [ -x "$msrun" ] || msrun="$(command -v msrun || true)"
  [ -n "$msrun" ] || die "msrun not found next to $PY nor on PATH (it comes with mindspore >= 2.3)"
  port="${port:-$(free_port)}"
  local w=""; [ "$target" = "CPU" ] || w="$(workers_arg "$n" "${args[@]+"${args[@]}"}")"
  [ -z "$w" ] || args=($w "${args[@]+"${args[@]}"}")  # the user's own options stay last
  local cmd=("$msrun" --worker_num="$total" --local_worker_num="$n" --master_port="$port" --log_dir="$LOG_DIR"
             --join=True)
  [ "$bind" = 0 ] || cmd+=(--bind_core=True)
  [ "$nodes" -eq 1 ] || cmd+=(--master_addr="$master_addr" --node_rank="$node_rank"
                              --cluster_time_out="${CLUSTER_TIMEOUT:-300}")
  cmd+=("$model_dir/train.py" --device_target "$target" "${args[@]+"${args[@]}"}")
  check_launch train "$model_dir" --device_target "$target" "${args[@]+"${args[@]}"}"  # options, paths, device
  if [ "${DRY_RUN:-0}" = "1" ] || [ "${CHECK_ONLY:-0}" = "1" ]; then
    printf '%q ' "${cmd[@]}"; echo
    if [ "$target" != "CPU" ]; then
      local r; for ((r = 0; r < n; r++)); do echo "rank $((node_rank * n + r)): device id $r (msrun local rank $r)"; done
    fi
    return 0
  fi
  if [ "$nodes" -gt 1 ] && [ "$node_rank" -gt 0 ]; then
    local why; why="$(wait_for_master "$master_addr" "$port" "${MASTER_TIMEOUT:-120}")" ||
      die "node $node_rank of $nodes cannot reach the master $master_addr:$port within ${MASTER_TIMEOUT:-120} s ($why); start node 0 first and check --master_addr/--master_port and the firewall"
  fi
  mkdir -p "$LOG_DIR/.bin"
  LOG_DIR="$(cd "$LOG_DIR" && pwd)"
  # msrun starts each worker as 'python SCRIPT': make 'python' our interpreter (a script, not a link: a
  # link to a virtualenv's python outside its bin/ would lose the virtualenv)
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$PY" > "$LOG_DIR/.bin/python"; chmod +x "$LOG_DIR/.bin/python"
  export PATH="$LOG_DIR/.bin:$PATH"
  local where="$n $target process(es)"; [ "$nodes" -eq 1 ] || where="$n $target process(es) on node $node_rank of $nodes (ranks $((node_rank * n))-$((node_rank * n + n - 1)) of $total, master $master_addr:$port)"
  if [ "${FOREGROUND:-0}" = "1" ]; then
    set +e; "${cmd[@]}" > "$LOG_DIR/msrun.log" 2>&1; local rc=$?; set -e
    # a node K > 0 on the master's own machine (a one-machine rehearsal): msrun starts a second scheduler there,
    # which cannot take the master's port; the node succeeded when none of its workers failed
    if [ $rc -ne 0 ] && [ "$node_rank" -gt 0 ] && [ -f "$LOG_DIR/scheduler.log" ] &&
       ! grep -q "Worker process .* exit with exception" "$LOG_DIR/msrun.log" &&
       grep -q "Scheduler process .* exit with exception" "$LOG_DIR/msrun.log"; then rc=0; fi
    [ $rc -eq 0 ] || echo "error: $name on $where failed (exit $rc):" \
      "$(cat "$LOG_DIR"/worker_*.log 2>/dev/null | grep -m1 '^error: ' | cut -c8- || true) (logs: $LOG_DIR/worker_*.log)" >&2
    return $rc
  fi
  nohup "${cmd[@]}" > "$LOG_DIR/msrun.log" 2>&1 &
  watch_start "training $name on $where" "$LOG_DIR/worker_*.log $LOG_DIR/msrun.log" $! || exit 1
  echo "training $name on $where with msrun in the background (pid $!, port $port);" \
       "logs: $LOG_DIR/worker_<rank>.log"
}

# launch_rank_table MODEL_DIR HCCL_JSON N [--server_ip IP] [--key value ...]: one process per Ascend device of
# THIS server in the rank table (N devices here; a multi-server table holds every server's), with
# RANK_TABLE_FILE, RANK_SIZE (all devices of the table), RANK_ID (the table's global rank_id) and DEVICE_ID
# set; the table is validated before anything starts. This server is --server_ip / $SERVER_ID, else the
# server_id among this host's addresses (scripts/hccl_tools.py local). Logs: LOG_DIR/rank_<rank>.log, LOG_DIR
# default ./train_MODEL_ascend_<total>p[_<server>]. Run the same command on every server of the table.
# DRY_RUN=1 prints each process's environment and command instead of starting it.
launch_rank_table() {
  local model_dir="$1" table="$2" n="$3"; shift 3
  [ -f "$table" ] || die "$table: rank table file not found (write one with: python scripts/hccl_tools.py write --devices 0-$((n - 1)))"
  local server_ip="" args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --server_ip) [ $# -ge 2 ] || die "--server_ip needs a value"; server_ip="$2"; shift 2;;
      --server_ip=*) server_ip="${1#*=}"; shift;;
      *) args+=("$1"); shift;;
    esac
  done
  local plan; plan="$("$PY" "$REPO/scripts/hccl_tools.py" local "$table" --local_devices "$n" \
    ${server_ip:+--server_ip "$server_ip"})" || exit 1
  local total server ranks=() devs=() r d
  read -r _ total _ server <<< "$(head -n 1 <<< "$plan")"
  while read -r r d; do ranks+=("$r"); devs+=("$d"); done < <(tail -n +2 <<< "$plan")
  [ "${#devs[@]}" -eq "$n" ] || die "$table: $n devices expected on server $server, found ${#devs[@]}"
  local name; name="$(basename "$model_dir")"
  check_launch train "$model_dir" --device_target Ascend "${args[@]+"${args[@]}"}"  # options, paths, device
  export RANK_TABLE_FILE; RANK_TABLE_FILE="$(abs_path "$table")"
  export RANK_SIZE="$total" DEVICE_NUM="$n"
  local suffix=""; [ "$total" -eq "$n" ] || suffix="_$server"
  LOG_DIR="${LOG_DIR:-$PWD/train_${name}_ascend_${total}p${suffix}}"
  local i
  if [ "${DRY_RUN:-0}" = "1" ] || [ "${CHECK_ONLY:-0}" = "1" ]; then
    for ((i = 0; i < n; i++)); do
      echo "RANK_TABLE_FILE=$RANK_TABLE_FILE RANK_SIZE=$total RANK_ID=${ranks[$i]} DEVICE_ID=${devs[$i]}" \
           "$PY $model_dir/train.py --device_target Ascend --device_id ${devs[$i]} ${args[*]+${args[*]}}" \
           "> $LOG_DIR/rank_${ranks[$i]}.log"
    done
    return 0
  fi
  mkdir -p "$LOG_DIR"; LOG_DIR="$(cd "$LOG_DIR" && pwd)"
  local pids=()
  for ((i = 0; i < n; i++)); do
    RANK_ID="${ranks[$i]}" DEVICE_ID="${devs[$i]}" nohup "$PY" "$model_dir/train.py" --device_target Ascend \
      --device_id "${devs[$i]}" "${args[@]+"${args[@]}"}" > "$LOG_DIR/rank_${ranks[$i]}.log" 2>&1 &
    pids+=($!)
  done
  if [ "${FOREGROUND:-0}" = "1" ]; then
    local rc=0 r
    for i in "${!pids[@]}"; do
      set +e; wait "${pids[$i]}"; r=$?; set -e
      if [ $r -ne 0 ]; then
        echo "error: rank ${ranks[$i]} (device ${devs[$i]}) failed (exit $r): $(grep -m1 '^error: ' "$LOG_DIR/rank_${ranks[$i]}.log" || tail -n 1 "$LOG_DIR/rank_${ranks[$i]}.log") (log: $LOG_DIR/rank_${ranks[$i]}.log)" >&2
        [ $rc -ne 0 ] || rc=$r
      fi
    done
    return $rc
  fi
  watch_start "training $name on $n Ascend devices" "$LOG_DIR/rank_*.log" "${pids[@]}" || exit 1
  echo "training $name on $n Ascend devices (${devs[*]}) of server $server, ranks ${ranks[*]} of $total, in the background (pids ${pids[*]});" \
       "logs: $LOG_DIR/rank_<rank>.log"
}
