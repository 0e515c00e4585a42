#!/usr/bin/env bash
# The whole test suite on a fresh Debian/Ubuntu machine, as root: installs what it needs
# (apt packages for the lab tier, a virtualenv with the Python deps: once, see tools/venv.sh),
# lints (ruff, mypy, shellcheck), then runs every tier, fastest first (tests/conftest.py):
#   unit + commands: pure code and cliff commands (requests-mock behind openstacksdk)
#   fuzz:  seeded generators over the parsers, the probe output and capture replay
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

APT_PACKAGES="openvswitch-switch openssh-server openssh-client iproute2 iptables ethtool util-linux mount procps shellcheck python3-venv podman runc podman-docker ovn-central ovn-host"
read -ra apt_packages <<<"$APT_PACKAGES"
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "run-tests: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. tools/venv.sh
VENV=${NETPATH_VENV:-.venv}
netpath_venv test "$VENV" "${NETPATH_TEST_REQS[@]}"
VENV=$(realpath "$VENV")
export PATH="$VENV/bin:$PATH"

if [ $# -eq 0 ]; then  # the whole suite: lint and types first, they take seconds
    ruff check --quiet osc_netpath tests benchmarks
    mypy --no-error-summary osc_netpath
    # every shell script of the project (probe.sh is POSIX sh, the others bash)
    find osc_netpath tools tests .ci -type f \( -name '*.sh' -o -path .ci/run \) -print0 |
        xargs -0 shellcheck -x
fi

set +e
python -m pytest -ra "${@:-tests}"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "run-tests: pytest collected no tests" >&2
fi
exit "$rc"
