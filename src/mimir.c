/*
 * mimir.c — extension entry point: configuration variables, module
 * initialisation and the small helpers (time conversion, SPI) that every
 * component shares.
 */
#include "mimir.h"

#include "lib/stringinfo.h"

#include "postmaster/bgworker.h"

#include "distributor/distributor.h"
#include "promql/promql.h"
#include "api/query_pool.h"
#include "ruler/ruler.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "common/int.h"

PG_MODULE_MAGIC;

char	   *mimir_tenant_guc = NULL;
int			mimir_chunk_max_samples = 240;
char	   *mimir_database = NULL;
int			mimir_cut_interval_ms = 10000;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("mimir.tenant",
							   "Tenant whose data SQL functions read and write.",
							   "Every function also takes a tenant argument that overrides it.",
							   &mimir_tenant_guc, "anonymous",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.chunk_max_samples",
							"Maximum number of samples the head cutter puts in one chunk.",
							NULL, &mimir_chunk_max_samples, 240, 2, 65536,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mimir.database",
							   "Database in which the extension's background workers run.",
							   NULL, &mimir_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.cut_interval",
							"How often the background worker cuts the head into chunks.",
							"0 disables the worker's cutting; mimir.cut_head() still works.",
							&mimir_cut_interval_ms, 10000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	mimir_head_install_hooks();
	promql_init();
	mimir_ruler_init();
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("mimir.head_series_capacity",
								"How many series the shared ingest state can track.",
								"Series beyond it are checked against storage, which is slower.",
								&mimir_head_series_capacity, 2000000, 1000, 100000000,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomStringVariable("mimir.http_listen_address",
								   "IPv4 address the HTTP workers listen on.",
								   NULL, &mimir_http_listen_address, "127.0.0.1",
								   PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("mimir.http_port",
								"TCP port of the remote-write and query HTTP API (0 disables it).",
								NULL, &mimir_http_port, 8080, 0, 65535,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("mimir.ingest_workers",
								"Number of HTTP worker processes (0 = one per CPU core).",
								NULL, &mimir_ingest_workers, 0, 0, 64,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("mimir.max_recv_msg_size",
								"Largest accepted request body, compressed and uncompressed (bytes).",
								"Mimir's -distributor.max-recv-msg-size.",
								&mimir_max_recv_msg_size, 100 * 1024 * 1024, 1024, INT_MAX,
								PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);
		DefineCustomBoolVariable("mimir.multitenancy_enabled",
								 "Take the tenant from X-Scope-OrgID (required) instead of using 'anonymous'.",
								 NULL, &mimir_multitenancy_enabled, false,
								 PGC_SIGHUP, 0, NULL, NULL, NULL);
		DefineCustomIntVariable("mimir.head_max_age",
								"How long samples stay in the head before the background worker cuts them into chunks.",
								"Cutting in larger batches makes fuller chunks and less rewriting; mimir.cut_head() cuts everything now.",
								&mimir_head_max_age_ms, 10 * 60 * 1000, 0, 24 * 3600 * 1000,
								PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
		series_map_init();
		rate_limit_init();
		distributor_metrics_init();
		mimir_register_cut_worker();
		mimir_register_ingest_workers();
		query_pool_init();
	}
	/* after every mimir.* variable is defined */
	MarkGUCPrefixReserved("mimir");
}

int64
mimir_ts_to_ms(TimestampTz ts)
{
	/* floor division: timestamps before 1970 must round towards -inf */
	int64		us = ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	int64		ms = us / 1000;

	if (us % 1000 < 0)
		ms--;
	return ms;
}

TimestampTz
mimir_ms_to_ts(int64 ms)
{
	return ms * 1000 - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

/*
 * Prometheus duration ([0-9]+(y|w|d|h|m|s|ms))+, units in decreasing order,
 * e.g. 1h30m. Returns false on syntax errors or overflow.
 */
bool
mimir_parse_duration(const char *s, int64 *ms)
{
	static const struct
	{
		const char *unit;
		int64		ms;
	}			units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000LL},
	{"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL}, {"ms", 1LL}};
	int64		total = 0;
	int			last = -1;

	if (*s == '\0')
		return false;
	if (strcmp(s, "0") == 0)
	{
		*ms = 0;
		return true;
	}
	while (*s)
	{
		int64		n = 0;
		int			u = -1;

		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
		{
			if (pg_mul_s64_overflow(n, 10, &n) || pg_add_s64_overflow(n, *s - '0', &n))
				return false;
			s++;
		}
		/* "ms" before "m" */
		if (s[0] == 'm' && s[1] == 's')
			u = 6;
		else
			for (int i = 0; i < 6; i++)
				if (*s == units[i].unit[0])
					u = i;
		if (u < 0 || u <= last)
			return false;
		s += strlen(units[u].unit);
		last = u;
		if (pg_mul_s64_overflow(n, units[u].ms, &n) || pg_add_s64_overflow(total, n, &total))
			return false;
	}
	*ms = total;
	return true;
}

PG_FUNCTION_INFO_V1(mimir_duration_ms);
Datum
mimir_duration_ms(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		ms;

	if (!mimir_parse_duration(s, &ms))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid duration \"%s\"", s),
				 errhint("Use a Prometheus duration such as 30s, 5m, 1h30m or 500ms.")));
	PG_RETURN_INT64(ms);
}

void
mimir_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mimir: SPI_connect failed");
}

void
mimir_spi_finish(void)
{
	SPI_finish();
}

/*
 * The two ends of an internal subtransaction that catches its own errors
 * (BeginInternalSubTransaction inside PG_TRY): both return to the caller's
 * memory context and resource owner; the abort side hands back the error.
 */
void
mimir_subxact_commit(MemoryContext caller, ResourceOwner owner)
{
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
}

ErrorData *
mimir_subxact_abort(MemoryContext caller, ResourceOwner owner)
{
	ErrorData  *ed;

	MemoryContextSwitchTo(caller);
	ed = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	return ed;
}

/* the value of a hexadecimal digit, -1 for any other character */
int
mimir_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Register one of mimir's static background workers: connected to a
 * database, started after recovery, restarted restart_s seconds after it
 * exits. name is the process title; type groups workers of one kind.
 */
void
mimir_register_worker(const char *function, const char *name, const char *type,
					  int restart_s, Datum arg)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = restart_s;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mimir");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(w.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(w.bgw_type, BGW_MAXLEN, "%s", type);
	w.bgw_main_arg = arg;
	RegisterBackgroundWorker(&w);
}

/* bytes of v as a base-128 varint (protobuf's and our packed formats') */
int
mimir_varint_len(uint64 v)
{
	int			n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

/* qsort/bsearch order of int64 */
int
mimir_int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a,
				y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* floor(a / b) for any signs (C division truncates toward zero) */
int64
mimir_floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* append v as a base-128 varint */
void
mimir_put_varint(StringInfo s, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(s, (char) ((v & 0x7f) | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(s, (char) v);
}

/* read a varint at *p (advanced past it); false if it runs past end */
bool
mimir_get_varint(const uint8 **p, const uint8 *end, uint64 *v)
{
	uint64		r = 0;
	int			shift = 0;

	while (*p < end && shift < 64)
	{
		uint8		b = *(*p)++;

		r |= (uint64) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*v = r;
			return true;
		}
		shift += 7;
	}
	return false;
}
