/*
 * series_cursor.c — the evaluator's view of storage. A cursor selects series
 * through the label index, reads the head rows overlapping its time range
 * once (keeping only samples of selected series), and fetches chunks of a
 * batch of series at a time as the evaluator walks the series in label
 * order, so a selector over 100k series never holds all their samples.
 * Chunks are decoded in C straight into per-series buffers; nothing becomes
 * an SQL row.
 */
#include "mimir.h"
#include "querier/querier.h"

#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Series whose chunks are fetched by one SQL statement. */
#define CURSOR_BATCH	1024

typedef struct IdEntry
{
	int64		id;
	int			index;
	char		status;
} IdEntry;

#define SH_PREFIX idmap
#define SH_ELEMENT_TYPE IdEntry
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) (k) ^ (uint32) ((uint64) (k) >> 32))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct SampleBuf
{
	int			n;
	int			cap;
	pc_sample  *s;
} SampleBuf;

struct MimirSeriesCursor
{
	MemoryContext cxt;			/* cursor lifetime */
	MemoryContext batch_cxt;	/* reset for every batch of series */
	int64		mint,
				maxt;
	int			n;
	MimirSeriesRef *refs;
	MimirSeriesSet set;			/* the selected ids, for filtered reads */
	int32	   *slot;			/* id -> index over [set.lo, set.hi], or NULL */
	idmap_hash *ids;			/* id -> index when the ids are too sparse */
	SampleBuf  *head;			/* per series, NULL if the head has nothing */
	int64		head_held;
	int			batch_first;	/* series [batch_first, batch_first+batch_n) */
	int			batch_n;
	SampleBuf  *batch;
	int64		batch_held;
};

static void
buf_reserve(MemoryContext cxt, SampleBuf *b, int more)
{
	int64		need = (int64) b->n + more;

	if (need <= b->cap)
		return;
	if (need > PC_MAX_SAMPLES * 64LL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many samples in one series")));
	b->cap = (int) Max(need, Max(16, (int64) b->cap * 2));
	b->s = b->s ? repalloc_huge(b->s, sizeof(pc_sample) * b->cap)
		: MemoryContextAllocHuge(cxt, sizeof(pc_sample) * b->cap);
}

static inline int
index_of(MimirSeriesCursor *c, int64 id)
{
	IdEntry    *e;

	if (id < c->set.lo || id > c->set.hi)
		return -1;
	if (c->slot)
		return c->slot[id - c->set.lo];
	e = idmap_lookup(c->ids, id);
	return e ? e->index : -1;
}

static int32
lookup_index(void *arg, int64 id)
{
	return index_of((MimirSeriesCursor *) arg, id);
}

/*
 * The id -> index map of the selected series: an array over the ids' range
 * when that is not much larger than the selection (a tenant's series ids
 * are mostly contiguous), a hash table otherwise.
 */
static void
build_index(MimirSeriesCursor *c)
{
	int64		lo = PG_INT64_MAX,
				hi = PG_INT64_MIN;

	c->set.arg = c;
	c->set.lookup = lookup_index;
	if (c->n == 0)
	{
		c->set.lo = 1;
		c->set.hi = 0;
		return;
	}
	for (int i = 0; i < c->n; i++)
	{
		lo = Min(lo, c->refs[i].id);
		hi = Max(hi, c->refs[i].id);
	}
	c->set.lo = lo;
	c->set.hi = hi;
	if ((uint64) (hi - lo) < Max((uint64) 1 << 20, (uint64) c->n * 16))
	{
		int64		range = hi - lo + 1;

		c->slot = MemoryContextAllocHuge(c->cxt, sizeof(int32) * range);
		memset(c->slot, 0xff, sizeof(int32) * range);
		for (int i = 0; i < c->n; i++)
			c->slot[c->refs[i].id - lo] = i;
		c->set.slot = c->slot;
		return;
	}
	c->ids = idmap_create(c->cxt, Max(c->n, 16), NULL);
	for (int i = 0; i < c->n; i++)
	{
		bool		found;
		IdEntry    *e = idmap_insert(c->ids, c->refs[i].id, &found);

		e->index = i;
	}
}

/* One selected series' samples of a head row. */
static void
on_head_series(void *arg, int index, int64 series, const pc_sample *s, int n)
{
	MimirSeriesCursor *c = arg;
	SampleBuf  *b;
	int			before;

	if (c->head == NULL)
		c->head = MemoryContextAllocZero(c->cxt, sizeof(SampleBuf) * c->n);
	b = &c->head[index];
	buf_reserve(c->cxt, b, n);
	before = b->n;
	for (int i = 0; i < n; i++)
		if (s[i].t >= c->mint && s[i].t <= c->maxt)
			b->s[b->n++] = s[i];
	c->head_held += b->n - before;
}

MimirSeriesCursor *
mimir_cursor_open(int32 tenant_id, List *matchers, int64 mint, int64 maxt)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "mimir series cursor",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MimirSeriesCursor *c = palloc0(sizeof(MimirSeriesCursor));

	c->cxt = cxt;
	c->batch_cxt = AllocSetContextCreate(cxt, "mimir series cursor batch",
										 ALLOCSET_DEFAULT_SIZES);
	c->mint = mint;
	c->maxt = maxt;
	c->batch_first = -1;
	if (tenant_id >= 0 && mint <= maxt)
	{
		/* this backend's own buffered writes must be visible */
		mimir_head_flush();
		/* label sets live in the caller's context: they outlive the cursor */
		MemoryContextSwitchTo(old);
		c->refs = mimir_select_series(tenant_id, matchers, &c->n);
		MemoryContextSwitchTo(cxt);
	}
	build_index(c);
	if (c->n > 0)
	{
		/* head rows hold every series of a batch: decode only ours */
		mimir_spi_connect();
		mimir_scan_head_select(tenant_id, mint, maxt, &c->set, on_head_series, c);
		mimir_spi_finish();
	}
	MemoryContextSwitchTo(old);
	return c;
}

