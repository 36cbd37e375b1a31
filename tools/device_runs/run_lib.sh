# run_lib.sh: sourced by the device run scripts in this folder (bundled beside
# them) after they set HERE to the bundle folder. Sets LD_LIBRARY_PATH for the
# bundle's lib/, OUT (default $HERE/out), an empty summary $S, and
# $OUT/device.txt (GPU, commit, date); note NAME TEXT adds a summary row,
# its name padded to NOTE_WIDTH (default 34); late NAME is true (and notes
# NAME as skipped) once the script has run DEADLINE_S seconds (default 400);
# summary LOG is a gtest log's last PASSED/FAILED line; sanitized NAME LOG
# SECONDS TOOL BINARY [ARGS...] runs compute-sanitizer's TOOL over BINARY
# into LOG and notes NAME with the exit code and both summaries;
# engine_steps SETTING SECONDS "VARS" ARGS... runs $B/engine_step_bench ARGS
# --json with the environment VARS into $OUT/engine_SETTING.log ("+" as "_")
# and appends its rows, tagged "setting":"SETTING", to
# $OUT/engine_steps.jsonl; step_table prints that file's step p50s, one
# line per setting and batch, the runs side by side.
# On exit every file under $OUT but the summary and device.txt goes into
# $OUT/logs.tgz: the device tool returns at most 8 files.
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
S="$OUT/summary.txt"; : > "$S"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; echo "commit $(head -1 "$HERE/COMMIT")"; date -u; } > "$OUT/device.txt" 2>&1
note() { printf "%-${NOTE_WIDTH:-34}s %s\n" "$1" "$2" >> "$S"; }
late() { (( SECONDS > ${DEADLINE_S:-400} )) && { note "$1" "skipped (time)"; return 0; }; return 1; }
summary() { grep -aE '^\[  (PASSED|FAILED) ' "$1" | tail -1; }
sanitized() {
  local name=$1 log=$2 seconds=$3 tool=$4
  shift 4
  timeout "$seconds" compute-sanitizer --tool "$tool" --error-exitcode 99 "$@" > "$log" 2>&1
  note "$name" "rc=$? $(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1) $(summary "$log")"
}
engine_steps() {
  local name=$1 seconds=$2 vars=$3 log="$OUT/engine_${1//+/_}.log"
  shift 3
  # shellcheck disable=SC2086
  env $vars timeout "$seconds" "$B/engine_step_bench" "$@" --json > "$log" 2>&1
  note "engine_step_bench $name" "rc=$?"
  grep -a '^{' "$log" | sed "s/^{/{\"setting\":\"$name\",/" >> "$OUT/engine_steps.jsonl"
}
pack_logs() {
  local files
  files=$(cd "$OUT" && find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name device.txt ! -name logs.tgz -printf '%P\n')
  [[ -n $files ]] || return 0
  # shellcheck disable=SC2086  # names this folder's scripts chose: no spaces
  (cd "$OUT" && tar czf logs.tgz $files && rm -rf $files)
}
trap pack_logs EXIT
step_table() {
  python3 - "$OUT/engine_steps.jsonl" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    rows.setdefault((r["setting"], r.get("batch")), []).append(r.get("step_ms_p50"))
for (s, b), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
    print(f"{s:24s} B={b}: " + " / ".join(f"{x:.3f}" for x in v if isinstance(x, float)))
PY
}
