/*
 * cut.c — cutting the head into chunks. Committed head batches are merged,
 * per series, into the series' last chunk (while it has room) or into new
 * chunks of at most mimir.chunk_max_samples samples and two hours, keeping
 * the invariant that a series' chunks never overlap. Late (out-of-order)
 * samples are merged into the chunks they overlap.
 */
#include "mimir.h"

#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(mimir_cut_head);

#define CUT_LOCK_KEY		0x6d696d6972LL	/* "mimir" */
#define CUT_SAMPLE_BUDGET	(8 * 1024 * 1024)

typedef struct CutSample
{
	int64		series;
	int64		t;
	double		v;
	int64		ord;			/* arrival order: earlier wins on equal t */
} CutSample;

typedef struct OldChunk
{
	int64		series;
	int64		mint;
	int64		maxt;
	bytea	   *chunk;
} OldChunk;

static int
cutsample_cmp(const void *a, const void *b)
{
	const CutSample *x = a,
			   *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int
oldchunk_cmp(const void *a, const void *b)
{
	const OldChunk *x = a,
			   *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	return x->mint < y->mint ? -1 : x->mint > y->mint;
}

static Oid
promchunk_oid(void)
{
	TypeName   *tn = makeTypeNameFromNameList(list_make2(makeString("mimir"),
														  makeString("promchunk")));

	return typenameTypeId(NULL, tn);
}

/* Output accumulators for the chunks to insert and delete. */
typedef struct CutOut
{
	int			nins,
				capins;
	int64	   *ins_series,
			   *ins_mint,
			   *ins_maxt;
	Datum	   *ins_chunk;
	int			ndel,
				capdel;
	int64	   *del_series,
			   *del_mint;
} CutOut;

static void
out_insert(CutOut *o, int64 series, const pc_sample *s, int n)
{
	if (o->nins == o->capins)
	{
		o->capins = Max(256, o->capins * 2);
		o->ins_series = o->ins_series ? repalloc_huge(o->ins_series, sizeof(int64) * o->capins) : palloc(sizeof(int64) * o->capins);
		o->ins_mint = o->ins_mint ? repalloc_huge(o->ins_mint, sizeof(int64) * o->capins) : palloc(sizeof(int64) * o->capins);
		o->ins_maxt = o->ins_maxt ? repalloc_huge(o->ins_maxt, sizeof(int64) * o->capins) : palloc(sizeof(int64) * o->capins);
		o->ins_chunk = o->ins_chunk ? repalloc_huge(o->ins_chunk, sizeof(Datum) * o->capins) : palloc(sizeof(Datum) * o->capins);
	}
	o->ins_series[o->nins] = series;
	o->ins_mint[o->nins] = s[0].t;
	o->ins_maxt[o->nins] = s[n - 1].t;
	o->ins_chunk[o->nins] = PointerGetDatum(mimir_chunk_encode(s, n));
	o->nins++;
}

static void
out_delete(CutOut *o, int64 series, int64 mint)
{
	if (o->ndel == o->capdel)
	{
		o->capdel = Max(256, o->capdel * 2);
		o->del_series = o->del_series ? repalloc_huge(o->del_series, sizeof(int64) * o->capdel) : palloc(sizeof(int64) * o->capdel);
		o->del_mint = o->del_mint ? repalloc_huge(o->del_mint, sizeof(int64) * o->capdel) : palloc(sizeof(int64) * o->capdel);
	}
	o->del_series[o->ndel] = series;
	o->del_mint[o->ndel] = mint;
	o->ndel++;
}

/* Split sorted samples into chunks by count and span. */
static void
split_into_chunks(CutOut *o, int64 series, const pc_sample *s, int n)
{
	int			start = 0;

	while (start < n)
	{
		int			end = start + 1;

		while (end < n && end - start < mimir_chunk_max_samples &&
			   (uint64) s[end].t - (uint64) s[start].t <= (uint64) MIMIR_CHUNK_MAX_SPAN_MS)
			end++;
		out_insert(o, series, s + start, end - start);
		start = end;
	}
}

/*
 * Merge one series' new samples (sorted, deduplicated) with the old chunks
 * that overlap them or that they can be appended to.
 */
static void
cut_series(CutOut *o, int64 series, pc_sample *news, int nnew, OldChunk *old, int nold)
{
	int64		lo = news[0].t,
				hi = news[nnew - 1].t;
	int			pred = -1;
	pc_sample  *merged;
	int			nm = 0,
				cap = nnew;
	bool	   *use = palloc0(sizeof(bool) * Max(nold, 1));

	for (int i = 0; i < nold; i++)
	{
		if (old[i].maxt >= lo && old[i].mint <= hi)
		{
			use[i] = true;
			cap += mimir_chunk_max_samples * 2 + 1024;
		}
		else if (old[i].maxt < lo && (pred < 0 || old[i].maxt > old[pred].maxt))
			pred = i;
	}
	if (pred >= 0)
	{
		uint32		cnt;
		int64		a,
					b;

		pc_header((const uint8 *) VARDATA_ANY(old[pred].chunk),
				  VARSIZE_ANY_EXHDR(old[pred].chunk), &cnt, &a, &b);
		if ((int) cnt < mimir_chunk_max_samples &&
			(uint64) lo - (uint64) old[pred].mint <= (uint64) MIMIR_CHUNK_MAX_SPAN_MS)
		{
			use[pred] = true;
			cap += cnt;
		}
	}

	/* stored samples win over new ones at equal timestamps */
	merged = palloc_extended(sizeof(pc_sample) * cap, MCXT_ALLOC_HUGE);
	for (int i = 0; i < nold; i++)
	{
		int			cn;
		pc_sample  *cs;

		if (!use[i])
			continue;
		cs = mimir_chunk_decode(old[i].chunk, &cn);
		if (nm + cn + nnew > cap)
		{
			cap = nm + cn + nnew;
			merged = repalloc_huge(merged, sizeof(pc_sample) * cap);
		}
		memcpy(merged + nm, cs, sizeof(pc_sample) * cn);
		nm += cn;
		pfree(cs);
		out_delete(o, series, old[i].mint);
	}
	if (nm == 0)
	{
		split_into_chunks(o, series, news, nnew);
		return;
	}
	if (nm + nnew > cap)
		merged = repalloc_huge(merged, sizeof(pc_sample) * (nm + nnew));
	memcpy(merged + nm, news, sizeof(pc_sample) * nnew);
	/* old samples come first, so a stable dedup keeps them */
	{
		int			total = nm + nnew;
		int			out = 0;
		int64	   *ord = palloc(sizeof(int64) * total);
		CutSample  *tmp = palloc_extended(sizeof(CutSample) * total, MCXT_ALLOC_HUGE);

		for (int i = 0; i < total; i++)
		{
			tmp[i].series = series;
			tmp[i].t = merged[i].t;
			tmp[i].v = merged[i].v;
			tmp[i].ord = i;
		}
		qsort(tmp, total, sizeof(CutSample), cutsample_cmp);
		for (int i = 0; i < total; i++)
		{
			if (out > 0 && merged[out - 1].t == tmp[i].t)
				continue;
			merged[out].t = tmp[i].t;
			merged[out].v = tmp[i].v;
			out++;
		}
		pfree(tmp);
		pfree(ord);
		split_into_chunks(o, series, merged, out);
	}
}

int
mimir_cut_head_internal(int max_rows)
{
	return mimir_cut_head_upto(max_rows, PG_INT64_MAX);
}

/* Cut committed head rows with id <= max_id, oldest first. */
int
mimir_cut_head_upto(int max_rows, int64 max_id)
{
	Portal		portal;
	CutSample  *all = NULL;
	int			nall = 0,
				capall = 0;
	int64	   *head_ids = NULL;
	int			nheads = 0,
				capheads = 0;
	bool		isnull;
	CutOut		o = {0};
	int64	   *gseries,
			   *glo,
			   *ghi;
	int			ng = 0;
	OldChunk   *old = NULL;
	int			nold = 0;

	mimir_head_flush();
	mimir_spi_connect();
	{
		Oid			type = INT8OID;
		Datum		arg = Int64GetDatum(CUT_LOCK_KEY);

		if (SPI_execute_with_args("SELECT pg_try_advisory_xact_lock($1)", 1, &type, &arg,
								  NULL, false, 1) != SPI_OK_SELECT ||
			!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		{
			mimir_spi_finish();
			return 0;
		}
	}

	/* 1. read committed head batches, oldest first, within a sample budget */
	{
		Oid			type = INT8OID;
		Datum		arg = Int64GetDatum(max_id);

		portal = SPI_cursor_open_with_args(NULL, "SELECT id, data FROM mimir.head WHERE id <= $1 ORDER BY id",
										   1, &type, &arg, NULL, false, 0);
	}
	while (nheads < max_rows && nall < CUT_SAMPLE_BUDGET)
	{
		int64		hid;
		int			n;
		int64	   *sids;
		pc_sample  *s;
		MemoryContext spi;

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		hid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		mimir_head_decode(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  &n, &sids, &s);
		if (nheads == capheads)
		{
			capheads = Max(64, capheads * 2);
			head_ids = head_ids ? repalloc(head_ids, sizeof(int64) * capheads) : palloc(sizeof(int64) * capheads);
		}
		head_ids[nheads++] = hid;
		if (nall + n > capall)
		{
			capall = Max(nall + n, capall * 2);
			all = all ? repalloc_huge(all, sizeof(CutSample) * capall)
				: palloc_extended(sizeof(CutSample) * capall, MCXT_ALLOC_HUGE);
		}
		for (int i = 0; i < n; i++)
		{
			all[nall].series = sids[i];
			all[nall].t = s[i].t;
			all[nall].v = s[i].v;
			all[nall].ord = nall;
			nall++;
		}
		pfree(sids);
		pfree(s);
		spi = CurrentMemoryContext;
		(void) spi;
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (nheads == 0)
	{
		mimir_spi_finish();
		return 0;
	}

	/* 2. sort, dedupe (earliest arrival wins), group by series */
	qsort(all, nall, sizeof(CutSample), cutsample_cmp);
	{
		int			out = 0;

		for (int i = 0; i < nall; i++)
			if (out == 0 || all[out - 1].series != all[i].series || all[out - 1].t != all[i].t)
				all[out++] = all[i];
		nall = out;
	}
	gseries = palloc(sizeof(int64) * Max(nall, 1));
	glo = palloc(sizeof(int64) * Max(nall, 1));
	ghi = palloc(sizeof(int64) * Max(nall, 1));
	for (int i = 0; i < nall; i++)
	{
		if (ng == 0 || gseries[ng - 1] != all[i].series)
		{
			gseries[ng] = all[i].series;
			glo[ng] = all[i].t;
			ng++;
		}
		ghi[ng - 1] = all[i].t;
	}

	/* 3. the stored chunks each series' new samples may merge with */
	if (ng > 0)
	{
		Oid			types[3] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
		Datum		args[3] = {mimir_int8_array(gseries, ng), mimir_int8_array(glo, ng),
		mimir_int8_array(ghi, ng)};

		if (SPI_execute_with_args("SELECT c.series_id, c.mint, c.maxt, c.chunk "
								  "FROM unnest($1::int8[], $2::int8[], $3::int8[]) q(sid, lo, hi) "
								  "JOIN mimir.chunks c ON c.series_id = q.sid "
								  "AND c.mint >= q.lo - " MIMIR_CHUNK_MAX_SPAN_SQL
								  " AND c.mint <= q.hi",
								  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "chunk lookup failed");
		nold = (int) SPI_processed;
		old = palloc(sizeof(OldChunk) * Max(nold, 1));
		for (int i = 0; i < nold; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;

			old[i].series = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			old[i].mint = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			old[i].maxt = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
			old[i].chunk = DatumGetByteaPCopy(SPI_getbinval(tup, td, 4, &isnull));
		}
		qsort(old, nold, sizeof(OldChunk), oldchunk_cmp);
	}

	/* 4. merge and split, series by series */
	{
		int			si = 0,
					oi = 0;
		pc_sample  *tmp = palloc_extended(sizeof(pc_sample) * Max(nall, 1), MCXT_ALLOC_HUGE);

		while (si < nall)
		{
			int			sj = si;
			int			oj;
			int64		sid = all[si].series;

			CHECK_FOR_INTERRUPTS();
			while (sj < nall && all[sj].series == sid)
			{
				tmp[sj - si].t = all[sj].t;
				tmp[sj - si].v = all[sj].v;
				sj++;
			}
			while (oi < nold && old[oi].series < sid)
				oi++;
			oj = oi;
			while (oj < nold && old[oj].series == sid)
				oj++;
			cut_series(&o, sid, tmp, sj - si, old + oi, oj - oi);
			si = sj;
			oi = oj;
		}
	}

	/* 5. write: delete replaced chunks, insert new ones, drop the head batches */
	if (o.ndel > 0)
	{
		Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
		Datum		args[2] = {mimir_int8_array(o.del_series, o.ndel), mimir_int8_array(o.del_mint, o.ndel)};

		if (SPI_execute_with_args("DELETE FROM mimir.chunks c USING unnest($1::int8[], $2::int8[]) d(sid, mint) "
								  "WHERE c.series_id = d.sid AND c.mint = d.mint",
								  2, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "chunk delete failed");
	}
	if (o.nins > 0)
	{
		Oid			pcoid = promchunk_oid();
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Oid			types[4] = {INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, get_array_type(pcoid)};
		Datum		args[4];

		for (int i = 0; i < o.nins; i++)
			mimir_ensure_partition(o.ins_mint[i]);
		get_typlenbyvalalign(pcoid, &typlen, &typbyval, &typalign);
		args[0] = mimir_int8_array(o.ins_series, o.nins);
		args[1] = mimir_int8_array(o.ins_mint, o.nins);
		args[2] = mimir_int8_array(o.ins_maxt, o.nins);
		args[3] = PointerGetDatum(construct_array(o.ins_chunk, o.nins, pcoid, typlen, typbyval, typalign));
		if (SPI_execute_with_args("INSERT INTO mimir.chunks(series_id, mint, maxt, chunk) "
								  "SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4)",
								  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "chunk insert failed");
	}
	{
		Oid			type = INT8ARRAYOID;
		Datum		arg = mimir_int8_array(head_ids, nheads);

		if (SPI_execute_with_args("DELETE FROM mimir.head WHERE id = ANY($1)",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "head delete failed");
	}
	mimir_spi_finish();
	return nheads;
}

Datum
mimir_cut_head(PG_FUNCTION_ARGS)
{
	int			max_rows = PG_GETARG_INT32(0);

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));
	PG_RETURN_INT32(mimir_cut_head_internal(max_rows));
}
