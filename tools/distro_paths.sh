# Sourced by setup.sh and in_env.sh: one place that names each distro's folders.
#   ROS_DISTRO kilted (default) -> .venv, build, install
#   ROS_DISTRO jazzy            -> .venv-jazzy, build-jazzy, install-jazzy
# VENV, BUILD_BASE and INSTALL_BASE, when set (the Makefile exports them), win.
ROS_DISTRO="${ROS_DISTRO:-kilted}"
case "$ROS_DISTRO" in
  kilted) SUFFIX="" ;;
  jazzy) SUFFIX="-jazzy" ;;
  *) echo "$(basename "$0"): unsupported ROS_DISTRO '$ROS_DISTRO' (kilted or jazzy)" >&2; exit 2 ;;
esac
VENV="${VENV:-.venv$SUFFIX}"
BUILD_BASE="${BUILD_BASE:-build$SUFFIX}"
INSTALL_BASE="${INSTALL_BASE:-install$SUFFIX}"
