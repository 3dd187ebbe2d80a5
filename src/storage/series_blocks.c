/*
 * series_blocks.c — settled series packed many to a row. A row of
 * mimir.series costs about 230 bytes with its primary key, lhash and GIN
 * entries; in mimir.series_blocks a series of a node-exporter-like label set
 * takes about 10 bytes: per series (ascending ids) the id delta, the label
 * pair count and the pair ids, each a zigzag delta from the pair at the
 * same position of the previous series (neighbours share most labels), all
 * varints. A block fills at most a page and stays inline. Its `pairs`
 * column, the sorted union of its series' pairs under GIN, narrows a
 * selector to candidate blocks; every series of those is then tested
 * exactly.
 *
 * New series are still inserted into mimir.series (the write path does not
 * change); mimir.pack_series(), run by the compactor's pack job, moves the
 * committed rows into blocks. Ids never change, so caches and the shared
 * series map stay valid. A series is in exactly one of the two forms.
 *
 * Identity: lhash is not kept in blocks. Series creation finds packed
 * series by the GIN index over their own pair ids; readers that need the
 * key compute it from the labels (series_hash.c). Creation and packing of
 * one tenant exclude each other with an advisory lock (creators share it
 * until commit, the packer takes it exclusively without waiting), so a
 * series committed between a creator's lookup and its insert cannot move
 * out of reach of the unique lhash index.
 */
#include "mimir.h"

#include "access/detoast.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "compactor/compactor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(mimir_pack_series);
PG_FUNCTION_INFO_V1(mimir_all_series);
PG_FUNCTION_INFO_V1(mimir_series_block_roundtrip);

/* key1 of the per-tenant series lock ('mirs'); key2 is the tenant id */
#define SERIES_LOCK_KEY		0x6d697273
/* row: header 24, tenant and ids 24, pairs array 24 + 4n, data 4 + len */
#define BLOCK_ROW_BYTES		8150
#define BLOCK_FIXED_BYTES	(24 + 24 + 24 + 4)
#define BLOCK_MAX_PAIRS		100000	/* sanity bound when decoding */
/* a tenant's last block is refilled when it holds less than this */
#define BLOCK_REFILL_BYTES	(BLOCK_ROW_BYTES / 2)

/* ---- the format ---- */


static int
varint_len(uint64 v)
{
	int			n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}


/* The encoder's state: the previous series of the block. */
typedef struct BlockWriter
{
	StringInfoData data;
	int64		first_id;
	int64		last_id;
	int			count;
	int32	   *prev;
	int			nprev;
	int			capprev;
} BlockWriter;

static void
writer_reset(BlockWriter *w)
{
	if (w->data.data == NULL)
		initStringInfo(&w->data);
	resetStringInfo(&w->data);
	w->count = 0;
	w->nprev = 0;
}

/* bytes series (id, pairs) would add to the block */
static int
writer_cost(BlockWriter *w, int64 id, const int32 *pairs, int n)
{
	int			c = varint_len(w->count == 0 ? 0 : (uint64) (id - w->last_id)) + varint_len((uint64) n);

	for (int j = 0; j < n; j++)
		c += j < w->nprev ? varint_len(mimir_zigzag((int64) pairs[j] - w->prev[j])) : varint_len((uint32) pairs[j]);
	return c;
}

static void
writer_add(BlockWriter *w, int64 id, const int32 *pairs, int n)
{
	if (w->count == 0)
		w->first_id = w->last_id = id;
	mimir_put_varint(&w->data, (uint64) (id - w->last_id));
	mimir_put_varint(&w->data, (uint64) n);
	for (int j = 0; j < n; j++)
	{
		if (j < w->nprev)
			mimir_put_varint(&w->data, mimir_zigzag((int64) pairs[j] - w->prev[j]));
		else
			mimir_put_varint(&w->data, (uint32) pairs[j]);
	}
	if (n > w->capprev)
	{
		w->capprev = Max(n, 32);
		w->prev = w->prev ? repalloc(w->prev, sizeof(int32) * w->capprev) : palloc(sizeof(int32) * w->capprev);
	}
	memcpy(w->prev, pairs, sizeof(int32) * n);
	w->nprev = n;
	w->last_id = id;
	w->count++;
}

