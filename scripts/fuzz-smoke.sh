#!/usr/bin/env bash
# Smoke run of the cargo-fuzz targets (docs/fuzzing.md), on the stable toolchain without a
# sanitizer: build every target, run each for FUZZ_SECS seconds on a copy of its seed
# corpus, then prove that the in-process server target finds a panic path of the reference
# server's fault harness (nul-path-panics: no seed has the trigger) within FUZZ_PROOF_SECS
# seconds.
#
#   scripts/fuzz-smoke.sh              # 20 s per target, proof within 120 s (found in ~30 s)
#   FUZZ_SECS=60 scripts/fuzz-smoke.sh
#   FUZZ_DEPS_OPT=1 scripts/fuzz-smoke.sh   # dependencies at opt-level 1: a faster build (CI)
#
# With cargo-fuzz installed (`cargo install cargo-fuzz --locked`, about 3 minutes) it drives
# the build and the runs. Without it (CI, where the install would cost a fifth of the time
# budget), the script builds with plain cargo and the flags cargo-fuzz 0.13 passes for
# `-s none` in its default release mode, and runs the libFuzzer binaries directly: the same
# binaries, without the install. FUZZ_DRIVER=cargo forces that path.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECS:-20}"
proof_secs="${FUZZ_PROOF_SECS:-120}"
targets=(server_request suite_response differential tassis_frame tassis_differential)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

driver="${FUZZ_DRIVER:-}"
if [ -z "$driver" ]; then
  if command -v cargo-fuzz >/dev/null; then driver=cargo-fuzz; else driver=cargo; fi
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
# cargo-fuzz 0.13, src/project.rs (`-s none`, release, Linux).
sancov_flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Ccodegen-units=1"

# FUZZ_DEPS_OPT=N builds the dependencies (not edgecheck and the reference server, whose
# code the targets explore) at opt-level N: the smoke run needs the instrumented workspace
# code, not fast dependencies, and the build is most of its time.
deps_opt=()
if [ -n "${FUZZ_DEPS_OPT:-}" ]; then
  deps_opt=(--config "profile.release.package.\"*\".opt-level=${FUZZ_DEPS_OPT}")
fi

# fuzz_cargo SUBCOMMAND ARGS...: cargo on fuzz/ with cargo-fuzz's target, profile and flags.
fuzz_cargo() {
  local sub="$1"
  shift
  RUSTFLAGS="$sancov_flags ${RUSTFLAGS:-}" cargo "$sub" --manifest-path fuzz/Cargo.toml \
    --target "$triple" --release --config 'profile.release.debug="line-tables-only"' \
    "${deps_opt[@]}" --features faults --locked "$@"
}

# fuzz_run TARGET CORPUS LIBFUZZER-ARGS...
fuzz_run() {
  local t="$1" corpus="$2"
  shift 2
  if [ "$driver" = cargo-fuzz ]; then
    cargo fuzz run -s none --features faults "$t" "$corpus" -- "$@"
  else
    mkdir -p "fuzz/artifacts/$t"
    "${CARGO_TARGET_DIR:-fuzz/target}/$triple/release/$t" -artifact_prefix="fuzz/artifacts/$t/" "$@" "$corpus"
  fi
}

echo "fuzz-smoke: driver $driver, target $triple"
# One build serves both the smoke runs (no fault is on unless EDGE_FAULTS names one) and
# the proof run.
start=$(date +%s)
if [ "$driver" = cargo-fuzz ]; then
  cargo fuzz build -s none --features faults
else
  fuzz_cargo build --bins
fi
echo "fuzz-smoke: build took $(( $(date +%s) - start )) s"

for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  cp -r "fixtures/corpus/$t/." "$work/$t/"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=("-dict=fuzz/$t.dict")
  echo "fuzz-smoke: $t for $secs s"
  fuzz_run "$t" "$work/$t" -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" 2>&1 | tee "$work/$t.log" | tail -n 3
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo 0)
  echo "fuzz-smoke: $t ran $execs inputs ($(( execs / secs )) exec/s)"
done

echo "fuzz-smoke: proof: server_request must find nul-path-panics within $proof_secs s"
# show_crash LOG DIR: the panic's message (the violation and the request, not the backtrace
# under it) and the input, kept in fuzz/artifacts/server_request/ and printed in base64 to
# replay with the binary (docs/fuzzing.md).
show_crash() {
  sed -n '/panicked at/,/stack backtrace:/p' "$1" | head -n 40 >&2
  for crash in "$2"/crash-*; do
    [ -f "$crash" ] || continue
    mkdir -p fuzz/artifacts/server_request
    cp "$crash" fuzz/artifacts/server_request/
    echo "fuzz-smoke: input kept in fuzz/artifacts/server_request/$(basename "$crash"), base64:" >&2
    base64 -w 0 "$crash" >&2
    echo >&2
  done
}
# A crash of another kind ends a libFuzzer run before the fault is found: it is shown as a
# finding of its own, and the proof is tried once more on a fresh corpus.
other=0
for attempt in 1 2; do
  proof="$work/proof-$attempt"
  mkdir -p "$proof/corpus"
  cp -r fixtures/corpus/server_request/. "$proof/corpus/"
  if grep -rlq '%00' "$proof/corpus"; then
    echo "fuzz-smoke: a seed already holds the trigger; the proof would prove nothing" >&2
    exit 1
  fi
  if EDGE_FAULTS=nul-path-panics fuzz_run server_request "$proof/corpus" \
      -max_total_time="$proof_secs" -dict=fuzz/server_request.dict -artifact_prefix="$proof/" \
      >"$proof/log" 2>&1; then
    echo "fuzz-smoke: FAILED: no crash in $proof_secs s" >&2
    tail -n 20 "$proof/log" >&2
    exit 1
  fi
  if grep -q "NUL in the request path" "$proof/log"; then
    grep -m1 -o 'Test unit written to .*' "$proof/log" || true
    if [ "$other" = 1 ]; then
      echo "fuzz-smoke: ok, but an earlier attempt crashed otherwise: a finding to look at (above)"
    else
      echo "fuzz-smoke: ok"
    fi
    exit 0
  fi
  other=1
  echo "fuzz-smoke: attempt $attempt ended with a crash other than the fault's; it panicked with:" >&2
  show_crash "$proof/log" "$proof"
done
echo "fuzz-smoke: FAILED: every attempt ended with another crash before the fault was found" >&2
exit 1
