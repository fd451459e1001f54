# Sourced by scripts/run_infer_310.sh (Ascend): cann_env finds the CANN toolkit -- ASCEND_TOOLKIT_HOME, else
# ASCEND_HOME/ascend-toolkit/latest, else ASCEND_HOME, else /usr/local/Ascend/ascend-toolkit/latest -- checks it
# holds the ACL runtime (lib64/libascendcl.so), sources its set_env.sh and exports ASCEND_TOOLKIT_HOME,
# ASCEND_OPP_PATH, ASCEND_AICPU_PATH and LD_LIBRARY_PATH (lib64 first). One "error: ..." line and status 1
# when it is missing. The same search as python -m common.doctor (common/core/doctor.py: ascend_toolkit).
cann_env() {
  local t="" c v
  for c in "${ASCEND_TOOLKIT_HOME:-}" "${ASCEND_HOME:+$ASCEND_HOME/ascend-toolkit/latest}" "${ASCEND_HOME:-}" \
           /usr/local/Ascend/ascend-toolkit/latest; do
    if [[ -n "$c" && ( -f "$c/set_env.sh" || -d "$c/lib64" ) ]]; then t="$c"; break; fi
  done
  if [[ -z "$t" ]]; then
    echo "error: Ascend needs the CANN toolkit: set ASCEND_TOOLKIT_HOME (or ASCEND_HOME) to it" \
         "(ASCEND_TOOLKIT_HOME=${ASCEND_TOOLKIT_HOME:-unset}, ASCEND_HOME=${ASCEND_HOME:-unset}," \
         "/usr/local/Ascend/ascend-toolkit/latest not found)" >&2
    return 1
  fi
  if [[ ! -e "$t/lib64/libascendcl.so" ]]; then
    echo "error: $t: not a CANN toolkit (no lib64/libascendcl.so); set ASCEND_TOOLKIT_HOME to the toolkit" \
         "folder (e.g. /usr/local/Ascend/ascend-toolkit/latest)" >&2
    return 1
  fi
  if [[ -f "$t/set_env.sh" ]]; then
    local had_u=0; [[ $- == *u* ]] && had_u=1
    set +u; source "$t/set_env.sh" >/dev/null 2>&1 || true; [[ $had_u == 1 ]] && set -u
  fi
  export ASCEND_TOOLKIT_HOME="$t" ASCEND_OPP_PATH="${ASCEND_OPP_PATH:-$t/opp}" ASCEND_AICPU_PATH="${ASCEND_AICPU_PATH:-$t}"
  case ":${LD_LIBRARY_PATH:-}:" in *":$t/lib64:"*) ;; *) export LD_LIBRARY_PATH="$t/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}";; esac
  v="$(grep -hs -m1 -E '^\s*[Vv]ersion\s*=' "$t"/*/ascend_toolkit_install.info "$t"/ascend_toolkit_install.info \
       "$t"/version.cfg 2>/dev/null | head -n 1 | sed 's/.*=\s*//' || true)"
  echo "CANN: $t (version ${v:-unknown}); environment set from ${t}/set_env.sh"
}