void
mimir_sblock_begin(MimirSeriesBlockIter *it, Datum data, int64 first_id)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(data);

	if (VARATT_IS_EXTENDED(v))
		v = PG_DETOAST_DATUM_PACKED(data);
	it->p = (const uint8 *) VARDATA_ANY(v);
	it->end = it->p + VARSIZE_ANY_EXHDR(v);
	it->id = first_id;
	it->n = 0;
	if (it->pairs == NULL)
	{
		it->cap = 32;
		it->pairs = palloc(sizeof(int32) * it->cap);
	}
}

bool
mimir_sblock_next(MimirSeriesBlockIter *it)
{
	uint64		v,
				n;

	if (it->p >= it->end)
		return false;
	if (!mimir_get_varint(&it->p, it->end, &v) || !mimir_get_varint(&it->p, it->end, &n) || n > BLOCK_MAX_PAIRS)
		elog(ERROR, "mimir: corrupt series block");
	it->id += (int64) v;
	if ((int) n > it->cap)
	{
		it->cap = Max((int) n, it->cap * 2);
		it->pairs = repalloc(it->pairs, sizeof(int32) * it->cap);
	}
	for (int j = 0; j < (int) n; j++)
	{
		if (!mimir_get_varint(&it->p, it->end, &v))
			elog(ERROR, "mimir: corrupt series block");
		/* the previous series' pair at j is still in place */
		it->pairs[j] = j < it->n ? (int32) ((int64) it->pairs[j] + mimir_unzigzag(v)) : (int32) (uint32) v;
	}
	it->n = (int) n;
	return true;
}

/* ---- the lock ---- */

static bool
series_lock(int32 tenant_id, LOCKMODE mode, bool nowait)
{
	return mimir_tenant_lock(SERIES_LOCK_KEY, tenant_id, mode, nowait) != LOCKACQUIRE_NOT_AVAIL;
}

void
mimir_series_lock_shared(int32 tenant_id)
{
	series_lock(tenant_id, ShareLock, false);
}

/*
 * Exclusively, waiting: for mimir.delete_tenant, which holds the tenant
 * write lock first (so no creator of the tenant holds this one) and then
 * waits only for a packer, which never waits itself.
 */
void
mimir_series_lock_exclusive(int32 tenant_id)
{
	series_lock(tenant_id, ExclusiveLock, false);
}

/*
 * The packer never waits in the lock queue: a creator holding the shared
 * lock may wait for the chunk writer lock the packer holds. It retries for
 * a while instead (creators hold the lock only until their commit).
 */
static bool
series_lock_exclusive(int32 tenant_id)
{
	for (int i = 0; i < 500; i++)
	{
		if (series_lock(tenant_id, ExclusiveLock, true))
			return true;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10000L);
	}
	return false;
}

/* ---- readers ---- */

void
mimir_scan_series_blocks(int32 tenant_id, const char *cond, int nargs, Oid *types, Datum *args,
						 void (*fn) (void *arg, int64 id, const int32 *pairs, int n), void *arg,
						 bool fresh)
{
	Portal		portal;
	MimirSeriesBlockIter it = {0};
	Oid		   *t = palloc(sizeof(Oid) * (nargs + 1));
	Datum	   *a = palloc(sizeof(Datum) * (nargs + 1));

	t[0] = INT4OID;
	a[0] = Int32GetDatum(tenant_id);
	if (nargs > 0)
	{
		memcpy(t + 1, types, sizeof(Oid) * nargs);
		memcpy(a + 1, args, sizeof(Datum) * nargs);
	}
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT first_id, data FROM mimir.series_blocks WHERE tenant_id = $1%s",
												cond ? cond : ""),
									   nargs + 1, t, a, NULL, !fresh, 0);
	for (;;)
	{
		SPITupleTable *tt;

		SPI_cursor_fetch(portal, true, 64);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		first = DatumGetInt64(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));

			CHECK_FOR_INTERRUPTS();
			mimir_sblock_begin(&it, SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull), first);
			while (mimir_sblock_next(&it))
				fn(arg, it.id, it.pairs, it.n);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	if (it.pairs)
		pfree(it.pairs);
}

