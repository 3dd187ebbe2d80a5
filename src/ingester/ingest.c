/*
 * ingest.c — the ingester step of remote write: resolve each valid series of
 * a decoded request to its id through the shared series map (creating new
 * series in one batched statement), apply the ingester's ordering rules
 * (out-of-order, too old, duplicate timestamps) against the latest committed
 * sample, and append the accepted samples as one compact head row.
 *
 * A worker runs many requests in one transaction (group commit). What a
 * request learns or changes (new series, new latest samples) goes into a
 * batch-local overlay, undone if the request's subtransaction fails, and
 * published to the shared map only after the commit, so the map never holds
 * uncommitted facts.
 */
#include "mimir.h"

#include <time.h>

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/lsyscache.h"

#include "ingester/ingester.h"

/* ---- batch overlay ---- */

typedef struct OvEntry
{
	SeriesKey	key;
	char		status;			/* simplehash */
	bool		dirty;			/* to publish after commit */
	bool		is_new;			/* created by this batch */
	int32		tenant;
	SeriesInfo	info;
} OvEntry;

static inline uint32
key_hash(SeriesKey k)
{
	return (uint32) k.lo;
}

#define SH_PREFIX ov
#define SH_ELEMENT_TYPE OvEntry
#define SH_KEY_TYPE SeriesKey
#define SH_KEY key
#define SH_HASH_KEY(tb, k) key_hash(k)
#define SH_EQUAL(tb, a, b) ((a).hi == (b).hi && (a).lo == (b).lo)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct Undo
{
	SeriesKey	key;
	bool		existed;
	OvEntry		old;
} Undo;

/* how many series map slots to prefetch ahead of use */
#define AHEAD 8

static MemoryContext batch_cxt;
static ov_hash *overlay;
static Undo *undo;
static int	nundo,
			capundo;
static SPIPlanPtr head_plan;
static uint64 my_epoch;
static uint64 batch_generation;	/* of the series map, when the batch began */

/* oid and relfilenode of mimir.series: changes when the data is recreated */
static uint64
series_epoch(void)
{
	Oid			ns = get_namespace_oid("mimir", true);
	Oid			rel = OidIsValid(ns) ? get_relname_relid("series", ns) : InvalidOid;
	HeapTuple	tup;
	uint64		epoch = 0;

	if (!OidIsValid(rel))
		return 0;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (HeapTupleIsValid(tup))
	{
		epoch = ((uint64) rel << 32) | ((Form_pg_class) GETSTRUCT(tup))->relfilenode;
		ReleaseSysCache(tup);
	}
	return epoch;
}

