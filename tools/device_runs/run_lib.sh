# run_lib.sh: sourced by the device run scripts in this folder (bundled beside
# them) after they set HERE to the bundle folder. Sets LD_LIBRARY_PATH for the
# bundle's lib/, OUT (default $HERE/out), an empty summary $S, and
# $OUT/device.txt (GPU, commit, date); note NAME TEXT adds a summary row,
# its name padded to NOTE_WIDTH (default 34); late NAME is true (and notes
# NAME as skipped) once the script has run DEADLINE_S seconds (default 400);
# summary LOG is a gtest log's last PASSED/FAILED line.
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
S="$OUT/summary.txt"; : > "$S"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; echo "commit $(head -1 "$HERE/COMMIT")"; date -u; } > "$OUT/device.txt" 2>&1
note() { printf "%-${NOTE_WIDTH:-34}s %s\n" "$1" "$2" >> "$S"; }
late() { (( SECONDS > ${DEADLINE_S:-400} )) && { note "$1" "skipped (time)"; return 0; }; return 1; }
summary() { grep -aE '^\[  (PASSED|FAILED) ' "$1" | tail -1; }
