#!/usr/bin/env bash
# Builds faceid_infer (and faceid_convert where the converter library exists) into ascend310_infer/build.
# Fetches MindSpore Lite first unless MSLITE_HOME names an installed package. Incremental: fast when up to date.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
command -v cmake >/dev/null || { echo "error: cmake not found (apt-get install cmake g++)" >&2; exit 1; }
command -v "${CXX:-g++}" >/dev/null || { echo "error: C++ compiler ${CXX:-g++} not found (apt-get install g++)" >&2; exit 1; }
# One build at a time (parallel test workers, two terminals): the others wait here, then find it up to date.
mkdir -p "$HERE/build"
exec 9>"$HERE/build/.lock"
flock 9
bash "$HERE/install_mslite.sh"
cmake -S "$HERE" -B "$HERE/build" -DCMAKE_BUILD_TYPE=Release ${MSLITE_HOME:+-DMSLITE_HOME="$MSLITE_HOME"} >/dev/null
cmake --build "$HERE/build" -j 2
echo "build: $HERE/build/faceid_infer"
