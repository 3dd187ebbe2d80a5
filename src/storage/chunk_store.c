/*
 * chunk_store.c — the chunks table: daily partitions (created on demand so
 * that retention is dropping partitions) and reading the chunks of a set of
 * series over a time range.
 */
#include "mimir.h"

#include "utils/guc.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "partitioning/partdesc.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

static int64 known_days[64];
static int	nknown;


char *
mimir_partition_name(int64 day)
{
	int			y,
				m,
				d;

	if (day > -2440000 && day < 2900000)
	{
		j2date((int) (day + UNIX_EPOCH_JDATE), &y, &m, &d);
		if (y >= 0 && y <= 9999)
			return psprintf("chunks_p%04d%02d%02d", y, m, d);
	}
	return psprintf("chunks_d%s" INT64_FORMAT, day < 0 ? "m" : "", day < 0 ? -day : day);
}

/* whether schema mimir has a table of that name (caller is connected to SPI) */
bool
mimir_partition_exists(const char *name)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(name);

	if (SPI_execute_with_args("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
							  "WHERE n.nspname = 'mimir' AND c.relname = $1",
							  1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "partition lookup failed");
	return SPI_processed > 0;
}

/*
 * Make sure the partition holding chunks whose first sample is at mint
 * exists. Caller is connected to SPI and holds the cutter lock, so only one
 * backend creates partitions at a time.
 */
void
mimir_ensure_partition(int64 mint)
{
	int64		day = mimir_floor_div(mint, MIMIR_PARTITION_MS);
	char	   *name;

	for (int i = 0; i < nknown; i++)
		if (known_days[i] == day)
			return;
	name = mimir_partition_name(day);
	if (!mimir_partition_exists(name))
	{
		int64		lo = day * MIMIR_PARTITION_MS;
		int64		hi = lo + MIMIR_PARTITION_MS;

		/* create then attach: attaching needs a weaker lock on chunks than CREATE ... PARTITION OF */
		if (SPI_execute(psprintf("CREATE TABLE mimir.%s (LIKE mimir.chunks INCLUDING DEFAULTS INCLUDING STORAGE, "
								 "CHECK (mint >= " INT64_FORMAT " AND mint < " INT64_FORMAT "))",
								 name, lo, hi), false, 0) != SPI_OK_UTILITY ||
			SPI_execute(psprintf("ALTER TABLE mimir.chunks ATTACH PARTITION mimir.%s "
								 "FOR VALUES FROM (" INT64_FORMAT ") TO (" INT64_FORMAT ")",
								 name, lo, hi), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create chunk partition %s", name);
	}
	if (nknown == lengthof(known_days))
		nknown = 0;
	known_days[nknown++] = day;
}

/* Partitions may be dropped by retention: forget what we knew. */
void
mimir_forget_partitions(void)
{
	nknown = 0;
}

typedef struct ScanPacksArg
{
	void		(*fn) (void *arg, int64 series_id, bytea *chunk);
	void	   *arg;
} ScanPacksArg;

static void
scan_packs_cb(void *arg, int64 series_id, int64 mint, int64 maxt, bytea *chunk)
{
	ScanPacksArg *pa = arg;

	pa->fn(pa->arg, series_id, chunk);
}

/*
 * Calls fn for every chunk (plain or packed) of the given series that may
 * hold samples in [mint, maxt]. Caller is connected to SPI.
 */
void
mimir_scan_chunks(const int64 *series, int nseries, int64 mint, int64 maxt,
				  void (*fn) (void *arg, int64 series_id, bytea *chunk), void *arg)
{
	Oid			types[3] = {INT8ARRAYOID, INT8OID, INT8OID};
	Datum		args[3];
	Portal		portal;

	args[0] = mimir_int8_array(series, nseries);
	args[1] = Int64GetDatum(mint);
	args[2] = Int64GetDatum(maxt);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT series_id, chunk FROM mimir.chunks WHERE series_id = ANY($1) "
									   "AND mint >= $2 - " MIMIR_CHUNK_MAX_SPAN_SQL
									   " AND mint <= $3 AND maxt >= $2",
									   3, types, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			HeapTuple	tup = SPI_tuptable->vals[r];

			CHECK_FOR_INTERRUPTS();
			fn(arg, DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)),
			   DatumGetByteaPP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	{
		ScanPacksArg pa = {fn, arg};

		mimir_scan_packs(series, nseries, mint, maxt, NULL, scan_packs_cb, &pa);
	}
}

/*
 * Calls fn with the data of each head row of the tenant overlapping
 * [mint, maxt], oldest first. Rows are large: each detoasted copy is freed
 * before the next, or they would all stay until SPI_finish.
 */
static void
scan_head_rows(int32 tenant_id, int64 mint, int64 maxt, void (*fn) (void *arg, bytea *data), void *arg)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3] = {Int32GetDatum(tenant_id), Int64GetDatum(mint), Int64GetDatum(maxt)};
	Portal		portal;

	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT data FROM mimir.head WHERE tenant_id = $1 "
									   "AND maxt >= $2 AND mint <= $3 ORDER BY id",
									   3, types, args, NULL, true, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 64);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *data = DatumGetByteaPP(d);

			CHECK_FOR_INTERRUPTS();
			fn(arg, data);
			if ((Pointer) data != DatumGetPointer(d))
				pfree(data);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

