/*
 * head.c — the write path of mimir.write. Samples are buffered per backend
 * and written as one head row (a batch of raw samples) per tenant at the end
 * of each top-level statement, before any mimir read in the same
 * transaction, and at commit. Buffering makes a statement that writes many
 * samples cost one row, and keeps the transaction's view consistent:
 * subtransaction aborts drop exactly the samples written inside them.
 *
 * Before a batch is stored it is checked against stored data: a sample whose
 * timestamp already exists with the same value bits is a no-op, one with a
 * different value is an error.
 */
#include "mimir.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#define HEAD_FORMAT_V2		2
#define FLUSH_THRESHOLD		(1 << 20)

typedef struct BufEntry
{
	int32		tenant;
	int32		level;			/* subtransaction nest level that wrote it */
	int64		series;
	int64		t;
	uint64		v;
	SeriesKey	key;
} BufEntry;

/* entries of outer levels that a flush inside a subtransaction stored */
typedef struct FlushRecord
{
	int			flush_level;
	int			n;
	BufEntry   *e;
} FlushRecord;

/* latest sample per series stored by this transaction, published at commit */
typedef struct PendingState
{
	SeriesKey	key;
	int32		tenant;
	int			level;
	SeriesInfo	info;
} PendingState;

static PendingState *pending;
static int	npending,
			cappending;

static MemoryContext buf_cxt;
static BufEntry *buf;
static int	buf_n,
			buf_cap;
static List *flush_records;
static bool flushing;
static int	exec_depth;
static bool hooks_installed;

static ExecutorStart_hook_type prev_ExecutorStart;
static ExecutorEnd_hook_type prev_ExecutorEnd;

static void
buf_init(void)
{
	if (buf_cxt == NULL)
		buf_cxt = AllocSetContextCreate(TopMemoryContext, "mimir write buffer",
										ALLOCSET_DEFAULT_SIZES);
}

static void
buf_push(const BufEntry *e)
{
	buf_init();
	if (buf_n == buf_cap)
	{
		buf_cap = Max(1024, buf_cap * 2);
		buf = buf ? repalloc_huge(buf, sizeof(BufEntry) * buf_cap)
			: MemoryContextAllocHuge(buf_cxt, sizeof(BufEntry) * buf_cap);
	}
	buf[buf_n++] = *e;
}

static void
buf_reset(void)
{
	if (buf_cxt)
		MemoryContextReset(buf_cxt);
	buf = NULL;
	buf_n = buf_cap = 0;
	flush_records = NIL;
	pending = NULL;
	npending = cappending = 0;
}

/*
 * Forget the series of a tenant this transaction wrote, before the tenant is
 * deleted: at commit they must not be published to the series map.
 */
void
mimir_head_forget_tenant(int32 tenant)
{
	int			k = 0;

	for (int i = 0; i < npending; i++)
		if (pending[i].tenant != tenant)
			pending[k++] = pending[i];
	npending = k;
}

static void
pending_push(const BufEntry *e)
{
	if (!series_map_enabled())
		return;
	if (npending == cappending)
	{
		cappending = Max(256, cappending * 2);
		pending = pending ? repalloc_huge(pending, sizeof(PendingState) * cappending)
			: MemoryContextAllocHuge(buf_cxt, sizeof(PendingState) * cappending);
	}
	pending[npending].key = e->key;
	pending[npending].tenant = e->tenant;
	pending[npending].info.id = e->series;
	pending[npending].info.maxt = e->t;
	pending[npending].info.lastv = e->v;
	pending[npending].level = GetCurrentTransactionNestLevel();
	npending++;
}

void
mimir_head_append(int32 tenant, int64 series, const SeriesKey *key, int64 t, double v)
{
	BufEntry	e;

	e.tenant = tenant;
	e.key = *key;
	e.level = GetCurrentTransactionNestLevel();
	e.series = series;
	e.t = t;
	memcpy(&e.v, &v, 8);
	buf_push(&e);
	if (buf_n >= FLUSH_THRESHOLD)
		mimir_head_flush();
}

