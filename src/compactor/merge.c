/*
 * merge.c — merging runs of adjacent small chunks of a series into full
 * ones. The head cutter appends to a series' last chunk while it has room,
 * so small chunks come from late (out-of-order) samples, rewritten chunks
 * and data written before a larger mimir.chunk_max_samples; merging them
 * keeps reads and storage efficient. A run is merged only when the result
 * still fits the storage invariants (sample count and two-hour span).
 */
#include "compactor/compactor.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(mimir_merge_chunks);

typedef struct ChunkInfo
{
	int64		series;
	int64		mint;
	int64		maxt;
	int			count;
} ChunkInfo;

typedef struct Run
{
	int64		series;
	int			n;
	int64	   *mints;
} Run;

static List *
find_runs(int64 since, int max_series)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *runs = NIL;
	Portal		portal;
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(since);
	ChunkInfo  *cur = NULL;
	int			ncur = 0,
				capcur = 0;
	int			nseries = 0;
	bool		isnull;

	mimir_spi_connect();
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT series_id, mint, maxt, mimir.chunk_count(chunk) FROM mimir.chunks "
									   "WHERE mint >= $1 ORDER BY series_id, mint",
									   1, &type, &arg, NULL, true, 0);
	for (;;)
	{
		bool		done;

		SPI_cursor_fetch(portal, true, 1000);
		done = SPI_processed == 0;
		for (uint64 r = 0; r <= SPI_processed; r++)
		{
			ChunkInfo	c;
			bool		flush;

			if (r < SPI_processed)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	td = SPI_tuptable->tupdesc;

				c.series = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
				c.mint = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
				c.maxt = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
				c.count = DatumGetInt32(SPI_getbinval(tup, td, 4, &isnull));
				flush = ncur > 0 && cur[0].series != c.series;
			}
			else
			{
				if (!done)
					break;
				flush = ncur > 0;
			}
			if (flush)
			{
				/* greedy runs over the series' chunks, in time order */
				MemoryContext old = MemoryContextSwitchTo(caller);
				int			i = 0;

				while (i < ncur)
				{
					int			j = i + 1;
					int			total = cur[i].count;

					while (j < ncur && total + cur[j].count <= mimir_chunk_max_samples &&
						   (uint64) cur[j].maxt - (uint64) cur[i].mint <= (uint64) MIMIR_CHUNK_MAX_SPAN_MS)
						total += cur[j++].count;
					if (j - i >= 2)
					{
						Run		   *run = palloc(sizeof(Run));

						run->series = cur[i].series;
						run->n = j - i;
						run->mints = palloc(sizeof(int64) * run->n);
						for (int k = i; k < j; k++)
							run->mints[k - i] = cur[k].mint;
						runs = lappend(runs, run);
					}
					i = j;
				}
				MemoryContextSwitchTo(old);
				ncur = 0;
				if (++nseries >= max_series)
				{
					done = true;
					break;
				}
			}
			if (r < SPI_processed)
			{
				if (ncur == capcur)
				{
					capcur = Max(64, capcur * 2);
					cur = cur ? repalloc(cur, sizeof(ChunkInfo) * capcur) :
						MemoryContextAlloc(caller, sizeof(ChunkInfo) * capcur);
				}
				cur[ncur++] = c;
			}
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
		if (done)
			break;
	}
	SPI_cursor_close(portal);
	mimir_spi_finish();
	return runs;
}

static void
merge_run(Run *run, CompactorStats *st)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[2] = {INT8OID, INT8ARRAYOID};
	Datum		args[2] = {Int64GetDatum(run->series), mimir_int8_array(run->mints, run->n)};
	pc_sample  *all = NULL;
	int			nall = 0;
	bool		isnull;

	mimir_spi_connect();
	if (SPI_execute_with_args("DELETE FROM mimir.chunks WHERE series_id = $1 AND mint = ANY($2) "
							  "RETURNING mint, chunk",
							  2, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "chunk merge failed");
	{
		/* decode in time order */
		int			n = (int) SPI_processed;
		int		   *order = palloc(sizeof(int) * Max(n, 1));
		int64	   *mints = palloc(sizeof(int64) * Max(n, 1));

		for (int i = 0; i < n; i++)
		{
			order[i] = i;
			mints[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		for (int i = 1; i < n; i++)
			for (int j = i; j > 0 && mints[order[j - 1]] > mints[order[j]]; j--)
			{
				int			t = order[j];

				order[j] = order[j - 1];
				order[j - 1] = t;
			}
		for (int k = 0; k < n; k++)
		{
			bytea	   *chunk = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[order[k]],
															  SPI_tuptable->tupdesc, 2, &isnull));
			int			cn;
			pc_sample  *s = mimir_chunk_decode(chunk, &cn);

			st->bytes_removed += VARSIZE_ANY(chunk);
			all = all ? repalloc(all, sizeof(pc_sample) * (nall + cn)) :
				MemoryContextAlloc(caller, sizeof(pc_sample) * Max(cn, 1));
			memcpy(all + nall, s, sizeof(pc_sample) * cn);
			nall += cn;
		}
		st->rows_removed += n;
	}
	mimir_spi_finish();
	if (nall > 0)
	{
		int64		before = st->chunks_written;

		/* chunks of a series never overlap: concatenation is in time order */
		compactor_write_chunks(run->series, all, nall, st);
		st->rows_removed -= st->chunks_written - before;
	}
}

Datum
mimir_merge_chunks(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	Interval   *since = PG_GETARG_INTERVAL_P(0);
	int			max_series = PG_GETARG_INT32(1);
	TimestampTz from;
	List	   *runs;
	ListCell   *lc;
	CompactorStats st = {0};

	if (max_series < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_series must be at least 1")));
	from = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
												   TimestampTzGetDatum(started), IntervalPGetDatum(since)));
	compactor_lock_chunks();
	runs = find_runs(mimir_ts_to_ms(from), max_series);
	foreach(lc, runs)
	{
		CHECK_FOR_INTERRUPTS();
		merge_run(lfirst(lc), &st);
	}
	compactor_log_run("merge_chunks", NULL, started, &st,
					  psprintf("%d runs of small chunks merged", list_length(runs)));
	PG_RETURN_INT64(st.rows_removed);
}
