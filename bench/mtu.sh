#!/usr/bin/env bash
# bench/mtu.sh - TCP through ours<->ours over a 1400-byte underlay, as a share
# of the same run over a 1500-byte one (issue 12's goal: >= 60%).
#
#   bench/mtu.sh [BUILD_DIR]        SECS=10 (per run)
#
# Each run is tests/system/wg_mtu.sh (two namespaces, one veth of that MTU,
# devices at their default MTU = underlay - 80); its iperf3 line is the figure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export BUILD_DIR=${1:-$here/build}
secs=${SECS:-10}
rate() {  # LINK_MTU -> Mbit/s
  LINK_MTU=$1 IPERF_S=$secs FORCED=0 MIN_MB=0 bash "$here/tests/system/wg_mtu.sh" |
    sed -nE 's/^iperf3 auto-mtu: ([0-9]+) Mbit\/s.*/\1/p'
}
r1500=$(rate 1500)
r1400=$(rate 1400)
echo "underlay 1500: ${r1500} Mbit/s (device MTU 1420)"
echo "underlay 1400: ${r1400} Mbit/s (device MTU 1320)"
awk -v a="$r1400" -v b="$r1500" 'BEGIN{printf "ratio 1400/1500: %.2f\n", (b > 0 ? a / b : 0)}'