static int
entry_cmp(const void *a, const void *b)
{
	const BufEntry *x = a,
			   *y = b;

	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return 0;
}

static void pg_attribute_noreturn()
conflict_error(int64 series, int64 t, uint64 old, uint64 new)
{
	double		a,
				b;
	char	   *s = mimir_series_text(series);

	memcpy(&a, &old, 8);
	memcpy(&b, &new, 8);
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate sample for timestamp %s in series %s with different value: stored %s, new %s",
					timestamptz_to_str(mimir_ms_to_ts(t)), s ? s : "?",
					float8out_internal(a), float8out_internal(b)),
			 errhint("A sample cannot be overwritten; writing the same value again is a no-op.")));
}

/* Mark (drop flag = level -1) batch samples already stored; error on conflicts. */
static void
check_stored(int32 tenant, BufEntry *e, int n)
{
	int64	   *series = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
	pc_sample  *s = palloc_extended(sizeof(pc_sample) * n, MCXT_ALLOC_HUGE);
	uint8	   *status = palloc_extended(n, MCXT_ALLOC_HUGE);
	uint64	   *stored = palloc_extended(sizeof(uint64) * n, MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
	{
		series[i] = e[i].series;
		s[i].t = e[i].t;
		memcpy(&s[i].v, &e[i].v, 8);
	}
	mimir_stored_lookup(tenant, series, s, n, status, stored);
	for (int i = 0; i < n; i++)
	{
		if (status[i] == MIMIR_DUP_DIFFERENT)
			conflict_error(e[i].series, e[i].t, stored[i], e[i].v);
		if (status[i] == MIMIR_DUP_SAME)
			e[i].level = -1;
	}
	pfree(series);
	pfree(s);
	pfree(status);
	pfree(stored);
}

/*
 * Head row format 2 (compact, about 11 bytes per sample instead of 24):
 *   byte 2, varint n, zigzag varint base_t, then groups of one series:
 *   zigzag varint (series id - previous group's id), varint count,
 *   count x (zigzag varint (t - previous t, starting at base_t), 8 value bytes).
 * Input must be grouped by series (sorted by series id keeps deltas small).
 */
static inline char *
put_uvarint(char *p, uint64 v)
{
	while (v >= 0x80)
	{
		*p++ = (char) (v | 0x80);
		v >>= 7;
	}
	*p++ = (char) v;
	return p;
}


bytea *
mimir_head_encode(const int64 *series, const pc_sample *s, int n)
{
	Size		bound = VARHDRSZ + 1 + 30 + (Size) n * (10 + 10 + 10 + 8);
	bytea	   *d = palloc_extended(bound, MCXT_ALLOC_HUGE);
	char	   *p = VARDATA(d);
	int64		base = n > 0 ? s[0].t : 0;
	int64		prev_series = 0;

	*p++ = HEAD_FORMAT_V2;
	p = put_uvarint(p, (uint64) n);
	p = put_uvarint(p, mimir_zigzag(base));
	for (int i = 0; i < n;)
	{
		int			j = i;
		int64		prev_t = base;

		while (j < n && series[j] == series[i])
			j++;
		p = put_uvarint(p, mimir_zigzag((int64) ((uint64) series[i] - (uint64) prev_series)));
		p = put_uvarint(p, (uint64) (j - i));
		for (int k = i; k < j; k++)
		{
			p = put_uvarint(p, mimir_zigzag((int64) ((uint64) s[k].t - (uint64) prev_t)));
			prev_t = s[k].t;
			memcpy(p, &s[k].v, 8);
			p += 8;
		}
		prev_series = series[i];
		i = j;
	}
	SET_VARSIZE(d, p - (char *) d);
	return d;
}

static inline bool
get_uvarint(const uint8 **pp, const uint8 *end, uint64 *v)
{
	const uint8 *p = *pp;
	uint64		r = 0;

	for (int shift = 0; shift < 64 && p < end; shift += 7)
	{
		r |= (uint64) (*p & 0x7f) << shift;
		if (*p++ < 0x80)
		{
			*v = r;
			*pp = p;
			return true;
		}
	}
	return false;
}

void
mimir_head_decode(bytea *data, int *n, int64 **series, pc_sample **samples)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(data);
	const uint8 *end = p + VARSIZE_ANY_EXHDR(data);
	uint64		cnt,
				v;
	int64		base,
				sid = 0;
	int			out = 0;

	if (p >= end || *p != HEAD_FORMAT_V2)
		elog(ERROR, "mimir head row has an unknown format");
	p++;
	if (!get_uvarint(&p, end, &cnt) || cnt > (uint64) (end - p) || !get_uvarint(&p, end, &v))
		elog(ERROR, "mimir head row is corrupt");
	base = mimir_unzigzag(v);
	*n = (int) cnt;
	*series = palloc_extended(sizeof(int64) * Max(cnt, 1), MCXT_ALLOC_HUGE);
	*samples = palloc_extended(sizeof(pc_sample) * Max(cnt, 1), MCXT_ALLOC_HUGE);
	while (out < (int) cnt)
	{
		uint64		gcount;
		int64		prev_t = base;

		if (!get_uvarint(&p, end, &v) || !get_uvarint(&p, end, &gcount) ||
			gcount == 0 || gcount > cnt - (uint64) out)
			elog(ERROR, "mimir head row is corrupt");
		sid = (int64) ((uint64) sid + (uint64) mimir_unzigzag(v));
		for (uint64 k = 0; k < gcount; k++)
		{
			if (!get_uvarint(&p, end, &v) || end - p < 8)
				elog(ERROR, "mimir head row is corrupt");
			prev_t = (int64) ((uint64) prev_t + (uint64) mimir_unzigzag(v));
			(*series)[out] = sid;
			(*samples)[out].t = prev_t;
			memcpy(&(*samples)[out].v, p, 8);
			p += 8;
			out++;
		}
	}
	if (p != end)
		elog(ERROR, "mimir head row is corrupt");
}

