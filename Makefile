# apigw — build, test, run, bench.  See README.md.
#
#   make            module + command-line tool
#   make run        the demo (nginx + apigw + the OpenWhisk stand-in)
#   make test       every unit, fuzz-smoke and integration test
#   make bench      wrk and bench/openloop: bare proxy_pass vs apigw, same run
#   make fuzz       each fuzz target for FUZZ_TIME seconds (default 60)
#   make test SAN=1 nginx itself built with the module under ASan/UBSan

SHELL       := /bin/bash
MAKEFLAGS   += --no-print-directory
BUILD       := $(CURDIR)/build
NGX_SRC     := /usr/share/nginx/src
PKGS        := jansson yaml-0.1 libpcre2-8 libcrypto

CC          ?= cc
CFLAGS_CORE := -std=gnu99 -O2 -g -Wall -Wextra -Werror -fPIC -Isrc \
               -D_FORTIFY_SOURCE=2 -fstack-protector-strong
LIBS_CORE    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_PKG   = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)

# The core: src/, openapi/, ratelimit/ (no nginx headers); src/cli.c is the
# command-line tool's main().
CORE_SRCS   := $(filter-out src/cli.c,\
               $(wildcard src/*.c openapi/*.c ratelimit/*.c))
CORE_HDRS   := $(wildcard src/*.h openapi/*.h ratelimit/*.h)
CORE_OBJS   := $(patsubst %.c,$(BUILD)/core/%.o,$(CORE_SRCS))
MOD_SRCS    := $(wildcard ngx_module/*.c ngx_module/*.h)

UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_TIME   ?= 60
NPROC       := $(shell nproc 2>/dev/null || echo 2)
FUZZ_SMOKE  ?= 5

PYTEST      := /usr/bin/python3 -m pytest
PYTEST_ARGS ?=

.PHONY: all deps core module cli unit fuzz fuzz-smoke integration test run \
        bench clean check-style

all: module cli

deps:
	@bash tests/deps.sh

core: $(BUILD)/libapigw.a

$(BUILD)/core/%.o: %.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(CFLAGS_PKG) -c $< -o $@

$(BUILD)/libapigw.a: $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

cli: $(BUILD)/apigw

$(BUILD)/apigw: src/cli.c $(BUILD)/libapigw.a
	$(CC) $(CFLAGS_CORE) $(CFLAGS_PKG) $< $(BUILD)/libapigw.a \
	    $(LIBS_CORE) -o $@

# The module: Debian's nginx-dev tree copied (configure writes into it),
# configured with Debian's own flags, so stock Debian nginx loads the .so.
module: $(BUILD)/ngx_http_apigw_module.so

# configure lists the sources: run it again when the set of files changes
SRCLIST     := $(sort $(CORE_SRCS) $(CORE_HDRS) $(MOD_SRCS))
$(shell mkdir -p $(BUILD) && echo '$(SRCLIST)' | cmp -s - $(BUILD)/srclist \
        || echo '$(SRCLIST)' > $(BUILD)/srclist)

$(BUILD)/nginx/Makefile: config $(BUILD)/srclist
	@test -d $(NGX_SRC) || { echo "apigw: $(NGX_SRC) is missing: install" \
	    "Debian's nginx-dev, or run 'make deps' (installs every package" \
	    "apigw needs)" >&2; exit 1; }
	rm -rf $(BUILD)/nginx-src $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx-src
	cd $(BUILD)/nginx-src && . ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC \
	        $$(dpkg-buildflags --get CPPFLAGS) -Wextra" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(BUILD)/nginx \
	    > $(BUILD)/configure.log 2>&1 \
	    || { tail -20 $(BUILD)/configure.log; exit 1; }

$(BUILD)/ngx_http_apigw_module.so: $(BUILD)/nginx/Makefile $(CORE_SRCS) \
        $(CORE_HDRS) $(MOD_SRCS)
	$(MAKE) -s -j$(NPROC) -f $(BUILD)/nginx/Makefile -C $(BUILD)/nginx-src modules
	@# a new file, not the old one overwritten: a running nginx (make run)
	@# keeps the module it mapped instead of crashing
	cp $(BUILD)/nginx/ngx_http_apigw_module.so $@.tmp
	mv -f $@.tmp $@
	printf 'load_module %s;\nevents {}\n' $@ > $(BUILD)/load-test.conf
	nginx -g 'error_log stderr; pid /dev/null;' -t -q -c $(BUILD)/load-test.conf

# ---- tests ----

$(BUILD)/unit/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libapigw.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(CFLAGS_PKG) -Itests/unit $< \
	    $(BUILD)/libapigw.a $(LIBS_CORE) -o $@

unit: $(UNIT_BINS)
	@rc=0; for t in $(UNIT_BINS); do \
	    (cd tests/unit && $$t) || rc=1; done; exit $$rc

FUZZ_CC     := clang
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -Isrc

$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CFLAGS_PKG) $< $(CORE_SRCS) \
	    $(LIBS_CORE) -o $@

# Each target for FUZZ_TIME seconds on a copy of its corpus.
fuzz: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@bash tests/fuzz/run.sh $(FUZZ_SMOKE) $(FUZZ_BINS)

integration: module cli
	cd tests && APIGW_SAN=$(SAN) $(PYTEST) -q -p no:cacheprovider \
	    $(PYTEST_ARGS) .

ifeq ($(SAN),1)
test: deps
	@bash tests/san/build.sh
	$(MAKE) unit
	# nginx never frees its configuration at exit (nginx -t, the master):
	# LeakSanitizer would fail every instance, so leaks are not checked;
	# an ASan error aborts the worker, which the tests then see
	cd tests && APIGW_NGINX=$(BUILD)/san/sbin/nginx APIGW_SAN=1 \
	    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	    $(PYTEST) -q -p no:cacheprovider $(PYTEST_ARGS) integration
else
test: deps
	@bash tests/style.sh
	$(MAKE) all
	$(MAKE) -j$(NPROC) $(UNIT_BINS) $(FUZZ_BINS) $(BUILD)/openloop
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) integration
endif

# nginx's conventions in the C sources; the core includes no nginx header
check-style:
	@bash tests/style.sh

run: deps
	$(MAKE) all
	@/usr/bin/python3 examples/demo.py

bench: deps
	$(MAKE) all $(BUILD)/openloop
	@bash bench/run.sh

# the benchmark's open-loop client (latency at a fixed rate)
$(BUILD)/openloop: bench/openloop.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu99 -O2 -Wall -Wextra -Werror $< -o $@

clean:
	rm -rf $(BUILD)
