/*
 * chunk_packs.c — settled chunks packed many to a row. A plain chunk row
 * costs about 140 bytes of tuple header, item pointer and index entry, more
 * than half a 240-sample chunk; mimir.chunk_packs holds the settled chunks
 * (full, or not appended to for a while) of up to PACK_MAX_CHUNKS chunks of
 * consecutive series ids in one row, partitioned by day like mimir.chunks
 * (chunk_packs_pYYYYMMDD next to chunks_pYYYYMMDD, dropped together).
 *
 * A pack's dir (inline in the row) lists its chunks (varints: chunk count,
 * then per chunk the series id delta, mint - pack mint, maxt - mint,
 * length); its data is the chunks back to back, never compressed. A pack
 * fills at most a page, so a reader finds any chunk in the row's buffer;
 * a larger one (huge chunks) is stored out of line and read as TOAST
 * slices of only the byte ranges wanted.
 *
 * Invariant: for every series, all its packed chunks precede (in time) all
 * its plain chunks. The packer packs a prefix of each series' plain chunks;
 * writers that need a packed chunk back (late samples, deletions) take out
 * every packed chunk of the series from that time on (mimir_packs_take).
 * So the cutter, which only looks at plain chunks to append to, never
 * appends across a packed chunk. Packers and writers hold the chunk writer
 * lock (the cutter's advisory lock).
 */
#include "mimir.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/xact.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "compactor/compactor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "utils/resowner.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "funcapi.h"

PG_FUNCTION_INFO_V1(mimir_pack_chunks);
PG_FUNCTION_INFO_V1(mimir_pack_roundtrip);

/* chunks per pack: row overhead amortized vs. directory read per lookup */
#define PACK_MAX_CHUNKS		128
/*
 * A pack row fits a page (the partitions' toast_tuple_target keeps it
 * inline): a reader gets any chunk of it from one buffer, without copying,
 * as it would a plain chunk row. A chunk too large for that gets a pack of
 * its own, stored out of line.
 */
#define PACK_ROW_BYTES		8150
#define PACK_CHUNK_LIMIT	(256 * 1024 * 1024)	/* sanity bound when decoding */

static int64 known_days[64];
static int	nknown;


/* chunks_pYYYYMMDD -> chunk_packs_pYYYYMMDD: the same day, found by the same name */
char *
mimir_pack_partition_name(int64 day)
{
	char	   *c = mimir_partition_name(day);

	return psprintf("chunk_packs_%s", c + strlen("chunks_"));
}

