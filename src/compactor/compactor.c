/*
 * compactor.c — what the compactor's jobs share: exclusion with the head
 * cutter (its advisory lock), the run log, resetting the shared ingest state
 * after deletions, rewriting chunks and head rows without some samples, and
 * writing chunks that respect the storage invariants (at most
 * mimir.chunk_max_samples samples and two hours per chunk).
 */
#include "compactor/compactor.h"

#include "ingester/ingester.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

static bool reset_pending;

/*
 * Any relation invalidation may be a chunk partition dropped by retention:
 * forget which partitions exist (a cheap catalog check re-learns them), so no
 * backend inserts into a partition that is gone.
 */
static void
partition_inval(Datum arg, Oid relid)
{
	mimir_forget_partitions();
	mimir_forget_pack_partitions();
}

static void
compactor_xact(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && reset_pending)
		series_map_reset();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE)
		reset_pending = false;
}

void
mimir_compactor_init(void)
{
	CacheRegisterRelcacheCallback(partition_inval, (Datum) 0);
	RegisterXactCallback(compactor_xact, NULL);
}

void
compactor_lock_chunks(void)
{
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(COMPACTOR_CUT_LOCK_KEY);

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock($1)", 1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not take the chunk writer lock");
	mimir_spi_finish();
}

void
compactor_reset_state_at_commit(void)
{
	reset_pending = true;
}