typedef struct HeadAll
{
	void		(*fn) (void *arg, int n, int64 *series, pc_sample *s);
	void	   *arg;
} HeadAll;

static void
head_all_row(void *arg, bytea *data)
{
	HeadAll    *h = arg;
	int			n;
	int64	   *sids;
	pc_sample  *s;

	mimir_head_decode(data, &n, &sids, &s);
	h->fn(h->arg, n, sids, s);
	pfree(sids);
	pfree(s);
}

/* Same for head rows of the tenant overlapping [mint, maxt], oldest first. */
void
mimir_scan_head(int32 tenant_id, int64 mint, int64 maxt,
				void (*fn) (void *arg, int n, int64 *series, pc_sample *s), void *arg)
{
	HeadAll		h = {fn, arg};

	scan_head_rows(tenant_id, mint, maxt, head_all_row, &h);
}

typedef struct HeadSelect
{
	const MimirSeriesSet *set;
	void		(*fn) (void *arg, int index, int64 series, const pc_sample *s, int n);
	void	   *arg;
} HeadSelect;

static void
head_select_row(void *arg, bytea *data)
{
	HeadSelect *h = arg;

	mimir_head_decode_select(data, h->set, h->fn, h->arg);
}

/*
 * Head rows of the tenant overlapping [mint, maxt], oldest first, decoding
 * only the series in set (see mimir_head_decode_select). Caller is
 * connected to SPI.
 */
void
mimir_scan_head_select(int32 tenant_id, int64 mint, int64 maxt, const MimirSeriesSet *set,
					   void (*fn) (void *arg, int index, int64 series, const pc_sample *s, int n),
					   void *arg)
{
	HeadSelect	h = {set, fn, arg};

	scan_head_rows(tenant_id, mint, maxt, head_select_row, &h);
}

/* ---------------------------------------------------------------------
 * Direct chunk reads for the querier: the chunks of many series found in
 * one pass over each partition's (series_id, mint) index, reading index
 * entries only, then fetched from the heap series by series as the reader
 * walks them. No SQL statement, no executor, no copies of rows.
 * --------------------------------------------------------------------- */

typedef struct ChunkEnt
{
	int32		index;			/* the reader's index of the series */
	int16		part;
	ItemPointerData tid;
	int64		mint;
	int32		pack;			/* packed chunk: its pack (cs->packs), else -1 */
	int32		off;			/* where in the pack's data */
	int32		len;
} ChunkEnt;

