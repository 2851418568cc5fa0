# SPDX-License-Identifier: GPL-2.0
#
# iofilter top-level Makefile.
#
#   make                 build the kernel modules for KDIR and iofilterctl
#   make KDIR=...        build the modules against another kernel tree
#   make modules-all     build the modules for every supported Debian kernel
#   make check           deps, build for both kernels, host unit tests, VM suite
#   make demo            boot a VM and show iofilter at work
#   make crashtest       crash-point replay tests with thousands of points (CRASH_POINTS=, CRASH_SEED=)
#   make bench           benchmarks vs dm-linear/dm-crypt/dm-raid1/dm-cache... (MODE=, SCENARIOS=, QUICK=1)
#   make install         modules_install + depmod, iofilterctl and its man page
#
# Out-of-tree builds for several kernels share one source tree: each kernel
# gets its own object tree under build/<kernel-release>/, made of symlinks to
# the sources (cp -rs), so the objects of one kernel never clobber another's.

SHELL := /bin/bash
SRC := $(CURDIR)
BUILD ?= $(SRC)/build

# The kernel to build against: the running kernel's build dir when there is
# one, else the newest installed linux-headers.
KDIR ?= $(shell scripts/kernels.sh kdir)
KREL := $(shell scripts/kernels.sh krel "$(KDIR)")
# Kernels make check runs on (space separated releases); default: all supported.
KVERS ?= $(shell scripts/kernels.sh supported)
TESTS ?=
# make check SELFTEST=1 also runs the runner's self-tests
SELFTEST ?=
export RUNNER_SELFTEST ?= $(SELFTEST)
W ?= 1
C ?=

PREFIX ?= /usr/local
DESTDIR ?=

KSRC_DIRS := drivers include
.PHONY: all modules modules-all tool test-tools clean install install-modules install-tool \
	deps check unit vm-check crashtest demo bench sparse help

all: modules tool

help:
	@sed -n '3,14p' Makefile

$(BUILD)/%/.tree: FORCE
	@mkdir -p $(BUILD)/$*
	@for d in $(KSRC_DIRS); do cp -rsf $(SRC)/$$d $(BUILD)/$*/; done
	@find $(BUILD)/$* -xtype l -delete
	@ln -sf $(SRC)/Kbuild $(BUILD)/$*/Kbuild
	@mkdir -p $(BUILD)/$*/compat
	@if [ ! -f $(BUILD)/$*/compat/iof-compat-gen.h ] || \
	    [ -n "$$(find $(SRC)/scripts/compat $(SRC)/scripts/compat-probe.sh -newer $(BUILD)/$*/compat/iof-compat-gen.h)" ]; then \
		echo "  PROBE   $(KDIR)"; \
		scripts/compat-probe.sh $(KDIR) $(BUILD)/$*/compat/iof-compat-gen.h; \
	fi
	@touch $@

modules: $(BUILD)/$(KREL)/.tree
	@test -n "$(KDIR)" -a -d "$(KDIR)" || { echo "No kernel build dir (KDIR='$(KDIR)'); run 'make deps'" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(BUILD)/$(KREL) W=$(W) $(if $(C),C=$(C)) modules

modules-all:
	@for k in $(KVERS); do \
		$(MAKE) --no-print-directory modules KDIR=/lib/modules/$$k/build || exit 1; \
	done

# Sparse over every module for every kernel (C=2 checks all files).
sparse:
	@for k in $(KVERS); do \
		$(MAKE) --no-print-directory modules KDIR=/lib/modules/$$k/build C=2 || exit 1; \
	done

tool: test-tools
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD)

# Helpers the VM tests run (raw ioctl access, data checkers)
test-tools:
	$(MAKE) -C tests/tools BUILD=$(BUILD)
	$(MAKE) -C tests/bench BUILD=$(BUILD)

unit: tool
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) test

deps:
	@scripts/deps.sh

vm-check:
	@tests/vm/run-suite $(if $(KVERS),--kernels "$(KVERS)") $(if $(TESTS),--tests "$(TESTS)") $(if $(SELFTEST),--selftest)

check:
	@scripts/check.sh

# make crashtest [CRASH_POINTS=2000] [CRASH_SEED=n] [CRASH_WRITES=800] [KVERS=...]:
# tests/vm/t/6?-crash-*.sh with CRASH_POINTS crash points per scenario
# (make check: 200), timeouts scaled to match; results in
# build/vm/results-REL-crashtest/.  See tests/README.md.
CRASH_POINTS ?= 2000
CRASH_WRITES ?= 800
CRASH_SEED ?=
crashtest:
	@mkdir -p $(BUILD)/vm
	@{ echo CRASH_POINTS=$(CRASH_POINTS); echo CRASH_WRITES=$(CRASH_WRITES); \
	   $(if $(CRASH_SEED),echo CRASH_SEED=$(CRASH_SEED);) } > $(BUILD)/vm/crash.conf
	@IOF_RUN_TAG=-crashtest IOF_TIMEOUT_MULT=$$(( $(CRASH_POINTS) / 200 + 1 )) \
		tests/vm/run-suite $(if $(KVERS),--kernels "$(KVERS)") --tests '6?-crash-*' --keep; \
		rc=$$?; rm -f $(BUILD)/vm/crash.conf; exit $$rc

demo:
	@scripts/deps.sh
	@$(MAKE) --no-print-directory modules-all tool KVERS="$(firstword $(KVERS))" >/dev/null 2>&1
	@tests/vm/run-demo --kernel "$(firstword $(KVERS))"

# make bench [MODE=icount|wall|kvm] [SCENARIOS=pattern] [QUICK=1] [KERNEL=rel] [PUBLISH=1]:
# see tests/bench/run (MODE: deterministic by default)
bench:
	@tests/bench/run $(if $(MODE),--mode "$(MODE)") \
		$(if $(SCENARIOS),--scenarios "$(SCENARIOS)") $(if $(QUICK),--quick) \
		$(if $(KERNEL),--kernel "$(KERNEL)") $(if $(PUBLISH),--publish)

install: install-modules install-tool

install-modules: modules
	$(MAKE) -C $(KDIR) M=$(BUILD)/$(KREL) INSTALL_MOD_DIR=kernel/drivers/md modules_install
	depmod -a $(KREL) || true

install-tool: tool
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) install

clean:
	rm -rf $(BUILD)
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) clean

FORCE:
