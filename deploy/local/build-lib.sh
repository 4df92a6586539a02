# Sourced by services.sh and bench-lib.sh: one way to build the executables.
#   fieldwork_build CONFIG LOG — builds every executable in one `swift build`
#   (both cores stay busy to the end, where one build per product left one idle
#   while each product's last module compiled and linked) and sets $bin.
# Release builds leave out debug info: less to compile and link (from scratch
# here: 637 s, against 681 s for one build per product with debug info); the
# price is backtraces without line numbers. CONFIG=debug reuses the test build.
fieldwork_build() {
  local config=$1 log=$2
  local flags=()
  if [ "$config" = release ]; then flags=(-debug-info-format none); fi
  if ! swift build -c "$config" "${flags[@]}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build failed; the whole output is in $log" >&2
    return 1
  fi
  tail -n 1 "$log"
  bin=$(swift build -c "$config" "${flags[@]}" --show-bin-path)
}
