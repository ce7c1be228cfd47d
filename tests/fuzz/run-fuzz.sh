#!/bin/sh
# run-fuzz.sh: builds the framing engine's libFuzzer target with clang
# (AddressSanitizer and UndefinedBehaviorSanitizer on) and fuzzes it for a
# bounded time, starting from the committed seed corpus. Speaks TAP.
#
#   tests/fuzz/run-fuzz.sh OUTDIR [SECONDS]
#
# New inputs go to a scratch directory, never into the source tree. To
# grow the seed corpus after a long run, merge by hand:
#   OUTDIR/fuzz-framer -merge=1 tests/fuzz/corpus/framer SCRATCH
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
out=$1
seconds=${2:-60}
clang=${CLANG:-clang}

echo "1..1"
if ! command -v "$clang" >/dev/null 2>&1; then
  echo "ok 1 # SKIP $clang is not installed (apt-get install clang)"
  exit 0
fi

mkdir -p "$out"
"$clang" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src/achat" "$here/fuzz-framer.c" "$src/achat/achat-framer.c" \
  -o "$out/fuzz-framer"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT INT TERM

if "$out/fuzz-framer" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
     -artifact_prefix="$out/" "$scratch" "$here/corpus/framer" >"$out/fuzz-framer.log" 2>&1; then
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz-framer.log")
  echo "ok 1 - fuzz-framer: ${runs:-?} inputs in $seconds s, no failure"
else
  sed 's/^/# /' "$out/fuzz-framer.log" | tail -40
  echo "not ok 1 - fuzz-framer found a failure (input saved in $out/crash-*)"
  exit 1
fi
