# kvmigrate - move a service's metadata from PostgreSQL tables into LMDB.
#
#   make            build build/kvmigrate and build/libkvmigrate.a
#   make check      build, run every test, then again under ASan+UBSan,
#                   the export engine's test under TSan, then a short
#                   run of each fuzz target (starts its own PostgreSQL)
#   make demo       start a PostgreSQL cluster, load a million generated
#                   rows and migrate them; the cluster and build/demo/
#                   are kept for a look afterwards
#   make demo-clean stop the demo's cluster and remove build/demo/
#   make install    install the binary, its man page, the static library,
#                   its headers and kvmigrate.pc under $(DESTDIR)$(PREFIX)
#   make uninstall  remove the files make install wrote
#   make fuzz       run each fuzz target (fuzz_reader: the export reader,
#                   fuzz_import: the import) for FUZZ_SECONDS (600) in turn
#   make fuzz-check the same for FUZZ_CHECK_SECONDS (15) each, as make
#                   check does
#   make crash-test kill and fail `up` at every failure point and at
#                   CRASH_RANDOM (50) random moments, check each recovery,
#                   and write the table into design/reliability.md
#   make corrupt-test  the full corruption sweep: a real export damaged
#                   some 11,000 ways, each refused by import with the
#                   store untouched (a few minutes; make check runs a
#                   reduced one); its table into design/reliability.md
#   make deps       install missing Debian packages (run by the build)
#
# Variables: BUILD (output directory, default build), SANITIZE=1 (build
# with AddressSanitizer + UndefinedBehaviorSanitizer), CC, CFLAGS, PREFIX
# (where install puts the files, default /usr/local; also the prefix in
# kvmigrate.pc), DESTDIR (a staging root put in front of PREFIX when
# copying, as for packaging; not in kvmigrate.pc), FUZZ_TARGETS (the fuzz
# targets make fuzz and fuzz-check run, default both).

VERSION    := 0.1.0
BUILD      ?= build
SANITIZE   ?= 0
CC         ?= cc
FUZZ_CC    ?= clang
FUZZ_SECONDS       ?= 600
FUZZ_CHECK_SECONDS ?= 15
PREFIX     ?= /usr/local
DESTDIR    ?=

# Evaluated when a recipe runs, i.e. after the deps step: a fresh machine
# has no pkg-config files when make reads this file.
MSGPACK_PC  = $(shell pkg-config --exists msgpack-c && echo msgpack-c || echo msgpack)
PKGS        = libpq lmdb libzstd libxxhash $(MSGPACK_PC)
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS    = $(shell pkg-config --libs $(PKGS)) -pthread
TEST_LIBS   = $(shell pkg-config --libs cmocka)

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
CFLAGS     ?= -O2 -g
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=all
ifeq ($(SANITIZE),1)
CFLAGS     += $(SAN_FLAGS)
LDFLAGS    += $(SAN_FLAGS)
endif
ALL_CFLAGS  = -std=c11 -D_GNU_SOURCE -DKVM_VERSION='"$(VERSION)"' \
              -Iinclude -Iformat -Ilib -pthread $(WARN) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP

LIB_SRCS   := $(sort $(wildcard lib/*.c format/*.c pkg-migrators/*.c))
CMD_SRCS   := $(sort $(wildcard cmd/kvmigrate/*.c))
TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
TOOL_SRCS  := $(sort $(wildcard tests/tools/*.c))
TESTLIB_SRCS := tests/kvmt.c

# The SQL schema versions, embedded in the library as generated C.
SCHEMA_SQL := $(sort $(wildcard pkg-migrators/schema/*.up.sql))
SCHEMA_GEN := $(BUILD)/gen/schema_builtin.c
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/schema_builtin.o
CMD_OBJS   := $(CMD_SRCS:%.c=$(BUILD)/obj/%.o)
TESTLIB_OBJS := $(TESTLIB_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TOOL_BINS  := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
LIB        := $(BUILD)/libkvmigrate.a
BIN        := $(BUILD)/kvmigrate
# The same program with its failure points compiled in (lib/failpoint.h):
# for the tests only, never installed.
FP_LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj-fp/%.o) $(BUILD)/obj/gen/schema_builtin.o
FP_BIN     := $(BUILD)/kvmigrate-fp
HEADERS    := $(sort $(wildcard include/kvm/*.h))
MANPAGE    := cmd/kvmigrate/kvmigrate.1

# Where make install puts things (below $(DESTDIR)).
BINDIR     := $(PREFIX)/bin
MAN1DIR    := $(PREFIX)/share/man/man1
LIBDIR     := $(PREFIX)/lib
INCLUDEDIR := $(PREFIX)/include
PCDIR      := $(LIBDIR)/pkgconfig

.PHONY: all deps tests check check-suite check-asan check-tsan fuzz fuzz-check \
	demo demo-clean install uninstall clean bench crash-test crash-check corrupt-test

# Keep object files of tests and tools: they are not throwaway intermediates.
.SECONDARY:

all: deps $(BIN) $(LIB)

deps:
	@sh tests/tools/deps.sh

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj-fp/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DKVM_FAILPOINTS -c $< -o $@

# The directory is a prerequisite too, so removing a version rebuilds.
$(SCHEMA_GEN): $(SCHEMA_SQL) pkg-migrators/schema pkg-migrators/embed-schema.sh
	@mkdir -p $(@D)
	sh pkg-migrators/embed-schema.sh $(SCHEMA_SQL) > $@.tmp
	mv $@.tmp $@

$(BUILD)/obj/gen/schema_builtin.o: $(SCHEMA_GEN) | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(CMD_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJS) $(LIB) $(PKG_LIBS)

$(FP_BIN): $(CMD_OBJS) $(FP_LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJS) $(FP_LIB_OBJS) $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTLIB_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJS) $(LIB) $(PKG_LIBS) $(TEST_LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

tests: all $(TEST_BINS) $(TOOL_BINS) $(FP_BIN)

# One suite: every cmocka binary and every end-to-end script of $(BUILD),
# inside one throwaway PostgreSQL cluster.
check-suite: tests
	sh tests/tools/pg-harness.sh run -- sh tests/run.sh $(BUILD)

# The corruption sweep (tests/e2e/corrupt.sh) runs a smaller amount there:
# each import takes several times as long under the sanitizers.
check-asan:
	$(MAKE) BUILD=build/asan SANITIZE=1 KVMIGRATE_CORRUPT=small check-suite

# The threaded parts under ThreadSanitizer: the block queue, the export
# engine and the import's reading thread (their cmocka tests only).
TSAN_BUILD := build/tsan
TSAN_TESTS := $(TSAN_BUILD)/tests/test_blockq $(TSAN_BUILD)/tests/test_export \
              $(TSAN_BUILD)/tests/test_import
check-tsan:
	$(MAKE) BUILD=$(TSAN_BUILD) CFLAGS="-O1 -g -fsanitize=thread" \
	  LDFLAGS=-fsanitize=thread $(TSAN_TESTS)
	TSAN_OPTIONS=halt_on_error=1 sh tests/tools/pg-harness.sh run -- \
	  sh -c 'for t; do "$$t" || exit 1; done' sh $(TSAN_TESTS)

check: deps
	$(MAKE) check-suite
	$(MAKE) check-asan
	$(MAKE) check-tsan
	$(MAKE) fuzz-check
	$(MAKE) crash-check
	@cat $(BUILD)/tests.counts build/asan/tests.counts $(BUILD)/crash.counts | \
	  awk '{ p += $$1; f += $$2 } END { print "check: " p " passed, " f " failed" }'

# The fuzz targets are built with clang's libFuzzer, separately from
# $(BUILD): fuzz_reader feeds the export reader, fuzz_import the import
# (the reader, its reading thread and LMDB). Each is linked with the
# library sources it needs, compiled with it.
FUZZ_TARGETS ?= fuzz_reader fuzz_import
FUZZ_BINS := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_READER_SRCS := $(filter format/% lib/error.c,$(LIB_SRCS))
FUZZ_IMPORT_SRCS := $(FUZZ_READER_SRCS) $(addprefix lib/,blockq.c import.c \
                    kvtarget.c kv_lmdb.c readahead.c readprog.c show.c)
FUZZ_HDRS := $(HEADERS) $(wildcard format/*.h lib/*.h)
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -DKVM_VERSION='"$(VERSION)"' -Iinclude \
              -Iformat -Ilib -pthread -g -O1 -fsanitize=fuzzer,address,undefined

build/fuzz/fuzz_reader: tests/fuzz/fuzz_reader.c $(FUZZ_READER_SRCS) $(FUZZ_HDRS) | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS)

build/fuzz/fuzz_import: tests/fuzz/fuzz_import.c $(FUZZ_IMPORT_SRCS) $(FUZZ_HDRS) | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $@ $(filter %.c,$^) $(PKG_LIBS)

# Every target runs, each for the given time; a failure of one still lets
# the others run, and fails the whole.
fuzz-check: $(FUZZ_BINS)
	rc=0; for f in $(FUZZ_BINS); do \
	  sh tests/tools/fuzz.sh $$f $(FUZZ_CHECK_SECONDS) || rc=1; done; exit $$rc

fuzz: $(FUZZ_BINS)
	rc=0; for f in $(FUZZ_BINS); do \
	  sh tests/tools/fuzz.sh $$f $(FUZZ_SECONDS) || rc=1; done; exit $$rc

# The crash sweep (tests/tools/crash-sweep.py) runs the build with failure
# points.  make check runs it on a smaller database with fewer random kills.
CRASH_SIZE   ?= medium
CRASH_RANDOM ?= 50
CRASH_SWEEP   = /usr/bin/python3 tests/tools/crash-sweep.py --bin $(FP_BIN)
crash-test: tests
	sh tests/tools/pg-harness.sh run -- $(CRASH_SWEEP) --size $(CRASH_SIZE) \
	  --random $(CRASH_RANDOM) --out design/reliability.md
crash-check: tests
	sh tests/tools/pg-harness.sh run -- $(CRASH_SWEEP) --size small \
	  --random 10 --counts $(BUILD)/crash.counts

demo: all
	sh tests/tools/demo.sh $(BIN)

# Every truncation in the first and last 4 KiB of a real export, 1,000
# random ones, 1,000 random flipped bytes and every byte of the zstd
# headers, checksums, header and end frames and end index; see
# design/reliability.md.  KVMIGRATE_CORRUPT_SEED repeats a run.
corrupt-test: tests
	sh tests/tools/pg-harness.sh run -- env KVMIGRATE=$(abspath $(BIN)) \
	  KVMIGRATE_BUILD=$(abspath $(BUILD)) KVMIGRATE_TOOLS=$(abspath $(BUILD))/tools \
	  KVMIGRATE_CORRUPT=full KVMIGRATE_CORRUPT_DOC=design/reliability.md \
	  sh tests/e2e/corrupt.sh

demo-clean:
	sh tests/tools/demo.sh --clean

# The benchmark: kvmigrate against its lower bounds on generated databases,
# results into design/performance.md. It takes long, so it is not part of
# check. BENCH_SIZES, BENCH_REPS and BENCH_DB: see tests/bench/bench.py; with
# BENCH_DB it uses that cluster instead of a throwaway one.
bench: all tests
	@set -- /usr/bin/python3 tests/bench/bench.py --bin $(BIN) \
	  --b2 $(BUILD)/tools/bench-lmdb-append --out design/performance.md; \
	if [ -n "$${BENCH_DB:-}" ]; then "$$@"; \
	else sh tests/tools/pg-harness.sh run -- "$$@"; fi

# The static library and its headers are for programs that run the
# migration themselves; they link it with
# `pkg-config --static --cflags --libs kvmigrate`. kvmigrate.pc is written
# here, not at build time, because its prefix is the PREFIX of the install.
install: all
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MAN1DIR)" "$(DESTDIR)$(LIBDIR)" \
	  "$(DESTDIR)$(INCLUDEDIR)/kvm" "$(DESTDIR)$(PCDIR)"
	install -m 0755 $(BIN) "$(DESTDIR)$(BINDIR)/kvmigrate"
	install -m 0644 $(MANPAGE) "$(DESTDIR)$(MAN1DIR)/kvmigrate.1"
	install -m 0644 $(LIB) "$(DESTDIR)$(LIBDIR)/libkvmigrate.a"
	install -m 0644 $(HEADERS) "$(DESTDIR)$(INCLUDEDIR)/kvm"
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@MSGPACK_PC@|$(MSGPACK_PC)|' \
	  -e 's|@LIBPQ_LIBS@|$(strip $(shell pkg-config --libs libpq))|' \
	  kvmigrate.pc.in > "$(DESTDIR)$(PCDIR)/kvmigrate.pc"
	chmod 0644 "$(DESTDIR)$(PCDIR)/kvmigrate.pc"

# Exactly what install wrote; the directories are left, except include/kvm
# when it is empty.
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/kvmigrate" "$(DESTDIR)$(MAN1DIR)/kvmigrate.1" \
	  "$(DESTDIR)$(LIBDIR)/libkvmigrate.a" "$(DESTDIR)$(PCDIR)/kvmigrate.pc" \
	  $(foreach h,$(notdir $(HEADERS)),"$(DESTDIR)$(INCLUDEDIR)/kvm/$(h)")
	rmdir "$(DESTDIR)$(INCLUDEDIR)/kvm" 2>/dev/null || true

# A kept demo cluster would outlive build/ and the record of where it is.
clean: demo-clean
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/obj-fp -name '*.d' 2>/dev/null)