int32 *
mimir_packed_series_pairs(int64 id, int32 *tenant_id, int *n)
{
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(id);
	MimirSeriesBlockIter it = {0};
	int32	   *res = NULL;

	if (SPI_execute_with_args("SELECT first_id, data, tenant_id FROM mimir.series_blocks "
							  "WHERE first_id <= $1 AND first_id > $1 - " MIMIR_SERIES_BLOCK_SPAN_SQL
							  " AND last_id >= $1", 1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series block lookup failed");
	for (uint64 r = 0; r < SPI_processed && res == NULL; r++)
	{
		bool		isnull;

		mimir_sblock_begin(&it, SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull),
						   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)));
		while (mimir_sblock_next(&it))
			if (it.id == id)
			{
				res = palloc(sizeof(int32) * Max(it.n, 1));
				memcpy(res, it.pairs, sizeof(int32) * it.n);
				*n = it.n;
				if (tenant_id)
					*tenant_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull));
				break;
			}
			else if (it.id > id)
				break;
	}
	if (it.pairs)
		pfree(it.pairs);
	return res;
}

/* ---- the packer ---- */

/* distinct pair ids of the block being built */
typedef struct PairSetEntry
{
	int32		id;
	char		status;
} PairSetEntry;

#define SH_PREFIX pairset
#define SH_ELEMENT_TYPE PairSetEntry
#define SH_KEY_TYPE int32
#define SH_KEY id
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) (k))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct Packer
{
	int32		tenant_id;
	BlockWriter w;
	pairset_hash *pairs;
	int64		blocks;
} Packer;

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

static void
packer_flush(Packer *pk)
{
	int32	   *u;
	int			n = 0;
	pairset_iterator it;
	PairSetEntry *e;
	bytea	   *data;
	Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT4ARRAYOID, BYTEAOID};
	Datum		args[5];

	if (pk->w.count == 0)
		return;
	u = palloc(sizeof(int32) * Max(pk->pairs->members, 1));
	pairset_start_iterate(pk->pairs, &it);
	while ((e = pairset_iterate(pk->pairs, &it)) != NULL)
		u[n++] = e->id;
	qsort(u, n, sizeof(int32), int32_cmp);
	data = palloc(VARHDRSZ + pk->w.data.len);
	SET_VARSIZE(data, VARHDRSZ + pk->w.data.len);
	memcpy(VARDATA(data), pk->w.data.data, pk->w.data.len);
	args[0] = Int32GetDatum(pk->tenant_id);
	args[1] = Int64GetDatum(pk->w.first_id);
	args[2] = Int64GetDatum(pk->w.last_id);
	args[3] = mimir_int4_array(u, n);
	args[4] = PointerGetDatum(data);
	if (SPI_execute_with_args("INSERT INTO mimir.series_blocks(tenant_id, first_id, last_id, pairs, data) "
							  "VALUES ($1, $2, $3, $4, $5)", 5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "series block insert failed");
	pfree(u);
	pfree(data);
	writer_reset(&pk->w);
	pairset_reset(pk->pairs);
	pk->blocks++;
}

static void
packer_add(Packer *pk, int64 id, const int32 *pairs, int n)
{
	int			newpairs = 0;

	for (int j = 0; j < n; j++)
		if (pairset_lookup(pk->pairs, pairs[j]) == NULL)
			newpairs++;
	if (pk->w.count > 0 &&
		(id - pk->w.first_id >= MIMIR_SERIES_BLOCK_SPAN ||
		 BLOCK_FIXED_BYTES + 4 * (pk->pairs->members + newpairs) + pk->w.data.len +
		 writer_cost(&pk->w, id, pairs, n) > BLOCK_ROW_BYTES))
		packer_flush(pk);
	writer_add(&pk->w, id, pairs, n);
	for (int j = 0; j < n; j++)
	{
		bool		found;

		pairset_insert(pk->pairs, pairs[j], &found);
	}
}