void
ingest_batch_begin(void)
{
	uint64		epoch = series_epoch();

	series_map_check_epoch(epoch);
	batch_generation = series_map_generation();
	if (epoch != my_epoch)
	{
		/* ids cached by this backend may name rows that are gone */
		if (my_epoch != 0)
			idcache_reset_all();
		my_epoch = epoch;
	}
	if (batch_cxt == NULL)
		batch_cxt = AllocSetContextCreate(TopMemoryContext, "mimir ingest batch",
										  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(batch_cxt);
	overlay = ov_create(batch_cxt, 4096, NULL);
	undo = NULL;
	nundo = capundo = 0;
}

/* After the batch: publish what it committed, then forget the overlay. */
void
ingest_batch_end(bool committed)
{
	if (overlay == NULL)
		return;
	if (committed)
	{
		ov_iterator it;
		OvEntry    *e;
		OvEntry   **dirty = MemoryContextAllocHuge(batch_cxt, sizeof(OvEntry *) * Max(overlay->members, 1));
		int			n = 0;

		ov_start_iterate(overlay, &it);
		while ((e = ov_iterate(overlay, &it)) != NULL)
			if (e->dirty)
				dirty[n++] = e;
		for (int i = 0; i < Min(n, AHEAD); i++)
			series_map_prefetch(&dirty[i]->key);
		for (int i = 0; i < n; i++)
		{
			if (i + AHEAD < n)
				series_map_prefetch(&dirty[i + AHEAD]->key);
			series_map_put_if(&dirty[i]->key, dirty[i]->tenant, &dirty[i]->info, batch_generation);
		}
	}
	overlay = NULL;
	MemoryContextReset(batch_cxt);
}

void
ingest_request_begin(void)
{
	nundo = 0;
}

/* A failed request: restore the overlay as it was before it. */
void
ingest_request_end(bool ok)
{
	if (!ok && overlay != NULL)
	{
		for (int i = nundo - 1; i >= 0; i--)
		{
			if (undo[i].existed)
			{
				bool		found;
				OvEntry    *e = ov_insert(overlay, undo[i].key, &found);

				*e = undo[i].old;
			}
			else
				ov_delete(overlay, undo[i].key);
		}
	}
	nundo = 0;
}

/* Change an overlay entry, remembering how to undo it. */
static OvEntry *
ov_change(const SeriesKey *k, int32 tenant)
{
	bool		found;
	OvEntry    *e;
	Undo	   *u;

	if (nundo == capundo)
	{
		capundo = Max(256, capundo * 2);
		undo = undo ? repalloc_huge(undo, sizeof(Undo) * capundo)
			: MemoryContextAllocHuge(batch_cxt, sizeof(Undo) * capundo);
	}
	e = ov_insert(overlay, *k, &found);
	u = &undo[nundo++];
	u->key = *k;
	u->existed = found;
	if (found)
		u->old = *e;
	else
	{
		e->dirty = false;
		e->is_new = false;
		e->tenant = tenant;
	}
	return e;
}

static int
batch_new_series(int32 tenant)
{
	ov_iterator it;
	OvEntry    *e;
	int			n = 0;

	ov_start_iterate(overlay, &it);
	while ((e = ov_iterate(overlay, &it)) != NULL)
		if (e->is_new && e->tenant == tenant)
			n++;
	return n;
}

/* ---- warming the shared map from storage ---- */

typedef struct IdKey
{
	int64		id;
	char		status;
	bool		packed_only;	/* no plain chunk: its last chunk may be packed */
	int64		packed_maxt;	/* the last packed chunk's maxt */
	SeriesKey	key;
} IdKey;

#define SH_PREFIX idkey
#define SH_ELEMENT_TYPE IdKey
#define SH_KEY_TYPE int64
#define SH_KEY id
#define SH_HASH_KEY(tb, k) murmurhash32((uint32) ((k) ^ ((k) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct WarmCtx
{
	idkey_hash *ids;
	int32		tenant;
	int64	   *packed_ids;		/* packed series and their computed keys */
	SeriesKey  *packed_keys;
	int			npacked;
} WarmCtx;

/* the packed series of a tenant, collected */
typedef struct WarmPacked
{
	int64	   *ids;
	int32	  **pairs;
	int		   *np;
	int			n,
				cap;
} WarmPacked;

static void
warm_packed_series(void *arg, int64 id, const int32 *pairs, int n)
{
	WarmPacked *wp = arg;

	if (wp->n == wp->cap)
	{
		wp->cap = Max(1024, wp->cap * 2);
		wp->ids = wp->ids ? repalloc_huge(wp->ids, sizeof(int64) * wp->cap) : palloc_extended(sizeof(int64) * wp->cap, MCXT_ALLOC_HUGE);
		wp->pairs = wp->pairs ? repalloc_huge(wp->pairs, sizeof(int32 *) * wp->cap) : palloc_extended(sizeof(int32 *) * wp->cap, MCXT_ALLOC_HUGE);
		wp->np = wp->np ? repalloc_huge(wp->np, sizeof(int) * wp->cap) : palloc_extended(sizeof(int) * wp->cap, MCXT_ALLOC_HUGE);
	}
	wp->ids[wp->n] = id;
	wp->pairs[wp->n] = palloc(sizeof(int32) * Max(n, 1));
	memcpy(wp->pairs[wp->n], pairs, sizeof(int32) * n);
	wp->np[wp->n] = n;
	wp->n++;
}

/* pass 1 over the packs: each series' last packed chunk, from the directories */
static bool
warm_pack_last(void *arg, int64 series, int64 mint, int64 maxt)
{
	WarmCtx    *w = arg;
	IdKey	   *k = idkey_lookup(w->ids, series);

	if (k != NULL && k->packed_only && maxt > k->packed_maxt)
		k->packed_maxt = maxt;
	return false;
}

/* pass 2: read that chunk only */
static bool
warm_pack_want(void *arg, int64 series, int64 mint, int64 maxt)
{
	WarmCtx    *w = arg;
	IdKey	   *k = idkey_lookup(w->ids, series);

	return k != NULL && k->packed_only && maxt == k->packed_maxt;
}

static void
warm_pack_chunk(void *arg, int64 series, int64 mint, int64 maxt, bytea *chunk)
{
	WarmCtx    *w = arg;
	IdKey	   *k = idkey_lookup(w->ids, series);
	int			n;
	pc_sample  *s = mimir_chunk_decode(chunk, &n);

	if (k != NULL && n > 0)
	{
		SeriesInfo	info;

		info.id = series;
		info.maxt = s[n - 1].t;
		memcpy(&info.lastv, &s[n - 1].v, 8);
		series_map_put(&k->key, w->tenant, &info);
	}
	pfree(s);
}

static void
warm_head(void *arg, int n, int64 *series, pc_sample *s)
{
	WarmCtx    *w = arg;

	for (int i = 0; i < n; i++)
	{
		IdKey	   *k = idkey_lookup(w->ids, series[i]);
		SeriesInfo	info;

		if (k == NULL)
			continue;
		info.id = series[i];
		info.maxt = s[i].t;
		memcpy(&info.lastv, &s[i].v, 8);
		series_map_put(&k->key, w->tenant, &info);
	}
}

/*
 * Rows (id, key, last plain chunk) into the map; the key is a stored lhash,
 * or for packed series (packed) the index + 1 into w->packed_keys.
 */
static void
warm_rows(WarmCtx *w, Portal portal, bool packed)
{
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull,
						found;
			SeriesInfo	info;
			SeriesKey	key;
			Datum		chunk;
			IdKey	   *ik;

			CHECK_FOR_INTERRUPTS();
			info.id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			if (!packed)
				series_key_from_uuid(SPI_getbinval(tup, td, 2, &isnull), &key);
			else
				key = w->packed_keys[DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull)) - 1];
			info.maxt = PG_INT64_MIN;
			info.lastv = 0;
			chunk = SPI_getbinval(tup, td, 3, &isnull);
			if (!isnull)
			{
				int			n;
				pc_sample  *s = mimir_chunk_decode(DatumGetByteaPP(chunk), &n);

				if (n > 0)
				{
					info.maxt = s[n - 1].t;
					memcpy(&info.lastv, &s[n - 1].v, 8);
				}
				pfree(s);
			}
			series_map_put(&key, w->tenant, &info);
			ik = idkey_insert(w->ids, info.id, &found);
			ik->key = key;
			ik->packed_only = isnull;
			ik->packed_maxt = PG_INT64_MIN;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/*
 * Load every series of the tenant and its latest stored sample (last chunk,
 * then the head) into the shared map, once per server start. Concurrent
 * commits by other backends publish to the map themselves; the map keeps
 * the latest of both.
 */
