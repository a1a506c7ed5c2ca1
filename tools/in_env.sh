#!/usr/bin/env bash
# Run a command inside the project environment:
#   tools/in_env.sh python -m pytest ...
# = the venv (ROS 2 wheels) activated + the colcon workspace sourced.
#
# Environment: ROS_DISTRO (kilted | jazzy), VENV, INSTALL_BASE (see distro_paths.sh);
# ROS_AUTOMATIC_DISCOVERY_RANGE defaults to LOCALHOST.
set -eo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=tools/distro_paths.sh
. "$REPO_ROOT/tools/distro_paths.sh"
case "$VENV" in /*) ;; *) VENV="$REPO_ROOT/$VENV" ;; esac
case "$INSTALL_BASE" in /*) ;; *) INSTALL_BASE="$REPO_ROOT/$INSTALL_BASE" ;; esac

if [[ $# -eq 0 ]]; then
  echo "usage: tools/in_env.sh COMMAND [ARG...]" >&2
  exit 2
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "in_env.sh: no venv at $VENV; run 'make setup' (ROS_DISTRO=$ROS_DISTRO) first" >&2
  exit 1
fi

# strip_paths VAR: drop empty entries and entries inside this repo's venvs
# and workspaces from the colon-separated VAR, so that a nested call (e.g. a
# Jazzy run started from a Kilted one) never mixes the two distros.
strip_paths() {
  local var="$1" out="" part
  local IFS=:
  for part in ${!var-}; do
    case "$part" in
      "" | "$REPO_ROOT"/.venv* | "$REPO_ROOT"/install*) continue ;;
    esac
    out="${out:+$out:}$part"
  done
  if [[ -n "$out" ]]; then export "$var=$out"; else unset "$var"; fi
}
for v in AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH PYTHONPATH LD_LIBRARY_PATH PATH; do
  strip_paths "$v"
done
export PATH="${PATH:-/usr/bin:/bin}"

# The venv. VIRTUAL_ENV_DISABLE_PROMPT: no PS1 games in a non-interactive shell.
VIRTUAL_ENV_DISABLE_PROMPT=1 source "$VENV/bin/activate"

# The wheels are the ament / cmake prefix underneath the workspace (the
# venv has no local_setup.* for colcon's chain to source).
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"

# The workspace: prepends its packages to AMENT_PREFIX_PATH, PYTHONPATH and
# LD_LIBRARY_PATH (the interface libraries).
if [[ -f "$INSTALL_BASE/setup.bash" ]]; then
  # shellcheck disable=SC1091
  source "$INSTALL_BASE/setup.bash"
fi

# Quirk 1: ros_wheels_bootstrapper (a .pth file) re-executes every Python
# start of the venv once, with the wheels' library dirs on LD_LIBRARY_PATH.
# Set those dirs here and mark the bootstrap done, so that each python (and
# each node a test spawns) starts once. A process started with a cleaned
# environment still bootstraps itself as usual.
ros_libs="$VENV/lib"
for d in "$VENV"/lib/python3.*/site-packages/ros_*.libs; do
  [[ -d "$d" ]] && ros_libs="$ros_libs:$d"
done
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$ros_libs"
strip_empty() { local IFS=:; local out="" p; for p in $LD_LIBRARY_PATH; do [[ -n "$p" ]] && out="${out:+$out:}$p"; done; LD_LIBRARY_PATH="$out"; }
strip_empty
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

# Network isolation: ROS discovery stays on loopback unless told otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_DISTRO

exec "$@"