/* a run of wanted chunks in one pack, and the byte range that covers them */
typedef struct PackRef
{
	int16		part;
	ItemPointerData tid;
	int32		lo;
	int32		hi;
} PackRef;

/* packs read recently: series are read in order, so a pack's chunks come close together */
#define PACK_CACHE 32

typedef struct ChunkPart
{
	Relation	heap;
	Relation	index;
	AttrNumber	att_series;
	AttrNumber	att_chunk;		/* chunk, or a pack's data */
	AttrNumber	att_mint;
	AttrNumber	att_dir;		/* a pack's directory */
	IndexFetchTableData *fetch;
	TupleTableSlot *slot;
} ChunkPart;

struct MimirChunkScan
{
	Snapshot	snapshot;		/* registered: reads happen over several calls */
	int			nparts;
	ChunkPart  *parts;
	int			nindex;
	int		   *first;			/* entries of series i: [first[i], first[i+1]) */
	ChunkEnt   *ents;
	int			nents;
	int			cap;
	PackRef    *packs;
	int			npacks;
	int			cappacks;
	int			cache_pack[PACK_CACHE];
	struct varlena *cache_data[PACK_CACHE];	/* the slice [lo, hi) of the pack */
	int			cache_next;
};

static ChunkEnt *
add_ent(MimirChunkScan *cs)
{
	ChunkEnt   *e;

	if (cs->nents == cs->cap)
	{
		cs->cap = Max(1024, cs->cap * 2);
		cs->ents = cs->ents ? repalloc_huge(cs->ents, sizeof(ChunkEnt) * cs->cap)
			: palloc_extended(sizeof(ChunkEnt) * cs->cap, MCXT_ALLOC_HUGE);
	}
	e = &cs->ents[cs->nents++];
	e->pack = -1;
	e->off = e->len = 0;
	if ((cs->nents & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	return e;
}

/* does sorted ids[0..n) hold an id in [lo, hi]? */
bool
mimir_ids_in_range(const int64 *ids, int n, int64 lo, int64 hi)
{
	int			a = 0,
				b = n;

	while (a < b)
	{
		int			m = (a + b) / 2;

		if (ids[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && ids[a] <= hi;
}

/*
 * The packs of one chunk_packs partition holding chunks of the set in
 * [mint, maxt]: index entries (series_lo, mint; series_hi, maxt) narrow it
 * to packs whose id range holds a wanted id, then only their directories
 * are read (TOAST slices).
 */
static void
scan_pack_partition(MimirChunkScan *cs, ChunkPart *cp, const MimirSeriesSet *set,
					const int64 *ids, int nids, int64 mint, int64 maxt)
{
	ScanKeyData keys[3];
	IndexScanDesc scan;
	ItemPointer tid;
	List	   *cand = NIL;
	ListCell   *lc;

	ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(ids[0] - MIMIR_PACK_ID_SPAN));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(ids[nids - 1]));
	ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(maxt));
	scan = index_beginscan(cp->heap, cp->index, cs->snapshot, 3, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, keys, 3, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		int64		lo = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull));
		int64		hi = DatumGetInt64(index_getattr(scan->xs_itup, 3, scan->xs_itupdesc, &isnull));
		int64		pmaxt = DatumGetInt64(index_getattr(scan->xs_itup, 4, scan->xs_itupdesc, &isnull));
		ItemPointer t;

		if (pmaxt < mint || !mimir_ids_in_range(ids, nids, Max(lo, set->lo), Min(hi, set->hi)))
			continue;
		t = palloc(sizeof(ItemPointerData));
		*t = *tid;
		cand = lappend(cand, t);
	}
	index_endscan(scan);
	foreach(lc, cand)
	{
		ItemPointer t = lfirst(lc);
		bool		call_again = false;
		bool		all_dead;
		bool		isnull;
		Datum		data;
		int64		lo,
					pmint;
		MimirPackEntry *e;
		int			ne;
		int			pack = -1;

		CHECK_FOR_INTERRUPTS();
		if (!table_index_fetch_tuple(cp->fetch, t, cs->snapshot, cp->slot, &call_again, &all_dead))
			continue;
		lo = DatumGetInt64(slot_getattr(cp->slot, cp->att_series, &isnull));
		pmint = DatumGetInt64(slot_getattr(cp->slot, cp->att_mint, &isnull));
		data = slot_getattr(cp->slot, cp->att_dir, &isnull);
		e = mimir_pack_directory(data, lo, pmint, &ne);
		for (int i = 0; i < ne; i++)
		{
			int64		sid = e[i].series;
			int			idx;
			ChunkEnt   *ce;

			if (sid < set->lo || sid > set->hi || e[i].maxt < mint || e[i].mint > maxt)
				continue;
			idx = set->slot ? set->slot[sid - set->lo] : set->lookup(set->arg, sid);
			if (idx < 0)
				continue;
			/* one slice per run of wanted chunks: a gap of more than a TOAST chunk or two starts another */
			if (pack >= 0 && e[i].off > cs->packs[pack].hi + 4096)
				pack = -1;
			if (pack < 0)
			{
				if (cs->npacks == cs->cappacks)
				{
					cs->cappacks = Max(64, cs->cappacks * 2);
					cs->packs = cs->packs ? repalloc_huge(cs->packs, sizeof(PackRef) * cs->cappacks)
						: palloc(sizeof(PackRef) * cs->cappacks);
				}
				pack = cs->npacks++;
				cs->packs[pack].part = (int16) (cp - cs->parts);
				cs->packs[pack].tid = *t;
				cs->packs[pack].lo = e[i].off;
				cs->packs[pack].hi = e[i].off + e[i].len;
			}
			cs->packs[pack].lo = Min(cs->packs[pack].lo, e[i].off);
			cs->packs[pack].hi = Max(cs->packs[pack].hi, e[i].off + e[i].len);
			ce = add_ent(cs);
			ce->index = idx;
			ce->part = (int16) (cp - cs->parts);
			ce->tid = *t;
			ce->mint = e[i].mint;
			ce->pack = pack;
			ce->off = e[i].off;
			ce->len = e[i].len;
		}
		pfree(e);
		ExecClearTuple(cp->slot);
	}
	list_free_deep(cand);
}

