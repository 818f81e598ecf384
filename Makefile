# SPDX-License-Identifier: GPL-2.0
#
# make            build kmod/fastsocket.ko, libshim/libfastsocket.so, tools,
#                 and on x86-64 the cost-model plugin (bench/model)
# make check      unit tests on the host, then the VM tests (see README.md)
# make check-debug, make check-rt  the VM tests on the debug or RT kernel;
#                 PART=K/N runs the K-th of N parts of them (tests/check)
# make check-sanitize  the unit tests and the host integration test against
#                 the shim built with ASan+UBSan, then with TSan, in
#                 build/sanitize/ (Documentation/sanitizers.md)
# make reliability-table LOGS=DIR  the Reliability table (Documentation/
#                 testing.md) from tests/check's logs directory DIR
#                 (several: LOGS="DIR1 DIR2"); COMMIT=REV for logs
#                 without a commit file; UPDATE=FILE rewrites FILE's table
# make conformance  plain-vs-shim conformance cases on the host (TAP)
# make clean      back to the tree as cloned
# make install    library, wrapper, tools, man pages and the module into
#                 DESTDIR + PREFIX (default /usr/local); the module goes to
#                 /lib/modules/<release of KDIR>/extra, then depmod (not
#                 with DESTDIR: a packaged module is depmod'ed on the
#                 target). install-user: all but the module. uninstall:
#                 removes what install put there.
# make dkms       the module source in /usr/src/fastsocket-<version>,
#                 then dkms add, build and install (rebuilt on kernel
#                 upgrades); dkms-remove undoes it
#
# KDIR selects the kernel build tree. Default: the running kernel's, when
# it has one, else the Debian headers tools/install-deps installs (the
# kernel the QEMU guest boots).

KVER ?= $(shell tools/kernel-version 2>/dev/null)
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(wildcard $(RUNNING_KDIR)),)
KDIR ?= /usr/src/linux-headers-$(KVER)
else
KDIR ?= $(RUNNING_KDIR)
endif

CC ?= cc
export CC