static void
warm_tenant(int32 tenant)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		args[2] = {Int32GetDatum(0x6d697277), Int32GetDatum(tenant)};
	MemoryContext cxt,
				old;
	WarmCtx		w;

	if (series_map_is_warm(tenant))
		return;
	/* in the caller's context: SPI_finish would delete it under us */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "mimir warm", ALLOCSET_DEFAULT_SIZES);
	mimir_spi_connect();
	/* one warmer per tenant; the others wait here, interruptibly */
	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock($1, $2)", 2, types, args,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "advisory lock failed");
	if (series_map_is_warm(tenant))
	{
		mimir_spi_finish();
		MemoryContextDelete(cxt);
		return;
	}
	old = MemoryContextSwitchTo(cxt);
	w.ids = idkey_create(cxt, 1024, NULL);
	w.tenant = tenant;
	MemoryContextSwitchTo(old);
	/*
	 * Not read-only: fresh snapshots. The batch's snapshot may predate a
	 * mimir.delete_tenant this writer waited for (tenant write lock); its
	 * series must not come back into the map. Plain series first, then the
	 * packed ones (series_blocks.c, keys computed from their labels): a
	 * series the packer moves in between is seen twice rather than missed.
	 */
	warm_rows(&w, SPI_cursor_open_with_args(NULL,
											"SELECT s.id, s.lhash, c.chunk FROM mimir.series s LEFT JOIN LATERAL "
											"(SELECT chunk FROM mimir.chunks c WHERE c.series_id = s.id "
											"ORDER BY c.mint DESC LIMIT 1) c ON true WHERE s.tenant_id = $1",
											1, &types[1], &args[1], NULL, false, 0), false);
	{
		WarmPacked	wp = {0};
		SeriesKey  *keys;

		mimir_scan_series_blocks(tenant, NULL, 0, NULL, NULL, warm_packed_series, &wp, true);
		keys = palloc_extended(sizeof(SeriesKey) * Max(wp.n, 1), MCXT_ALLOC_HUGE);
		mimir_series_keys_of_pairs(tenant, wp.n, wp.pairs, wp.np, keys);
		w.packed_keys = keys;
		w.packed_ids = wp.ids;
		w.npacked = wp.n;
		for (int i = 0; i < wp.n; i++)
			pfree(wp.pairs[i]);
	}
	if (w.npacked > 0)
	{
		Oid			atype = INT8ARRAYOID;
		Datum		aarg = mimir_int8_array(w.packed_ids, w.npacked);

		/* ordinality: the index into packed_keys */
		warm_rows(&w, SPI_cursor_open_with_args(NULL,
												"SELECT s.id, s.i, c.chunk FROM unnest($1::int8[]) WITH ORDINALITY s(id, i) "
												"LEFT JOIN LATERAL (SELECT chunk FROM mimir.chunks c WHERE c.series_id = s.id "
												"ORDER BY c.mint DESC LIMIT 1) c ON true",
												1, &atype, &aarg, NULL, false, 0), true);
	}
	/*
	 * The pack and head scans read under the active snapshot: make it a
	 * fresh one too, or samples committed since the batch's snapshot (cut
	 * into packs, or new head rows) would be missing from the latest
	 * timestamps and values the map starts from.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	/* series whose chunks are all packed: their last packed chunk */
	{
		idkey_iterator it;
		IdKey	   *k;
		int64	   *ids = NULL;
		int			n = 0,
					cap = 0;

		idkey_start_iterate(w.ids, &it);
		while ((k = idkey_iterate(w.ids, &it)) != NULL)
		{
			if (!k->packed_only)
				continue;
			if (n == cap)
			{
				cap = Max(1024, cap * 2);
				ids = ids ? repalloc_huge(ids, sizeof(int64) * cap) : palloc(sizeof(int64) * cap);
			}
			ids[n++] = k->id;
		}
		if (n > 0)
		{
			mimir_scan_packs(ids, n, PG_INT64_MIN, PG_INT64_MAX, warm_pack_last, NULL, &w);
			mimir_scan_packs(ids, n, PG_INT64_MIN, PG_INT64_MAX, warm_pack_want, warm_pack_chunk, &w);
		}
	}
	mimir_scan_head(tenant, PG_INT64_MIN, PG_INT64_MAX, warm_head, &w);
	PopActiveSnapshot();
	mimir_spi_finish();
	MemoryContextDelete(cxt);
	series_map_set_warm(tenant);
}

/* ---- messages ---- */