/*
 * Decode only the series of a head row that `set` holds (readers select a
 * few series out of every row): the samples of other series are stepped
 * over without being decoded. fn gets each wanted series' samples of the
 * row, in time order, in a buffer that is reused after it returns.
 */
void
mimir_head_decode_select(bytea *data, const MimirSeriesSet *set,
						 void (*fn) (void *arg, int index, int64 series, const pc_sample *s, int n),
						 void *arg)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(data);
	const uint8 *end = p + VARSIZE_ANY_EXHDR(data);
	uint64		cnt,
				v;
	int64		base,
				sid = 0;
	uint64		out = 0;
	pc_sample  *s = NULL;
	uint64		cap = 0;

	if (p >= end || *p != HEAD_FORMAT_V2)
		elog(ERROR, "mimir head row has an unknown format");
	p++;
	if (!get_uvarint(&p, end, &cnt) || cnt > (uint64) (end - p) || !get_uvarint(&p, end, &v))
		elog(ERROR, "mimir head row is corrupt");
	base = mimir_unzigzag(v);
	while (out < cnt)
	{
		uint64		gcount;
		int			index = -1;

		/* a group's header: two varints, nearly always a byte each */
		if (end - p >= 2 && (p[0] | p[1]) < 0x80)
		{
			v = p[0];
			gcount = p[1];
			p += 2;
		}
		else if (!get_uvarint(&p, end, &v) || !get_uvarint(&p, end, &gcount))
			elog(ERROR, "mimir head row is corrupt");
		if (gcount == 0 || gcount > cnt - out)
			elog(ERROR, "mimir head row is corrupt");
		sid = (int64) ((uint64) sid + (uint64) mimir_unzigzag(v));
		out += gcount;
		if (sid >= set->lo && sid <= set->hi)
			index = set->slot ? set->slot[sid - set->lo] : set->lookup(set->arg, sid);
		if (index < 0)
		{
			/* step over: a varint time delta and 8 value bytes per sample */
			for (uint64 k = 0; k < gcount; k++)
			{
				uint64		w,
							stops;

				if (end - p >= 17)
				{
					/* the varint's length from its first 8 bytes at once */
					memcpy(&w, p, 8);
					stops = ~w & UINT64CONST(0x8080808080808080);
					if (stops != 0)
					{
#ifdef WORDS_BIGENDIAN
						stops = pg_bswap64(stops);
#endif
						p += (pg_rightmost_one_pos64(stops) >> 3) + 1 + 8;
						continue;
					}
				}
				while (p < end && (*p & 0x80))
					p++;
				p += 9;
				if (p > end)
					elog(ERROR, "mimir head row is corrupt");
			}
			continue;
		}
		if (gcount > cap)
		{
			cap = Max(gcount, 64);
			s = s ? repalloc_huge(s, sizeof(pc_sample) * cap)
				: palloc_extended(sizeof(pc_sample) * cap, MCXT_ALLOC_HUGE);
		}
		{
			int64		prev_t = base;

			for (uint64 k = 0; k < gcount; k++)
			{
				if (!get_uvarint(&p, end, &v) || end - p < 8)
					elog(ERROR, "mimir head row is corrupt");
				prev_t = (int64) ((uint64) prev_t + (uint64) mimir_unzigzag(v));
				s[k].t = prev_t;
				memcpy(&s[k].v, p, 8);
				p += 8;
			}
		}
		fn(arg, index, sid, s, (int) gcount);
	}
	if (p != end)
		elog(ERROR, "mimir head row is corrupt");
	if (s)
		pfree(s);
}

