/*
 * sql_write.c — SQL entry points that write samples: mimir.write and the
 * staleness marker.
 */
#include "mimir.h"

#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(mimir_write);
PG_FUNCTION_INFO_V1(mimir_stale_marker);

/* last parsed series of this backend: loops over one series parse once */
static char *last_text;
static int32 last_tenant = -1;
static int64 last_series;
static SeriesKey last_key;

Datum
mimir_write(PG_FUNCTION_ARGS)
{
	const char *tenant;
	int32		tenant_id;
	char	   *series;
	int64		t;
	int64		sid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("series must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sample time must not be NULL")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("sample value must not be NULL"),
				 errhint("Use 'NaN'::float8 for NaN or mimir.stale_marker() to end a series.")));
	tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	series = text_to_cstring(PG_GETARG_TEXT_PP(0));
	t = mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(1), "sample time");
	tenant_id = mimir_tenant_id(tenant, true);
	mimir_tenant_write_lock(tenant_id, false);

	if (last_text && last_tenant == tenant_id && strcmp(last_text, series) == 0)
		sid = last_series;
	else
	{
		MimirLabelSet ls;

		mimir_parse_series(series, &ls);
		sid = mimir_series_get_or_create(tenant_id, tenant, &ls, &last_key);
		/* the cache entry is only safe while the series row surely exists */
		if (last_text)
			pfree(last_text);
		last_text = MemoryContextStrdup(TopTransactionContext, series);
		last_tenant = tenant_id;
		last_series = sid;
	}
	mimir_head_append(tenant_id, sid, &last_key, t, PG_GETARG_FLOAT8(2));
	PG_RETURN_VOID();
}

/* called at transaction end: the memoised series lives in the transaction */
void
mimir_write_xact_end(void)
{
	last_text = NULL;
	last_tenant = -1;
}

Datum
mimir_stale_marker(PG_FUNCTION_ARGS)
{
	uint64		bits = MIMIR_STALE_NAN_BITS;
	double		v;

	memcpy(&v, &bits, 8);
	PG_RETURN_FLOAT8(v);
}
