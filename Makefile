# SPDX-License-Identifier: GPL-2.0
#
# iofilter top-level Makefile.
#
#   make                 build the kernel modules for KDIR and iofilterctl
#   make KDIR=...        build the modules against another kernel tree
#   make modules-all     build the modules for every supported Debian kernel
#   make check           deps, build for both kernels, host unit tests, VM suite
#   make demo            boot a VM and show iofilter at work
#   make crashtest       crash-point replay tests with thousands of points (CRASH_POINTS=, CRASH_SEED=, CRASH_TESTS=)
#   make bench           benchmarks vs dm-linear/dm-crypt/dm-raid1/dm-cache... (MODE=, SCENARIOS=, QUICK=1)
#   make install         modules_install + depmod (DESTDIR: no depmod), iofilterctl and its man page,
#                        the systemd units and /etc/iofilter (DESTDIR=, PREFIX=)
#   make dkms-src        the module sources for DKMS in /usr/src/iofilter-VERSION
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
.PHONY: all modules modules-all tool test-tools bpf clean install install-modules install-tool install-units \
	deps check unit vm-check crashtest demo demo-run bench sparse help dkms-src

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
test-tools: bpf
	$(MAKE) -C tests/tools BUILD=$(BUILD)
	$(MAKE) -C tests/bench BUILD=$(BUILD)

