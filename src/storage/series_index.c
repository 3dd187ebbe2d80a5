/*
 * series_index.c — the series and label index: label pairs get ids, a series
 * is the sorted array of its label pair ids, and a GIN index over those
 * arrays answers matchers. Matchers are resolved against the (small) table
 * of label pairs first, so selecting series never scans all of a tenant's
 * series unless the selector asks for all of them.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"
#include "access/xact.h"

#include "ingester/ingester.h"

static int	int32_cmp(const void *a, const void *b);

static IdCache *pair_cache;		/* (tenant, name, value) -> label pair id */
static IdCache *series_cache;	/* (tenant, labels...) -> series id */

/* label pair id -> (name, value); ids are never reused, so this never goes stale */
typedef struct PairEntry
{
	int32		id;
	char		status;
	char	   *name;
	char	   *value;
} PairEntry;

#define SH_PREFIX pairmap
#define SH_ELEMENT_TYPE PairEntry
#define SH_KEY_TYPE int32
#define SH_KEY id
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) (k))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

static MemoryContext pair_cxt;
static pairmap_hash *pair_names;

static uint64 pair_names_generation;

static void
init_caches(void)
{
	/*
	 * Label pair ids of dropped tables mean nothing; and memory stays bounded.
	 * Only here, between operations: an operation finds the pairs it needs
	 * present or loads them, then reads them all back.
	 */
	if (pair_cache != NULL &&
		(idcache_generation() != pair_names_generation || pair_names->members >= 4000000))
	{
		MemoryContextReset(pair_cxt);
		pair_names = pairmap_create(pair_cxt, 1024, NULL);
		pair_names_generation = idcache_generation();
	}
	if (pair_cache == NULL)
	{
		pair_cache = idcache_create("mimir label pair cache");
		series_cache = idcache_create("mimir series cache");
		pair_cxt = AllocSetContextCreate(TopMemoryContext, "mimir label pair names",
										 ALLOCSET_DEFAULT_SIZES);
		pair_names = pairmap_create(pair_cxt, 1024, NULL);
	}
}

static void
remember_pair_name(int32 id, const char *name, const char *value)
{
	bool		found;
	PairEntry  *e;

	e = pairmap_insert(pair_names, id, &found);
	if (!found)
	{
		e->name = MemoryContextStrdup(pair_cxt, name);
		e->value = MemoryContextStrdup(pair_cxt, value);
	}
}

/*
 * Names and values of the label pairs ids[0..n) into the pair-name map.
 * read_only: under the caller's snapshot; else a fresh one (for callers whose
 * ids may be newer than their snapshot). Caller is connected to SPI.
 */
static void
load_pair_names(const int32 *ids, int n, bool read_only)
{
	Oid			type = INT4ARRAYOID;
	Datum		arg;

	if (n == 0)
		return;
	arg = mimir_int4_array(ids, n);
	if (SPI_execute_with_args("SELECT id, name, value FROM mimir.label_pairs WHERE id = ANY($1)",
							  1, &type, &arg, NULL, read_only, 0) != SPI_OK_SELECT)
		elog(ERROR, "label pair lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;

		remember_pair_name(DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)),
						   SPI_getvalue(tup, SPI_tuptable->tupdesc, 2),
						   SPI_getvalue(tup, SPI_tuptable->tupdesc, 3));
	}
}

Datum
mimir_int4_array(const int32 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int32GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT4OID, 4, true, TYPALIGN_INT));
}

