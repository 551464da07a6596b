#!/usr/bin/env bash
# Five nodes, eight services each, an IPv4 cluster (10.220.0.0/16, node
# slices 10.220.N.0/24): see lib/five_nodes.bash for the picture and checks.
FAMILY=4
. "$(dirname "$0")/lib/five_nodes.bash"
