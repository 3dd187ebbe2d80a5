/*
 * retention.c — per-tenant retention (Mimir's
 * compactor_blocks_retention_period; 0 keeps data forever). A day partition
 * of the chunks table is dropped whole once every tenant with data in it lets
 * it go; otherwise the expired chunks of each tenant are deleted row by row.
 * Like Mimir's block-granular retention, a chunk goes only when all of its
 * samples are older than the cut-off.
 */
#include "compactor/compactor.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(mimir_run_retention);

typedef struct TenantRetention
{
	int32		id;
	char	   *name;
	int64		cutoff;			/* samples before it expire; PG_INT64_MIN: forever */
	CompactorStats st;
} TenantRetention;

typedef struct Partition
{
	char	   *name;
	int64		lo,
				hi;				/* chunks with lo <= mint < hi */
} Partition;

static List *
load_tenants(int64 now)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *res = NIL;

	mimir_spi_connect();
	if (SPI_execute("SELECT t.id, t.name, mimir.duration_ms(l.value) FROM mimir.tenants t "
					"CROSS JOIN LATERAL mimir.tenant_limits(t.name) l "
					"WHERE l.name = 'compactor_blocks_retention_period' ORDER BY t.id",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "tenant lookup failed");
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		TenantRetention *t = palloc0(sizeof(TenantRetention));
		bool		isnull;
		int64		period;

		t->id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		t->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		period = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		t->cutoff = period > 0 ? now - period : PG_INT64_MIN;
		res = lappend(res, t);
	}
	mimir_spi_finish();
	return res;
}

