# shellcheck shell=bash
# Sourced by tools/demo.sh, tools/run-tests.sh and tools/stack.sh (from the project root): the
# project's virtualenv, made once and re-installed only when what it is built from changes.

# netpath_venv NAME VENV PIP-ARGS...
#   Make VENV if needed, then `pip install PIP-ARGS` and the plugin (editable) unless the stamp
#   VENV/.netpath-installed.NAME holds the same key: a hash of PIP-ARGS, the contents of every
#   `-r FILE` among them, setup.cfg/setup.py/pyproject.toml (entry points, build) and the venv's
#   own pyvenv.cfg (the interpreter). One stamp per NAME, so the demo's and the suite's
#   requirement sets do not invalidate each other.
netpath_venv() {
    local name=$1 venv=$2; shift 2
    local py=${PYTHON:-python3} me; me=$(basename "$0")
    if [ ! -x "$venv/bin/pip" ]; then
        # Debian/Ubuntu ship venv's ensurepip separately; without it `python3 -m venv` leaves a
        # venv without pip behind
        if ! "$py" -c 'import ensurepip' 2>/dev/null; then
            echo "$me: $py cannot make a virtualenv (no ensurepip): apt-get install python3-venv" >&2
            return 1
        fi
        if [ -f "$venv/pyvenv.cfg" ]; then rm -rf "$venv"; fi  # one left without pip
        "$py" -m venv "$venv" || return 1
    fi
    local files=(setup.cfg setup.py pyproject.toml "$venv/pyvenv.cfg") prev="" a key
    for a in "$@"; do
        if [ "$prev" = -r ]; then files+=("$a"); fi
        prev=$a
    done
    key=$({ printf '%s\n' "$@"; cat "${files[@]}"; } | sha256sum | cut -d' ' -f1) || return 1
    local stamp=$venv/.netpath-installed.$name
    if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ] && [ -x "$venv/bin/openstack" ]; then
        return 0
    fi
    echo "$me: installing into $venv (again only when requirements or setup.cfg change)" >&2
    # stdout stays free for the callers' output (`eval "$(tools/stack.sh env)"`)
    { "$venv/bin/pip" install -q --upgrade pip >/dev/null &&
        "$venv/bin/pip" install -q "$@" &&
        "$venv/bin/pip" install -q --no-deps -e .; } >&2 || return 1
    echo "$key" >"$stamp"
}

# what the suite needs (tools/run-tests.sh; tools/stack.sh uses the same venv and stamp)
# shellcheck disable=SC2034  # used by the scripts that source this
NETPATH_TEST_REQS=(-r requirements.txt -r test-requirements.txt)