/* Go's time.RFC3339Nano in UTC for a millisecond timestamp */
static void
append_rfc3339(StringInfo s, int64 ms)
{
	int64		secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int			frac = (int) (ms - secs * 1000);
	time_t		tt = (time_t) secs;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	appendStringInfo(s, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
					 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (frac != 0)
	{
		char		f[8];

		snprintf(f, sizeof(f), "%03d", frac);
		for (int i = 2; i > 0 && f[i] == '0'; i--)
			f[i] = '\0';
		appendStringInfo(s, ".%s", f);
	}
	appendStringInfoChar(s, 'Z');
}

/* Prometheus' model.Duration string: 1h30m, 10m, 500ms */
static void
append_duration(StringInfo s, int64 ms)
{
	static const struct
	{
		const char *u;
		int64		ms;
	}			units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000LL},
	{"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL}, {"ms", 1LL}};

	if (ms <= 0)
	{
		appendStringInfoString(s, "0s");
		return;
	}
	for (int i = 0; i < (int) lengthof(units); i++)
		if (ms >= units[i].ms)
		{
			appendStringInfo(s, INT64_FORMAT "%s", ms / units[i].ms, units[i].u);
			ms %= units[i].ms;
		}
}

static void
append_hint(StringInfo s, const char *flag)
{
	appendStringInfo(s, ". To adjust the related per-tenant limit, configure -%s, or contact your service administrator.", flag);
}

static char *
sample_error(int reason, const rw_request *req, const rw_series *ser, int64 t, int64 ooo_window_ms)
{
	StringInfoData s;
	char	   *labels = rw_labels_string(req->labels + ser->first_label, ser->nlabels);

	initStringInfo(&s);
	switch (reason)
	{
		case RW_E_SAMPLE_OUT_OF_ORDER:
			appendStringInfoString(&s, "the sample has been rejected because another sample with a more recent timestamp has already been ingested and out-of-order samples are not allowed");
			break;
		case RW_E_SAMPLE_TOO_OLD:
			appendStringInfoString(&s, "the sample has been rejected because another sample with a more recent timestamp has already been ingested and this sample is beyond the out-of-order time window of ");
			append_duration(&s, ooo_window_ms);
			break;
		case RW_E_SAMPLE_DUPLICATE_TIMESTAMP:
			appendStringInfoString(&s, "the sample has been rejected because another sample with the same timestamp, but a different value, has already been ingested");
			break;
	}
	appendStringInfo(&s, " (err-mimir-%s). The affected sample has timestamp ", rw_reason_id(reason));
	append_rfc3339(&s, t);
	appendStringInfo(&s, " and is from series %s", labels);
	free(labels);
	return s.data;
}

/* ---- the ingest step ---- */

typedef struct Acc
{
	int64		series;
	int64		t;
	double		v;
} Acc;

static int
acc_cmp(const void *a, const void *b)
{
	const Acc  *x = a,
			   *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	return x->t < y->t ? -1 : x->t > y->t;
}

typedef struct Cand
{
	int64		series;
	int64		t;
	double		v;
	int			si;				/* series index in the request */
	int			k;				/* sample index within the series */
} Cand;

static int
cand_cmp(const void *a, const void *b)
{
	const Cand *x = a,
			   *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->si != y->si)
		return x->si - y->si;
	return x->k - y->k;
}

/* Per-series state during one request. */
typedef struct SerState
{
	int			state;			/* below */
	SeriesInfo	info;
} SerState;

#define SS_SKIP		0			/* invalid, or nothing to store */
#define SS_KNOWN	1			/* id and latest sample known */
#define SS_LOOKUP	2			/* must be looked up by hash in SQL */
#define SS_NEW		3			/* to create */
#define SS_STORED	4			/* exists, latest sample unknown (map full) */
#define SS_REJECTED	5			/* series limit */

typedef struct FirstErr
{
	int			si;
	int			k;
	char	   *msg;
	int			reason;
	MemoryContext cxt;			/* the caller's: messages must outlive SPI */
} FirstErr;

static void
note_error(FirstErr *fe, int si, int k, int reason, char *msg)
{
	if (fe->msg == NULL || si < fe->si || (si == fe->si && k < fe->k))
	{
		fe->si = si;
		fe->k = k;
		fe->msg = MemoryContextStrdup(fe->cxt, msg);
		fe->reason = reason;
	}
}

static char *
cstr(rw_str s)
{
	return pnstrdup(s.p, s.len);
}