void
compactor_log_run(const char *job, const char *tenant, TimestampTz started, const CompactorStats *st,
				  const char *detail)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID, INT4OID,
	INT8OID, TEXTOID};
	Datum		args[9];
	char		nulls[9] = "         ";

	args[0] = CStringGetTextDatum(job);
	args[1] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	if (!tenant)
		nulls[1] = 'n';
	args[2] = TimestampTzGetDatum(started);
	args[3] = Int64GetDatum(st->rows_removed);
	args[4] = Int64GetDatum(st->samples_removed);
	args[5] = Int64GetDatum(st->bytes_removed - st->bytes_written);
	args[6] = Int32GetDatum(st->partitions_dropped);
	args[7] = Int64GetDatum(st->chunks_written);
	args[8] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	if (!detail)
		nulls[8] = 'n';
	mimir_spi_connect();
	if (SPI_execute_with_args("INSERT INTO mimir.compactor_runs(job, tenant, started, rows_removed, "
							  "samples_removed, bytes_removed, partitions_dropped, chunks_written, detail) "
							  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							  9, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not log the compactor run");
	mimir_spi_finish();
}


static Oid
promchunk_oid(void)
{
	TypeName   *tn = makeTypeNameFromNameList(list_make2(makeString("mimir"), makeString("promchunk")));

	return typenameTypeId(NULL, tn);
}

/* Store sorted samples of one series as chunks (count and span limits). Caller holds the lock. */
void
compactor_write_chunks(int64 series, const pc_sample *s, int n, CompactorStats *st)
{
	Oid			pcoid = promchunk_oid();
	int			start = 0;

	mimir_spi_connect();
	while (start < n)
	{
		int			end = start + 1;
		Oid			types[4] = {INT8OID, INT8OID, INT8OID, pcoid};
		Datum		args[4];

		while (end < n && end - start < mimir_chunk_max_samples &&
			   (uint64) s[end].t - (uint64) s[start].t <= (uint64) MIMIR_CHUNK_MAX_SPAN_MS)
			end++;
		mimir_ensure_partition(s[start].t);
		args[0] = Int64GetDatum(series);
		args[1] = Int64GetDatum(s[start].t);
		args[2] = Int64GetDatum(s[end - 1].t);
		args[3] = PointerGetDatum(mimir_chunk_encode(s + start, end - start));
		st->bytes_written += VARSIZE(DatumGetPointer(args[3]));
		if (SPI_execute_with_args("INSERT INTO mimir.chunks(series_id, mint, maxt, chunk) VALUES ($1, $2, $3, $4)",
								  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "chunk insert failed");
		st->chunks_written++;
		start = end;
	}
	mimir_spi_finish();
}

/*
 * Remove the samples `drop` selects from the given series' chunks and the
 * tenant's head rows overlapping [mint, maxt]. Chunks wholly dropped are
 * deleted; partly dropped ones are rewritten (their first sample, and so
 * their partition, may change). Caller holds the chunk lock.
 */
void
compactor_rewrite(int32 tenant_id, const int64 *series, int nseries, int64 mint, int64 maxt,
				  CompactorSampleFilter drop, void *arg, CompactorStats *st)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *rewrite_series = NIL;
	List	   *rewrite_samples = NIL;
	List	   *rewrite_counts = NIL;
	int64	   *del_series = NULL,
			   *del_mint = NULL;
	int			ndel = 0,
				capdel = 0;
	bool		isnull;
	int64	   *sorted = palloc(sizeof(int64) * Max(nseries, 1));

	memcpy(sorted, series, sizeof(int64) * nseries);
	qsort(sorted, nseries, sizeof(int64), mimir_int64_cmp);
	mimir_head_flush();
	if (nseries > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, INT8OID, INT8OID};
		Datum		args[3];
		Portal		portal;

		/* packed chunks from mint on back to plain ones (packed precede plain) */
		mimir_packs_take(series, nseries, mint, PG_INT64_MAX, true, NULL, NULL);
		args[0] = mimir_int8_array(series, nseries);
		args[1] = Int64GetDatum(mint);
		args[2] = Int64GetDatum(maxt);
		mimir_spi_connect();
		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT series_id, mint, chunk FROM mimir.chunks WHERE series_id = ANY($1) "
										   "AND mint >= $2 - " MIMIR_CHUNK_MAX_SPAN_SQL " AND mint <= $3 AND maxt >= $2",
										   3, types, args, NULL, false, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 256);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	td = SPI_tuptable->tupdesc;
				int64		sid = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
				int64		cmint = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
				bytea	   *chunk = DatumGetByteaPP(SPI_getbinval(tup, td, 3, &isnull));
				int			n;
				pc_sample  *s;
				int			kept = 0;
				MemoryContext old;

				CHECK_FOR_INTERRUPTS();
				s = mimir_chunk_decode(chunk, &n);
				for (int i = 0; i < n; i++)
					if (!drop(arg, sid, s[i].t))
						s[kept++] = s[i];
				if (kept == n)
					continue;
				old = MemoryContextSwitchTo(caller);
				st->samples_removed += n - kept;
				st->rows_removed++;
				st->bytes_removed += VARSIZE_ANY(chunk);
				if (ndel == capdel)
				{
					capdel = Max(64, capdel * 2);
					del_series = del_series ? repalloc(del_series, sizeof(int64) * capdel) : palloc(sizeof(int64) * capdel);
					del_mint = del_mint ? repalloc(del_mint, sizeof(int64) * capdel) : palloc(sizeof(int64) * capdel);
				}
				del_series[ndel] = sid;
				del_mint[ndel] = cmint;
				ndel++;
				if (kept > 0)
				{
					pc_sample  *copy = palloc(sizeof(pc_sample) * kept);
					int64	   *sidp = palloc(sizeof(int64));

					memcpy(copy, s, sizeof(pc_sample) * kept);
					*sidp = sid;
					rewrite_series = lappend(rewrite_series, sidp);
					rewrite_samples = lappend(rewrite_samples, copy);
					rewrite_counts = lappend_int(rewrite_counts, kept);
				}
				MemoryContextSwitchTo(old);
				pfree(s);
			}
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		if (ndel > 0)
		{
			Oid			dtypes[2] = {INT8ARRAYOID, INT8ARRAYOID};
			Datum		dargs[2] = {mimir_int8_array(del_series, ndel), mimir_int8_array(del_mint, ndel)};

			if (SPI_execute_with_args("DELETE FROM mimir.chunks c USING unnest($1::int8[], $2::int8[]) d(sid, mint) "
									  "WHERE c.series_id = d.sid AND c.mint = d.mint",
									  2, dtypes, dargs, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "chunk delete failed");
		}
		mimir_spi_finish();
		{
			ListCell   *a,
					   *b,
					   *c;

			forthree(a, rewrite_series, b, rewrite_samples, c, rewrite_counts)
				compactor_write_chunks(*(int64 *) lfirst(a), lfirst(b), lfirst_int(c), st);
		}
	}

	/* head rows (each a batch of the tenant's samples, possibly of many series) */
	{
		Oid			types[3] = {INT4OID, INT8OID, INT8OID};
		Datum		args[3] = {Int32GetDatum(tenant_id), Int64GetDatum(mint), Int64GetDatum(maxt)};
		List	   *updates = NIL;
		List	   *deletes = NIL;
		ListCell   *lc;

		mimir_spi_connect();
		if (SPI_execute_with_args("SELECT id, data FROM mimir.head WHERE tenant_id = $1 AND maxt >= $2 AND mint <= $3",
								  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "head lookup failed");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			int64		hid = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			bytea	   *data = DatumGetByteaPP(SPI_getbinval(tup, td, 2, &isnull));
			int			n;
			int64	   *sids;
			pc_sample  *s;
			int			kept = 0;
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			mimir_head_decode(data, &n, &sids, &s);
			for (int i = 0; i < n; i++)
			{
				bool		member = nseries > 0 &&
					bsearch(&sids[i], sorted, nseries, sizeof(int64), mimir_int64_cmp) != NULL;

				if (member && drop(arg, sids[i], s[i].t))
					continue;
				sids[kept] = sids[i];
				s[kept] = s[i];
				kept++;
			}
			if (kept == n)
				continue;
			old = MemoryContextSwitchTo(caller);
			st->samples_removed += n - kept;
			st->rows_removed++;
			st->bytes_removed += VARSIZE_ANY(data);
			if (kept == 0)
			{
				int64	   *h = palloc(sizeof(int64));

				*h = hid;
				deletes = lappend(deletes, h);
			}
			else
			{
				int64		lo = PG_INT64_MAX,
							hi = PG_INT64_MIN;
				Datum	   *u = palloc(sizeof(Datum) * 5);

				for (int i = 0; i < kept; i++)
				{
					lo = Min(lo, s[i].t);
					hi = Max(hi, s[i].t);
				}
				u[0] = Int64GetDatum(hid);
				u[1] = Int64GetDatum(lo);
				u[2] = Int64GetDatum(hi);
				u[3] = Int32GetDatum(kept);
				u[4] = PointerGetDatum(mimir_head_encode(sids, s, kept));
				updates = lappend(updates, u);
			}
			MemoryContextSwitchTo(old);
		}
		foreach(lc, deletes)
		{
			Oid			t = INT8OID;
			Datum		a = Int64GetDatum(*(int64 *) lfirst(lc));

			if (SPI_execute_with_args("DELETE FROM mimir.head WHERE id = $1", 1, &t, &a, NULL, false, 0) != SPI_OK_DELETE)
				elog(ERROR, "head delete failed");
		}
		foreach(lc, updates)
		{
			Oid			ut[5] = {INT8OID, INT8OID, INT8OID, INT4OID, BYTEAOID};

			if (SPI_execute_with_args("UPDATE mimir.head SET mint = $2, maxt = $3, n = $4, data = $5 WHERE id = $1",
									  5, ut, (Datum *) lfirst(lc), NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "head update failed");
		}
		mimir_spi_finish();
	}
	compactor_reset_state_at_commit();
}
