/*
 * cut.c — cutting the head into chunks. Committed head batches are merged,
 * per series, into the series' last chunk (while it has room) or into new
 * chunks of at most mimir.chunk_max_samples samples and two hours, keeping
 * the invariant that a series' chunks never overlap. Late (out-of-order)
 * samples are merged into the chunks they overlap.
 */
#include "mimir.h"

#include "catalog/namespace.h"
#include "common/hashfn.h"
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
#define CUT_SAMPLE_BUDGET	(2 * 1024 * 1024)

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

/* head rows to cut, and their samples, oldest first */
typedef struct HeadSet
{
	int			n;
	int64	   *ids;
	int64		nsamples;
} HeadSet;

/*
 * Calls fn for every sample of the head rows in hs, in arrival order.
 * Caller is connected to SPI.
 */
static void
scan_head_rows(HeadSet *hs, void (*fn) (void *arg, int64 series, pc_sample s, int64 ord), void *arg)
{
	Oid			type = INT8ARRAYOID;
	Datum		a = mimir_int8_array(hs->ids, hs->n);
	Portal		portal;
	int64		ord = 0;
	bool		isnull;

	/*
	 * Not read-only: a fresh snapshot, at least as new as the one that chose
	 * hs->ids. Under the statement's older snapshot a head row committed in
	 * between would be chosen, not read, and then deleted with its samples.
	 */
	portal = SPI_cursor_open_with_args(NULL, "SELECT data FROM mimir.head WHERE id = ANY($1) ORDER BY id",
									   1, &type, &a, NULL, false, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 16);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			int			n;
			int64	   *sids;
			pc_sample  *smp;

			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *data = DatumGetByteaPP(d);

			CHECK_FOR_INTERRUPTS();
			mimir_head_decode(data, &n, &sids, &smp);
			/* detoasted copies add up over a large head: free them as we go */
			if ((Pointer) data != DatumGetPointer(d))
				pfree(data);
			for (int i = 0; i < n; i++)
				fn(arg, sids[i], smp[i], ord++);
			pfree(sids);
			pfree(smp);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* samples per series, to split a large head into series ranges */
typedef struct SeriesCount
{
	int64		series;
	char		status;
	int64		n;
} SeriesCount;

#define SH_PREFIX sercount
#define SH_ELEMENT_TYPE SeriesCount
#define SH_KEY_TYPE int64
#define SH_KEY series
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) ((k) ^ ((k) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static void
count_sample(void *arg, int64 series, pc_sample s, int64 ord)
{
	bool		found;
	SeriesCount *c = sercount_insert((sercount_hash *) arg, series, &found);

	if (!found)
		c->n = 0;
	c->n++;
}

typedef struct Collect
{
	int64		lo,
				hi;				/* series range [lo, hi] */
	CutSample  *all;
	int			n,
				cap;
} Collect;

static void
collect_sample(void *arg, int64 series, pc_sample s, int64 ord)
{
	Collect    *c = arg;

	if (series < c->lo || series > c->hi)
		return;
	if (c->n == c->cap)
	{
		c->cap = Max(1024, c->cap * 2);
		c->all = c->all ? repalloc_huge(c->all, sizeof(CutSample) * c->cap)
			: palloc_extended(sizeof(CutSample) * c->cap, MCXT_ALLOC_HUGE);
	}
	c->all[c->n].series = series;
	c->all[c->n].t = s.t;
	c->all[c->n].v = s.v;
	c->all[c->n].ord = ord;
	c->n++;
}


static void cut_samples(CutSample *all, int nall);

/*
 * Cut committed head rows with id <= max_id, oldest first. The samples of
 * a large head are processed in series ranges of at most CUT_SAMPLE_BUDGET
 * samples, each range reading all the rows, so that every series gets its
 * chunks written once instead of once per batch of rows (rewriting chunks
 * leaves dead rows behind). All in the caller's transaction: a crash leaves
 * the head as it was.
 */
int
mimir_cut_head_upto(int max_rows, int64 max_id)
{
	HeadSet		hs = {0};
	bool		isnull;

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

	/* 1. the committed head rows to cut, oldest first */
	{
		Oid			types[2] = {INT8OID, INT4OID};
		Datum		args[2] = {Int64GetDatum(max_id), Int32GetDatum(max_rows)};
		if (SPI_execute_with_args("SELECT id, n FROM mimir.head WHERE id <= $1 ORDER BY id LIMIT $2",
								  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "head lookup failed");
		hs.n = (int) SPI_processed;
		hs.ids = palloc(sizeof(int64) * Max(hs.n, 1));
		for (int i = 0; i < hs.n; i++)
		{
			hs.ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			hs.nsamples += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
	}
	if (hs.n == 0)
	{
		mimir_spi_finish();
		return 0;
	}

	/* 2. series ranges of at most CUT_SAMPLE_BUDGET samples */
	if (hs.nsamples <= CUT_SAMPLE_BUDGET)
	{
		Collect		c = {PG_INT64_MIN, PG_INT64_MAX, NULL, 0, 0};

		scan_head_rows(&hs, collect_sample, &c);
		cut_samples(c.all, c.n);
	}
	else
	{
		sercount_hash *counts = sercount_create(CurrentMemoryContext, 1024, NULL);
		sercount_iterator it;
		SeriesCount *e;
		int64	   *ids;
		int64	   *cnt;
		int			nser = 0;

		scan_head_rows(&hs, count_sample, counts);
		ids = palloc_extended(sizeof(int64) * Max(counts->members, 1) * 2, MCXT_ALLOC_HUGE);
		sercount_start_iterate(counts, &it);
		while ((e = sercount_iterate(counts, &it)) != NULL)
		{
			ids[2 * nser] = e->series;
			ids[2 * nser + 1] = e->n;
			nser++;
		}
		qsort(ids, nser, sizeof(int64) * 2, mimir_int64_cmp);
		cnt = ids;
		for (int i = 0; i < nser;)
		{
			Collect		c = {cnt[2 * i], 0, NULL, 0, 0};
			int64		budget = 0;
			int			j = i;

			while (j < nser && (j == i || budget + cnt[2 * j + 1] <= CUT_SAMPLE_BUDGET))
				budget += cnt[2 * j++ + 1];
			c.hi = cnt[2 * (j - 1)];
			/* a nested SPI connection per range: its memory goes with it */
			mimir_spi_connect();
			scan_head_rows(&hs, collect_sample, &c);
			cut_samples(c.all, c.n);
			mimir_spi_finish();
			i = j;
		}
	}

	/* 3. the head rows are in chunks now */
	{
		Oid			type = INT8ARRAYOID;
		Datum		arg = mimir_int8_array(hs.ids, hs.n);

		if (SPI_execute_with_args("DELETE FROM mimir.head WHERE id = ANY($1)",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "head delete failed");
	}
	mimir_spi_finish();
	return hs.n;
}

/*
 * Merge samples (any order, duplicates allowed: the earliest arrival wins)
 * into the chunks of their series. Caller is connected to SPI.
 */
static void
cut_samples(CutSample *all, int nall)
{
	bool		isnull;
	CutOut		o = {0};
	int64	   *gseries,
			   *glo,
			   *ghi;
	int			ng = 0;
	OldChunk   *old = NULL;
	int			nold = 0;

	if (nall == 0)
		return;
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

	/*
	 * 3. the stored chunks each series' new samples may merge with; packed
	 * chunks the samples reach back to are taken out of their packs first
	 * (with every later packed chunk of the series: packed precede plain)
	 */
	if (ng > 0)
		mimir_packs_take_from(gseries, glo, ng, PG_INT64_MIN, PG_INT64_MAX, true, NULL, NULL);
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

	/* 5. write: delete replaced chunks, insert new ones */
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
