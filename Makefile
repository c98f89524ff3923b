# hybridmon.monitoring — the two commands of the README:
#   make demo   converge playbooks/site.yml into a fresh local systemd container and show what runs
#   make test   every check (lint, sanity, units, rule tests, build/install, Molecule); SCENARIO=name runs one scenario
# Both install what they need on a fresh Debian 12 machine (as root): apt packages, dockerd, the venv, images, mirror.
SHELL := /bin/bash
SCENARIO ?=

.PHONY: test demo prepare lint sanity unit molecule bench clean-containers

test:
	bash tests/harness/run_tests.sh $(SCENARIO)

demo:
	bash tests/harness/demo.sh

prepare:
	bash tests/harness/prepare.sh

lint:
	HM_STEPS="specs lint" bash tests/harness/run_tests.sh

sanity:
	HM_STEPS="sanity" bash tests/harness/run_tests.sh

unit:
	HM_STEPS="unit" bash tests/harness/run_tests.sh

molecule:
	HM_STEPS="molecule" bash tests/harness/run_tests.sh $(SCENARIO)

clean-containers:
	-docker ps -aq --filter label=owner=molecule | xargs -r docker rm -f
	-docker rm -f hybridmon-demo hm-build-check
bench:
	bash benchmarks/noop_speed.sh
	$(CURDIR)/.venv/bin/python benchmarks/prometheus_target_bench.py
