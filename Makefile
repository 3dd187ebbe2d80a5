# mimir: PGXS build of the extension plus the project's run/test/bench drivers.
EXTENSION = mimir
MODULE_big = mimir
PGFILEDESC = "mimir - Prometheus/Mimir-compatible metrics in PostgreSQL"

# The install script is assembled from one file per component (sql/install/),
# in name order, so components add their SQL objects without touching others.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built = sql/mimir--0.1.sql

PROTOS   = $(wildcard src/*/*.proto)
PROTO_C  = $(PROTOS:.proto=.pb-c.c)
PROTO_H  = $(PROTOS:.proto=.pb-c.h)
SRCS     = $(filter-out %.pb-c.c,$(wildcard src/*.c src/*/*.c))
OBJS     = $(SRCS:.c=.o) $(PROTO_C:.c=.o)

# Every sql/<name>.sql but the install script is a pg_regress test. The
# foundation's tests share data and run first, in this order; the others are
# independent of each other and run in name order.
REGRESS_FIRST = promchunk write_read selectors tenants head_cut errors
REGRESS = $(REGRESS_FIRST) $(filter-out mimir--% $(REGRESS_FIRST),$(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=mimir --load-extension=pg_cron

PG_CPPFLAGS = -I$(CURDIR)/src -Wno-declaration-after-statement
SHLIB_LINK = -lprotobuf-c -lsnappy -lmicrohttpd -lcurl -lyaml -lm -lpthread
EXTRA_CLEAN = $(PROTO_C) $(PROTO_H) test/*/build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/mimir--0.1.sql: $(INSTALL_PARTS)
	( echo '-- mimir 0.1: Prometheus/Mimir-compatible metrics storage inside PostgreSQL.'; \
	  echo '-- Generated from sql/install/*.sql by the Makefile; edit those files.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION mimir" to load this file. \quit'; \
	  for f in $(INSTALL_PARTS); do echo; echo "-- $$f"; cat $$f; done ) > $@

# Generated protobuf-c code must exist before anything includes it.
$(SRCS:.c=.o): $(PROTO_H) $(wildcard src/*.h src/*/*.h)
src/%.pb-c.c src/%.pb-c.h: src/%.proto
	protoc-c --proto_path=$(dir $<) --c_out=$(dir $<) $<

.PHONY: deps run stop test bench
deps:
	@test/deps.sh
run: deps
	@test/run.sh start
stop:
	@test/run.sh stop
test: deps
	@test/run_tests.sh
bench: deps
	@test/bench.sh