/* The day of a partition named by mimir_partition_name; false for other names. */
static bool
partition_day(const char *name, int64 *day)
{
	int			y,
				m,
				d;
	char		extra;

	/* chunk_packs_pYYYYMMDD: the same days as chunks_pYYYYMMDD */
	if (strncmp(name, "chunk_packs_", 12) == 0)
	{
		char	   *alt = psprintf("chunks_%s", name + 12);
		bool		ok = partition_day(alt, day);

		pfree(alt);
		return ok;
	}

	if (sscanf(name, "chunks_p%4d%2d%2d%c", &y, &m, &d, &extra) == 3)
	{
		*day = date2j(y, m, d) - UNIX_EPOCH_JDATE;
		return true;
	}
	if (strncmp(name, "chunks_dm", 9) == 0 && sscanf(name + 9, INT64_FORMAT "%c", day, &extra) == 1)
	{
		*day = -*day;
		return true;
	}
	if (strncmp(name, "chunks_d", 8) == 0 && sscanf(name + 8, INT64_FORMAT "%c", day, &extra) == 1)
		return true;
	return false;
}

static AttrNumber
attnum_of(Relation rel, const char *name)
{
	TupleDesc	td = RelationGetDescr(rel);

	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->attnum;
	}
	elog(ERROR, "relation \"%s\" has no column \"%s\"", RelationGetRelationName(rel), name);
	return InvalidAttrNumber;
}

