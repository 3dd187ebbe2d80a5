# mimir: PGXS build of the extension plus the project's run/test/bench drivers.
EXTENSION = mimir
MODULE_big = mimir
DATA = sql/mimir--0.1.sql
PGFILEDESC = "mimir - Prometheus/Mimir-compatible metrics in PostgreSQL"

PROTOS   = $(wildcard src/distributor/*.proto)
PROTO_C  = $(PROTOS:.proto=.pb-c.c)
PROTO_H  = $(PROTOS:.proto=.pb-c.h)
SRCS     = $(filter-out %.pb-c.c,$(wildcard src/*.c src/*/*.c))
OBJS     = $(SRCS:.c=.o) $(PROTO_C:.c=.o)

REGRESS = promchunk write_read selectors tenants head_cut errors
REGRESS_OPTS = --load-extension=mimir

PG_CPPFLAGS = -I$(CURDIR)/src -I$(CURDIR)/src/distributor -Wno-declaration-after-statement
SHLIB_LINK = -lprotobuf-c -lsnappy -lmicrohttpd -lcurl -lyaml -lm
EXTRA_CLEAN = $(PROTO_C) $(PROTO_H) test/codec/build test/promql/build test/distributor/build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Generated protobuf-c code must exist before anything includes it.
$(SRCS:.c=.o): $(PROTO_H) $(wildcard src/*.h src/*/*.h)
src/distributor/%.pb-c.c src/distributor/%.pb-c.h: src/distributor/%.proto
	protoc-c --proto_path=src/distributor --c_out=src/distributor $<

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