/* Count of stored series of the tenant whose metric name is `name`. */
static int64
series_of_metric(int32 tenant, rw_str name)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2] = {Int32GetDatum(tenant), PointerGetDatum(cstring_to_text_with_len(name.p, name.len))};
	bool		isnull;
	int64		n;

	if (SPI_execute_with_args("SELECT id FROM mimir.label_pairs WHERE tenant_id = $1 AND name = '__name__' AND value = $2",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "series count failed");
	if (SPI_processed == 0)
		return 0;
	/* plain and packed series */
	n = mimir_series_count_with_pair(tenant, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	return n;
}

static void
insert_head_row(int32 tenant, Acc *acc, int nacc)
{
	int64	   *series = palloc_extended(sizeof(int64) * nacc, MCXT_ALLOC_HUGE);
	pc_sample  *s = palloc_extended(sizeof(pc_sample) * nacc, MCXT_ALLOC_HUGE);
	int64		mint = PG_INT64_MAX,
				maxt = PG_INT64_MIN;
	Datum		args[5];
	bool		sorted = true;

	for (int i = 1; i < nacc && sorted; i++)
		if (acc_cmp(&acc[i - 1], &acc[i]) > 0)
			sorted = false;
	if (!sorted)
		qsort(acc, nacc, sizeof(Acc), acc_cmp);
	for (int i = 0; i < nacc; i++)
	{
		series[i] = acc[i].series;
		s[i].t = acc[i].t;
		s[i].v = acc[i].v;
		mint = Min(mint, acc[i].t);
		maxt = Max(maxt, acc[i].t);
	}
	if (head_plan == NULL)
	{
		Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT4OID, BYTEAOID};
		SPIPlanPtr	p = SPI_prepare("INSERT INTO mimir.head(tenant_id, mint, maxt, n, data) "
									"VALUES ($1, $2, $3, $4, $5)", 5, types);

		if (p == NULL)
			elog(ERROR, "could not prepare the head insert: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		head_plan = p;
	}
	args[0] = Int32GetDatum(tenant);
	args[1] = Int64GetDatum(mint);
	args[2] = Int64GetDatum(maxt);
	args[3] = Int32GetDatum(nacc);
	args[4] = PointerGetDatum(mimir_head_encode(series, s, nacc));
	if (SPI_execute_plan(head_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "head insert failed");
}

/* exemplar labels as a JSON object text */
static char *
exemplar_json(const rw_request *req, const rw_exemplar *e)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (uint32 i = 0; i < e->nlabels; i++)
	{
		const rw_label *l = &req->ex_labels[e->first_label + i];

		if (i > 0)
			appendStringInfoChar(&s, ',');
		escape_json(&s, cstr(l->name));
		appendStringInfoChar(&s, ':');
		escape_json(&s, cstr(l->value));
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

static inline bool
valid_text(rw_str s)
{
	return rw_valid_text(s.p, s.len);
}

void
mimir_rw_ingest(int32 tenant_id, const char *tenant, rw_request *req, const rw_limits *lim,
				IngestResult *res)
{
	int			n = (int) req->nseries;
	SerState   *st = palloc0(sizeof(SerState) * Max(n, 1));
	int			nlookup = 0,
				nnew = 0;
	Acc		   *acc;
	int			nacc = 0,
				nacc_sorted = 0;
	Cand	   *cand = NULL;
	int			ncand = 0;
	FirstErr	fe = {0};
	bool		complete;
	int64		ooo = lim->out_of_order_time_window_ms;

	memset(res, 0, sizeof(*res));
	fe.cxt = CurrentMemoryContext;
	mimir_tenant_write_lock(tenant_id, false);
	if (series_map_enabled())
		warm_tenant(tenant_id);
	complete = series_map_enabled() && series_map_complete() && series_map_is_warm(tenant_id);

	/* 1. resolve series: overlay, shared map, then SQL */
	for (int i = 0; i < Min(n, AHEAD); i++)
		series_map_prefetch(&(SeriesKey) {req->series[i].hash_hi, req->series[i].hash_lo});
	for (int i = 0; i < n; i++)
	{
		rw_series  *s = &req->series[i];
		SeriesKey	k = {s->hash_hi, s->hash_lo};
		OvEntry    *e;

		/* the map is large: ask for slots ahead of use */
		if (i + AHEAD < n)
			series_map_prefetch(&(SeriesKey) {req->series[i + AHEAD].hash_hi, req->series[i + AHEAD].hash_lo});

		if (s->status != RW_OK || (s->nsamples == 0 && s->nexemplars == 0))
			continue;
		e = ov_lookup(overlay, k);
		if (e != NULL)
		{
			st[i].state = SS_KNOWN;
			st[i].info = e->info;
		}
		else if (series_map_get(&k, tenant_id, &st[i].info))
			st[i].state = SS_KNOWN;
		else if (complete)
			st[i].state = SS_NEW;
		else
		{
			st[i].state = SS_LOOKUP;
			nlookup++;
		}
	}
	if (nlookup > 0)
	{
		Datum	   *u = palloc(sizeof(Datum) * nlookup);
		int			j = 0;
		Oid			types[2] = {INT4OID, UUIDARRAYOID};
		Datum		args[2];

		for (int i = 0; i < n; i++)
			if (st[i].state == SS_LOOKUP)
			{
				SeriesKey	k = {req->series[i].hash_hi, req->series[i].hash_lo};

				u[j++] = series_key_to_uuid(&k);
			}
		args[0] = Int32GetDatum(tenant_id);
		args[1] = PointerGetDatum(construct_array(u, nlookup, UUIDOID, 16, false, TYPALIGN_CHAR));
		mimir_spi_connect();
		/* nothing moves into series blocks between the two lookups below */
		mimir_series_lock_shared(tenant_id);
		if (SPI_execute_with_args("SELECT id, lhash FROM mimir.series WHERE tenant_id = $1 AND lhash = ANY($2)",
								  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "series lookup failed");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			SeriesKey	k;

			series_key_from_uuid(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull), &k);
			for (int i = 0; i < n; i++)
				if (st[i].state == SS_LOOKUP && req->series[i].hash_hi == k.hi &&
					req->series[i].hash_lo == k.lo)
				{
					st[i].state = SS_STORED;
					st[i].info.id = id;
					st[i].info.maxt = PG_INT64_MIN;
				}
		}
		/* packed series: found by their label pairs */
		{
			int			m = 0;
			char	 ***names = palloc(sizeof(char **) * nlookup);
			char	 ***values = palloc(sizeof(char **) * nlookup);
			int		   *nl = palloc(sizeof(int) * nlookup);
			int		   *idx = palloc(sizeof(int) * nlookup);
			int64	   *ids = palloc(sizeof(int64) * nlookup);

			for (int i = 0; i < n; i++)
			{
				rw_series  *s = &req->series[i];

				if (st[i].state != SS_LOOKUP)
					continue;
				nl[m] = (int) s->nlabels;
				names[m] = palloc(sizeof(char *) * Max(s->nlabels, 1));
				values[m] = palloc(sizeof(char *) * Max(s->nlabels, 1));
				for (uint32 l = 0; l < s->nlabels; l++)
				{
					names[m][l] = cstr(req->labels[s->first_label + l].name);
					values[m][l] = cstr(req->labels[s->first_label + l].value);
				}
				idx[m++] = i;
			}
			if (m > 0)
				mimir_series_find_packed(tenant_id, m, names, values, nl, ids);
			for (int k = 0; k < m; k++)
				if (ids[k] != 0)
				{
					st[idx[k]].state = SS_STORED;
					st[idx[k]].info.id = ids[k];
					st[idx[k]].info.maxt = PG_INT64_MIN;
				}
		}
		mimir_spi_finish();
		for (int i = 0; i < n; i++)
			if (st[i].state == SS_LOOKUP)
				st[i].state = SS_NEW;
	}

	/* 2. new series: exemplars never create series; series limits */
	for (int i = 0; i < n; i++)
	{
		rw_series  *s = &req->series[i];

		if (st[i].state != SS_NEW)
			continue;
		if (s->nsamples == 0)
		{
			StringInfoData m;
			char	   *labels = rw_labels_string(req->labels + s->first_label, s->nlabels);

			initStringInfo(&m);
			appendStringInfo(&m, "the exemplar has been rejected because the related series has not been ingested yet (err-mimir-%s). The affected exemplar is for series %s",
							 rw_reason_id(RW_E_EXEMPLAR_SERIES_MISSING), labels);
			free(labels);
			note_error(&fe, i, 0, RW_E_EXEMPLAR_SERIES_MISSING, m.data);
			res->rejected[RW_E_EXEMPLAR_SERIES_MISSING] += s->nexemplars;
			st[i].state = SS_SKIP;
			continue;
		}
		nnew++;
	}
	if (nnew > 0 && (lim->max_global_series_per_user > 0 || lim->max_global_series_per_metric > 0))
	{
		int64		have = series_map_tenant_series(tenant_id) + batch_new_series(tenant_id);
		int			added = 0;

		mimir_spi_connect();
		for (int i = 0; i < n; i++)
		{
			rw_series  *s = &req->series[i];
			StringInfoData m;
			int			reason = RW_OK;

			if (st[i].state != SS_NEW)
				continue;
			initStringInfo(&m);
			if (lim->max_global_series_per_user > 0 && have + added >= lim->max_global_series_per_user)
			{
				reason = RW_E_MAX_SERIES_PER_USER;
				appendStringInfo(&m, "per-user series limit of " INT64_FORMAT " exceeded (err-mimir-%s)",
								 lim->max_global_series_per_user, rw_reason_id(reason));
				append_hint(&m, "ingester.max-global-series-per-user");
			}
			else if (lim->max_global_series_per_metric > 0)
			{
				const rw_str *name = rw_series_label(req, s, "__name__");
				int64		cnt = series_of_metric(tenant_id, *name);

				/* series of the same metric created earlier in this request */
				for (int j = 0; j < i; j++)
					if (st[j].state == SS_NEW)
					{
						const rw_str *o = rw_series_label(req, &req->series[j], "__name__");

						if (o->len == name->len && memcmp(o->p, name->p, o->len) == 0)
							cnt++;
					}
				if (cnt >= lim->max_global_series_per_metric)
				{
					char	   *labels = rw_labels_string(req->labels + s->first_label, s->nlabels);

					reason = RW_E_MAX_SERIES_PER_METRIC;
					appendStringInfo(&m, "per-metric series limit of " INT64_FORMAT " exceeded (err-mimir-%s)",
									 lim->max_global_series_per_metric, rw_reason_id(reason));
					append_hint(&m, "ingester.max-global-series-per-metric");
					appendStringInfo(&m, " This is for series %s", labels);
					free(labels);
				}
			}
			if (reason != RW_OK)
			{
				note_error(&fe, i, 0, reason, m.data);
				res->rejected[reason] += s->nsamples;
				st[i].state = SS_REJECTED;
				nnew--;
			}
			else
				added++;
		}
		mimir_spi_finish();
	}
	if (nnew > 0)
	{
		SeriesKey  *keys = palloc(sizeof(SeriesKey) * nnew);
		char	 ***names = palloc(sizeof(char **) * nnew);
		char	 ***values = palloc(sizeof(char **) * nnew);
		int		   *nl = palloc(sizeof(int) * nnew);
		int		   *idx = palloc(sizeof(int) * nnew);
		int64	   *ids = palloc(sizeof(int64) * nnew);
		int			j = 0;
		ov_hash    *seen = ov_create(CurrentMemoryContext, Max(nnew * 2, 64), NULL);

		for (int i = 0; i < n; i++)
		{
			rw_series  *s = &req->series[i];
			SeriesKey	k = {s->hash_hi, s->hash_lo};
			bool		dup;
			OvEntry    *e;

			if (st[i].state != SS_NEW)
				continue;
			/* the same series twice in a request is created once */
			e = ov_insert(seen, k, &dup);
			if (dup)
			{
				st[i].state = SS_KNOWN;
				st[i].info.id = -1 - e->info.id;	/* resolved below */
				continue;
			}
			e->info.id = j;
			keys[j].hi = s->hash_hi;
			keys[j].lo = s->hash_lo;
			nl[j] = (int) s->nlabels;
			names[j] = palloc(sizeof(char *) * Max(s->nlabels, 1));
			values[j] = palloc(sizeof(char *) * Max(s->nlabels, 1));
			for (uint32 l = 0; l < s->nlabels; l++)
			{
				names[j][l] = cstr(req->labels[s->first_label + l].name);
				values[j][l] = cstr(req->labels[s->first_label + l].value);
			}
			idx[j++] = i;
		}
		mimir_series_create_batch(tenant_id, j, keys, names, values, nl, ids);
		for (int x = 0; x < j; x++)
		{
			OvEntry    *e = ov_change(&keys[x], tenant_id);

			st[idx[x]].state = SS_KNOWN;
			st[idx[x]].info.id = ids[x];
			st[idx[x]].info.maxt = PG_INT64_MIN;
			st[idx[x]].info.lastv = 0;
			e->info = st[idx[x]].info;
			e->is_new = true;
			e->dirty = true;
		}
		for (int i = 0; i < n; i++)
			if (st[i].state == SS_KNOWN && st[i].info.id < 0)
				st[i].info = st[idx[-1 - st[i].info.id]].info;
		res->series_created = j;
	}

	/*
	 * 3. samples against the latest committed sample of their series. A
	 * series may appear several times in a request: its state moves along.
	 */
	acc = palloc_extended(sizeof(Acc) * Max(req->nsamples, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		rw_series  *s = &req->series[i];
		const rw_sample *smp = req->samples + s->first_sample;
		SeriesInfo	info;
		bool		changed = false;

		if (st[i].state != SS_KNOWN && st[i].state != SS_STORED)
			continue;
		/* the overlay holds what earlier occurrences (in the batch) changed */
		{
			SeriesKey	key = {s->hash_hi, s->hash_lo};
			OvEntry    *e = ov_lookup(overlay, key);

			info = e != NULL ? e->info : st[i].info;
		}
		for (uint32 k = 0; k < s->nsamples; k++)
		{
			uint64		bits;

			memcpy(&bits, &smp[k].v, 8);
			if (st[i].state == SS_STORED ||
				(smp[k].t < info.maxt && ooo > 0 && smp[k].t >= info.maxt - ooo))
			{
				/* decided by what storage holds */
				if (cand == NULL)
					cand = palloc_extended(sizeof(Cand) * Max(req->nsamples, 1), MCXT_ALLOC_HUGE);
				cand[ncand++] = (Cand) {info.id, smp[k].t, smp[k].v, i, (int) k};
				continue;
			}
			if (smp[k].t > info.maxt)
			{
				info.maxt = smp[k].t;
				info.lastv = bits;
				changed = true;
				acc[nacc++] = (Acc) {info.id, smp[k].t, smp[k].v};
			}
			else if (smp[k].t == info.maxt)
			{
				if (bits == info.lastv)
					res->dup_same++;
				else
				{
					res->rejected[RW_E_SAMPLE_DUPLICATE_TIMESTAMP]++;
					if (fe.msg == NULL || i < fe.si)
						note_error(&fe, i, (int) k, RW_E_SAMPLE_DUPLICATE_TIMESTAMP,
								   sample_error(RW_E_SAMPLE_DUPLICATE_TIMESTAMP, req, s, smp[k].t, ooo));
				}
			}
			else
			{
				int			reason = ooo > 0 ? RW_E_SAMPLE_TOO_OLD : RW_E_SAMPLE_OUT_OF_ORDER;

				res->rejected[reason]++;
				if (fe.msg == NULL || i < fe.si)
					note_error(&fe, i, (int) k, reason,
							   sample_error(reason, req, s, smp[k].t, ooo));
			}
		}
		st[i].info = info;
		if (changed)
		{
			SeriesKey	key = {s->hash_hi, s->hash_lo};
			OvEntry    *e = ov_change(&key, tenant_id);

			e->info = info;
			e->dirty = true;
		}
	}

	/* 4. candidates: duplicates among them, then against storage */
	if (ncand > 0)
	{
		int64	   *cs = palloc_extended(sizeof(int64) * ncand, MCXT_ALLOC_HUGE);
		pc_sample  *cv = palloc_extended(sizeof(pc_sample) * ncand, MCXT_ALLOC_HUGE);
		uint8	   *status = palloc_extended(ncand, MCXT_ALLOC_HUGE);
		uint64	   *stored = palloc_extended(sizeof(uint64) * ncand, MCXT_ALLOC_HUGE);
		int			m = 0;

		qsort(cand, ncand, sizeof(Cand), cand_cmp);
		for (int i = 0; i < ncand; i++)
		{
			if (m > 0 && cand[m - 1].series == cand[i].series && cand[m - 1].t == cand[i].t)
			{
				uint64		a,
							b;

				memcpy(&a, &cand[m - 1].v, 8);
				memcpy(&b, &cand[i].v, 8);
				if (a == b)
					res->dup_same++;
				else
				{
					res->rejected[RW_E_SAMPLE_DUPLICATE_TIMESTAMP]++;
					note_error(&fe, cand[i].si, cand[i].k, RW_E_SAMPLE_DUPLICATE_TIMESTAMP,
							   sample_error(RW_E_SAMPLE_DUPLICATE_TIMESTAMP, req, &req->series[cand[i].si],
											cand[i].t, ooo));
				}
				continue;
			}
			cand[m++] = cand[i];
		}
		ncand = m;
		/* samples accepted above at the same timestamps count as stored */
		for (int i = 0; i < ncand; i++)
		{
			cs[i] = cand[i].series;
			cv[i].t = cand[i].t;
			cv[i].v = cand[i].v;
		}
		mimir_stored_lookup(tenant_id, cs, cv, ncand, status, stored);
		if (nacc > 1)
			qsort(acc, nacc, sizeof(Acc), acc_cmp);
		nacc_sorted = nacc;
		for (int i = 0; i < ncand; i++)
		{
			if (status[i] == MIMIR_DUP_SAME)
				res->dup_same++;
			else if (status[i] == MIMIR_DUP_DIFFERENT)
			{
				res->rejected[RW_E_SAMPLE_DUPLICATE_TIMESTAMP]++;
				note_error(&fe, cand[i].si, cand[i].k, RW_E_SAMPLE_DUPLICATE_TIMESTAMP,
						   sample_error(RW_E_SAMPLE_DUPLICATE_TIMESTAMP, req, &req->series[cand[i].si],
										cand[i].t, ooo));
			}
			else
			{
				Acc			key = {cs[i], cv[i].t, 0};

				/* not also accepted in order by this request */
				if (nacc_sorted == 0 ||
					bsearch(&key, acc, nacc_sorted, sizeof(Acc), acc_cmp) == NULL)
					acc[nacc++] = (Acc) {cs[i], cv[i].t, cv[i].v};
				else
					res->dup_same++;
			}
		}
	}

	/* 5. one head row for the request */
	if (nacc > 0)
	{
		mimir_spi_connect();
		insert_head_row(tenant_id, acc, nacc);
		mimir_spi_finish();
	}
	res->stored = nacc;

	/* 6. exemplars of series that exist */
	{
		int			cap = 0,
					ne = 0;
		Datum	   *eid = NULL,
				   *et = NULL,
				   *ev = NULL,
				   *el = NULL;

		for (int i = 0; i < n; i++)
		{
			rw_series  *s = &req->series[i];

			if (st[i].state != SS_KNOWN && st[i].state != SS_STORED)
				continue;
			for (uint32 x = 0; x < s->nexemplars; x++)
			{
				const rw_exemplar *e = &req->exemplars[s->first_exemplar + x];
				bool		ok = true;

				for (uint32 l = 0; l < e->nlabels && ok; l++)
					ok = valid_text(req->ex_labels[e->first_label + l].name) &&
						valid_text(req->ex_labels[e->first_label + l].value);
				if (!ok)
					continue;
				if (ne == cap)
				{
					cap = Max(64, cap * 2);
					eid = eid ? repalloc(eid, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
					et = et ? repalloc(et, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
					ev = ev ? repalloc(ev, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
					el = el ? repalloc(el, sizeof(Datum) * cap) : palloc(sizeof(Datum) * cap);
				}
				eid[ne] = Int64GetDatum(st[i].info.id);
				et[ne] = Int64GetDatum(e->t);
				ev[ne] = Float8GetDatum(e->v);
				el[ne] = CStringGetTextDatum(exemplar_json(req, e));
				ne++;
			}
		}
		if (ne > 0)
		{
			Oid			types[5] = {INT4OID, INT8ARRAYOID, INT8ARRAYOID, FLOAT8ARRAYOID, TEXTARRAYOID};
			Datum		args[5];

			args[0] = Int32GetDatum(tenant_id);
			args[1] = PointerGetDatum(construct_array(eid, ne, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[2] = PointerGetDatum(construct_array(et, ne, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[3] = PointerGetDatum(construct_array(ev, ne, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			args[4] = PointerGetDatum(construct_array(el, ne, TEXTOID, -1, false, TYPALIGN_INT));
			mimir_spi_connect();
			if (SPI_execute_with_args("INSERT INTO mimir.exemplars(tenant_id, series_id, t, value, labels) "
									  "SELECT $1, s, t, v, l::jsonb FROM unnest($2::int8[], $3::int8[], $4::float8[], $5::text[]) u(s, t, v, l) "
									  "ON CONFLICT DO NOTHING",
									  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "exemplar insert failed");
			res->exemplars_stored = SPI_processed;
			mimir_spi_finish();
		}
	}
	res->first_error = fe.msg;
	res->first_reason = fe.reason;
}