static void
ensure_pack_partition(int64 mint)
{
	int64		day = mimir_floor_div(mint, MIMIR_PARTITION_MS);
	char	   *name;

	for (int i = 0; i < nknown; i++)
		if (known_days[i] == day)
			return;
	name = mimir_pack_partition_name(day);
	if (!mimir_partition_exists(name))
	{
		int64		lo = day * MIMIR_PARTITION_MS;
		int64		hi = lo + MIMIR_PARTITION_MS;

		/* rows up to a page stay inline (see PACK_ROW_BYTES) */
		if (SPI_execute(psprintf("CREATE TABLE mimir.%s (LIKE mimir.chunk_packs INCLUDING DEFAULTS INCLUDING STORAGE, "
								 "CHECK (mint >= " INT64_FORMAT " AND mint < " INT64_FORMAT ")) "
								 "WITH (toast_tuple_target = 8160)",
								 name, lo, hi), false, 0) != SPI_OK_UTILITY ||
			SPI_execute(psprintf("ALTER TABLE mimir.chunk_packs ATTACH PARTITION mimir.%s "
								 "FOR VALUES FROM (" INT64_FORMAT ") TO (" INT64_FORMAT ")",
								 name, lo, hi), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not create chunk pack partition %s", name);
	}
	if (nknown == lengthof(known_days))
		nknown = 0;
	known_days[nknown++] = day;
}

void
mimir_forget_pack_partitions(void)
{
	nknown = 0;
}

/* ---- the pack format ---- */



/*
 * Build a pack from entries sorted by (series, mint): its directory and its
 * data (the chunks, back to back); sets lo/hi/mint/maxt.
 */
static bytea *
pack_build(const MimirPackEntry *e, int n, const uint8 *const *chunks, bytea **dir_out,
		   int64 *lo, int64 *hi, int64 *mint, int64 *maxt)
{
	StringInfoData dir;
	size_t		total = 0;
	bytea	   *out;
	bytea	   *d;
	char	   *p;
	int64		prev;

	Assert(n > 0);
	*lo = e[0].series;
	*hi = e[n - 1].series;
	*mint = e[0].mint;
	*maxt = e[0].maxt;
	for (int i = 1; i < n; i++)
	{
		*mint = Min(*mint, e[i].mint);
		*maxt = Max(*maxt, e[i].maxt);
	}
	initStringInfo(&dir);
	mimir_put_varint(&dir, (uint64) n);
	prev = *lo;
	for (int i = 0; i < n; i++)
	{
		mimir_put_varint(&dir, (uint64) (e[i].series - prev));
		mimir_put_varint(&dir, (uint64) (e[i].mint - *mint));
		mimir_put_varint(&dir, (uint64) (e[i].maxt - e[i].mint));
		mimir_put_varint(&dir, (uint64) e[i].len);
		prev = e[i].series;
		total += e[i].len;
	}
	d = palloc(VARHDRSZ + dir.len);
	SET_VARSIZE(d, VARHDRSZ + dir.len);
	memcpy(VARDATA(d), dir.data, dir.len);
	pfree(dir.data);
	*dir_out = d;
	out = palloc(VARHDRSZ + total);
	SET_VARSIZE(out, VARHDRSZ + total);
	p = VARDATA(out);
	for (int i = 0; i < n; i++)
	{
		memcpy(p, chunks[i], e[i].len);
		p += e[i].len;
	}
	return out;
}

/*
 * The entries of a pack from its directory (a small inline column).
 * Offsets are into the pack's data.
 */
MimirPackEntry *
mimir_pack_directory(Datum dirdatum, int64 series_lo, int64 pack_mint, int *n)
{
	struct varlena *d = PG_DETOAST_DATUM_PACKED(dirdatum);
	const uint8 *p = (const uint8 *) VARDATA_ANY(d);
	int32		dirlen = VARSIZE_ANY_EXHDR(d);
	const uint8 *end = p + dirlen;
	uint64		cnt,
				v;
	MimirPackEntry *e;
	int64		sid = series_lo;
	int32		off = 0;

	if (!mimir_get_varint(&p, end, &cnt) || cnt > (uint64) dirlen)
		elog(ERROR, "mimir: corrupt chunk pack (count)");
	e = palloc(sizeof(MimirPackEntry) * Max(cnt, 1));
	for (uint64 i = 0; i < cnt; i++)
	{
		if (!mimir_get_varint(&p, end, &v))
			elog(ERROR, "mimir: corrupt chunk pack (entry)");
		sid += (int64) v;
		e[i].series = sid;
		if (!mimir_get_varint(&p, end, &v))
			elog(ERROR, "mimir: corrupt chunk pack (entry)");
		e[i].mint = pack_mint + (int64) v;
		if (!mimir_get_varint(&p, end, &v))
			elog(ERROR, "mimir: corrupt chunk pack (entry)");
		e[i].maxt = e[i].mint + (int64) v;
		if (!mimir_get_varint(&p, end, &v) || v > PACK_CHUNK_LIMIT)
			elog(ERROR, "mimir: corrupt chunk pack (entry)");
		e[i].len = (int32) v;
		e[i].off = off;
		off += (int32) v;
	}
	if ((Pointer) d != DatumGetPointer(dirdatum))
		pfree(d);
	*n = (int) cnt;
	return e;
}

/* One chunk of a pack as a freshly allocated bytea. */
bytea *
mimir_pack_chunk(Datum data, const MimirPackEntry *e)
{
	struct varlena *v = detoast_attr_slice((struct varlena *) DatumGetPointer(data), e->off, e->len);

	if (VARSIZE_ANY_EXHDR(v) != e->len)
		elog(ERROR, "mimir: corrupt chunk pack (chunk outside the data)");
	return (bytea *) v;
}


/*
 * A pack with a chunk ending at or after t starts at or after this: its
 * chunks start in the day of its partition and span at most 2 hours. Lets
 * queries by maxt skip older partitions.
 */
static int64
pack_mint_bound(int64 t)
{
	if (t < PG_INT64_MIN / 2)
		return PG_INT64_MIN;
	return t - MIMIR_PARTITION_MS - MIMIR_CHUNK_MAX_SPAN_MS;
}


static bool
contains(const int64 *ids, int n, int64 id)
{
	return bsearch(&id, ids, n, sizeof(int64), mimir_int64_cmp) != NULL;
}

/*
 * Calls fn for every packed chunk of the given series that may hold samples
 * in [mint, maxt]; want (if given) is asked first, from the directory
 * alone, and a false answer skips fetching the chunk. Caller is connected
 * to SPI.
 */
void
mimir_scan_packs(const int64 *series, int nseries, int64 mint, int64 maxt,
				 bool (*want) (void *arg, int64 series_id, int64 mint, int64 maxt),
				 void (*fn) (void *arg, int64 series_id, int64 mint, int64 maxt, bytea *chunk),
				 void *arg)
{
	int64	   *ids;
	int			n = 0;
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		args[5];
	Portal		portal;

	if (nseries == 0 || mint > maxt)
		return;
	ids = palloc(sizeof(int64) * nseries);
	memcpy(ids, series, sizeof(int64) * nseries);
	qsort(ids, nseries, sizeof(int64), mimir_int64_cmp);
	for (int i = 0; i < nseries; i++)
		if (n == 0 || ids[n - 1] != ids[i])
			ids[n++] = ids[i];
	args[0] = Int64GetDatum(ids[0]);
	args[1] = Int64GetDatum(ids[n - 1]);
	args[2] = Int64GetDatum(mint);
	args[3] = Int64GetDatum(maxt);
	args[4] = Int64GetDatum(pack_mint_bound(mint));
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT series_lo, series_hi, mint, dir, tableoid, ctid FROM mimir.chunk_packs "
									   "WHERE series_lo >= $1 - " CppAsString2(MIMIR_PACK_ID_SPAN)
									   " AND series_lo <= $2 AND series_hi >= $1 AND mint <= $4 AND maxt >= $3"
									   " AND mint >= $5",
									   5, types, args, NULL, true, 0);
	for (;;)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 64);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 r = 0; r < nrows; r++)
		{
			HeapTuple	tup = tt->vals[r];
			TupleDesc	td = tt->tupdesc;
			bool		isnull;
			int64		lo = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			int64		hi = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			int64		pmint = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
			Datum		data = (Datum) 0;
			SPITupleTable *dtt = NULL;
			MimirPackEntry *e;
			int			ne;

			CHECK_FOR_INTERRUPTS();
			if (!mimir_ids_in_range(ids, n, lo, hi))
				continue;
			e = mimir_pack_directory(SPI_getbinval(tup, td, 4, &isnull), lo, pmint, &ne);
			for (int i = 0; i < ne; i++)
			{
				bytea	   *c;

				if (e[i].maxt < mint || e[i].mint > maxt || !contains(ids, n, e[i].series))
					continue;
				if (want && !want(arg, e[i].series, e[i].mint, e[i].maxt))
					continue;
				if (data == (Datum) 0)
				{
					/* the chunks only of packs with a wanted one (read_only: the same snapshot) */
					Oid			dtypes[2] = {OIDOID, TIDOID};
					Datum		dargs[2] = {SPI_getbinval(tup, td, 5, &isnull), SPI_getbinval(tup, td, 6, &isnull)};

					if (SPI_execute_with_args("SELECT data FROM mimir.chunk_packs WHERE tableoid = $1 AND ctid = $2",
											  2, dtypes, dargs, NULL, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
						elog(ERROR, "chunk pack lookup failed");
					dtt = SPI_tuptable;
					data = SPI_getbinval(dtt->vals[0], dtt->tupdesc, 1, &isnull);
				}
				c = mimir_pack_chunk(data, &e[i]);
				fn(arg, e[i].series, e[i].mint, e[i].maxt, c);
				pfree(c);
			}
			pfree(e);
			if (dtt)
				SPI_freetuptable(dtt);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	pfree(ids);
}

static Oid
promchunk_oid(void)
{
	TypeName   *tn = makeTypeNameFromNameList(list_make2(makeString("mimir"), makeString("promchunk")));

	return typenameTypeId(NULL, tn);
}

static void
insert_pack(const MimirPackEntry *e, int n, const uint8 *const *chunks)
{
	int64		lo,
				hi,
				mint,
				maxt;
	bytea	   *dir;
	bytea	   *data = pack_build(e, n, chunks, &dir, &lo, &hi, &mint, &maxt);
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID};
	Datum		args[6];

	ensure_pack_partition(mint);
	args[0] = Int64GetDatum(lo);
	args[1] = Int64GetDatum(hi);
	args[2] = Int64GetDatum(mint);
	args[3] = Int64GetDatum(maxt);
	args[4] = PointerGetDatum(dir);
	args[5] = PointerGetDatum(data);
	if (SPI_execute_with_args("INSERT INTO mimir.chunk_packs(series_lo, series_hi, mint, maxt, dir, data) "
							  "VALUES ($1, $2, $3, $4, $5, $6)", 6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "chunk pack insert failed");
	pfree(dir);
	pfree(data);
}

/* plain chunk rows, inserted in one statement */
static void
insert_plain(const int64 *sid, const int64 *mint, const int64 *maxt, Datum *chunks, int n)
{
	Oid			pcoid;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Oid			types[4];
	Datum		args[4];

	if (n == 0)
		return;
	pcoid = promchunk_oid();
	for (int i = 0; i < n; i++)
		mimir_ensure_partition(mint[i]);
	get_typlenbyvalalign(pcoid, &typlen, &typbyval, &typalign);
	types[0] = types[1] = types[2] = INT8ARRAYOID;
	types[3] = get_array_type(pcoid);
	args[0] = mimir_int8_array(sid, n);
	args[1] = mimir_int8_array(mint, n);
	args[2] = mimir_int8_array(maxt, n);
	args[3] = PointerGetDatum(construct_array(chunks, n, pcoid, typlen, typbyval, typalign));
	if (SPI_execute_with_args("INSERT INTO mimir.chunks(series_id, mint, maxt, chunk) "
							  "SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], $4)",
							  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "chunk insert failed");
}

/*
 * Take out of their packs the packed chunks of the given series whose maxt
 * lies in [maxt_lo, maxt_hi]: back into mimir.chunks (to_plain) or gone.
 * Packs are rewritten without them. To keep the invariant, callers moving
 * chunks back take every chunk from some time on (maxt_hi = max), callers
 * deleting take every chunk up to some time or all. Caller holds the chunk
 * writer lock. Returns the number of chunks taken; samples and bytes (of
 * the chunks taken) are added to *samples and *bytes if given.
 */
typedef struct IdFrom
{
	int64		id;
	int64		from;
} IdFrom;

static int
idfrom_cmp(const void *a, const void *b)
{
	const IdFrom *x = a,
			   *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* the maxt from which series id's chunks are taken; PG_INT64_MAX when not wanted */
static int64
take_from(const IdFrom *f, int n, int64 id)
{
	int			a = 0,
				b = n;

	while (a < b)
	{
		int			m = (a + b) / 2;

		if (f[m].id < id)
			a = m + 1;
		else
			b = m;
	}
	return a < n && f[a].id == id ? f[a].from : PG_INT64_MAX;
}

int64
mimir_packs_take(const int64 *series, int nseries, int64 maxt_lo, int64 maxt_hi, bool to_plain,
				 int64 *samples, int64 *bytes)
{
	return mimir_packs_take_from(series, NULL, nseries, maxt_lo, maxt_hi, to_plain, samples, bytes);
}

/*
 * The same with a lower bound of maxt per series (from[i] for series[i];
 * from NULL: maxt_lo for all).
 */
int64
mimir_packs_take_from(const int64 *series, const int64 *from, int nseries, int64 maxt_lo, int64 maxt_hi,
					  bool to_plain, int64 *samples, int64 *bytes)
{
	int64	   *ids;
	IdFrom	   *fr;
	int			n = 0;
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		args[5];
	int64		taken = 0;
	int			ndel = 0;
	Oid		   *del_rel = NULL;
	ItemPointerData *del_tid = NULL;
	int			nplain = 0,
				capplain = 0;
	int64	   *p_sid = NULL,
			   *p_mint = NULL,
			   *p_maxt = NULL;
	Datum	   *p_chunk = NULL;
	List	   *repacks = NIL;	/* of bytea-free (entries, chunks) pairs, built below */
	bool		isnull;

	if (nseries == 0 || maxt_lo > maxt_hi)
		return 0;
	mimir_spi_connect();
	fr = palloc(sizeof(IdFrom) * nseries);
	for (int i = 0; i < nseries; i++)
	{
		fr[i].id = series[i];
		fr[i].from = from ? Max(from[i], maxt_lo) : maxt_lo;
	}
	qsort(fr, nseries, sizeof(IdFrom), idfrom_cmp);
	/* per id the smallest bound (sorted first) */
	for (int i = 0; i < nseries; i++)
		if (n == 0 || fr[n - 1].id != fr[i].id)
			fr[n++] = fr[i];
	ids = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
	{
		ids[i] = fr[i].id;
		if (i == 0 || fr[i].from < maxt_lo)
			maxt_lo = fr[i].from;
	}
	if (from)
	{
		maxt_lo = fr[0].from;
		for (int i = 1; i < n; i++)
			maxt_lo = Min(maxt_lo, fr[i].from);
	}
	args[0] = Int64GetDatum(ids[0]);
	args[1] = Int64GetDatum(ids[n - 1]);
	args[2] = Int64GetDatum(maxt_lo);
	args[3] = Int64GetDatum(maxt_hi);
	args[4] = Int64GetDatum(pack_mint_bound(maxt_lo));
	/* directories only: most packs have nothing to give (new samples come after them) */
	if (SPI_execute_with_args("SELECT tableoid, ctid, series_lo, series_hi, mint, dir FROM mimir.chunk_packs "
							  "WHERE series_lo >= $1 - " CppAsString2(MIMIR_PACK_ID_SPAN)
							  " AND series_lo <= $2 AND series_hi >= $1 AND maxt >= $3 AND mint <= $4 AND mint >= $5",
							  5, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "chunk pack lookup failed");
	if (SPI_processed > 0)
	{
		SPITupleTable *tt = SPI_tuptable;
		uint64		rows = SPI_processed;

		del_rel = palloc(sizeof(Oid) * rows);
		del_tid = palloc(sizeof(ItemPointerData) * rows);
		for (uint64 r = 0; r < rows; r++)
		{
			HeapTuple	tup = tt->vals[r];
			TupleDesc	td = tt->tupdesc;
			int64		lo = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
			int64		hi = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
			int64		pmint = DatumGetInt64(SPI_getbinval(tup, td, 5, &isnull));
			Datum		data;
			SPITupleTable *dtt;
			bytea	   *full;
			MimirPackEntry *e;
			int			ne,
						nkeep = 0,
						ntake = 0;
			MimirPackEntry *keep;
			const uint8 **keepc;

			CHECK_FOR_INTERRUPTS();
			if (!mimir_ids_in_range(ids, n, lo, hi))
				continue;
			e = mimir_pack_directory(SPI_getbinval(tup, td, 6, &isnull), lo, pmint, &ne);
			for (int i = 0; i < ne; i++)
				if (e[i].maxt >= take_from(fr, n, e[i].series) && e[i].maxt <= maxt_hi)
					ntake++;
			if (ntake == 0)
			{
				pfree(e);
				continue;
			}
			{
				Oid			dtypes[2] = {OIDOID, TIDOID};
				Datum		dargs[2] = {SPI_getbinval(tup, td, 1, &isnull), SPI_getbinval(tup, td, 2, &isnull)};

				/* replaces SPI_tuptable; tt stays ours until SPI_finish */
				if (SPI_execute_with_args("SELECT data FROM mimir.chunk_packs WHERE tableoid = $1 AND ctid = $2",
										  2, dtypes, dargs, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
					elog(ERROR, "chunk pack lookup failed");
				dtt = SPI_tuptable;
				data = SPI_getbinval(dtt->vals[0], dtt->tupdesc, 1, &isnull);
			}
			full = DatumGetByteaPP(data);
			keep = palloc(sizeof(MimirPackEntry) * ne);
			keepc = palloc(sizeof(uint8 *) * ne);
			for (int i = 0; i < ne; i++)
			{
				const uint8 *c = (const uint8 *) VARDATA_ANY(full) + e[i].off;

				if (e[i].off + e[i].len > VARSIZE_ANY_EXHDR(full))
					elog(ERROR, "mimir: corrupt chunk pack (chunk outside the data)");
				if (e[i].maxt >= take_from(fr, n, e[i].series) && e[i].maxt <= maxt_hi)
				{
					taken++;
					if (samples)
					{
						uint32		cnt;
						int64		a,
									b;

						if (pc_header(c, e[i].len, &cnt, &a, &b) == PC_OK)
							*samples += cnt;
					}
					if (bytes)
						*bytes += e[i].len;
					if (!to_plain)
						continue;
					if (nplain == capplain)
					{
						capplain = Max(64, capplain * 2);
						p_sid = p_sid ? repalloc(p_sid, sizeof(int64) * capplain) : palloc(sizeof(int64) * capplain);
						p_mint = p_mint ? repalloc(p_mint, sizeof(int64) * capplain) : palloc(sizeof(int64) * capplain);
						p_maxt = p_maxt ? repalloc(p_maxt, sizeof(int64) * capplain) : palloc(sizeof(int64) * capplain);
						p_chunk = p_chunk ? repalloc(p_chunk, sizeof(Datum) * capplain) : palloc(sizeof(Datum) * capplain);
					}
					{
						bytea	   *b = palloc(VARHDRSZ + e[i].len);

						SET_VARSIZE(b, VARHDRSZ + e[i].len);
						memcpy(VARDATA(b), c, e[i].len);
						p_sid[nplain] = e[i].series;
						p_mint[nplain] = e[i].mint;
						p_maxt[nplain] = e[i].maxt;
						p_chunk[nplain] = PointerGetDatum(b);
						nplain++;
					}
				}
				else
				{
					keep[nkeep] = e[i];
					keepc[nkeep] = c;
					nkeep++;
				}
			}
			del_rel[ndel] = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
			del_tid[ndel] = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, td, 2, &isnull));
			ndel++;
			if (nkeep > 0)
			{
				/* the remainder, rebuilt now (its chunk pointers point into full) */
				int64		a,
							b,
							c,
							d;
				bytea	   *pdir;
				bytea	   *packed = pack_build(keep, nkeep, keepc, &pdir, &a, &b, &c, &d);
				int64	   *meta = palloc(sizeof(int64) * 4);

				meta[0] = a;
				meta[1] = b;
				meta[2] = c;
				meta[3] = d;
				repacks = lappend(repacks, list_make3(meta, pdir, packed));
			}
			pfree(keep);
			pfree(keepc);
			pfree(e);
			/* what was kept or taken is copied: the pack's row can go */
			if ((Pointer) full != DatumGetPointer(data))
				pfree(full);
			SPI_freetuptable(dtt);
		}
	}
	/* writes after the reads: the SELECT's tuples are not needed any more */
	for (int i = 0; i < ndel; i++)
	{
		Oid			dtypes[2] = {OIDOID, TIDOID};
		Datum		dargs[2] = {ObjectIdGetDatum(del_rel[i]), PointerGetDatum(&del_tid[i])};

		if (SPI_execute_with_args("DELETE FROM mimir.chunk_packs WHERE tableoid = $1 AND ctid = $2",
								  2, dtypes, dargs, NULL, false, 0) != SPI_OK_DELETE || SPI_processed != 1)
			elog(ERROR, "chunk pack delete failed");
	}
	{
		ListCell   *lc;

		foreach(lc, repacks)
		{
			List	   *pr = lfirst(lc);
			int64	   *meta = linitial(pr);
			bytea	   *pdir = lsecond(pr);
			bytea	   *packed = lthird(pr);
			Oid			itypes[6] = {INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID, BYTEAOID};
			Datum		iargs[6] = {Int64GetDatum(meta[0]), Int64GetDatum(meta[1]), Int64GetDatum(meta[2]),
			Int64GetDatum(meta[3]), PointerGetDatum(pdir), PointerGetDatum(packed)};

			ensure_pack_partition(meta[2]);
			if (SPI_execute_with_args("INSERT INTO mimir.chunk_packs(series_lo, series_hi, mint, maxt, dir, data) "
									  "VALUES ($1, $2, $3, $4, $5, $6)", 6, itypes, iargs, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "chunk pack insert failed");
		}
	}
	insert_plain(p_sid, p_mint, p_maxt, p_chunk, nplain);
	mimir_spi_finish();
	return taken;
}

/* ---- the packer ---- */

typedef struct Builder
{
	int64		day;
	int			n;
	size_t		bytes;
	size_t		dirbytes;		/* an upper bound of the directory's size */
	MimirPackEntry *e;
	uint8	  **c;
} Builder;


/* directory bytes of one more entry: mint and span deltas bounded by a day and 2 hours (4 bytes each) */
static size_t
dir_entry_bound(int64 sid_delta, int32 len)
{
	return mimir_varint_len((uint64) sid_delta) + 4 + 4 + mimir_varint_len((uint64) len);
}

static void
builder_flush(Builder *b)
{
	if (b->n == 0)
		return;
	insert_pack(b->e, b->n, (const uint8 *const *) b->c);
	for (int i = 0; i < b->n; i++)
		pfree(b->c[i]);
	b->n = 0;
	b->bytes = 0;
	b->dirbytes = 0;
}

/*
 * Rebuild the (series_id, mint) index of chunk partitions whose rows went
 * into packs: a btree keeps its pages when its entries go, and once a day's
 * chunks are packed its plain partition is empty but its index is not. The
 * same for the head's indexes once a large head was cut and vacuumed to
 * nothing (a bulk load leaves its TOAST index behind). Run before packing,
 * so the rows packed by the previous run are dead by now. Never waits long
 * on readers or writers: skipped this time if the lock is not free.
 */
static void
shrink_plain_indexes(void)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *names = NIL;
	ListCell   *lc;
	char	   *old_timeout;

	mimir_spi_connect();
	if (SPI_execute("SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname), "
					"quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_relation_size(i.indexrelid) "
					"FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid "
					"JOIN pg_namespace n ON n.oid = c.relnamespace "
					"JOIN pg_index i ON i.indrelid = c.oid JOIN pg_class ic ON ic.oid = i.indexrelid "
					"WHERE h.inhparent = 'mimir.chunks'::regclass AND pg_relation_size(i.indexrelid) > 262144 "
					/* the series' indexes once their rows went into blocks (series_blocks.c) */
					"UNION ALL SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname), 'mimir.series', "
					"pg_relation_size(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
					"JOIN pg_namespace n ON n.oid = ic.relnamespace "
					"WHERE i.indrelid = 'mimir.series'::regclass AND pg_relation_size(i.indexrelid) > 262144 "
					/* the head once cut empty: its indexes and its TOAST index, all at once */
					"UNION ALL SELECT 'TABLE mimir.head', 'mimir.head', 0 "
					"WHERE pg_relation_size('mimir.head') = 0 AND pg_indexes_size('mimir.head') "
					"+ coalesce((SELECT pg_indexes_size(reltoastrelid) FROM pg_class "
					"WHERE oid = 'mimir.head'::regclass AND reltoastrelid <> 0), 0) > 1048576",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "chunk index lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		size = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);

		names = lappend(names, list_make3(SPI_getvalue(tup, td, 1), SPI_getvalue(tup, td, 2),
										  makeInteger((int) Min(size / 8192, PG_INT32_MAX))));
		MemoryContextSwitchTo(old);
	}
	if (SPI_execute("SELECT current_setting('lock_timeout')", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "setting lookup failed");
	old_timeout = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	mimir_spi_finish();
	foreach(lc, names)
	{
		List	   *it = lfirst(lc);
		char	   *index = linitial(it);
		char	   *table = lsecond(it);
		int64		pages = intVal(lthird(it));
		int64		rows;
		bool		isnull;

		mimir_spi_connect();
		if (SPI_execute(psprintf("SELECT count(*) FROM %s", table), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "chunk count failed");
		rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		mimir_spi_finish();
		/* about 40 bytes an entry when built: rebuild at 4 times that (and 256 kB) */
		if (pages * 8192 < 4 * rows * 40 + 262144 && strcmp(table, "mimir.head") != 0)
			continue;
		if (strcmp(table, "mimir.head") == 0 && rows > 0)
			continue;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(caller);
		PG_TRY();
		{
			mimir_spi_connect();
			if (SPI_execute("SELECT set_config('lock_timeout', '1s', true)", false, 0) != SPI_OK_SELECT ||
				SPI_execute(psprintf(strncmp(index, "TABLE ", 6) == 0 ? "REINDEX %s" : "REINDEX INDEX %s", index),
							false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "could not rebuild %s", index);
			mimir_spi_finish();
			mimir_subxact_commit(caller, owner);
		}
		PG_CATCH();
		{
			ErrorData  *ed;

			ed = mimir_subxact_abort(caller, owner);
			ereport(LOG, (errmsg("mimir pack_chunks: index %s not rebuilt this time: %s", index, ed->message)));
			FreeErrorData(ed);
		}
		PG_END_TRY();
		/* the short lock timeout was for the rebuild only */
		mimir_set_lock_timeout_local(old_timeout);
	}
}

/*
 * Pack the settled plain chunks: for each series, the longest run of its
 * oldest plain chunks that are full (mimir.chunk_max_samples) or end before
 * now - settled_after. At most max_chunks chunks per call.
 */
int64
mimir_pack_chunks_internal(int64 settled_after_ms, int64 max_chunks, CompactorStats *st)
{
	int64		cutoff = mimir_ts_to_ms(GetCurrentTimestamp()) - settled_after_ms;
	Portal		portal;
	Builder		builders[8];
	int			nb = 0;
	int64		cur = PG_INT64_MIN;
	bool		stopped = false;
	int64		packed = 0;
	int			ndel = 0,
				capdel = 0;
	int64	   *d_sid = NULL,
			   *d_mint = NULL;
	bool		done = false;

	compactor_lock_chunks();
	mimir_head_flush();
	shrink_plain_indexes();
	mimir_spi_connect();
	/*
	 * Not read-only: a snapshot taken now, after the lock. The statement's
	 * own may predate a cut we waited for, which can rewrite a chunk in
	 * place (same series and mint, late samples added): we would pack the
	 * old version and delete the new one.
	 */
	portal = SPI_cursor_open(NULL, SPI_prepare("SELECT series_id, mint, maxt, chunk FROM mimir.chunks "
											   "ORDER BY series_id, mint", 0, NULL),
							 NULL, NULL, false);
	while (!done)
	{
		SPITupleTable *tt;
		uint64		nrows;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		/* flushing a pack runs statements, which replace SPI_tuptable */
		tt = SPI_tuptable;
		nrows = SPI_processed;
		for (uint64 r = 0; r < nrows && !done; r++)
		{
			HeapTuple	tup = tt->vals[r];
			TupleDesc	td = tt->tupdesc;
			bool		isnull;
			int64		sid = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			int64		mint = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			int64		maxt = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
			bytea	   *chunk;
			uint32		cnt = 0;
			int64		a,
						b;
			int64		day;
			Builder    *bl = NULL;

			CHECK_FOR_INTERRUPTS();
			if (sid != cur)
			{
				cur = sid;
				stopped = false;
			}
			if (stopped)
				continue;
			chunk = DatumGetByteaPP(SPI_getbinval(tup, td, 4, &isnull));
			pc_header((const uint8 *) VARDATA_ANY(chunk), VARSIZE_ANY_EXHDR(chunk), &cnt, &a, &b);
			if ((int) cnt < mimir_chunk_max_samples && maxt >= cutoff)
			{
				stopped = true; /* later chunks of this series stay plain too */
				continue;
			}
			day = mimir_floor_div(mint, MIMIR_PARTITION_MS);
			for (int i = 0; i < nb; i++)
				if (builders[i].day == day)
					bl = &builders[i];
			if (bl == NULL)
			{
				if (nb == lengthof(builders))
				{
					/* many days at once (backfill): make room */
					builder_flush(&builders[0]);
					bl = &builders[0];
				}
				else
				{
					bl = &builders[nb++];
					bl->e = palloc(sizeof(MimirPackEntry) * PACK_MAX_CHUNKS);
					bl->c = palloc(sizeof(uint8 *) * PACK_MAX_CHUNKS);
					bl->n = 0;
					bl->bytes = 0;
					bl->dirbytes = 0;
				}
				bl->day = day;
			}
			/* the row: header, four int8, two varlena headers, directory, chunks */
			if (bl->n > 0 && (bl->n == PACK_MAX_CHUNKS || sid - bl->e[0].series >= MIMIR_PACK_ID_SPAN ||
							  24 + 32 + 8 + 8 + bl->dirbytes + 1 + dir_entry_bound(sid - bl->e[bl->n - 1].series, VARSIZE_ANY_EXHDR(chunk))
							  + bl->bytes + VARSIZE_ANY_EXHDR(chunk) > PACK_ROW_BYTES))
				builder_flush(bl);
			bl->dirbytes += dir_entry_bound(bl->n > 0 ? sid - bl->e[bl->n - 1].series : 0, VARSIZE_ANY_EXHDR(chunk));
			bl->e[bl->n].series = sid;
			bl->e[bl->n].mint = mint;
			bl->e[bl->n].maxt = maxt;
			bl->e[bl->n].len = VARSIZE_ANY_EXHDR(chunk);
			bl->e[bl->n].off = 0;
			bl->c[bl->n] = palloc(Max(bl->e[bl->n].len, 1));
			memcpy(bl->c[bl->n], VARDATA_ANY(chunk), bl->e[bl->n].len);
			bl->bytes += bl->e[bl->n].len;
			bl->n++;
			st->bytes_removed += VARSIZE_ANY(chunk);
			st->samples_removed += 0;
			if (ndel == capdel)
			{
				capdel = Max(1024, capdel * 2);
				d_sid = d_sid ? repalloc_huge(d_sid, sizeof(int64) * capdel) : palloc(sizeof(int64) * capdel);
				d_mint = d_mint ? repalloc_huge(d_mint, sizeof(int64) * capdel) : palloc(sizeof(int64) * capdel);
			}
			d_sid[ndel] = sid;
			d_mint[ndel] = mint;
			ndel++;
			packed++;
			if (packed >= max_chunks)
				done = true;
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	for (int i = 0; i < nb; i++)
		builder_flush(&builders[i]);
	if (ndel > 0)
	{
		Oid			types[2] = {INT8ARRAYOID, INT8ARRAYOID};
		Datum		args[2] = {mimir_int8_array(d_sid, ndel), mimir_int8_array(d_mint, ndel)};

		if (SPI_execute_with_args("DELETE FROM mimir.chunks c USING unnest($1::int8[], $2::int8[]) d(sid, mint) "
								  "WHERE c.series_id = d.sid AND c.mint = d.mint",
								  2, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "chunk delete failed");
		if ((int64) SPI_processed != ndel)
			elog(ERROR, "mimir: packed %d chunks but deleted " UINT64_FORMAT, ndel, SPI_processed);
	}
	mimir_spi_finish();
	st->rows_removed += packed;
	return packed;
}

Datum
mimir_pack_chunks(PG_FUNCTION_ARGS)
{
	Interval   *settled = PG_GETARG_INTERVAL_P(0);
	int64		max_chunks = PG_GETARG_INT64(1);
	TimestampTz started = GetCurrentTimestamp();
	CompactorStats st = {0};
	int64		ms;
	int64		packed;

	ms = settled->time / 1000 + ((int64) settled->day * SECS_PER_DAY + (int64) settled->month * DAYS_PER_MONTH * SECS_PER_DAY) * 1000;
	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("settled_after must not be negative"),
				 errhint("Chunks that end before now - settled_after are packed even when not full.")));
	if (max_chunks < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_chunks must be at least 1")));
	packed = mimir_pack_chunks_internal(ms, max_chunks, &st);
	if (packed > 0)
		compactor_log_run("pack_chunks", NULL, started, &st, NULL);
	/* and the series index: committed series rows into series blocks (series_blocks.c) */
	{
		CompactorStats sst = {0};

		started = GetCurrentTimestamp();
		if (mimir_pack_series_internal(&sst) > 0)
			compactor_log_run("pack_series", NULL, started, &sst, NULL);
	}
	PG_RETURN_INT64(packed);
}

/*
 * Test helper: pack the given chunks (series ids ascending) and read them
 * back through the directory; returns the chunks as read.
 */
Datum
mimir_pack_roundtrip(PG_FUNCTION_ARGS)
{
	ArrayType  *sa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *ca = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *sd,
			   *cd;
	bool	   *sn,
			   *cn;
	int			ns,
				nc;
	MimirPackEntry *e;
	const uint8 **c;
	int64		lo,
				hi,
				mint,
				maxt;
	bytea	   *data;
	bytea	   *dir;
	MimirPackEntry *back;
	int			nback;
	Datum	   *out;
	Oid			pcoid = ARR_ELEMTYPE(ca);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	deconstruct_array(sa, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &sd, &sn, &ns);
	get_typlenbyvalalign(pcoid, &typlen, &typbyval, &typalign);
	deconstruct_array(ca, pcoid, typlen, typbyval, typalign, &cd, &cn, &nc);
	if (ns != nc || ns == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("need as many series ids as chunks, at least one")));
	e = palloc(sizeof(MimirPackEntry) * ns);
	c = palloc(sizeof(uint8 *) * ns);
	for (int i = 0; i < ns; i++)
	{
		bytea	   *ch = DatumGetByteaPP(cd[i]);
		uint32		cnt;

		e[i].series = DatumGetInt64(sd[i]);
		if (i > 0 && e[i].series < e[i - 1].series)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("series ids must ascend")));
		if (pc_header((const uint8 *) VARDATA_ANY(ch), VARSIZE_ANY_EXHDR(ch), &cnt, &e[i].mint, &e[i].maxt) != PC_OK)
			elog(ERROR, "bad chunk");
		e[i].len = VARSIZE_ANY_EXHDR(ch);
		c[i] = (const uint8 *) VARDATA_ANY(ch);
	}
	data = pack_build(e, ns, c, &dir, &lo, &hi, &mint, &maxt);
	back = mimir_pack_directory(PointerGetDatum(dir), lo, mint, &nback);
	if (nback != ns)
		elog(ERROR, "pack round trip: %d chunks back of %d", nback, ns);
	out = palloc(sizeof(Datum) * ns);
	for (int i = 0; i < ns; i++)
	{
		if (back[i].series != e[i].series || back[i].mint != e[i].mint || back[i].maxt != e[i].maxt)
			elog(ERROR, "pack round trip: entry %d differs", i);
		out[i] = PointerGetDatum(mimir_pack_chunk(PointerGetDatum(data), &back[i]));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(out, ns, pcoid, typlen, typbyval, typalign));
}

/*
 * Delete the packed chunks of a tenant's series that end before `before`
 * (PG_INT64_MAX: all). Caller holds the chunk writer lock; stats are added.
 */
int64
mimir_packs_delete_tenant(int32 tenant_id, int64 before, int64 *samples, int64 *bytes)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tenant_id);
	int64	   *ids;
	int			n;
	bool		isnull;
	int64		taken;
	MemoryContext caller = CurrentMemoryContext;

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT id FROM mimir.all_series(ARRAY[$1])",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "series lookup failed");
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(caller, sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	mimir_spi_finish();
	taken = n > 0 ? mimir_packs_take(ids, n, PG_INT64_MIN, before == PG_INT64_MAX ? before : before - 1,
									 false, samples, bytes) : 0;
	pfree(ids);
	return taken;
}

PG_FUNCTION_INFO_V1(mimir_chunk_pack_entries);

/* Every packed chunk with its pack: for inspection and tests. */
Datum
mimir_chunk_pack_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	Portal		portal;

	InitMaterializedSRF(fcinfo, 0);
	mimir_spi_connect();
	portal = SPI_cursor_open(NULL, SPI_prepare("SELECT series_lo, series_hi, mint, maxt, data, dir FROM mimir.chunk_packs "
											   "ORDER BY series_lo, mint", 0, NULL), NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 64);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		lo = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			int64		hi = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			int64		pmint = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
			int64		pmaxt = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
			Datum		data = SPI_getbinval(tup, td, 5, &isnull);
			int			ne;
			MimirPackEntry *e = mimir_pack_directory(SPI_getbinval(tup, td, 6, &isnull), lo, pmint, &ne);

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < ne; i++)
			{
				Datum		vals[7];
				bool		nulls[7] = {0};
				bytea	   *c = mimir_pack_chunk(data, &e[i]);
				MemoryContext old = MemoryContextSwitchTo(caller);

				vals[0] = Int64GetDatum(lo);
				vals[1] = Int64GetDatum(hi);
				vals[2] = Int64GetDatum(pmint);
				vals[3] = Int64GetDatum(pmaxt);
				vals[4] = Int64GetDatum(e[i].series);
				vals[5] = Int64GetDatum(e[i].mint);
				vals[6] = PointerGetDatum(c);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
				MemoryContextSwitchTo(old);
				pfree(c);
			}
			pfree(e);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	mimir_spi_finish();
	return (Datum) 0;
}
