# Shimmer: one hand-written Makefile. `make help` lists the targets.
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
SAN      ?=
V        ?=

CC       ?= cc
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -fPIC -fvisibility=hidden \
            -ftls-model=initial-exec -fno-strict-aliasing -fdata-sections -MMD -MP
# No libm (each library costs /bin/true about 70 us, and a dlopen about as
# much): its few uses have libm-free forms, and -z defs makes a call to it a
# link error. jansson, which every exit uses, and zlib are linked in from
# their static archives (hidden, our own copies).
LDLIBS   := -ldl -lpthread
JANSSON_A = $(shell $(CC) -print-file-name=libjansson.a)
ZLIB_A    = $(shell $(CC) -print-file-name=libz.a)

ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

SHIM_SRC   := $(sort $(wildcard shim/*.c))
EXPORT_SRC := $(sort $(wildcard export/*.c))
HOOK_SRC   := $(sort $(wildcard hooks/*.c)) $(sort $(wildcard hooks/*.S))
LIB_OBJ    := $(patsubst %,$(BUILD)/%.o,$(SHIM_SRC) $(EXPORT_SRC) $(HOOK_SRC))
CORE_OBJ   := $(patsubst %,$(BUILD)/%.o,$(SHIM_SRC) $(EXPORT_SRC))
LIB        := $(BUILD)/libshimmer.so

TARGET_SRC := $(sort $(wildcard tests/targets/t_*.c))
TARGETS    := $(patsubst tests/targets/%.c,$(BUILD)/targets/%,$(TARGET_SRC))
TARGET_CXX := $(sort $(wildcard tests/targets/t_*.cc))
TARGETS    += $(patsubst tests/targets/%.cc,$(BUILD)/targets/%,$(TARGET_CXX))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNITS      := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRC))
BENCH_SRC  := $(sort $(wildcard bench/b_*.c))
BENCHES    := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all lib test unit e2e check asan bench bench-build demo install uninstall clean fmt deps help
all: lib $(BUILD)/shimmer

lib: $(LIB)

help:
	@echo "make            build $(LIB) and $(BUILD)/shimmer"
	@echo "make demo       install what is missing, build, run an example under the shim"
	@echo "make test       install what is missing, build, run every test"
	@echo "make asan       the tests under AddressSanitizer + UBSan"
	@echo "make bench      overhead ratios, with and without the shim in one run"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"

$(BUILD)/%.c.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.S.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -c $< -o $@

# Only the hooked libc names leave the library: the version script is built
# from hooks/EXPORTS, and `make check` diffs nm -D against it.
$(BUILD)/exports.map: hooks/EXPORTS
	@mkdir -p $(dir $@)
	$(Q){ echo '{ global:'; sed 's/$$/;/' $<; echo 'local: *; };'; } > $@

$(LIB): $(LIB_OBJ) $(BUILD)/exports.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(LIB_OBJ) $(JANSSON_A) $(ZLIB_A) $(LDFLAGS) \
		-Wl,--version-script=$(BUILD)/exports.map -Wl,-z,nodelete $(if $(SAN),,-Wl,-z,defs) \
		-Wl,--sort-section=name \
		$(LDLIBS)

$(BUILD)/shimmer: scripts/shimmer
	@mkdir -p $(dir $@)
	$(Q)sed 's|@LIBDIR@|$(abspath $(BUILD))|' $< > $@ && chmod 755 $@

# Test targets: tiny deterministic programs; calls stay calls, names stay visible.
$(BUILD)/targets/%: tests/targets/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O0 -g -fno-inline -fno-builtin -rdynamic $(WARN) \
		$< -o $@ -pthread $(if $(filter %_cxx,$*),-lstdc++)

# Shared libraries the targets dlopen: tests/targets/lib<name>.c ->
# build/targets/lib<name>.so, built like the targets.
TARGET_LIBS := $(patsubst tests/targets/%.c,$(BUILD)/targets/%.so,$(sort $(wildcard tests/targets/lib*.c)))
TARGETS     += $(TARGET_LIBS)
$(BUILD)/targets/lib%.so: tests/targets/lib%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O0 -g -fno-inline -fno-builtin -fPIC -shared $(WARN) \
		$< -o $@

# The CPU profiler's split target in more builds: optimisation x frame
# pointers, and a stripped one (no -rdynamic: no symbol left at all).
CPU_VARIANTS := t_cpu_O0_nofp t_cpu_O2 t_cpu_O2_fp t_cpu_stripped
TARGETS      += $(patsubst %,$(BUILD)/targets/%,$(CPU_VARIANTS))
$(BUILD)/targets/t_cpu_O0_nofp: CPU_FLAGS := -O0 -fomit-frame-pointer -rdynamic
$(BUILD)/targets/t_cpu_O2:      CPU_FLAGS := -O2 -fomit-frame-pointer -rdynamic
$(BUILD)/targets/t_cpu_O2_fp:   CPU_FLAGS := -O2 -fno-omit-frame-pointer -rdynamic
$(BUILD)/targets/t_cpu_stripped: CPU_FLAGS := -O2 -fomit-frame-pointer
$(patsubst %,$(BUILD)/targets/%,$(CPU_VARIANTS)): tests/targets/t_cpu.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< ($(notdir $@))")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -g $(CPU_FLAGS) $(WARN) $< -o $@
	$(Q)$(if $(filter %_stripped,$@),cp $@ $@.full && strip $@)

# C++ targets (new/delete through libstdc++), same flags.
$(BUILD)/targets/%: tests/targets/%.cc
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) -std=gnu++17 -O0 -g -fno-inline -fno-builtin -rdynamic -Wall -Wextra -Werror \
		$< -o $@ -pthread

$(BUILD)/unit/%: tests/unit/%.c $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic $< $(CORE_OBJ) -o $@ -lcmocka $(JANSSON_A) $(ZLIB_A) $(LDLIBS) -lm

$(BUILD)/bench/%: bench/%.c bench/bench.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 $(WARN) $< -o $@ -pthread

# Export speed: the writers and the symbolizer linked in like the unit tests.
$(BUILD)/bench/x_export: bench/x_export.c bench/bench.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -rdynamic $< $(CORE_OBJ) -o $@ $(JANSSON_A) $(ZLIB_A) $(LDLIBS)

$(BUILD)/bench/forward.so: bench/forward.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -fPIC -shared $(WARN) $< -o $@ -ldl

$(BUILD)/bench/forward_timed.so: bench/forward.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -DTIMED -O2 -fPIC -shared $(WARN) $< -o $@ -ldl

$(BUILD)/bench/files_floor.so: bench/files_floor.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -O2 -fPIC -shared $(WARN) $< -o $@

deps:
	$(Q)scripts/install-deps

# a stripped object for test_symbols_plain (no .symtab, no DWARF)
$(BUILD)/unit/libplain.so: tests/unit/plain_lib.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -fno-toplevel-reorder -fPIC -shared -s $(WARN) $< -o $@

unit: $(UNITS) $(BUILD)/unit/libplain.so
	$(Q)for t in $(UNITS); do echo "  UNIT    $$t"; $$t || exit 1; done

check: $(LIB)
	$(Q)scripts/checksrc
	$(Q)scripts/check-exports $(LIB) hooks/EXPORTS

e2e: all $(TARGETS)
	$(Q)SHIMMER_BUILD=$(abspath $(BUILD)) SHIMMER_SAN=$(SAN) python3 tests/e2e/run.py

test: deps
	$(Q)$(MAKE) --no-print-directory all $(TARGETS) $(UNITS)
	$(Q)$(MAKE) --no-print-directory check unit e2e

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 test

bench: deps bench-build
	$(Q)SHIMMER_BUILD=$(abspath $(BUILD)) python3 bench/run.py

bench-build: all $(BENCHES) $(BUILD)/bench/forward.so $(BUILD)/bench/forward_timed.so \
	     $(BUILD)/bench/files_floor.so \
	     $(BUILD)/bench/x_export

demo: deps all
	$(Q)scripts/demo $(abspath $(BUILD))

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/shimmer $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/shimmer/libshimmer.so
	sed 's|@LIBDIR@|$(PREFIX)/lib/shimmer|' scripts/shimmer > $(DESTDIR)$(PREFIX)/bin/shimmer
	chmod 755 $(DESTDIR)$(PREFIX)/bin/shimmer

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/shimmer $(DESTDIR)$(PREFIX)/lib/shimmer/libshimmer.so

fmt:
	clang-format -i shim/*.[ch] hooks/*.[ch] export/*.[ch] tests/unit/*.c tests/targets/*.c

clean:
	rm -rf build build-asan shimmer-out

-include $(LIB_OBJ:.o=.d) $(CORE_OBJ:.o=.d) $(UNITS:=.d)
