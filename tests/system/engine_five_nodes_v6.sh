#!/usr/bin/env bash
# Five nodes, eight services each, an IPv6 cluster (fd00:220::/48, node
# slices fd00:220:0:N::/64): see lib/five_nodes.bash for the picture and checks.
FAMILY=6
. "$(dirname "$0")/lib/five_nodes.bash"