/* The partition's index on (series_id, mint), opened; NULL if it has none. */
static Relation
series_mint_index(Relation heap, AttrNumber att_series, AttrNumber att_mint)
{
	List	   *indexes = RelationGetIndexList(heap);
	ListCell   *lc;
	Relation	found = NULL;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		if (found == NULL && idx->rd_rel->relam == BTREE_AM_OID &&
			idx->rd_index->indnkeyatts >= 2 && idx->rd_indexprs == NIL &&
			idx->rd_index->indkey.values[0] == att_series &&
			idx->rd_index->indkey.values[1] == att_mint)
			found = idx;
		else
			index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	return found;
}

static int
chunkent_cmp(const void *a, const void *b)
{
	const ChunkEnt *x = a,
			   *y = b;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return x->mint < y->mint ? -1 : x->mint > y->mint;
}

/*
 * Find the chunks of the series in set (ids: the members, sorted) that may
 * hold samples in [mint, maxt]; nindex bounds the set's indexes. Dense sets
 * are found by one range scan of each index, sparse ones by looking up each
 * id. Memory: one small entry per chunk, no chunk data.
 */
MimirChunkScan *
mimir_chunk_scan_begin(const MimirSeriesSet *set, const int64 *ids, int nids, int nindex,
					   int64 mint, int64 maxt)
{
	MimirChunkScan *cs = palloc0(sizeof(MimirChunkScan));
	Oid			nsp = get_namespace_oid("mimir", false);
	Oid			parent_oid = get_relname_relid("chunks", nsp);
	Relation	parent;
	PartitionDesc pd;
	int64		lo_day,
				hi_day;
	int64		from = mint - MIMIR_CHUNK_MAX_SPAN_MS;
	bool		dense;
	Datum		id_array = (Datum) 0;

	if (!OidIsValid(parent_oid))
		elog(ERROR, "table mimir.chunks is missing");
	cs->snapshot = RegisterSnapshot(ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot());
	cs->nindex = nindex;
	cs->first = palloc0(sizeof(int) * (nindex + 1));
	for (int i = 0; i < PACK_CACHE; i++)
		cs->cache_pack[i] = -1;
	if (nids == 0 || mint > maxt)
		return cs;
	lo_day = mimir_floor_div(from, MIMIR_PARTITION_MS);
	hi_day = mimir_floor_div(maxt, MIMIR_PARTITION_MS);
	/* a range scan reads every id between the first and the last: worth it when most are wanted */
	dense = (uint64) (ids[nids - 1] - ids[0]) <= (uint64) nids * 32;
	if (!dense)
		id_array = mimir_int8_array(ids, nids);

	parent = table_open(parent_oid, AccessShareLock);
	pd = RelationGetPartitionDesc(parent, true);
	cs->parts = palloc0(sizeof(ChunkPart) * Max(pd->nparts, 1));
	for (int p = 0; p < pd->nparts; p++)
	{
		char	   *name = get_rel_name(pd->oids[p]);
		int64		day;
		Relation	heap;
		ChunkPart  *cp;
		AttrNumber	att_mint;
		IndexScanDesc scan;
		ScanKeyData keys[4];
		int			nkeys = 0;
		ItemPointer tid;

		/* partitions are named by day (mimir_ensure_partition); others are read whole */
		if (name && partition_day(name, &day) && (day < lo_day || day > hi_day))
			continue;
		heap = try_table_open(pd->oids[p], AccessShareLock);
		if (heap == NULL)
			continue;			/* dropped meanwhile (retention) */
		cp = &cs->parts[cs->nparts];
		cp->heap = heap;
		cp->att_series = attnum_of(heap, "series_id");
		cp->att_chunk = attnum_of(heap, "chunk");
		att_mint = attnum_of(heap, "mint");
		cp->index = series_mint_index(heap, cp->att_series, att_mint);
		if (cp->index == NULL)
			elog(ERROR, "chunk partition \"%s\" has no index on (series_id, mint)",
				 RelationGetRelationName(heap));
		cs->nparts++;

		if (dense)
		{
			ScanKeyInit(&keys[nkeys++], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(ids[0]));
			ScanKeyInit(&keys[nkeys++], 1, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(ids[nids - 1]));
		}
		else
		{
			ScanKeyEntryInitialize(&keys[nkeys++], SK_SEARCHARRAY, 1, BTEqualStrategyNumber,
								   InvalidOid, InvalidOid, F_INT8EQ, id_array);
		}
		ScanKeyInit(&keys[nkeys++], 2, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
		ScanKeyInit(&keys[nkeys++], 2, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(maxt));
		scan = index_beginscan(heap, cp->index, cs->snapshot, nkeys, 0);
		scan->xs_want_itup = true;
		index_rescan(scan, keys, nkeys, NULL, 0);
		while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
		{
			bool		isnull;
			int64		sid = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull));
			int			idx;
			ChunkEnt   *e;

			if (sid < set->lo || sid > set->hi)
				continue;
			idx = set->slot ? set->slot[sid - set->lo] : set->lookup(set->arg, sid);
			if (idx < 0)
				continue;
			e = add_ent(cs);
			e->index = idx;
			e->part = (int16) (cs->nparts - 1);
			e->tid = *tid;
			e->mint = DatumGetInt64(index_getattr(scan->xs_itup, 2, scan->xs_itupdesc, &isnull));
		}
		index_endscan(scan);
		cp->fetch = table_index_fetch_begin(heap);
		cp->slot = table_slot_create(heap, NULL);
	}
	table_close(parent, NoLock);

	/* the packs: partitions of the same days */
	parent_oid = get_relname_relid("chunk_packs", nsp);
	if (!OidIsValid(parent_oid))
		elog(ERROR, "table mimir.chunk_packs is missing");
	parent = table_open(parent_oid, AccessShareLock);
	pd = RelationGetPartitionDesc(parent, true);
	cs->parts = repalloc(cs->parts, sizeof(ChunkPart) * (cs->nparts + Max(pd->nparts, 1)));
	for (int p = 0; p < pd->nparts; p++)
	{
		char	   *name = get_rel_name(pd->oids[p]);
		int64		day;
		Relation	heap;
		ChunkPart  *cp;

		if (name && partition_day(name, &day) && (day < lo_day || day > hi_day))
			continue;
		heap = try_table_open(pd->oids[p], AccessShareLock);
		if (heap == NULL)
			continue;
		cp = &cs->parts[cs->nparts];
		memset(cp, 0, sizeof(ChunkPart));
		cp->heap = heap;
		cp->att_series = attnum_of(heap, "series_lo");
		cp->att_chunk = attnum_of(heap, "data");
		cp->att_dir = attnum_of(heap, "dir");
		cp->att_mint = attnum_of(heap, "mint");
		cp->index = series_mint_index(heap, cp->att_series, cp->att_mint);
		if (cp->index == NULL)
			elog(ERROR, "chunk pack partition \"%s\" has no index on (series_lo, mint)",
				 RelationGetRelationName(heap));
		cs->nparts++;
		cp->fetch = table_index_fetch_begin(heap);
		cp->slot = table_slot_create(heap, NULL);
		scan_pack_partition(cs, cp, set, ids, nids, mint, maxt);
	}
	table_close(parent, NoLock);

	/* by series, then time */
	if (cs->nents > 1)
		qsort(cs->ents, cs->nents, sizeof(ChunkEnt), chunkent_cmp);
	for (int i = 0; i < cs->nents; i++)
		cs->first[cs->ents[i].index + 1]++;
	for (int i = 0; i < nindex; i++)
		cs->first[i + 1] += cs->first[i];
	return cs;
}