/* Store one tenant's sorted entries as a head row. Caller is in SPI. */
static void
flush_tenant(BufEntry *e, int n)
{
	int			out = 0;
	int64		mint = PG_INT64_MAX,
				maxt = PG_INT64_MIN;
	int64	   *series;
	pc_sample  *s;
	Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT4OID, BYTEAOID};
	Datum		args[5];

	/* duplicates inside the batch */
	for (int i = 0; i < n; i++)
	{
		if (out > 0 && e[out - 1].series == e[i].series && e[out - 1].t == e[i].t)
		{
			if (e[out - 1].v != e[i].v)
				conflict_error(e[i].series, e[i].t, e[out - 1].v, e[i].v);
			continue;
		}
		e[out++] = e[i];
	}
	n = out;
	for (int i = 0; i < n; i++)
	{
		mint = Min(mint, e[i].t);
		maxt = Max(maxt, e[i].t);
	}
	check_stored(e[0].tenant, e, n);

	series = palloc_extended(sizeof(int64) * n, MCXT_ALLOC_HUGE);
	s = palloc_extended(sizeof(pc_sample) * n, MCXT_ALLOC_HUGE);
	out = 0;
	mint = PG_INT64_MAX;
	maxt = PG_INT64_MIN;
	for (int i = 0; i < n; i++)
	{
		if (e[i].level < 0)
			continue;			/* already stored with the same value */
		series[out] = e[i].series;
		s[out].t = e[i].t;
		memcpy(&s[out].v, &e[i].v, 8);
		mint = Min(mint, e[i].t);
		maxt = Max(maxt, e[i].t);
		out++;
	}
	if (out == 0)
		return;
	args[0] = Int32GetDatum(e[0].tenant);
	args[1] = Int64GetDatum(mint);
	args[2] = Int64GetDatum(maxt);
	args[3] = Int32GetDatum(out);
	args[4] = PointerGetDatum(mimir_head_encode(series, s, out));
	if (SPI_execute_with_args("INSERT INTO mimir.head(tenant_id, mint, maxt, n, data) "
							  "VALUES ($1, $2, $3, $4, $5)",
							  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "head insert failed");
	/* e is sorted by (series, t): the last kept entry of a series is its latest */
	{
		int			last = -1;

		for (int i = 0; i < n; i++)
		{
			if (e[i].level < 0)
				continue;
			if (last >= 0 && e[last].series != e[i].series)
				pending_push(&e[last]);
			last = i;
		}
		if (last >= 0)
			pending_push(&e[last]);
	}
}