Datum
mimir_int8_array(const int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
text_array(char **s, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(s[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static char *
tenant_str(int32 tenant_id)
{
	return psprintf("%d", tenant_id);
}

/*
 * Ids of n label pairs (names[i], values[i]), created when missing; ids[i]
 * receives the id of pair i (pairs may repeat). Missing pairs of the whole
 * batch cost one INSERT and one SELECT. Caller is connected to SPI.
 */
static void
label_pair_ids(int32 tenant_id, int n, char **names, char **values, int32 *ids)
{
	char	  **keys = palloc(sizeof(char *) * Max(n, 1));
	char	  **mnames = palloc(sizeof(char *) * Max(n, 1));
	char	  **mvalues = palloc(sizeof(char *) * Max(n, 1));
	int			nmissing = 0;
	char	   *ts = tenant_str(tenant_id);

	for (int i = 0; i < n; i++)
	{
		const char *parts[3] = {ts, names[i], values[i]};
		int64		id;

		keys[i] = idcache_key(3, parts);
		if (idcache_get(pair_cache, keys[i], &id))
			ids[i] = (int32) id;
		else
		{
			ids[i] = 0;
			mnames[nmissing] = names[i];
			mvalues[nmissing] = values[i];
			nmissing++;
		}
	}
	if (nmissing > 0)
	{
		Oid			types[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		args[3] = {Int32GetDatum(tenant_id), text_array(mnames, nmissing),
		text_array(mvalues, nmissing)};
		uint64		nnew;
		int32	   *newids;
		pairmap_hash *found;
		IdCache    *batch = idcache_create_local();

		/* rows returned by the INSERT are ours and tentative until commit */
		if (SPI_execute_with_args("INSERT INTO mimir.label_pairs(tenant_id, name, value) "
								  "SELECT DISTINCT $1, n, v FROM unnest($2::text[], $3::text[]) u(n, v) "
								  "ORDER BY 2, 3 ON CONFLICT DO NOTHING RETURNING id",
								  3, types, args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "label pair insert failed");
		nnew = SPI_processed;
		newids = palloc(sizeof(int32) * (nnew + 1));
		for (uint64 j = 0; j < nnew; j++)
		{
			bool		isnull;

			newids[j] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (SPI_execute_with_args("SELECT lp.id, lp.name, lp.value FROM mimir.label_pairs lp "
								  "JOIN (SELECT DISTINCT n, v FROM unnest($2::text[], $3::text[]) u(n, v)) u "
								  "ON lp.name = u.n AND lp.value = u.v WHERE lp.tenant_id = $1",
								  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "label pair lookup failed");
		/* new ids, for the tentative flag */
		found = pairmap_create(CurrentMemoryContext, Max(nnew, 16), NULL);
		for (uint64 j = 0; j < nnew; j++)
		{
			bool		f;

			pairmap_insert(found, newids[j], &f);
		}
		for (uint64 j = 0; j < SPI_processed; j++)
		{
			HeapTuple	tup = SPI_tuptable->vals[j];
			bool		isnull;
			int32		id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			char	   *name = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
			char	   *value = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
			const char *parts[3] = {ts, name, value};
			char	   *key = idcache_key(3, parts);

			idcache_put(pair_cache, key, id, pairmap_lookup(found, id) != NULL);
			idcache_put(batch, key, id, false);
			remember_pair_name(id, name, value);
		}
		for (int i = 0; i < n; i++)
		{
			int64		id;

			if (ids[i] != 0)
				continue;
			if (!idcache_get(batch, keys[i], &id))
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("label %s=\"%s\" was created by a concurrent transaction",
								names[i], values[i]),
						 errhint("Retry the transaction.")));
			ids[i] = (int32) id;
		}
	}
}

/*
 * The ids of those of n series (label pair ids each) that are packed, in
 * ids[i] (left alone for the others). Candidate blocks come from the GIN
 * index over each series' own pairs; their series are compared exactly (as
 * sets of pair ids). Reads the latest committed state, also under
 * REPEATABLE READ: the caller holds the tenant's series lock, so nothing
 * is packed meanwhile. Caller is connected to SPI.
 */
typedef struct PackedFind
{
	int			n;
	int32	  **sorted;			/* each series' pairs, sorted */
	int		   *np;
	uint32	   *hash;
	int64	   *ids;
	int			nfound;
	int32	   *buf;
	int			cap;
} PackedFind;

static void
packed_find_cb(void *arg, int64 id, const int32 *pairs, int n)
{
	PackedFind *f = arg;
	uint32		h;

	if (n > f->cap)
	{
		f->cap = Max(n, 64);
		f->buf = f->buf ? repalloc(f->buf, sizeof(int32) * f->cap) : palloc(sizeof(int32) * f->cap);
	}
	memcpy(f->buf, pairs, sizeof(int32) * n);
	qsort(f->buf, n, sizeof(int32), int32_cmp);
	h = hash_bytes((const unsigned char *) f->buf, sizeof(int32) * n);
	for (int i = 0; i < f->n; i++)
		if (f->hash[i] == h && f->np[i] == n && f->ids[i] == 0 &&
			memcmp(f->sorted[i], f->buf, sizeof(int32) * n) == 0)
		{
			f->ids[i] = id;
			f->nfound++;
		}
}

static int
packed_find(int32 tenant_id, int n, int32 *const *pids, const int *np, int64 *ids)
{
	PackedFind	f = {0};
	Datum	   *arrs = palloc(sizeof(Datum) * Max(n, 1));
	Oid			types[2] = {INT4OID, TEXTARRAYOID};
	Datum		args[2];
	SPIPlanPtr	plan;
	MimirSeriesBlockIter it = {0};

	f.n = n;
	f.sorted = palloc(sizeof(int32 *) * Max(n, 1));
	f.np = (int *) np;
	f.hash = palloc(sizeof(uint32) * Max(n, 1));
	f.ids = ids;
	for (int i = 0; i < n; i++)
	{
		StringInfoData b;

		f.sorted[i] = palloc(sizeof(int32) * Max(np[i], 1));
		memcpy(f.sorted[i], pids[i], sizeof(int32) * np[i]);
		qsort(f.sorted[i], np[i], sizeof(int32), int32_cmp);
		f.hash[i] = hash_bytes((const unsigned char *) f.sorted[i], sizeof(int32) * np[i]);
		initStringInfo(&b);
		appendStringInfoChar(&b, '{');
		for (int j = 0; j < np[i]; j++)
			appendStringInfo(&b, j ? ",%d" : "%d", pids[i][j]);
		appendStringInfoChar(&b, '}');
		arrs[i] = CStringGetTextDatum(b.data);
	}
	args[0] = Int32GetDatum(tenant_id);
	args[1] = PointerGetDatum(construct_array(arrs, n, TEXTOID, -1, false, TYPALIGN_INT));
	plan = SPI_prepare("SELECT b.first_id, b.data FROM mimir.series_blocks b WHERE b.tenant_id = $1 AND b.ctid = ANY(ARRAY("
					   "SELECT DISTINCT c.ctid FROM unnest($2::text[]) u(l) CROSS JOIN LATERAL "
					   "(SELECT ctid FROM mimir.series_blocks WHERE tenant_id = $1 AND pairs @> u.l::int4[]) c))",
					   2, types);
	if (plan == NULL)
		elog(ERROR, "series block lookup failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, args, NULL, IsolationUsesXactSnapshot() ? GetLatestSnapshot() : InvalidSnapshot,
							 InvalidSnapshot, false, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "series block lookup failed");
	for (uint64 r = 0; r < SPI_processed && f.nfound < n; r++)
	{
		bool		isnull;

		mimir_sblock_begin(&it, SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull),
						   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)));
		while (mimir_sblock_next(&it))
			packed_find_cb(&f, it.id, it.pairs, it.n);
	}
	SPI_freeplan(plan);
	return f.nfound;
}

/*
 * Ids of n series given by their keys and label sets (sorted by name), created
 * when missing. The series' identity is its key (mimir.series.lhash): one
 * INSERT ... ON CONFLICT for the whole batch, then one SELECT for those
 * that existed. Caller is connected to SPI.
 */
static void
series_ids(int32 tenant_id, int n, const SeriesKey *keys, char ***names, char ***values,
		   const int *nlabels, int64 *ids)
{
	int			total = 0,
				off = 0;
	char	  **an,
			  **av;
	int32	   *pids;
	Datum	   *uuids = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *arrs = palloc(sizeof(Datum) * Max(n, 1));
	Oid			types[3] = {INT4OID, UUIDARRAYOID, TEXTARRAYOID};
	Datum		args[3];
	int			nfound = 0;
	int32	  **spids = palloc(sizeof(int32 *) * Max(n, 1));
	int			ntodo = 0;

	/* no packing of this tenant's series until we commit (series_blocks.c) */
	mimir_series_lock_shared(tenant_id);
	for (int i = 0; i < n; i++)
		total += nlabels[i];
	an = palloc(sizeof(char *) * Max(total, 1));
	av = palloc(sizeof(char *) * Max(total, 1));
	pids = palloc(sizeof(int32) * Max(total, 1));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < nlabels[i]; j++)
		{
			an[off] = names[i][j];
			av[off] = values[i][j];
			off++;
		}
	label_pair_ids(tenant_id, total, an, av, pids);

	off = 0;
	for (int i = 0; i < n; i++)
	{
		spids[i] = pids + off;
		off += nlabels[i];
		ids[i] = 0;
	}
	/* packed ones are found by their pairs; the others by their key */
	nfound = packed_find(tenant_id, n, spids, nlabels, ids);
	if (nfound == n)
		return;

	/* label arrays travel as text ('{1,2,3}'): one array of them for all series */
	off = 0;
	for (int i = 0; i < n; i++)
	{
		StringInfoData b;

		if (ids[i] != 0)
		{
			off += nlabels[i];
			continue;
		}
		initStringInfo(&b);
		appendStringInfoChar(&b, '{');
		for (int j = 0; j < nlabels[i]; j++)
			appendStringInfo(&b, j ? ",%d" : "%d", pids[off + j]);
		appendStringInfoChar(&b, '}');
		off += nlabels[i];
		arrs[ntodo] = CStringGetTextDatum(b.data);
		uuids[ntodo] = series_key_to_uuid(&keys[i]);
		ntodo++;
	}
	args[0] = Int32GetDatum(tenant_id);
	args[1] = PointerGetDatum(construct_array(uuids, ntodo, UUIDOID, 16, false, TYPALIGN_CHAR));
	args[2] = PointerGetDatum(construct_array(arrs, ntodo, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_with_args("INSERT INTO mimir.series(tenant_id, lhash, labels) "
							  "SELECT $1, h, l::int4[] FROM unnest($2::uuid[], $3::text[]) u(h, l) "
							  "ON CONFLICT (lhash) DO NOTHING RETURNING id, lhash",
							  3, types, args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "series insert failed");
	for (int pass = 0; pass < 2; pass++)
	{
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			SeriesKey	k;

			series_key_from_uuid(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull), &k);
			for (int i = 0; i < n; i++)
				if (ids[i] == 0 && keys[i].hi == k.hi && keys[i].lo == k.lo)
				{
					ids[i] = id;
					nfound++;
				}
		}
		if (nfound == n || pass == 1)
			break;
		/* those that existed (or that a concurrent transaction just committed) */
		if (SPI_execute_with_args("SELECT id, lhash FROM mimir.series WHERE lhash = ANY($2) AND tenant_id = $1",
								  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "series lookup failed");
	}
	for (int i = 0; i < n; i++)
		if (ids[i] == 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a series was created by a concurrent transaction"),
					 errhint("Retry the transaction.")));
}

int64
mimir_series_get_or_create(int32 tenant_id, const char *tenant, const MimirLabelSet *ls,
						   SeriesKey *key)
{
	const char **parts;
	char	   *ckey;
	int64		id;
	SeriesKey	k;
	char	  **names,
			  **values;
	int			n = ls->n;

	mimir_tenant_write_lock(tenant_id, false);
	init_caches();
	series_key_of_labelset(tenant, ls, &k);
	if (key)
		*key = k;
	parts = palloc(sizeof(char *) * 3);
	parts[0] = tenant_str(tenant_id);
	parts[1] = psprintf(UINT64_FORMAT, k.hi);
	parts[2] = psprintf(UINT64_FORMAT, k.lo);
	ckey = idcache_key(3, parts);
	if (idcache_get(series_cache, ckey, &id))
		return id;

	names = palloc(sizeof(char *) * Max(n, 1));
	values = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		names[i] = ls->labels[i].name;
		values[i] = ls->labels[i].value;
	}
	mimir_spi_connect();
	series_ids(tenant_id, 1, &k, &names, &values, &n, &id);
	mimir_spi_finish();
	/* tentative: a rollback may remove a series this transaction created */
	idcache_put(series_cache, ckey, id, true);
	return id;
}

/* Batch form for remote write (keys computed by the caller). */
void
mimir_series_create_batch(int32 tenant_id, int n, const SeriesKey *keys, char ***names,
						  char ***values, const int *nlabels, int64 *ids)
{
	mimir_tenant_write_lock(tenant_id, false);
	init_caches();
	mimir_spi_connect();
	series_ids(tenant_id, n, keys, names, values, nlabels, ids);
	mimir_spi_finish();
}

/*
 * Label pair ids of (tenant, name) whose value satisfies `want` applied to
 * matcher m. Caller is connected to SPI.
 */
static int32 *
pairs_where(int32 tenant_id, MimirMatcher *m, bool want, int *n)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(tenant_id), CStringGetTextDatum(m->name),
	CStringGetTextDatum(m->value)};
	int32	   *ids;
	int			cnt = 0;
	bool		exact = (m->op == MATCH_EQ && want) || (m->op == MATCH_NEQ && !want);

	if (exact)
	{
		if (SPI_execute_with_args("SELECT id, value FROM mimir.label_pairs "
								  "WHERE tenant_id = $1 AND name = $2 AND value = $3",
								  3, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "label pair lookup failed");
	}
	else if (SPI_execute_with_args("SELECT id, value FROM mimir.label_pairs "
								   "WHERE tenant_id = $1 AND name = $2",
								   2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "label pair lookup failed");
	ids = palloc(sizeof(int32) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		char	   *value = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);

		CHECK_FOR_INTERRUPTS();
		if (exact || mimir_matcher_matches(m, value) == want)
			ids[cnt++] = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
	}
	*n = cnt;
	return ids;
}