int
mimir_cursor_nseries(MimirSeriesCursor *c)
{
	return c->n;
}

const MimirLabelSet *
mimir_cursor_labels(MimirSeriesCursor *c, int i)
{
	Assert(i >= 0 && i < c->n);
	return &c->refs[i].labels;
}

int64
mimir_cursor_held(MimirSeriesCursor *c)
{
	return c->head_held + c->batch_held;
}

static void
on_chunk(void *arg, int64 series_id, bytea *chunk)
{
	MimirSeriesCursor *c = arg;
	int			idx = index_of(c, series_id);
	const uint8 *data = (const uint8 *) VARDATA_ANY(chunk);
	size_t		len = VARSIZE_ANY_EXHDR(chunk);
	uint32		cnt;
	int64		cmint,
				cmaxt;
	size_t		nout;
	pc_status	st;
	SampleBuf  *b;
	int			keep;

	if (idx < c->batch_first || idx >= c->batch_first + c->batch_n)
		return;
	b = &c->batch[idx - c->batch_first];
	st = pc_header(data, len, &cnt, &cmint, &cmaxt);
	if (st != PC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt chunk of series " INT64_FORMAT ": %s", series_id, pc_strerror(st))));
	if (cnt == 0 || cmaxt < c->mint || cmint > c->maxt)
		return;
	buf_reserve(c->batch_cxt, b, (int) cnt);
	st = pc_decode(data, len, b->s + b->n, cnt, &nout);
	if (st != PC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt chunk of series " INT64_FORMAT ": %s", series_id, pc_strerror(st))));
	/* keep what falls in the range */
	keep = b->n;
	for (size_t k = 0; k < nout; k++)
	{
		pc_sample	s = b->s[b->n + k];

		if (s.t >= c->mint && s.t <= c->maxt)
			b->s[keep++] = s;
	}
	c->batch_held += keep - b->n;
	b->n = keep;
}

static int
sample_cmp(const void *a, const void *b)
{
	int64		x = ((const pc_sample *) a)->t,
				y = ((const pc_sample *) b)->t;

	return x < y ? -1 : x > y;
}

static void
load_batch(MimirSeriesCursor *c, int first)
{
	int			n = Min(CURSOR_BATCH, c->n - first);
	int64	   *ids;
	MemoryContext old;

	MemoryContextReset(c->batch_cxt);
	c->batch_held = 0;
	c->batch_first = first;
	c->batch_n = n;
	old = MemoryContextSwitchTo(c->batch_cxt);
	c->batch = palloc0(sizeof(SampleBuf) * n);
	ids = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		ids[i] = c->refs[first + i].id;
	MemoryContextSwitchTo(old);

	mimir_spi_connect();
	mimir_scan_chunks(ids, n, c->mint, c->maxt, on_chunk, c);
	mimir_spi_finish();

	for (int i = 0; i < n; i++)
	{
		SampleBuf  *b = &c->batch[i];
		SampleBuf  *h = c->head ? &c->head[first + i] : NULL;
		bool		sorted = true;
		int			out;

		if (h && h->n > 0)
		{
			buf_reserve(c->batch_cxt, b, h->n);
			memcpy(b->s + b->n, h->s, sizeof(pc_sample) * h->n);
			b->n += h->n;
			c->batch_held += h->n;
		}
		for (int k = 1; k < b->n && sorted; k++)
			if (b->s[k].t <= b->s[k - 1].t)
				sorted = false;
		if (sorted)
			continue;
		qsort(b->s, b->n, sizeof(pc_sample), sample_cmp);
		out = 0;
		for (int k = 0; k < b->n; k++)
			if (out == 0 || b->s[out - 1].t != b->s[k].t)
				b->s[out++] = b->s[k];
		c->batch_held -= b->n - out;
		b->n = out;
	}
}

const pc_sample *
mimir_cursor_samples(MimirSeriesCursor *c, int i, int *n)
{
	Assert(i >= 0 && i < c->n);
	if (c->batch_first < 0 || i < c->batch_first || i >= c->batch_first + c->batch_n)
	{
		if (c->batch_first >= 0 && i < c->batch_first)
			elog(ERROR, "mimir series cursor read backwards");
		load_batch(c, i);
	}
	*n = c->batch[i - c->batch_first].n;
	return c->batch[i - c->batch_first].s;
}

void
mimir_cursor_close(MimirSeriesCursor *c)
{
	if (c)
		MemoryContextDelete(c->cxt);
}