void
mimir_head_flush(void)
{
	int			level;
	BufEntry   *e;
	int			n;
	MemoryContext old;

	if (buf_n == 0 || flushing || !IsTransactionState())
		return;
	flushing = true;
	level = GetCurrentTransactionNestLevel();
	e = buf;
	n = buf_n;

	/* entries of outer levels stored inside a subtransaction must come back if it aborts */
	old = MemoryContextSwitchTo(buf_cxt);
	{
		FlushRecord *fr = NULL;

		for (int i = 0; i < n; i++)
			if (e[i].level < level)
			{
				if (fr == NULL)
				{
					fr = palloc0(sizeof(FlushRecord));
					fr->flush_level = level;
					fr->e = palloc_extended(sizeof(BufEntry) * n, MCXT_ALLOC_HUGE);
				}
				fr->e[fr->n++] = e[i];
			}
		if (fr)
			flush_records = lappend(flush_records, fr);
	}
	MemoryContextSwitchTo(old);
	/* detach the buffer so that a failure cannot flush it twice */
	buf = NULL;
	buf_n = buf_cap = 0;

	PG_TRY();
	{
		int			start = 0;
		bool		pushed = false;

		/* at statement end or commit there may be no active snapshot */
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		qsort(e, n, sizeof(BufEntry), entry_cmp);
		mimir_spi_connect();
		for (int i = 1; i <= n; i++)
			if (i == n || e[i].tenant != e[start].tenant)
			{
				flush_tenant(e + start, i - start);
				start = i;
			}
		mimir_spi_finish();
		if (pushed)
			PopActiveSnapshot();
	}
	PG_FINALLY();
	{
		flushing = false;
	}
	PG_END_TRY();
	pfree(e);
}

static void
mimir_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			mimir_head_flush();
			break;
		case XACT_EVENT_COMMIT:
			for (int i = 0; i < npending; i++)
				series_map_put(&pending[i].key, pending[i].tenant, &pending[i].info);
			buf_reset();
			idcache_xact_end(true);
			mimir_write_xact_end();
			exec_depth = 0;
			break;
		case XACT_EVENT_PREPARE:
			buf_reset();
			idcache_xact_end(true);
			mimir_write_xact_end();
			exec_depth = 0;
			break;
		case XACT_EVENT_ABORT:
			buf_reset();
			idcache_xact_end(false);
			mimir_write_xact_end();
			flushing = false;
			exec_depth = 0;
			break;
		default:
			break;
	}
}

static void
mimir_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			out = 0;
		List	   *keep = NIL;

		/* drop samples written inside, restore outer ones a flush stored inside */
		for (int i = 0; i < buf_n; i++)
			if (buf[i].level < level)
				buf[out++] = buf[i];
		buf_n = out;
		foreach(lc, flush_records)
		{
			FlushRecord *fr = lfirst(lc);

			if (fr->flush_level >= level)
			{
				for (int i = 0; i < fr->n; i++)
					if (fr->e[i].level < level)
						buf_push(&fr->e[i]);
			}
			else
				keep = lappend(keep, fr);
		}
		flush_records = keep;
		flushing = false;
		out = 0;
		for (int i = 0; i < npending; i++)
			if (pending[i].level < level)
				pending[out++] = pending[i];
		npending = out;
		idcache_subxact_end(false, level);
		mimir_write_xact_end();
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < buf_n; i++)
			if (buf[i].level >= level)
				buf[i].level = level - 1;
		foreach(lc, flush_records)
		{
			FlushRecord *fr = lfirst(lc);

			if (fr->flush_level >= level)
				fr->flush_level = level - 1;
		}
		for (int i = 0; i < npending; i++)
			if (pending[i].level >= level)
				pending[i].level = level - 1;
		idcache_subxact_end(true, level);
	}
}

static void
mimir_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	exec_depth++;
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void
mimir_ExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (exec_depth > 0)
		exec_depth--;
	/* end of a top-level statement: store what it wrote */
	if (exec_depth == 0 && buf_n > 0 && !flushing)
		mimir_head_flush();
}

void
mimir_head_install_hooks(void)
{
	if (hooks_installed)
		return;
	hooks_installed = true;
	RegisterXactCallback(mimir_xact_callback, NULL);
	RegisterSubXactCallback(mimir_subxact_callback, NULL);
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = mimir_ExecutorStart;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = mimir_ExecutorEnd;
}
