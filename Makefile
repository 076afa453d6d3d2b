# dmt - GNU Makefile.
#   make          build build/dmt
#   make run      install what is missing, build, start on ./dmt.db with a demo
#   make test     install what is missing, build with ASan+UBSan, run every test
#   make bench    run the benchmark scripts under bench/

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libpq libsodium libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl (the CLI, src/cli/curl_dl.h) and libpq (src/store/pg_dl.h) are
# loaded at run time when needed, not linked: a server on SQLite maps neither.
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl libpq,$(PKGS)) 2>/dev/null)
OPT     ?= -O2 -g
CFLAGS  := $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
           -Isrc -Iinclude -Ibuild/gen $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -ldl
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS    := $(shell find src -name '*.c' | sort)
GEN     := build/gen/embedded.c
LIBSRCS := $(filter-out src/cli/main.c,$(SRCS))
OBJS    := $(SRCS:%.c=build/obj/%.o) build/obj/gen/embedded.o
LIBOBJS := $(LIBSRCS:%.c=build/obj/%.o) build/obj/gen/embedded.o
ASAN_OBJS    := $(SRCS:%.c=build/asan/%.o) build/asan/gen/embedded.o
ASAN_LIBOBJS := $(LIBSRCS:%.c=build/asan/%.o) build/asan/gen/embedded.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/%)
EMBED   := src/http/openapi.json $(shell find web -type f 2>/dev/null | sort)

.PHONY: valgrind all run test unit unit-pg integration integration-pg multinode ui lint deps deps-test bench clean asan format plugins
all: build/dmt

deps:
	@bash scripts/deps.sh build
deps-test:
	@bash scripts/deps.sh test

build/dmt: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/asan/dmt: $(ASAN_OBJS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<
build/obj/gen/embedded.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<
build/asan/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -MMD -MP -c -o $@ $<
build/asan/gen/embedded.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

$(GEN): scripts/embed.sh $(EMBED)
	@mkdir -p $(dir $@)
	bash scripts/embed.sh $@ $(EMBED)

build/asan/tests/%: tests/unit/%.c $(ASAN_LIBOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libpq 2>/dev/null) -lcriterion

asan: build/asan/dmt

run: deps
	@$(MAKE) --no-print-directory build/dmt
	./build/dmt serve --demo --db sqlite:./dmt.db $(if $(LISTEN),--listen $(LISTEN))

plugins:
	@$(MAKE) --no-print-directory -f plugins/Makefile plugins

unit: $(UNIT_BINS) build/asan/dmt plugins
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t --jobs 1; done

# The store conformance tests again, on a throw-away PostgreSQL 15 cluster.
PG_UNIT_BINS := build/asan/tests/test_store build/asan/tests/test_store_runs \
                build/asan/tests/test_store_lease
unit-pg: $(PG_UNIT_BINS)
	@bash scripts/unit-pg.sh $(PG_UNIT_BINS)

integration: build/asan/dmt build/dmt plugins
	cd tests && DMT_BIN=$(CURDIR)/build/asan/dmt DMT_CLI=$(CURDIR)/build/dmt \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    node --test --test-concurrency=1 integration/

# The integration tests again against dmt serve on PostgreSQL (FILES=...
# picks test files; default all of them).
integration-pg: build/asan/dmt build/dmt plugins
	DMT_BIN=$(CURDIR)/build/asan/dmt DMT_CLI=$(CURDIR)/build/dmt \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 bash scripts/integration-pg.sh $(FILES)

# Two API nodes and three workers on a throw-away PostgreSQL: 200 runs, none
# lost or duplicated; kill -9 and SIGSTOP of a worker; events and log follow
# across nodes; worker tags; an API node killed (scripts/multinode-test.sh).
multinode: build/dmt
	@DMT_BIN=$(CURDIR)/build/dmt bash scripts/multinode-test.sh

# The normal build under valgrind: dmt serve on SQLite, an API node and a
# worker on a throw-away PostgreSQL; no memcheck error, no definite leak.
valgrind: build/dmt
	@DMT_BIN=$(CURDIR)/build/dmt bash scripts/valgrind-test.sh

# The web UI in real headless Chromium (Debian's chromium, playwright-core).
ui: build/asan/dmt build/dmt
	cd tests && DMT_BIN=$(CURDIR)/build/asan/dmt DMT_CLI=$(CURDIR)/build/dmt \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    node --test --test-concurrency=1 ui/

lint:
	cd tests && ./node_modules/.bin/redocly lint --format=stylish ../src/http/openapi.json

test: deps-test
	@$(MAKE) --no-print-directory build/dmt build/asan/dmt
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-pg
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory integration-pg
	@$(MAKE) --no-print-directory multinode
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory ui

bench: deps-test build/dmt
	bash bench/api.sh && bash bench/dispatch.sh && bash bench/logs.sh && bash bench/concurrency.sh

format:
	clang-format -i $(SRCS) $(shell find src include -name '*.h')

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