# The module for another kernel than KDIR's, built out of tree in
# build/<release>/: kbuild cannot put the objects of M= elsewhere, so the
# sources are copied there first (cp -p keeps their times: an unchanged
# file is not rebuilt). tests/vm/lib.sh loads build/$(uname -r)/kmod/
# fastsocket.ko when it exists. $(call module-for,RELEASE,KDIR)
define module-for
	@mkdir -p "$(CURDIR)/build/$(1)/kmod" "$(CURDIR)/build/$(1)/include"
	@cp -p Kbuild "$(CURDIR)/build/$(1)/"
	@cp -pR include/. "$(CURDIR)/build/$(1)/include/"
	@rm -f "$(CURDIR)/build/$(1)"/kmod/*.[ch]
	@cp -p kmod/Kbuild kmod/*.[ch] "$(CURDIR)/build/$(1)/kmod/"
	$(MAKE) -C "$(2)" M="$(CURDIR)/build/$(1)" W=1 modules
endef

# The PREEMPT_RT kernel the QEMU guest boots with --kernel rt.
RT_KVER ?= $(shell tools/kernel-version rt 2>/dev/null)
RT_KDIR ?= /usr/src/linux-headers-$(RT_KVER)

# The debugging kernel tools/build-debug-kernel installs where
# tests/vm/run --kernel debug boots it (the same cache directory).
VM_CACHE ?= $(or $(FASTSOCKET_VM_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/fastsocket-vm)
DEBUG_KVER ?= $(notdir $(wildcard $(VM_CACHE)/debug/lib/modules/*))
DEBUG_KDIR ?= $(VM_CACHE)/debug/lib/modules/$(DEBUG_KVER)/build

# check-debug and check-rt: the VM suite on the debug or PREEMPT_RT kernel
.PHONY: all module module-rt module-debug check-debug check-rt shim tools check unit vm-check clean deps sparse checkpatch
.PHONY: shellcheck conformance check-sanitize
.PHONY: install install-user install-module uninstall uninstall-user uninstall-module
.PHONY: dkms dkms-remove version module-release
.PHONY: bench demo model reliability-table

# The cost-model plugin and its guest helpers are x86-64 code (the guest is
# x86-64 and the plugin is loaded by qemu-system-x86_64 on this host).
MODEL := $(if $(filter x86_64,$(shell uname -m)),model)

all: module shim tools $(MODEL)

deps:
	@tools/install-deps --if-missing

module:
	@test -d "$(KDIR)" || { echo "make: no kernel build tree at KDIR=$(KDIR); run tools/install-deps or set KDIR" >&2; exit 1; }
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" W=1 modules

module-rt:
	@test -n "$(RT_KVER)" -a -d "$(RT_KDIR)" || { echo "make: no RT kernel build tree at RT_KDIR=$(RT_KDIR); install linux-headers-rt-amd64 or set RT_KDIR" >&2; exit 1; }
	$(call module-for,$(RT_KVER),$(RT_KDIR))

module-debug:
	@test -n "$(DEBUG_KVER)" -a -d "$(DEBUG_KDIR)" || { echo "make: no debug kernel build tree at DEBUG_KDIR=$(DEBUG_KDIR); run tools/build-debug-kernel" >&2; exit 1; }
	$(call module-for,$(DEBUG_KVER),$(DEBUG_KDIR))

# Static analysis of the module: sparse on every object (make C=2).
sparse:
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" W=1 C=2 modules

checkpatch:
	tools/checkpatch

# Every shell script (tools/shell-scripts lists them); settings in
# .shellcheckrc. Run from the top: sourced files are named from here.
shellcheck:
	shellcheck -x $$(tools/shell-scripts)

shim:
	$(MAKE) -C libshim

tools:
	$(MAKE) -C tools

# QEMU TCG plugin counting instructions and cache-line transfers per phase
# (Documentation/cost-model.md)
model:
	$(MAKE) -C bench/model

unit: shim
	$(MAKE) -C tests/unit
	$(MAKE) -C tests/progs

# Each tests/conformance case plainly and under the shim (host, userspace
# fallback; a private network namespace per run as root): TAP, non-zero
# on a divergence not listed in tests/conformance/inherent.
conformance: shim
	$(MAKE) -C tests/conformance check

check: deps
	@tests/check

# The whole VM suite (2 and 4 vCPUs) on the debugging kernel (KASAN,
# lockdep, kmemleak, ...; build it first: tools/build-debug-kernel) or on
# Debian's PREEMPT_RT kernel. Slow, hence not part of check; PART=K/N
# runs one part (Documentation/testing.md, "Long suites in parts").
check-debug: deps
	@tests/check --kernel debug $(if $(PART),--part "$(PART)")

check-rt: deps
	@tests/check --kernel rt $(if $(PART),--part "$(PART)")

# The Reliability table from tests/check's logs (tools/reliability-table).
reliability-table:
	@test -n "$(LOGS)" || { echo "make: reliability-table wants LOGS=<tests/check logs directory>" >&2; exit 2; }
	@tools/reliability-table $(if $(COMMIT),--commit "$(COMMIT)") $(if $(UPDATE),--update "$(UPDATE)") $(LOGS)

# The shim under the sanitizers (host only, no guest): ASan+UBSan and TSan
# builds in build/sanitize/{asan,tsan}, each running the unit tests and
# the host integration test; any sanitizer report fails it.
check-sanitize: deps
	@tests/sanitize/run

# The benchmark suite (bench/README.md): make bench BENCH_ARGS="--reps 3"
bench: deps
	@bench/run $(BENCH_ARGS)

# nginx with and without the shim, side by side, in a QEMU guest (~3 min)
demo: deps
	@bench/run --quick $(BENCH_ARGS)

# One version, the module's (MODULE_VERSION in kmod/main.c): dkms.conf,
# debian/changelog and the /usr/src directory follow it.
VERSION := $(shell sed -n 's/^MODULE_VERSION("\(.*\)");$$/\1/p' kmod/main.c)

version:
	@echo $(VERSION)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
# Debian's multiarch directory when dpkg knows it (ld.so searches it, so
# LD_PRELOAD=libfastsocket.so works by name under PREFIX=/usr), else lib.
MULTIARCH ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
LIBDIR ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
MANDIR ?= $(PREFIX)/share/man
MAN_PAGES := fastsocket.4 libfastsocket.7 fastsocket.8
# The release KDIR builds for (its modules' vermagic), which is where its
# module belongs. Not include/config/kernel.release: Debian's headers
# have the upstream version there (6.1.192 for 6.1.0-57-amd64).
MOD_KVER = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"$$/\1/p' \
	"$(KDIR)/include/generated/utsrelease.h" 2>/dev/null)
MOD_DIR = $(DESTDIR)/lib/modules/$(MOD_KVER)/extra
INSTALL_VARS = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" SBINDIR="$(SBINDIR)" \
	LIBDIR="$(LIBDIR)" MANDIR="$(MANDIR)"

module-release:
	@echo $(MOD_KVER)

install: install-user install-module

install-user: shim tools
	$(MAKE) -C libshim install $(INSTALL_VARS)
	$(MAKE) -C tools install $(INSTALL_VARS)
	for m in $(MAN_PAGES); do \
		install -D -m 0644 Documentation/man/$$m \
			"$(DESTDIR)$(MANDIR)/man$${m##*.}/$$m" || exit 1; \
	done

install-module: module
	@test -n "$(MOD_KVER)" || { echo "make: $(KDIR) names no kernel release" >&2; exit 1; }
	install -D -m 0644 kmod/fastsocket.ko "$(MOD_DIR)/fastsocket.ko"
	$(if $(DESTDIR),@echo "make: DESTDIR set: run depmod $(MOD_KVER) on the target",depmod -a $(MOD_KVER))

uninstall: uninstall-user uninstall-module

uninstall-user:
	$(MAKE) -C libshim uninstall $(INSTALL_VARS)
	$(MAKE) -C tools uninstall $(INSTALL_VARS)
	for m in $(MAN_PAGES); do rm -f "$(DESTDIR)$(MANDIR)/man$${m##*.}/$$m"; done

uninstall-module:
	@test -n "$(MOD_KVER)" || { echo "make: $(KDIR) names no kernel release" >&2; exit 1; }
	rm -f "$(MOD_DIR)/fastsocket.ko"
	$(if $(DESTDIR),@:,depmod -a $(MOD_KVER))

# What DKMS builds from: the kbuild files only. Made again from this tree
# on every run, so an earlier registration of this version goes first.
DKMS_SRC := /usr/src/fastsocket-$(VERSION)
# The sources, not what kbuild made next to them (fastsocket.mod.c).
KMOD_SRC = $(filter-out %.mod.c,$(wildcard kmod/*.[ch]))

dkms:
	@command -v dkms >/dev/null || { echo "make: dkms is not installed (apt-get install dkms)" >&2; exit 1; }
	if dkms status -m fastsocket -v $(VERSION) | grep -q .; then \
		dkms remove -m fastsocket -v $(VERSION) --all; fi
	rm -rf "$(DKMS_SRC)"
	mkdir -p "$(DKMS_SRC)/kmod"
	cp -pR Kbuild include "$(DKMS_SRC)/"
	cp -p kmod/Kbuild $(KMOD_SRC) "$(DKMS_SRC)/kmod/"
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf >"$(DKMS_SRC)/dkms.conf"
	dkms add -m fastsocket -v $(VERSION)
	dkms build -m fastsocket -v $(VERSION)
	dkms install -m fastsocket -v $(VERSION)

dkms-remove:
	dkms remove -m fastsocket -v $(VERSION) --all
	rm -rf "$(DKMS_SRC)"

clean:
	@if [ -d "$(KDIR)" ]; then $(MAKE) -C "$(KDIR)" M="$(CURDIR)" clean >/dev/null; fi
	$(MAKE) -C libshim clean
	$(MAKE) -C tools clean
	$(MAKE) -C bench/model clean
	$(MAKE) -C tests/unit clean
	$(MAKE) -C tests/progs clean
	$(MAKE) -C tests/conformance clean
	$(MAKE) -C tests/vm clean
	rm -rf build/sanitize
