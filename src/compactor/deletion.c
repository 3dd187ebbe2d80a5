/*
 * deletion.c — deleting data on request: the samples of the series a
 * selector matches within [start, end] (chunks rewritten so that exactly
 * those samples go), and everything a tenant stored.
 *
 * delete_series keeps the series index (series and label pair rows): an
 * index entry without samples is invisible to every time-bounded query, and
 * writers use series ids without locking them. delete_tenant removes the
 * tenant's index too, under the tenant write lock (mimir_tenant_write_lock)
 * that every writer holds shared: it waits for writes in flight, and at its
 * commit the shared series map is reset and every backend's id caches are
 * invalidated, so later writes create their series anew.
 */
#include "compactor/compactor.h"

#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(mimir_delete_series);
PG_FUNCTION_INFO_V1(mimir_delete_tenant);

typedef struct Range
{
	int64		mint,
				maxt;
} Range;

static bool
in_range(void *arg, int64 series, int64 t)
{
	Range	   *r = arg;

	return t >= r->mint && t <= r->maxt;
}

Datum
mimir_delete_series(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	const char *tenant;
	char	   *selector;
	int32		tid;
	List	   *matchers;
	MimirSeriesRef *refs;
	int			n;
	int64	   *ids;
	Range		range;
	CompactorStats st = {0};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("selector, start and end must not be NULL"),
				 errhint("To delete everything of a series, pass '-infinity' and 'infinity'.")));
	selector = text_to_cstring(PG_GETARG_TEXT_PP(0));
	tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	range.mint = TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(1)) && PG_GETARG_TIMESTAMPTZ(1) < 0 ?
		PG_INT64_MIN : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(1), "start");
	range.maxt = TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(2)) && PG_GETARG_TIMESTAMPTZ(2) > 0 ?
		PG_INT64_MAX : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(2), "end");
	if (range.mint > range.maxt)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end timestamp must not be before start time")));
	matchers = mimir_parse_selector(selector);
	tid = mimir_tenant_id(tenant, false);
	if (tid < 0)
		PG_RETURN_INT64(0);
	refs = mimir_select_series(tid, matchers, &n);
	ids = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		ids[i] = refs[i].id;
	compactor_lock_chunks();
	/* clamp so that "mint - span" below cannot overflow */
	compactor_rewrite(tid, ids, n, Max(range.mint, PG_INT64_MIN / 2), range.maxt, in_range, &range, &st);
	compactor_log_run("delete_series", tenant, started, &st,
					  psprintf("%s, %d series matched", selector, n));
	PG_RETURN_INT64(st.samples_removed);
}

static int64
exec_count(const char *sql, int32 tid, int col, CompactorStats *st)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tid);
	bool		isnull;
	int64		samples;

	if (SPI_execute_with_args(sql, 1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "tenant deletion failed");
	st->rows_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	samples = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	st->samples_removed += samples;
	st->bytes_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return samples;
}

Datum
mimir_delete_tenant(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	char	   *tenant;
	int32		tid;
	CompactorStats st = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant must not be NULL")));
	tenant = text_to_cstring(PG_GETARG_TEXT_PP(0));
	mimir_validate_tenant_name(tenant);
	tid = mimir_tenant_id(tenant, false);
	if (tid < 0)
	{
		ereport(NOTICE, (errmsg("tenant \"%s\" has no data", tenant)));
		PG_RETURN_INT64(0);
	}
	/* first: writers of the tenant hold it shared, the chunk writers do not */
	mimir_tenant_write_lock(tid, true);
	compactor_lock_chunks();
	/* and no series packing of the tenant meanwhile (series_blocks.c) */
	mimir_series_lock_exclusive(tid);
	mimir_head_flush();
	/* this transaction's own writes of the tenant: no memo, nothing to publish */
	mimir_head_forget_tenant(tid);
	mimir_write_xact_end();
	st.rows_removed += mimir_packs_delete_tenant(tid, PG_INT64_MAX, &st.samples_removed, &st.bytes_removed);
	mimir_spi_connect();
	exec_count("WITH d AS (DELETE FROM mimir.chunks c USING mimir.all_series(ARRAY[$1]) s "
			   "WHERE s.id = c.series_id "
			   "RETURNING mimir.chunk_count(c.chunk) AS n, pg_column_size(c.chunk) AS b) "
			   "SELECT count(*), coalesce(sum(n), 0)::int8, coalesce(sum(b), 0)::int8 FROM d", tid, 0, &st);
	exec_count("WITH d AS (DELETE FROM mimir.head WHERE tenant_id = $1 "
			   "RETURNING n, pg_column_size(data) AS b) "
			   "SELECT count(*), coalesce(sum(n), 0)::int8, coalesce(sum(b), 0)::int8 FROM d", tid, 0, &st);
	{
		Oid			types[2] = {INT4OID, TEXTOID};
		Datum		args[2] = {Int32GetDatum(tid), CStringGetTextDatum(tenant)};

		/* rule groups go with their jobs; everything else keyed by tenant */
		if (SPI_execute_with_args("SELECT mimir.unschedule_job(mimir.rule_group_job_name(id)) "
								  "FROM mimir.rule_groups WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_execute_with_args("DELETE FROM mimir.rule_groups WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.exemplars WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.metadata WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.ha_replicas WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.alert_outbox WHERE tenant = $2",
								  2, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.limits WHERE tenant = $2",
								  2, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.series WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.series_blocks WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE ||
			SPI_execute_with_args("DELETE FROM mimir.label_pairs WHERE tenant_id = $1",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "tenant deletion failed");
	}
	/* every backend drops its cached series and label pair ids at our commit */
	CacheInvalidateRelcacheByRelid(get_relname_relid("series", get_namespace_oid("mimir", false)));
	mimir_spi_finish();
	compactor_reset_state_at_commit();
	compactor_log_run("delete_tenant", tenant, started, &st, NULL);
	PG_RETURN_INT64(st.samples_removed);
}
