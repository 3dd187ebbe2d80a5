/*
 * series_read.c — reading samples: select series through the label index,
 * then merge each series' chunks and head samples into one sorted,
 * duplicate-free sequence, so callers never see the head/chunk split.
 */
#include "mimir.h"

#include "executor/spi.h"
#include "miscadmin.h"

typedef struct ReadState
{
	MimirSeriesData *data;
	int			nseries;
	int		   *cap;
	int64		mint,
				maxt;
	MemoryContext cxt;			/* where sample arrays live (outlives SPI) */
} ReadState;

static int
find_series(ReadState *st, int64 id)
{
	/* data is sorted by labels, so keep a sorted id index alongside */
	for (int i = 0; i < st->nseries; i++)
		if (st->data[i].id == id)
			return i;
	return -1;
}

typedef struct IdIndex
{
	int64		id;
	int			pos;
} IdIndex;

static IdIndex *id_index;

static int
idindex_cmp(const void *a, const void *b)
{
	int64		x = ((const IdIndex *) a)->id,
				y = ((const IdIndex *) b)->id;

	return x < y ? -1 : x > y;
}

static int
lookup(ReadState *st, int64 id)
{
	int			lo = 0,
				hi = st->nseries - 1;

	if (id_index == NULL)
		return find_series(st, id);
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (id_index[mid].id == id)
			return id_index[mid].pos;
		if (id_index[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static void
add_sample(ReadState *st, int pos, pc_sample s)
{
	MimirSeriesData *d = &st->data[pos];

	if (s.t < st->mint || s.t > st->maxt)
		return;
	if (d->n == st->cap[pos])
	{
		st->cap[pos] = Max(16, st->cap[pos] * 2);
		d->samples = d->samples ? repalloc_huge(d->samples, sizeof(pc_sample) * st->cap[pos])
			: MemoryContextAllocHuge(st->cxt, sizeof(pc_sample) * st->cap[pos]);
	}
	d->samples[d->n++] = s;
}

static void
on_chunk(void *arg, int64 series_id, bytea *chunk)
{
	ReadState  *st = arg;
	int			pos = lookup(st, series_id);
	int			n;
	pc_sample  *s;

	if (pos < 0)
		return;
	s = mimir_chunk_decode(chunk, &n);
	for (int i = 0; i < n; i++)
		add_sample(st, pos, s[i]);
	pfree(s);
}

static void
on_head(void *arg, int n, int64 *series, pc_sample *s)
{
	ReadState  *st = arg;

	for (int i = 0; i < n; i++)
	{
		int			pos;

		if (s[i].t < st->mint || s[i].t > st->maxt)
			continue;
		pos = lookup(st, series[i]);
		if (pos >= 0)
			add_sample(st, pos, s[i]);
	}
}

static int
sample_t_cmp(const void *a, const void *b)
{
	int64		x = ((const pc_sample *) a)->t,
				y = ((const pc_sample *) b)->t;

	return x < y ? -1 : x > y;
}

/*
 * Samples in [mint, maxt] of every series of the tenant matching matchers,
 * series sorted by label set. With data_only, series without samples in the
 * range are left out.
 */
MimirSeriesData *
mimir_read_series(int32 tenant_id, List *matchers, int64 mint, int64 maxt, int *nseries)
{
	MimirSeriesRef *refs;
	int			n;
	ReadState	st;
	int64	   *ids;

	mimir_head_flush();
	refs = mimir_select_series(tenant_id, matchers, &n);
	*nseries = n;
	if (n == 0)
		return NULL;
	st.data = palloc0(sizeof(MimirSeriesData) * n);
	st.cap = palloc0(sizeof(int) * n);
	st.nseries = n;
	st.mint = mint;
	st.maxt = maxt;
	st.cxt = CurrentMemoryContext;
	ids = palloc(sizeof(int64) * n);
	id_index = palloc(sizeof(IdIndex) * n);
	for (int i = 0; i < n; i++)
	{
		st.data[i].id = refs[i].id;
		st.data[i].labels = refs[i].labels;
		ids[i] = refs[i].id;
		id_index[i].id = refs[i].id;
		id_index[i].pos = i;
	}
	qsort(id_index, n, sizeof(IdIndex), idindex_cmp);

	mimir_spi_connect();
	PG_TRY();
	{
		mimir_scan_chunks(ids, n, mint, maxt, on_chunk, &st);
		mimir_scan_head(tenant_id, mint, maxt, on_head, &st);
	}
	PG_FINALLY();
	{
		id_index = NULL;
	}
	PG_END_TRY();
	mimir_spi_finish();

	for (int i = 0; i < n; i++)
	{
		MimirSeriesData *d = &st.data[i];
		int			out = 0;

		if (d->n > 1)
			qsort(d->samples, d->n, sizeof(pc_sample), sample_t_cmp);
		for (int j = 0; j < d->n; j++)
			if (out == 0 || d->samples[out - 1].t != d->samples[j].t)
				d->samples[out++] = d->samples[j];
		d->n = out;
	}
	return st.data;
}
