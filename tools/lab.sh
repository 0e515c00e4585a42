#!/usr/bin/env bash
# Bring the lab tier's "hypervisors in a box" up or down by hand (as root):
#   tools/lab.sh up       build nplab-hv1/nplab-hv2 (OVS + sshd each), print how to reach them
#   tools/lab.sh env      the clouds.yaml `netpath:` settings for the running lab
#   tools/lab.sh status   what of the lab exists on this machine
#   tools/lab.sh down     remove everything of it (processes, namespaces, links, /tmp/nplab)
# Then e.g.: ssh -F /dev/null -i /tmp/nplab/client/id_ed25519 \
#   -o UserKnownHostsFile=/tmp/nplab/client/known_hosts root@198.19.201.11 ovs-vsctl show
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m tests.lab.lab "$@"
