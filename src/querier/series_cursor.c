/*
 * series_cursor.c — the evaluator's view of storage. A cursor selects series
 * through the label index, decodes from the head rows overlapping its time
 * range only the samples of the selected series, and finds the index
 * entries of their chunks in one pass over each chunk partition's index.
 * Chunk data is then fetched and decoded one series at a time, as the
 * evaluator walks the series in label order, so a selector over 100k series
 * never holds all their samples, and nothing becomes an SQL row.
 */
#include "mimir.h"
#include "querier/querier.h"

#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"

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
	int64		mint,
				maxt;
	int			n;
	MimirSeriesRef *refs;
	MimirSeriesSet set;			/* the selected ids, for filtered reads */
	int32	   *slot;			/* id -> index over [set.lo, set.hi], or NULL */
	idmap_hash *ids;			/* id -> index when the ids are too sparse */
	SampleBuf  *head;			/* per series, NULL if the head has nothing */
	int64		head_held;
	MimirChunkScan *chunks;		/* NULL: no series */
	int			cur_index;		/* the series in cur (-1: none) */
	SampleBuf	cur;
	int64		cur_held;
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
	c->mint = mint;
	c->maxt = maxt;
	c->cur_index = -1;
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
		int64	   *ids = palloc(sizeof(int64) * c->n);

		/* head rows hold every series of a batch: decode only ours */
		mimir_spi_connect();
		mimir_scan_head_select(tenant_id, mint, maxt, &c->set, on_head_series, c);
		mimir_spi_finish();
		MemoryContextSwitchTo(cxt);

		for (int i = 0; i < c->n; i++)
			ids[i] = c->refs[i].id;
		qsort(ids, c->n, sizeof(int64), mimir_int64_cmp);
		c->chunks = mimir_chunk_scan_begin(&c->set, ids, c->n, c->n, mint, maxt);
		pfree(ids);
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
	return c->head_held + c->cur_held;
}

/* One chunk of the current series: decoded straight into its buffer. */
static void
on_chunk(void *arg, int index, const uint8 *data, size_t len)
{
	MimirSeriesCursor *c = arg;
	SampleBuf  *b = &c->cur;
	uint32		cnt;
	int64		cmint,
				cmaxt;
	size_t		nout;
	pc_status	st;
	int			keep;

	st = pc_header(data, len, &cnt, &cmint, &cmaxt);
	if (st != PC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt chunk of series " INT64_FORMAT ": %s", c->refs[index].id, pc_strerror(st))));
	if (cnt == 0 || cmaxt < c->mint || cmint > c->maxt)
		return;
	buf_reserve(c->cxt, b, (int) cnt);
	st = pc_decode(data, len, b->s + b->n, cnt, &nout);
	if (st != PC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("corrupt chunk of series " INT64_FORMAT ": %s", c->refs[index].id, pc_strerror(st))));
	if (cmint >= c->mint && cmaxt <= c->maxt)
	{
		b->n += (int) nout;
		return;
	}
	/* keep what falls in the range */
	keep = b->n;
	for (size_t k = 0; k < nout; k++)
	{
		pc_sample	s = b->s[b->n + k];

		if (s.t >= c->mint && s.t <= c->maxt)
			b->s[keep++] = s;
	}
	b->n = keep;
}

static int
sample_cmp(const void *a, const void *b)
{
	int64		x = ((const pc_sample *) a)->t,
				y = ((const pc_sample *) b)->t;

	return x < y ? -1 : x > y;
}

/* The samples of series i: its chunks, then its head samples, merged. */
static void
load_series(MimirSeriesCursor *c, int i)
{
	SampleBuf  *b = &c->cur;
	SampleBuf  *h = c->head ? &c->head[i] : NULL;
	bool		sorted = true;
	int			out;

	b->n = 0;
	c->cur_index = i;
	mimir_chunk_scan_read(c->chunks, i, i + 1, on_chunk, c);
	if (h && h->n > 0)
	{
		buf_reserve(c->cxt, b, h->n);
		memcpy(b->s + b->n, h->s, sizeof(pc_sample) * h->n);
		b->n += h->n;
	}
	for (int k = 1; k < b->n && sorted; k++)
		if (b->s[k].t <= b->s[k - 1].t)
			sorted = false;
	if (!sorted)
	{
		qsort(b->s, b->n, sizeof(pc_sample), sample_cmp);
		out = 0;
		for (int k = 0; k < b->n; k++)
			if (out == 0 || b->s[out - 1].t != b->s[k].t)
				b->s[out++] = b->s[k];
		b->n = out;
	}
	c->cur_held = b->n;
}

const pc_sample *
mimir_cursor_samples(MimirSeriesCursor *c, int i, int *n)
{
	Assert(i >= 0 && i < c->n);
	if (i != c->cur_index)
	{
		CHECK_FOR_INTERRUPTS();
		load_series(c, i);
	}
	*n = c->cur.n;
	return c->cur.s;
}

void
mimir_cursor_close(MimirSeriesCursor *c)
{
	if (c == NULL)
		return;
	if (c->chunks)
		mimir_chunk_scan_end(c->chunks);
	MemoryContextDelete(c->cxt);
}