/*
 * Calls fn for each visible chunk of the series with index in [from, to),
 * in index then time order. data is valid during the call only.
 */
void
mimir_chunk_scan_read(MimirChunkScan *cs, int from, int to,
					  void (*fn) (void *arg, int index, const uint8 *data, size_t len),
					  void *arg)
{
	if (cs->nents == 0)
		return;
	Assert(from >= 0 && to <= cs->nindex);
	for (int i = cs->first[from]; i < cs->first[to]; i++)
	{
		ChunkEnt   *e = &cs->ents[i];
		ChunkPart  *cp = &cs->parts[e->part];
		bool		call_again = false;
		bool		all_dead;
		bool		isnull;
		Datum		d;
		struct varlena *v;

		if (e->pack >= 0)
		{
			struct varlena *slice = NULL;
			PackRef    *pr = &cs->packs[e->pack];

			/* usually inline in the row: read in place */
			if (!table_index_fetch_tuple(cp->fetch, &e->tid, cs->snapshot, cp->slot,
										 &call_again, &all_dead))
				continue;
			d = slot_getattr(cp->slot, cp->att_chunk, &isnull);
			if (!isnull && !VARATT_IS_EXTERNAL(DatumGetPointer(d)) &&
				!VARATT_IS_COMPRESSED(DatumGetPointer(d)))
			{
				if ((int64) e->off + e->len > VARSIZE_ANY_EXHDR(DatumGetPointer(d)))
					elog(ERROR, "mimir: corrupt chunk pack (chunk outside the data)");
				fn(arg, e->index, (const uint8 *) VARDATA_ANY(DatumGetPointer(d)) + e->off, e->len);
				ExecClearTuple(cp->slot);
				continue;
			}
			ExecClearTuple(cp->slot);
			call_again = false;

			for (int c = 0; c < PACK_CACHE; c++)
				if (cs->cache_pack[c] == e->pack)
					slice = cs->cache_data[c];
			if (slice == NULL)
			{
				int			c = cs->cache_next;

				/* visible when the scan began, under the same snapshot */
				if (!table_index_fetch_tuple(cp->fetch, &pr->tid, cs->snapshot, cp->slot,
											 &call_again, &all_dead))
					continue;
				d = slot_getattr(cp->slot, cp->att_chunk, &isnull);
				slice = detoast_attr_slice((struct varlena *) DatumGetPointer(d), pr->lo, pr->hi - pr->lo);
				ExecClearTuple(cp->slot);
				if (VARSIZE_ANY_EXHDR(slice) != pr->hi - pr->lo)
					elog(ERROR, "mimir: corrupt chunk pack (chunk outside the data)");
				if (cs->cache_data[c])
					pfree(cs->cache_data[c]);
				cs->cache_pack[c] = e->pack;
				cs->cache_data[c] = slice;
				cs->cache_next = (c + 1) % PACK_CACHE;
			}
			fn(arg, e->index, (const uint8 *) VARDATA_ANY(slice) + (e->off - pr->lo), e->len);
			continue;
		}

		if (!table_index_fetch_tuple(cp->fetch, &e->tid, cs->snapshot, cp->slot,
									 &call_again, &all_dead))
			continue;			/* not visible to us (e.g. replaced by a later cut) */
		d = slot_getattr(cp->slot, cp->att_chunk, &isnull);
		if (isnull)
			continue;
		v = PG_DETOAST_DATUM_PACKED(d);
		fn(arg, e->index, (const uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
		if ((Pointer) v != DatumGetPointer(d))
			pfree(v);
		ExecClearTuple(cp->slot);
	}
}

void
mimir_chunk_scan_end(MimirChunkScan *cs)
{
	for (int c = 0; c < PACK_CACHE; c++)
		if (cs->cache_data[c])
			pfree(cs->cache_data[c]);
	for (int p = 0; p < cs->nparts; p++)
	{
		ChunkPart  *cp = &cs->parts[p];

		if (cp->slot)
			ExecDropSingleTupleTableSlot(cp->slot);
		if (cp->fetch)
			table_index_fetch_end(cp->fetch);
		index_close(cp->index, NoLock);
		table_close(cp->heap, NoLock);
	}
	UnregisterSnapshot(cs->snapshot);
}

/* SET LOCAL lock_timeout (e.g. back to the value a short timeout replaced) */
void
mimir_set_lock_timeout_local(const char *value)
{
	(void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}