typedef struct SeriesRow
{
	int64		id;
	int32	   *pairs;
	int			n;
} SeriesRow;

static int
seriesrow_cmp(const void *a, const void *b)
{
	const SeriesRow *x = a,
			   *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

typedef struct RowList
{
	SeriesRow  *rows;
	int			n;
	int			cap;
} RowList;

static void
rowlist_add(RowList *l, int64 id, const int32 *pairs, int n)
{
	if (l->n == l->cap)
	{
		l->cap = Max(1024, l->cap * 2);
		l->rows = l->rows ? repalloc_huge(l->rows, sizeof(SeriesRow) * l->cap)
			: palloc_extended(sizeof(SeriesRow) * l->cap, MCXT_ALLOC_HUGE);
	}
	l->rows[l->n].id = id;
	l->rows[l->n].n = n;
	l->rows[l->n].pairs = palloc(sizeof(int32) * Max(n, 1));
	memcpy(l->rows[l->n].pairs, pairs, sizeof(int32) * n);
	l->n++;
}

/* Pack one tenant's committed series rows; caller holds the exclusive lock. */
static int64
pack_tenant(int32 tenant_id)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tenant_id);
	RowList		l = {0};
	int64	   *ids;
	int			nplain;
	Packer		pk = {0};
	bool		isnull;

	/* the rows, in a snapshot taken after the lock: every creator before us has committed */
	if (SPI_execute_with_args("SELECT id, labels FROM mimir.series WHERE tenant_id = $1 ORDER BY id",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "series lookup failed");
	if (SPI_processed == 0)
		return 0;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		ArrayType  *a = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		if (ARR_NDIM(a) > 1 || ARR_HASNULL(a))
			elog(ERROR, "mimir: malformed label array of series");
		rowlist_add(&l, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)),
					(int32 *) ARR_DATA_PTR(a), ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
	}
	SPI_freetuptable(SPI_tuptable);
	nplain = l.n;
	ids = palloc_extended(sizeof(int64) * nplain, MCXT_ALLOC_HUGE);
	for (int i = 0; i < nplain; i++)
		ids[i] = l.rows[i].id;

	/* a small last block is refilled rather than left behind */
	if (SPI_execute_with_args("SELECT ctid, first_id, data FROM mimir.series_blocks WHERE tenant_id = $1 "
							  "ORDER BY first_id DESC LIMIT 1", 1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "series block lookup failed");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	td = SPI_tuptable->tupdesc;
		Datum		data = SPI_getbinval(tup, td, 3, &isnull);
		int64		first = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));

		if (toast_raw_datum_size(data) < BLOCK_REFILL_BYTES && first > l.rows[0].id - MIMIR_SERIES_BLOCK_SPAN)
		{
			MimirSeriesBlockIter it = {0};
			ItemPointerData tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, td, 1, &isnull));
			Oid			ttype = TIDOID;
			Datum		targ = PointerGetDatum(&tid);

			mimir_sblock_begin(&it, data, first);
			while (mimir_sblock_next(&it))
				rowlist_add(&l, it.id, it.pairs, it.n);
			if (SPI_execute_with_args("DELETE FROM mimir.series_blocks WHERE ctid = $1", 1, &ttype, &targ,
									  NULL, false, 0) != SPI_OK_DELETE || SPI_processed != 1)
				elog(ERROR, "series block delete failed");
		}
	}
	qsort(l.rows, l.n, sizeof(SeriesRow), seriesrow_cmp);
	for (int i = 1; i < l.n; i++)
		if (l.rows[i].id == l.rows[i - 1].id)
			elog(ERROR, "mimir: series " INT64_FORMAT " is both packed and plain", l.rows[i].id);

	pk.tenant_id = tenant_id;
	writer_reset(&pk.w);
	pk.pairs = pairset_create(CurrentMemoryContext, 256, NULL);
	for (int i = 0; i < l.n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		packer_add(&pk, l.rows[i].id, l.rows[i].pairs, l.rows[i].n);
	}
	packer_flush(&pk);
	{
		Oid			dtype = INT8ARRAYOID;
		Datum		darg = mimir_int8_array(ids, nplain);

		if (SPI_execute_with_args("DELETE FROM mimir.series WHERE id = ANY($1)", 1, &dtype, &darg,
								  NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "series delete failed");
		if ((int) SPI_processed != nplain)
			elog(ERROR, "mimir: packed %d series but deleted " UINT64_FORMAT, nplain, SPI_processed);
	}
	return nplain;
}