# BPF programs for the bpf filter type: the examples of policies/bpf/ and
# the tests' (tests/bpf/), as $(BUILD)/bpf/NAME.bpf.o.
BPF_SRCS := $(wildcard policies/bpf/*.bpf.c tests/bpf/*.bpf.c)
BPF_OBJS := $(patsubst %.bpf.c,$(BUILD)/bpf/%.bpf.o,$(notdir $(BPF_SRCS)))
BPF_CFLAGS := -target bpf -mcpu=v3 -g -O2 -Wall -Werror -I$(SRC)/include/uapi \
	-I/usr/include/$(shell gcc -print-multiarch 2>/dev/null)
vpath %.bpf.c policies/bpf tests/bpf
bpf: $(BPF_OBJS)
$(BUILD)/bpf/%.bpf.o: %.bpf.c policies/bpf/iof-bpf-prog.h policies/bpf/sample-ringbuf.h include/uapi/linux/iofilter-bpf.h
	@mkdir -p $(dir $@)
	clang $(BPF_CFLAGS) -c $< -o $@

unit: tool
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) test

deps:
	@scripts/deps.sh

vm-check:
	@tests/vm/run-suite $(if $(KVERS),--kernels "$(KVERS)") $(if $(TESTS),--tests "$(TESTS)") $(if $(SELFTEST),--selftest)

check:
	@scripts/check.sh

# make crashtest [CRASH_POINTS=2000] [CRASH_SEED=n] [CRASH_WRITES=800] [KVERS=...]:
# tests/vm/t/6?-crash-*.sh with CRASH_POINTS crash points per scenario, and
# the fault tests 6?-fault-*.sh (67, memory pressure, runs only here and with FULL=1)
# (make check: 200), timeouts scaled to match, one vCPU (IOF_VM_CPUS=; the
# points are process starts and device set-up, faster on one); results in
# build/vm/results-REL-crashtest/.  See tests/README.md.
CRASH_POINTS ?= 2000
CRASH_WRITES ?= 800
CRASH_SEED ?=
crashtest:
	@mkdir -p $(BUILD)/vm
	@{ echo CRASH_POINTS=$(CRASH_POINTS); echo CRASH_WRITES=$(CRASH_WRITES); \
	   $(if $(CRASH_SEED),echo CRASH_SEED=$(CRASH_SEED);) } > $(BUILD)/vm/crash.conf
	@IOF_RUN_TAG=-crashtest IOF_TIMEOUT_MULT=$$(( $(CRASH_POINTS) / 200 + 1 )) \
		IOF_VM_CPUS=$${IOF_VM_CPUS:-1} \
		tests/vm/run-suite $(if $(KVERS),--kernels "$(KVERS)") --tests '$(or $(CRASH_TESTS),6?-crash-*,6?-fault-*)' --keep; \
		rc=$$?; rm -f $(BUILD)/vm/crash.conf; exit $$rc

# make demo: packages first, then a new make: KVERS and KDIR are computed when
# the Makefile is read, before deps.sh has installed the kernels on a fresh
# machine.  Each step that fails stops the demo, named, with a non-zero exit.
# The demo runs on the newest supported kernel (DEMO_KERNEL=REL for another).
demo:
	@echo "==> step 1/3: packages (scripts/deps.sh)"
	@scripts/deps.sh || { echo "make demo: FAILED at step 1/3, packages (scripts/deps.sh)" >&2; exit 1; }
	@$(MAKE) --no-print-directory demo-run

DEMO_KERNEL ?= $(lastword $(KVERS))
demo-run:
	@test -n "$(DEMO_KERNEL)" || { echo "make demo: FAILED at step 2/3, build: no supported kernel" \
		"with headers installed (6.1 or 6.12); scripts/deps.sh should have installed them" >&2; exit 1; }
	@echo "==> step 2/3: build the modules for $(DEMO_KERNEL) and iofilterctl (log: $(BUILD)/demo-build.log)"
	@mkdir -p $(BUILD)
	@if ! $(MAKE) --no-print-directory modules tool KDIR=/lib/modules/$(DEMO_KERNEL)/build \
			> $(BUILD)/demo-build.log 2>&1; then \
		tail -n 25 $(BUILD)/demo-build.log >&2; \
		echo "make demo: FAILED at step 2/3, build (whole log: $(BUILD)/demo-build.log)" >&2; exit 1; \
	fi
	@echo "==> step 3/3: the demo in a VM (tests/vm/run-demo)"
	@tests/vm/run-demo --kernel "$(DEMO_KERNEL)" || \
		{ echo "make demo: FAILED at step 3/3, the demo in the VM (see above)" >&2; exit 1; }

# make bench [MODE=icount|wall|kvm] [SCENARIOS=pattern] [QUICK=1] [KERNEL=rel] [PUBLISH=1]:
# see tests/bench/run (MODE: deterministic by default)
bench:
	@tests/bench/run $(if $(MODE),--mode "$(MODE)") \
		$(if $(SCENARIOS),--scenarios "$(SCENARIOS)") $(if $(QUICK),--quick) \
		$(if $(KERNEL),--kernel "$(KERNEL)") $(if $(PUBLISH),--publish)

install: install-modules install-tool install-units

# With DESTDIR (a package's staging root) the modules go under it and
# depmod is left to the package's install scripts.
install-modules: modules
	$(MAKE) -C $(KDIR) M=$(BUILD)/$(KREL) INSTALL_MOD_DIR=kernel/drivers/md \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(abspath $(DESTDIR))) modules_install
	$(if $(DESTDIR),,depmod -a $(KREL) || true)

install-tool: tool
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) install

# What DKMS builds from (dkms.conf runs "make modules" there).
DKMS_VER := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' $(SRC)/dkms.conf)
DKMS_SRC ?= /usr/src/iofilter-$(DKMS_VER)
dkms-src:
	rm -rf $(DESTDIR)$(DKMS_SRC)
	install -d $(DESTDIR)$(DKMS_SRC)
	cp -r $(SRC)/Kbuild $(SRC)/Makefile $(SRC)/dkms.conf $(SRC)/drivers $(SRC)/include \
		$(SRC)/scripts $(DESTDIR)$(DKMS_SRC)/

# Boot activation: the systemd units (with this PREFIX's iofilterctl) and the
# /etc/iofilter skeleton; nothing in /etc is overwritten but its README.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
install-units:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in packaging/systemd/*.service; do \
		sed 's#/usr/sbin/iofilterctl#$(PREFIX)/sbin/iofilterctl#g; s#/etc/iofilter#$(SYSCONFDIR)/iofilter#g' \
			$$u > $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/} || exit 1; \
	done
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/iofilter
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/iofilter/policies.d $(DESTDIR)$(SYSCONFDIR)/iofilter/netdev.d
	install -m 0644 packaging/etc/README $(DESTDIR)$(SYSCONFDIR)/iofilter/README

clean:
	rm -rf $(BUILD)
	$(MAKE) -C tools/iofilterctl BUILD=$(BUILD) clean

FORCE:
