/*
 * chunk_store.c — the chunks table: daily partitions (created on demand so
 * that retention is dropping partitions) and reading the chunks of a set of
 * series over a time range.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

static int64 known_days[64];
static int	nknown;

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

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

/*
 * Make sure the partition holding chunks whose first sample is at mint
 * exists. Caller is connected to SPI and holds the cutter lock, so only one
 * backend creates partitions at a time.
 */
void
mimir_ensure_partition(int64 mint)
{
	int64		day = floor_div(mint, MIMIR_PARTITION_MS);
	char	   *name;
	Oid			type = TEXTOID;
	Datum		arg;

	for (int i = 0; i < nknown; i++)
		if (known_days[i] == day)
			return;
	name = mimir_partition_name(day);
	arg = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
							  "WHERE n.nspname = 'mimir' AND c.relname = $1",
							  1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "partition lookup failed");
	if (SPI_processed == 0)
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

/*
 * Calls fn for every chunk of the given series that may hold samples in
 * [mint, maxt]. Caller is connected to SPI.
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
}

/* Same for head rows of the tenant overlapping [mint, maxt], oldest first. */
void
mimir_scan_head(int32 tenant_id, int64 mint, int64 maxt,
				void (*fn) (void *arg, int n, int64 *series, pc_sample *s), void *arg)
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
			int			n;
			int64	   *sids;
			pc_sample  *s;

			CHECK_FOR_INTERRUPTS();
			mimir_head_decode(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull)),
							  &n, &sids, &s);
			fn(arg, n, sids, s);
			pfree(sids);
			pfree(s);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
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
			mimir_head_decode_select(data, set, fn, arg);
			/* rows are large: do not keep every detoasted copy until SPI_finish */
			if ((Pointer) data != DatumGetPointer(d))
				pfree(data);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}
