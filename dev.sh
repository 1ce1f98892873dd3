#!/usr/bin/env bash
# Set up (or update) the virtual environment in .venv and run the demo or the tests.
#   ./dev.sh demo [ARGS]   main job: the Motorcycle sample through the stereo node over DDS
#   ./dev.sh test [ARGS]   ruff, mypy and the whole test suite (ARGS go to pytest)
#   ./dev.sh setup         only create/update .venv
# Works on a bare Debian 12 machine with Python 3.11 (installs what it needs) and is fast
# the second time (nothing is reinstalled unless requirements/ or setup.py changed).
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY=${PYTHON:-python3}

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "dev.sh: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup() {
  apt_install libusb-1.0-0  # open3d needs it
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  local stamp
  stamp=$(cat requirements/*.txt setup.py setup.cfg | sha256sum | cut -c1-16)
  if [ "$(cat "$VENV/.depth_ros_stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "dev.sh: installing Python packages into $VENV (first time: several minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r requirements/dev.txt
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
    echo "$stamp" > "$VENV/.depth_ros_stamp"
  fi
}

local_dds() {
  # DDS stays on this machine, on a domain of its own, with the SHM profile.
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}
  export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$PWD/depth_ros/data/fastdds_shm.xml}
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  demo)
    setup; local_dds
    exec "$VENV/bin/depth-ros" demo "$@" ;;
  test)
    setup; local_dds
    apt_install chromium || echo "dev.sh: chromium unavailable: the report screenshot test will skip" >&2
    # lint and type errors fail the run too (after the tests, so that all is reported)
    lint=0
    echo "== ruff"; { "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .; } || lint=1
    echo "== mypy"; "$VENV/bin/mypy" depth_ros test || lint=1
    echo "== pytest (ROS_DOMAIN_ID=$ROS_DOMAIN_ID)"
    rc=0; "$VENV/bin/python" -m pytest "$@" || rc=$?
    [ "$lint" -eq 0 ] || echo "dev.sh: ruff or mypy failed (see above)" >&2
    [ "$rc" -ne 0 ] && exit "$rc"
    exit "$lint" ;;
  *)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