int64
mimir_pack_series_internal(CompactorStats *st)
{
	MemoryContext caller = CurrentMemoryContext;
	int32	   *tenants;
	int			ntenants;
	int64		packed = 0;

	mimir_spi_connect();
	if (SPI_execute("SELECT DISTINCT tenant_id FROM mimir.series", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "series lookup failed");
	ntenants = (int) SPI_processed;
	tenants = MemoryContextAlloc(caller, sizeof(int32) * Max(ntenants, 1));
	for (int i = 0; i < ntenants; i++)
	{
		bool		isnull;

		tenants[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	for (int i = 0; i < ntenants; i++)
	{
		int64		n;

		if (!series_lock_exclusive(tenants[i]))
		{
			ereport(LOG, (errmsg("mimir pack_series: tenant %d busy creating series, not packed this time",
								 tenants[i])));
			continue;
		}
		n = pack_tenant(tenants[i]);
		packed += n;
		st->rows_removed += n;
	}
	mimir_spi_finish();
	return packed;
}

Datum
mimir_pack_series(PG_FUNCTION_ARGS)
{
	TimestampTz started = GetCurrentTimestamp();
	CompactorStats st = {0};
	int64		packed = mimir_pack_series_internal(&st);

	if (packed > 0)
		compactor_log_run("pack_series", NULL, started, &st, NULL);
	PG_RETURN_INT64(packed);
}

/* ---- SQL views of both forms ---- */

typedef struct AllCtx
{
	ReturnSetInfo *rsinfo;
	MemoryContext cxt;
	int32		tenant_id;
} AllCtx;

static void
all_emit(void *arg, int64 id, const int32 *pairs, int n)
{
	AllCtx	   *c = arg;
	MemoryContext old = MemoryContextSwitchTo(c->cxt);
	Datum		vals[3];
	bool		nulls[3] = {0};

	vals[0] = Int64GetDatum(id);
	vals[1] = Int32GetDatum(c->tenant_id);
	vals[2] = mimir_int4_array(pairs, n);
	tuplestore_putvalues(c->rsinfo->setResult, c->rsinfo->setDesc, vals, nulls);
	MemoryContextSwitchTo(old);
}

Datum
mimir_all_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AllCtx		c;
	Oid			type = INT4ARRAYOID;
	Datum		arg = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	int32	   *tenants;
	int			ntenants;
	bool		isnull;

	InitMaterializedSRF(fcinfo, 0);
	c.rsinfo = rsinfo;
	c.cxt = CurrentMemoryContext;
	mimir_spi_connect();
	/* both forms in the caller's snapshot (read-only SPI): a series is in exactly one */
	if (SPI_execute_with_args("SELECT id, tenant_id, labels FROM mimir.series WHERE $1 IS NULL OR tenant_id = ANY($1)",
							  1, &type, &arg, PG_ARGISNULL(0) ? "n" : NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Datum		vals[3];
		bool		nulls[3] = {0};
		MemoryContext old = MemoryContextSwitchTo(c.cxt);

		for (int k = 0; k < 3; k++)
			vals[k] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, k + 1, &isnull);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
		MemoryContextSwitchTo(old);
	}
	if (SPI_execute_with_args("SELECT DISTINCT tenant_id FROM mimir.series_blocks WHERE $1 IS NULL OR tenant_id = ANY($1)",
							  1, &type, &arg, PG_ARGISNULL(0) ? "n" : NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series block lookup failed");
	ntenants = (int) SPI_processed;
	tenants = palloc(sizeof(int32) * Max(ntenants, 1));
	for (int i = 0; i < ntenants; i++)
		tenants[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	for (int i = 0; i < ntenants; i++)
	{
		c.tenant_id = tenants[i];
		mimir_scan_series_blocks(tenants[i], NULL, 0, NULL, NULL, all_emit, &c, false);
	}
	mimir_spi_finish();
	return (Datum) 0;
}

/*
 * Test helper: the series (ids ascending; label pair ids as int4[] text)
 * encoded as one block and decoded back, in the same text form.
 */
Datum
mimir_series_block_roundtrip(PG_FUNCTION_ARGS)
{
	ArrayType  *ia = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *la = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *id,
			   *lab;
	bool	   *inul,
			   *lnul;
	int			ni,
				nl,
				k = 0;
	BlockWriter w = {0};
	MimirSeriesBlockIter it = {0};
	bytea	   *data;
	Datum	   *out;

	deconstruct_array(ia, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &id, &inul, &ni);
	deconstruct_array(la, TEXTOID, -1, false, TYPALIGN_INT, &lab, &lnul, &nl);
	if (ni != nl || ni == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("need as many label arrays as series ids, at least one")));
	writer_reset(&w);
	for (int i = 0; i < ni; i++)
	{
		ArrayType  *a;

		if (inul[i] || lnul[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("no NULLs, please")));
		if (i > 0 && DatumGetInt64(id[i]) <= DatumGetInt64(id[i - 1]))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("series ids must ascend")));
		a = DatumGetArrayTypeP(OidFunctionCall3(F_ARRAY_IN, CStringGetDatum(TextDatumGetCString(lab[i])),
												ObjectIdGetDatum(INT4OID), Int32GetDatum(-1)));
		if (ARR_NDIM(a) > 1 || ARR_HASNULL(a))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("label arrays are flat int4 arrays")));
		writer_add(&w, DatumGetInt64(id[i]), (int32 *) ARR_DATA_PTR(a), ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
	}
	data = palloc(VARHDRSZ + w.data.len);
	SET_VARSIZE(data, VARHDRSZ + w.data.len);
	memcpy(VARDATA(data), w.data.data, w.data.len);
	out = palloc(sizeof(Datum) * ni);
	mimir_sblock_begin(&it, PointerGetDatum(data), w.first_id);
	while (mimir_sblock_next(&it))
	{
		StringInfoData s;

		if (k >= ni || it.id != DatumGetInt64(id[k]))
			elog(ERROR, "series block round trip: series %d has id " INT64_FORMAT, k, it.id);
		initStringInfo(&s);
		appendStringInfoChar(&s, '{');
		for (int j = 0; j < it.n; j++)
			appendStringInfo(&s, j ? ",%d" : "%d", it.pairs[j]);
		appendStringInfoChar(&s, '}');
		out[k++] = CStringGetTextDatum(s.data);
	}
	if (k != ni)
		elog(ERROR, "series block round trip: %d series back of %d", k, ni);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, ni, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(mimir_series_lhash);

/* The keys of series by id: plain ones stored, packed ones computed from their labels. */
Datum
mimir_series_lhash(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int32		tid = mimir_tenant_id(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *d;
	bool	   *nulls;
	int			n,
				found;
	int64	   *ids,
			   *out;
	SeriesKey  *keys;
	MemoryContext caller = CurrentMemoryContext;

	InitMaterializedSRF(fcinfo, 0);
	if (tid < 0)
		return (Datum) 0;
	deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &nulls, &n);
	ids = palloc(sizeof(int64) * Max(n, 1));
	out = palloc(sizeof(int64) * Max(n, 1));
	keys = palloc(sizeof(SeriesKey) * Max(n, 1));
	for (int i = 0; i < n; i++)
		ids[i] = nulls[i] ? 0 : DatumGetInt64(d[i]);
	mimir_spi_connect();
	found = mimir_series_keys_by_ids(tid, ids, n, out, keys);
	MemoryContextSwitchTo(caller);
	for (int i = 0; i < found; i++)
	{
		Datum		vals[2] = {Int64GetDatum(out[i]), series_key_to_uuid(&keys[i])};
		bool		nn[2] = {0};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nn);
	}
	mimir_spi_finish();
	return (Datum) 0;
}