/* A distinct label pair of a selection, with its rank in (name, value) order. */
typedef struct SelPair
{
	int32		id;
	int32		rank;
	char	   *name;			/* copied once into the caller's context */
	char	   *value;
} SelPair;

static int
selpair_cmp(const void *a, const void *b)
{
	const SelPair *x = *(const SelPair *const *) a,
			   *y = *(const SelPair *const *) b;
	int			c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return x < y ? -1 : x > y;
}

/* A series by the ranks of its pairs in label-name order (see resolve_labels). */
typedef struct RankedRef
{
	int32	   *ranks;
	int			n;
	int			orig;
} RankedRef;

static int
rankedref_cmp(const void *a, const void *b)
{
	const RankedRef *x = a,
			   *y = b;
	int			n = Min(x->n, y->n);

	for (int i = 0; i < n; i++)
		if (x->ranks[i] != y->ranks[i])
			return x->ranks[i] < y->ranks[i] ? -1 : 1;
	return x->n - y->n;
}

static int
binsearch_pair(SelPair *pairs, int n, int32 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (pairs[mid].id == id)
			return mid;
		if (pairs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Fill in label sets for the pair ids of each series, fetching unknown
 * pairs, and sort the series by label set. The strings of a pair are copied
 * once and shared by every series that has it. Sorting compares ranks:
 * comparing label sets is comparing their (name, value) pairs in order, so
 * ranking the selection's distinct pairs once turns every string comparison
 * into an integer one.
 */
static void
resolve_labels(MimirSeriesRef *refs, int32 **pairs, int *npairs, int nseries,
			   MemoryContext caller)
{
	int32	   *all;
	int			nall = 0,
				ndistinct = 0;
	SelPair    *sel;
	SelPair   **byname;
	int32	   *missing = NULL;
	int			nmissing = 0;
	RankedRef  *rr;
	MimirSeriesRef *sorted;

	for (int s = 0; s < nseries; s++)
		nall += npairs[s];
	/* the distinct pair ids of the selection */
	all = palloc(sizeof(int32) * Max(nall, 1));
	nall = 0;
	for (int s = 0; s < nseries; s++)
	{
		memcpy(all + nall, pairs[s], sizeof(int32) * npairs[s]);
		nall += npairs[s];
	}
	qsort(all, nall, sizeof(int32), int32_cmp);
	for (int i = 0; i < nall; i++)
		if (ndistinct == 0 || all[ndistinct - 1] != all[i])
			all[ndistinct++] = all[i];

	for (int i = 0; i < ndistinct; i++)
		if (pairmap_lookup(pair_names, all[i]) == NULL)
		{
			if (missing == NULL)
				missing = palloc(sizeof(int32) * ndistinct);
			missing[nmissing++] = all[i];
		}
	load_pair_names(missing, nmissing, true);

	/* SPI calls leave us in SPI's procedure context; results must outlive it */
	MemoryContextSwitchTo(caller);
	sel = palloc(sizeof(SelPair) * Max(ndistinct, 1));
	byname = palloc(sizeof(SelPair *) * Max(ndistinct, 1));
	for (int i = 0; i < ndistinct; i++)
	{
		PairEntry  *e = pairmap_lookup(pair_names, all[i]);

		if (e == NULL)
			elog(ERROR, "label pair %d is missing", all[i]);
		sel[i].id = all[i];
		sel[i].name = pstrdup(e->name);
		sel[i].value = pstrdup(e->value);
		byname[i] = &sel[i];
	}
	qsort(byname, ndistinct, sizeof(SelPair *), selpair_cmp);
	for (int i = 0; i < ndistinct; i++)
		byname[i]->rank = i;

	rr = palloc(sizeof(RankedRef) * Max(nseries, 1));
	for (int s = 0; s < nseries; s++)
	{
		MimirLabelSet *ls = &refs[s].labels;
		bool		inorder = true;

		ls->n = npairs[s];
		ls->labels = palloc(sizeof(MimirLabel) * Max(ls->n, 1));
		rr[s].ranks = palloc(sizeof(int32) * Max(ls->n, 1));
		rr[s].n = ls->n;
		rr[s].orig = s;
		for (int i = 0; i < npairs[s]; i++)
		{
			SelPair    *p = &sel[binsearch_pair(sel, ndistinct, pairs[s][i])];

			ls->labels[i].name = p->name;
			ls->labels[i].value = p->value;
			rr[s].ranks[i] = p->rank;
			if (i > 0 && strcmp(ls->labels[i - 1].name, p->name) > 0)
				inorder = false;
		}
		/* pair ids are stored in label-name order, but be safe */
		if (!inorder)
		{
			qsort(ls->labels, ls->n, sizeof(MimirLabel), mimir_label_cmp);
			for (int i = 0; i < ls->n; i++)
			{
				for (int j = 0; j < ndistinct; j++)
					if (sel[j].name == ls->labels[i].name && sel[j].value == ls->labels[i].value)
						rr[s].ranks[i] = sel[j].rank;
			}
		}
	}
	qsort(rr, nseries, sizeof(RankedRef), rankedref_cmp);
	sorted = palloc(sizeof(MimirSeriesRef) * Max(nseries, 1));
	for (int s = 0; s < nseries; s++)
		sorted[s] = refs[rr[s].orig];
	memcpy(refs, sorted, sizeof(MimirSeriesRef) * nseries);
	pfree(sorted);
	for (int s = 0; s < nseries; s++)
		pfree(rr[s].ranks);
	pfree(rr);
	pfree(byname);
	pfree(all);
	if (missing)
		pfree(missing);
}

/*
 * Selection among packed series: a block is a candidate when its union of
 * pairs passes the positive matchers; each of its series is tested exactly.
 */
typedef struct PackedSel
{
	int			nm;
	int32	  **sets;			/* per matcher: sorted pair ids */
	int		   *nset;
	bool	   *positive;		/* must carry one of them / must carry none */
	MemoryContext cxt;			/* of the results */
	int			n,
				cap;
	int64	   *ids;
	int32	  **pairs;
	int		   *npairs;
} PackedSel;

static bool
has_any(const int32 *pairs, int n, const int32 *set, int nset)
{
	for (int j = 0; j < n; j++)
		if (bsearch(&pairs[j], set, nset, sizeof(int32), int32_cmp) != NULL)
			return true;
	return false;
}

static void
packed_sel_add(void *arg, int64 id, const int32 *pairs, int n)
{
	PackedSel  *ps = arg;

	for (int k = 0; k < ps->nm; k++)
		if (has_any(pairs, n, ps->sets[k], ps->nset[k]) != ps->positive[k])
			return;
	if (ps->n == ps->cap)
	{
		ps->cap = Max(256, ps->cap * 2);
		ps->ids = ps->ids ? repalloc_huge(ps->ids, sizeof(int64) * ps->cap)
			: MemoryContextAllocHuge(ps->cxt, sizeof(int64) * ps->cap);
		ps->pairs = ps->pairs ? repalloc_huge(ps->pairs, sizeof(int32 *) * ps->cap)
			: MemoryContextAllocHuge(ps->cxt, sizeof(int32 *) * ps->cap);
		ps->npairs = ps->npairs ? repalloc_huge(ps->npairs, sizeof(int) * ps->cap)
			: MemoryContextAllocHuge(ps->cxt, sizeof(int) * ps->cap);
	}
	ps->ids[ps->n] = id;
	ps->pairs[ps->n] = MemoryContextAlloc(ps->cxt, sizeof(int32) * Max(n, 1));
	memcpy(ps->pairs[ps->n], pairs, sizeof(int32) * n);
	ps->npairs[ps->n] = n;
	ps->n++;
}

static void
packed_sel_matcher(PackedSel *ps, const int32 *ids, int cnt, bool positive)
{
	int32	   *c = MemoryContextAlloc(ps->cxt, sizeof(int32) * Max(cnt, 1));

	memcpy(c, ids, sizeof(int32) * cnt);
	qsort(c, cnt, sizeof(int32), int32_cmp);
	ps->sets[ps->nm] = c;
	ps->nset[ps->nm] = cnt;
	ps->positive[ps->nm] = positive;
	ps->nm++;
}

/*
 * Series of the tenant matching all matchers, sorted by label set. Returned
 * memory is in the caller's context; label strings are shared between the
 * series (treat them as read-only).
 */
MimirSeriesRef *
mimir_select_series(int32 tenant_id, List *matchers, int *nseries)
{
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData sql;
	ListCell   *lc;
	int			nargs = 1;
	Oid		   *types = palloc(sizeof(Oid) * (list_length(matchers) + 2));
	Datum	   *args = palloc(sizeof(Datum) * (list_length(matchers) + 2));
	int32	   *eq_ids = palloc(sizeof(int32) * (list_length(matchers) + 1));
	int			neq = 0;
	bool		positive = false;
	MimirSeriesRef *refs;
	int32	  **pairs;
	int		   *npairs;
	int			n;
	StringInfoData bsql;
	PackedSel	ps = {0};
	int			nmatch = list_length(matchers) + 1;

	*nseries = 0;
	if (tenant_id < 0)
		return NULL;
	init_caches();
	initStringInfo(&sql);
	initStringInfo(&bsql);
	ps.cxt = caller;
	ps.sets = palloc(sizeof(int32 *) * nmatch);
	ps.nset = palloc(sizeof(int) * nmatch);
	ps.positive = palloc(sizeof(bool) * nmatch);
	appendStringInfoString(&sql, "SELECT id, labels FROM mimir.series WHERE tenant_id = $1");
	types[0] = INT4OID;
	args[0] = Int32GetDatum(tenant_id);

	mimir_spi_connect();
	foreach(lc, matchers)
	{
		MimirMatcher *m = lfirst(lc);
		int			cnt;
		int32	   *ids;

		if (!mimir_matcher_matches_empty(m))
		{
			/* series must carry one of the matching pairs */
			ids = pairs_where(tenant_id, m, true, &cnt);
			if (cnt == 0)
			{
				mimir_spi_finish();
				return NULL;
			}
			positive = true;
			packed_sel_matcher(&ps, ids, cnt, true);
			if (cnt == 1)
			{
				eq_ids[neq++] = ids[0];
				continue;
			}
			nargs++;
			types[nargs - 1] = INT4ARRAYOID;
			args[nargs - 1] = mimir_int4_array(ids, cnt);
			appendStringInfo(&sql, " AND labels && $%d", nargs);
			appendStringInfo(&bsql, " AND pairs && $%d", nargs);
		}
		else
		{
			/* series must not carry any of the non-matching pairs */
			ids = pairs_where(tenant_id, m, false, &cnt);
			if (cnt == 0)
				continue;
			packed_sel_matcher(&ps, ids, cnt, false);
			nargs++;
			types[nargs - 1] = INT4ARRAYOID;
			args[nargs - 1] = mimir_int4_array(ids, cnt);
			appendStringInfo(&sql, " AND NOT labels && $%d", nargs);
		}
	}
	if (neq > 0)
	{
		nargs++;
		types[nargs - 1] = INT4ARRAYOID;
		args[nargs - 1] = mimir_int4_array(eq_ids, neq);
		appendStringInfo(&sql, " AND labels @> $%d", nargs);
		appendStringInfo(&bsql, " AND pairs @> $%d", nargs);
	}
	if (!positive && matchers != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vector selector must contain at least one non-empty matcher")));

	/*
	 * Packed series first (read-only SPI: the caller's snapshot for both
	 * statements, so a series is seen in exactly one form).
	 */
	mimir_scan_series_blocks(tenant_id, bsql.data, nargs - 1, types + 1, args + 1, packed_sel_add, &ps, false);
	if (SPI_execute_with_args(sql.data, nargs, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series selection failed");
	n = (int) SPI_processed;
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		refs = palloc_extended(sizeof(MimirSeriesRef) * Max(n + ps.n, 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
		pairs = palloc_extended(sizeof(int32 *) * Max(n + ps.n, 1), MCXT_ALLOC_HUGE);
		npairs = palloc_extended(sizeof(int) * Max(n + ps.n, 1), MCXT_ALLOC_HUGE);
		for (int i = 0; i < ps.n; i++)
		{
			refs[n + i].id = ps.ids[i];
			pairs[n + i] = ps.pairs[i];
			npairs[n + i] = ps.npairs[i];
		}
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			bool		isnull;
			ArrayType  *arr;

			refs[i].id = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			arr = DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			npairs[i] = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
			pairs[i] = palloc(sizeof(int32) * Max(npairs[i], 1));
			memcpy(pairs[i], ARR_DATA_PTR(arr), sizeof(int32) * npairs[i]);
		}
		MemoryContextSwitchTo(spi);
	}
	n += ps.n;
	{
		MemoryContext spi = MemoryContextSwitchTo(caller);

		resolve_labels(refs, pairs, npairs, n, caller);
		MemoryContextSwitchTo(spi);
	}
	mimir_spi_finish();
	*nseries = n;
	return refs;
}

/* Label set of one series id in Prometheus notation (for messages); NULL if unknown. */
char *
mimir_series_text(int64 series_id)
{
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(series_id);
	MemoryContext caller = CurrentMemoryContext;
	char	   *res = NULL;

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT lp.name, lp.value FROM mimir.series s, unnest(s.labels) u(id) "
							  "JOIN mimir.label_pairs lp ON lp.id = u.id WHERE s.id = $1",
							  1, &type, &arg, NULL, true, 0) == SPI_OK_SELECT && SPI_processed > 0)
	{
		MimirLabelSet ls;

		MemoryContextSwitchTo(caller);
		ls.n = (int) SPI_processed;
		ls.labels = palloc(sizeof(MimirLabel) * ls.n);
		for (int i = 0; i < ls.n; i++)
		{
			ls.labels[i].name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			ls.labels[i].value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}
		qsort(ls.labels, ls.n, sizeof(MimirLabel), mimir_label_cmp);
		res = mimir_labelset_to_text(&ls);
	}
	else
	{
		int			np;
		int32	   *pairs = mimir_packed_series_pairs(series_id, NULL, &np);

		if (pairs != NULL)
		{
			MimirSeriesRef ref = {series_id};

			init_caches();
			resolve_labels(&ref, &pairs, &np, 1, caller);
			res = mimir_labelset_to_text(&ref.labels);
		}
	}
	mimir_spi_finish();
	MemoryContextSwitchTo(caller);
	return res;
}

/*
 * Keys (lhash) of series given by their label pair ids, computed from their
 * labels as remote write computes them: for packed series, whose blocks do
 * not keep the key. Caller is connected to SPI.
 */
void
mimir_series_keys_of_pairs(int32 tenant_id, int n, int32 *const *pairs, const int *np, SeriesKey *keys)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tenant_id);
	char	   *tname;
	int32	   *missing = NULL;
	int			nmissing = 0,
				capmissing = 0;
	MimirLabelSet ls = {0};
	int			cap = 0;

	if (n == 0)
		return;
	init_caches();
	/* fresh: the caller's blocks may be newer than its snapshot (warm-up) */
	if (SPI_execute_with_args("SELECT name FROM mimir.tenants WHERE id = $1", 1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "tenant %d not found", tenant_id);
	tname = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < np[i]; j++)
			if (pairmap_lookup(pair_names, pairs[i][j]) == NULL)
			{
				if (nmissing == capmissing)
				{
					capmissing = Max(256, capmissing * 2);
					missing = missing ? repalloc_huge(missing, sizeof(int32) * capmissing)
						: palloc(sizeof(int32) * capmissing);
				}
				missing[nmissing++] = pairs[i][j];
			}
	load_pair_names(missing, nmissing, false);
	if (missing)
		pfree(missing);
	for (int i = 0; i < n; i++)
	{
		if (np[i] > cap)
		{
			cap = Max(np[i], 32);
			ls.labels = ls.labels ? repalloc(ls.labels, sizeof(MimirLabel) * cap) : palloc(sizeof(MimirLabel) * cap);
		}
		ls.n = np[i];
		for (int j = 0; j < np[i]; j++)
		{
			PairEntry  *e = pairmap_lookup(pair_names, pairs[i][j]);

			if (e == NULL)
				elog(ERROR, "label pair %d is missing", pairs[i][j]);
			ls.labels[j].name = e->name;
			ls.labels[j].value = e->value;
		}
		qsort(ls.labels, ls.n, sizeof(MimirLabel), mimir_label_cmp);
		series_key_of_labelset(tname, &ls, &keys[i]);
	}
}

/*
 * Keys of the series with the given ids (plain: their lhash; packed: from
 * their labels). Returns how many were found; out_ids[k] and out_keys[k]
 * for each. Caller is connected to SPI.
 */
int
mimir_series_keys_by_ids(int32 tenant_id, const int64 *ids, int n, int64 *out_ids, SeriesKey *out_keys)
{
	Oid			type = INT8ARRAYOID;
	Datum		arg = mimir_int8_array(ids, n);
	int			found = 0;
	int64	   *packed = palloc(sizeof(int64) * Max(n, 1));
	int32	  **pp = palloc(sizeof(int32 *) * Max(n, 1));
	int		   *pn = palloc(sizeof(int) * Max(n, 1));
	int			npacked = 0;

	if (n == 0)
		return 0;
	if (SPI_execute_with_args("SELECT id, lhash FROM mimir.series WHERE id = ANY($1)",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;

		out_ids[found] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		series_key_from_uuid(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull), &out_keys[found]);
		found++;
	}
	for (int i = 0; i < n; i++)
	{
		bool		plain = false;
		int32		tid;

		for (int k = 0; k < found && !plain; k++)
			plain = out_ids[k] == ids[i];
		if (plain)
			continue;
		pp[npacked] = mimir_packed_series_pairs(ids[i], &tid, &pn[npacked]);
		if (pp[npacked] != NULL && tid == tenant_id)
			packed[npacked++] = ids[i];
	}
	mimir_series_keys_of_pairs(tenant_id, npacked, pp, pn, out_keys + found);
	for (int i = 0; i < npacked; i++)
		out_ids[found++] = packed[i];
	return found;
}

/*
 * Ids of those of n series (label sets, names sorted) that are packed, in
 * ids[i] (0 for the others). Label pairs are looked up, never created: a
 * series with an unknown pair does not exist. Caller is connected to SPI
 * and holds the tenant's series lock.
 */
void
mimir_series_find_packed(int32 tenant_id, int n, char ***names, char ***values, const int *nlabels, int64 *ids)
{
	int			total = 0,
				off = 0;
	int32	   *pids;
	int32	  **spids = palloc(sizeof(int32 *) * Max(n, 1));
	int		   *snl = palloc(sizeof(int) * Max(n, 1));
	int			m = 0;
	int		   *idx = palloc(sizeof(int) * Max(n, 1));
	int64	   *found = palloc0(sizeof(int64) * Max(n, 1));
	char	   *ts = tenant_str(tenant_id);

	init_caches();
	for (int i = 0; i < n; i++)
		total += nlabels[i];
	pids = palloc(sizeof(int32) * Max(total, 1));
	for (int i = 0; i < n; i++)
	{
		bool		complete = true;

		ids[i] = 0;
		for (int j = 0; j < nlabels[i]; j++)
		{
			const char *parts[3] = {ts, names[i][j], values[i][j]};
			int64		id;

			if (!idcache_get(pair_cache, idcache_key(3, parts), &id))
			{
				Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
				Datum		args[3] = {Int32GetDatum(tenant_id), CStringGetTextDatum(names[i][j]),
				CStringGetTextDatum(values[i][j])};
				bool		isnull;

				if (SPI_execute_with_args("SELECT id FROM mimir.label_pairs WHERE tenant_id = $1 AND name = $2 AND value = $3",
										  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
					elog(ERROR, "label pair lookup failed");
				if (SPI_processed == 0)
				{
					complete = false;
					break;
				}
				id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
			}
			pids[off + j] = (int32) id;
		}
		if (!complete)
			continue;
		spids[m] = pids + off;
		snl[m] = nlabels[i];
		idx[m++] = i;
		off += nlabels[i];
	}
	if (m == 0)
		return;
	packed_find(tenant_id, m, spids, snl, found);
	for (int k = 0; k < m; k++)
		ids[idx[k]] = found[k];
}

/* Count of the tenant's series that carry label pair `pair` (plain and packed). Caller is connected to SPI. */
typedef struct PairCount
{
	int32		pair;
	int64		n;
} PairCount;

static void
pair_count_cb(void *arg, int64 id, const int32 *pairs, int n)
{
	PairCount  *c = arg;

	for (int j = 0; j < n; j++)
		if (pairs[j] == c->pair)
		{
			c->n++;
			return;
		}
}

int64
mimir_series_count_with_pair(int32 tenant_id, int32 pair)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(tenant_id), Int32GetDatum(pair)};
	PairCount	c = {pair, 0};
	bool		isnull;

	if (SPI_execute_with_args("SELECT count(*) FROM mimir.series WHERE tenant_id = $1 AND labels @> ARRAY[$2]",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "series count failed");
	c.n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mimir_scan_series_blocks(tenant_id, " AND pairs @> ARRAY[$2]", 1, &types[1], &args[1], pair_count_cb, &c, true);
	return c.n;
}