static List *
load_partitions(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *res = NIL;

	mimir_spi_connect();
	if (SPI_execute("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
					"JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'mimir.chunks'::regclass "
					"ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "partition lookup failed");
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *bound = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		long long	lo,
					hi;

		/* FOR VALUES FROM ('<lo>') TO ('<hi>') */
		if (bound && sscanf(bound, "FOR VALUES FROM ('%lld') TO ('%lld')", &lo, &hi) == 2)
		{
			Partition  *p = palloc(sizeof(Partition));

			p->name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			p->lo = lo;
			p->hi = hi;
			res = lappend(res, p);
		}
	}
	mimir_spi_finish();
	return res;
}

/* does the partition hold chunks of any of these tenants? */
static bool
partition_has_tenants(Partition *p, List *tenants)
{
	int32	   *ids = palloc(sizeof(int32) * Max(list_length(tenants), 1));
	int			n = 0;
	ListCell   *lc;
	bool		found;
	Oid			type = INT4ARRAYOID;
	Datum		arg;

	foreach(lc, tenants)
		ids[n++] = ((TenantRetention *) lfirst(lc))->id;
	if (n == 0)
		return false;
	arg = mimir_int4_array(ids, n);
	mimir_spi_connect();
	if (SPI_execute_with_args(psprintf("SELECT 1 FROM mimir.%s c JOIN mimir.all_series($1) s ON s.id = c.series_id "
									   "LIMIT 1", quote_identifier(p->name)),
							  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "partition check failed");
	found = SPI_processed > 0;
	if (!found)
	{
		/* the packs of the same day (by id range: may say yes for a tenant's neighbours) */
		char	   *packs = psprintf("chunk_packs_%s", p->name + strlen("chunks_"));

		if (SPI_execute_with_args(psprintf("SELECT 1 FROM mimir.chunk_packs c JOIN mimir.all_series($1) s "
										   "ON s.id BETWEEN c.series_lo AND c.series_hi "
										   "WHERE c.tableoid = to_regclass('mimir.%s') LIMIT 1",
										   quote_identifier(packs)),
								  1, &type, &arg, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "partition check failed");
		found = SPI_processed > 0;
	}
	mimir_spi_finish();
	return found;
}

/* drop a partition unless that needs to wait on other sessions too long */
static bool
drop_partition(Partition *p, CompactorStats *st)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = false;
	char	   *old_timeout;

	mimir_spi_connect();
	if (SPI_execute("SELECT current_setting('lock_timeout')", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "setting lookup failed");
	old_timeout = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	mimir_spi_finish();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		bool		isnull;
		int64		rows,
					bytes;

		mimir_spi_connect();
		/* dropping a partition locks the parent: never queue every query behind it for long */
		if (SPI_execute("SELECT set_config('lock_timeout', '2s', true)", false, 0) != SPI_OK_SELECT ||
			SPI_execute(psprintf("SELECT count(*), pg_total_relation_size('mimir.%s') FROM mimir.%s",
								 quote_identifier(p->name), quote_identifier(p->name)),
						false, 0) != SPI_OK_SELECT)
			elog(ERROR, "partition size lookup failed");
		rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		bytes = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		if (SPI_execute(psprintf("DROP TABLE mimir.%s", quote_identifier(p->name)), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not drop partition %s", p->name);
		{
			/* the chunk packs of the same day go with it */
			bool		packs_exist;
			char	   *packs = psprintf("chunk_packs_%s", p->name + strlen("chunks_"));

			if (SPI_execute(psprintf("SELECT count(*), pg_total_relation_size(to_regclass('mimir.%s')) "
									 "FROM mimir.chunk_packs WHERE tableoid = to_regclass('mimir.%s')",
									 quote_identifier(packs), quote_identifier(packs)),
							false, 0) != SPI_OK_SELECT)
				elog(ERROR, "partition size lookup failed");
			packs_exist = false;
			rows += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			{
				Datum		b = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

				if (!isnull)
				{
					bytes += DatumGetInt64(b);
					packs_exist = true;
				}
			}
			if (packs_exist &&
				SPI_execute(psprintf("DROP TABLE mimir.%s", quote_identifier(packs)), false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not drop partition %s", packs);
		}
		mimir_spi_finish();
		mimir_subxact_commit(caller, owner);
		st->rows_removed += rows;
		st->bytes_removed += bytes;
		st->partitions_dropped++;
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		ed = mimir_subxact_abort(caller, owner);
		ereport(LOG,
				(errmsg("mimir retention: partition %s not dropped this time: %s", p->name, ed->message)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	/* back to the previous lock_timeout, whatever the outcome */
	mimir_set_lock_timeout_local(old_timeout);
	mimir_forget_partitions();
	mimir_forget_pack_partitions();
	return ok;
}

/* expired chunks and head rows of one tenant */
static void
expire_rows(TenantRetention *t)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		args[2] = {Int32GetDatum(t->id), Int64GetDatum(t->cutoff)};
	bool		isnull;

	t->st.rows_removed += mimir_packs_delete_tenant(t->id, t->cutoff, &t->st.samples_removed, &t->st.bytes_removed);
	mimir_spi_connect();
	if (SPI_execute_with_args("WITH d AS (DELETE FROM mimir.chunks c USING mimir.all_series(ARRAY[$1]) s "
							  "WHERE s.id = c.series_id AND c.mint < $2 AND c.maxt < $2 "
							  "RETURNING mimir.chunk_count(c.chunk) AS n, pg_column_size(c.chunk) AS b) "
							  "SELECT count(*), coalesce(sum(n), 0)::int8, coalesce(sum(b), 0)::int8 FROM d",
							  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "chunk expiry failed");
	t->st.rows_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	t->st.samples_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	t->st.bytes_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	if (SPI_execute_with_args("WITH d AS (DELETE FROM mimir.head WHERE tenant_id = $1 AND maxt < $2 "
							  "RETURNING n, pg_column_size(data) AS b) "
							  "SELECT count(*), coalesce(sum(n), 0)::int8, coalesce(sum(b), 0)::int8 FROM d",
							  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "head expiry failed");
	t->st.rows_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	t->st.samples_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	t->st.bytes_removed += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	mimir_spi_finish();
}

Datum
mimir_run_retention(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz started = GetCurrentTimestamp();
	int64		now = mimir_ts_to_ms(started);
	List	   *tenants;
	List	   *expiring = NIL;
	List	   *parts;
	ListCell   *lc;
	CompactorStats drops = {0};
	int64		max_cutoff = PG_INT64_MIN;

	InitMaterializedSRF(fcinfo, 0);
	compactor_lock_chunks();
	mimir_head_flush();
	tenants = load_tenants(now);
	foreach(lc, tenants)
	{
		TenantRetention *t = lfirst(lc);

		if (t->cutoff != PG_INT64_MIN)
		{
			expiring = lappend(expiring, t);
			max_cutoff = Max(max_cutoff, t->cutoff);
		}
	}

	/* 1. whole partitions: every chunk ends before hi + the maximal chunk span */
	parts = expiring ? load_partitions() : NIL;
	foreach(lc, parts)
	{
		Partition  *p = lfirst(lc);
		int64		chunk_end = p->hi + MIMIR_CHUNK_MAX_SPAN_MS;
		List	   *blocking = NIL;
		ListCell   *tc;

		CHECK_FOR_INTERRUPTS();
		if (chunk_end > max_cutoff)
			continue;
		foreach(tc, tenants)
		{
			TenantRetention *t = lfirst(tc);

			if (t->cutoff < chunk_end)
				blocking = lappend(blocking, t);
		}
		if (!partition_has_tenants(p, blocking))
			drop_partition(p, &drops);
	}

	/* 2. the rest row by row */
	foreach(lc, expiring)
	{
		TenantRetention *t = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		CHECK_FOR_INTERRUPTS();
		expire_rows(t);
		compactor_log_run("retention", t->name, started, &t->st,
						  psprintf("cut-off %s", timestamptz_to_str(mimir_ms_to_ts(t->cutoff))));
		values[0] = CStringGetTextDatum(t->name);
		values[1] = Int64GetDatum(t->st.rows_removed);
		values[2] = Int64GetDatum(t->st.bytes_removed);
		values[3] = Int32GetDatum(0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	{
		Datum		values[4];
		bool		nulls[4] = {true, false, false, false};

		compactor_log_run("retention", NULL, started, &drops,
						  psprintf("%d partitions dropped, %d tenants with retention",
								   drops.partitions_dropped, list_length(expiring)));
		values[1] = Int64GetDatum(drops.rows_removed);
		values[2] = Int64GetDatum(drops.bytes_removed);
		values[3] = Int32GetDatum(drops.partitions_dropped);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
