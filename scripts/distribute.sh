# Sourced by the parallel launchers (after env.sh): start N training processes, in the background or
# (FOREGROUND=1) waiting for them and returning the first non-zero exit status.

die() { echo "error: $*" >&2; exit 1; }

# abs_path FILE: absolute path of an existing file, relative to the caller's directory
abs_path() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }

# free_port: a TCP port nobody listens on now (MASTER_PORT overrides)
free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# launch_msrun TARGET MODEL_DIR N [--key value ...]: msrun with N local workers (GPU NCCL, CPU mccl).
# Logs: LOG_DIR/worker_<rank>.log (+ scheduler.log, msrun.log); each rank also writes OUT/logs/train_rank<r>.log.
launch_msrun() {
  local target="$1" model_dir="$2" n="$3"; shift 3
  is_int "$n" && [ "$n" -ge 1 ] || die "the number of processes must be a positive integer, got '$n'"
  local name; name="$(basename "$model_dir")"
  LOG_DIR="${LOG_DIR:-$PWD/train_${name}_$(echo "$target" | tr 'A-Z' 'a-z')_${n}p}"
  mkdir -p "$LOG_DIR/.bin"
  LOG_DIR="$(cd "$LOG_DIR" && pwd)"
  local msrun; msrun="$(dirname "$PY")/msrun"
  [ -x "$msrun" ] || msrun="$(command -v msrun || true)"
  [ -n "$msrun" ] || die "msrun not found next to $PY nor on PATH (it comes with mindspore >= 2.3)"
  # msrun starts each worker as 'python SCRIPT': make 'python' our interpreter (a script, not a link: a
  # link to a virtualenv's python outside its bin/ would lose the virtualenv)
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$PY" > "$LOG_DIR/.bin/python"; chmod +x "$LOG_DIR/.bin/python"
  export PATH="$LOG_DIR/.bin:$PATH"
  local port="${MASTER_PORT:-$(free_port)}"
  local cmd=("$msrun" --worker_num="$n" --local_worker_num="$n" --master_port="$port" --log_dir="$LOG_DIR"
             --join=True "$model_dir/train.py" --device_target "$target" "$@")
  if [ "${FOREGROUND:-0}" = "1" ]; then
    set +e; "${cmd[@]}" > "$LOG_DIR/msrun.log" 2>&1; local rc=$?; set -e
    [ $rc -eq 0 ] || echo "error: $name on $n $target process(es) failed (exit $rc):" \
      "$(cat "$LOG_DIR"/worker_*.log 2>/dev/null | grep -m1 '^error: ' | cut -c8- || true) (logs: $LOG_DIR/worker_*.log)" >&2
    return $rc
  fi
  nohup "${cmd[@]}" > "$LOG_DIR/msrun.log" 2>&1 &
  echo "training $name on $n $target process(es) with msrun in the background (pid $!, port $port);" \
       "logs: $LOG_DIR/worker_<rank>.log"
}

# launch_rank_table MODEL_DIR HCCL_JSON N [--key value ...]: one process per Ascend device of the rank table,
# with RANK_TABLE_FILE, RANK_SIZE, RANK_ID, DEVICE_ID set; the table is validated before anything starts.
launch_rank_table() {
  local model_dir="$1" table="$2" n="$3"; shift 3
  [ -f "$table" ] || die "$table: rank table file not found (write one with: python scripts/hccl_tools.py write --devices 0-$((n - 1)))"
  local devices; devices="$("$PY" "$REPO/scripts/hccl_tools.py" validate "$table" --rank_size "$n")" || exit 1
  read -r -a devs <<< "$devices"
  [ "${#devs[@]}" -eq "$n" ] || die "$table: $n devices expected on this server (the first in server_list), found ${#devs[@]}"
  local name; name="$(basename "$model_dir")"
  export RANK_TABLE_FILE; RANK_TABLE_FILE="$(abs_path "$table")"
  export RANK_SIZE="$n" DEVICE_NUM="$n"
  LOG_DIR="${LOG_DIR:-$PWD/train_${name}_ascend_${n}p}"
  mkdir -p "$LOG_DIR"; LOG_DIR="$(cd "$LOG_DIR" && pwd)"
  local pids=() i
  for ((i = 0; i < n; i++)); do
    RANK_ID="$i" DEVICE_ID="${devs[$i]}" nohup "$PY" "$model_dir/train.py" --device_target Ascend \
      --device_id "${devs[$i]}" "$@" > "$LOG_DIR/rank_$i.log" 2>&1 &
    pids+=($!)
  done
  if [ "${FOREGROUND:-0}" = "1" ]; then
    local rc=0 r
    for i in "${!pids[@]}"; do
      set +e; wait "${pids[$i]}"; r=$?; set -e
      if [ $r -ne 0 ]; then
        echo "error: rank $i (device ${devs[$i]}) failed (exit $r): $(grep -m1 '^error: ' "$LOG_DIR/rank_$i.log" || tail -n 1 "$LOG_DIR/rank_$i.log") (log: $LOG_DIR/rank_$i.log)" >&2
        [ $rc -ne 0 ] || rc=$r
      fi
    done
    return $rc
  fi
  echo "training $name on $n Ascend devices (${devs[*]}) in the background (pids ${pids[*]});" \
       "logs: $LOG_DIR/rank_<rank>.log"
}
