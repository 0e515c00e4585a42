#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu machine, as root: installs what it needs
# (apt packages for the lab tier, a virtualenv with the Python deps), then runs every tier.
#   unit + commands: pure code and cliff commands (requests-mock behind openstacksdk)
#   lab:   real Open vSwitch (userspace datapath) + netns + veth + linux bridges + sshd
#   stack: real Keystone/Nova/Neutron/Placement (tests/stack; on with CI=true or
#          NETPATH_STACK=1, off with NETPATH_STACK=0; it installs its own packages and venv)
# Extra arguments go to pytest, e.g. tools/run-tests.sh tests/unit -k resolve
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "run-tests: the lab tier builds namespaces and bridges: run as root (sudo $0)" >&2
    exit 2
fi

APT_PACKAGES="openvswitch-switch openssh-server openssh-client iproute2 ethtool util-linux mount procps"
missing=""
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "run-tests: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

VENV=${NETPATH_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip >/dev/null
"$VENV/bin/pip" install -q -r requirements.txt -r test-requirements.txt
"$VENV/bin/pip" install -q --no-deps -e .
export PATH="$PWD/$VENV/bin:$PATH"

if [ $# -eq 0 ]; then  # the whole suite: lint and types first, they take seconds
    ruff check --quiet osc_netpath tests benchmarks
    mypy --no-error-summary osc_netpath
fi

set +e
python -m pytest -ra "${@:-tests}"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "run-tests: pytest collected no tests" >&2
fi
exit "$rc"
