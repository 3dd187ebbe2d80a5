/*
 * promchunk.c — the promchunk SQL type: a varlena holding one chunk_codec
 * encoding. Every way a value can enter (text, binary, bytea cast) is fully
 * decoded and validated, so the rest of the extension can trust stored
 * chunks. Also the SQL functions that build and open chunks.
 */
#include "mimir.h"

#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"


PG_FUNCTION_INFO_V1(promchunk_in);
PG_FUNCTION_INFO_V1(promchunk_out);
PG_FUNCTION_INFO_V1(promchunk_recv);
PG_FUNCTION_INFO_V1(promchunk_send);
PG_FUNCTION_INFO_V1(promchunk_from_bytea);
PG_FUNCTION_INFO_V1(chunk_agg_sfunc);
PG_FUNCTION_INFO_V1(chunk_agg_final);
PG_FUNCTION_INFO_V1(chunk_samples);
PG_FUNCTION_INFO_V1(chunk_count);
PG_FUNCTION_INFO_V1(chunk_start);
PG_FUNCTION_INFO_V1(chunk_end);

static void
report_codec_error(pc_status st)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid promchunk: %s", pc_strerror(st)),
			 errhint("A promchunk can only be built by mimir.chunk_agg or read back from promchunk output.")));
}

/* Validate raw codec bytes and wrap them in a varlena. */
static bytea *
promchunk_from_bytes(const uint8 *data, size_t len)
{
	uint32		n;
	int64		mint,
				maxt;
	pc_status	st;
	pc_sample  *buf;
	size_t		nout;
	bytea	   *res;

	st = pc_header(data, len, &n, &mint, &maxt);
	if (st != PC_OK)
		report_codec_error(st);
	buf = palloc_extended(sizeof(pc_sample) * Max(n, 1), MCXT_ALLOC_HUGE);
	st = pc_decode(data, len, buf, n, &nout);
	if (st != PC_OK)
		report_codec_error(st);
	pfree(buf);
	res = palloc(VARHDRSZ + len);
	SET_VARSIZE(res, VARHDRSZ + len);
	memcpy(VARDATA(res), data, len);
	return res;
}

/* Decode a stored (already validated) chunk into palloc'd samples. */
pc_sample *
mimir_chunk_decode(bytea *chunk, int *n)
{
	const uint8 *data = (const uint8 *) VARDATA_ANY(chunk);
	size_t		len = VARSIZE_ANY_EXHDR(chunk);
	uint32		cnt;
	int64		mint,
				maxt;
	size_t		nout;
	pc_sample  *buf;
	pc_status	st;

	st = pc_header(data, len, &cnt, &mint, &maxt);
	if (st != PC_OK)
		report_codec_error(st);
	buf = palloc_extended(sizeof(pc_sample) * Max(cnt, 1), MCXT_ALLOC_HUGE);
	st = pc_decode(data, len, buf, cnt, &nout);
	if (st != PC_OK)
		report_codec_error(st);
	*n = (int) nout;
	return buf;
}

/* Encode sorted, duplicate-free samples as a promchunk datum. */
bytea *
mimir_chunk_encode(const pc_sample *s, int n)
{
	size_t		bound = pc_encode_bound(n);
	bytea	   *res = palloc_extended(VARHDRSZ + bound, MCXT_ALLOC_HUGE);
	size_t		len;
	pc_status	st;

	st = pc_encode(s, n, (uint8 *) VARDATA(res), bound, &len);
	if (st != PC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot encode promchunk: %s", pc_strerror(st))));
	SET_VARSIZE(res, VARHDRSZ + len);
	return res;
}

static void
chunk_header(bytea *chunk, uint32 *n, int64 *mint, int64 *maxt)
{
	pc_status	st = pc_header((const uint8 *) VARDATA_ANY(chunk),
							   VARSIZE_ANY_EXHDR(chunk), n, mint, maxt);

	if (st != PC_OK)
		report_codec_error(st);
}

TimestampTz
mimir_ms_to_ts_checked(int64 ms)
{
	TimestampTz ts;

	if (ms > (INT64_MAX / 1000) - 1000000000000LL ||
		ms < (INT64_MIN / 1000) + 1000000000000LL ||
		!IS_VALID_TIMESTAMP(ts = mimir_ms_to_ts(ms)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("sample timestamp %lld ms is outside the range of timestamptz",
						(long long) ms)));
	return ts;
}

int64
mimir_ts_to_ms_checked(TimestampTz ts, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite timestamp", what)));
	return mimir_ts_to_ms(ts);
}

Datum
promchunk_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		slen = strlen(str);
	uint8	   *raw;
	size_t		len;

	if (slen < 2 || str[0] != '\\' || str[1] != 'x' || (slen - 2) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type promchunk: \"%.40s%s\"",
						str, slen > 40 ? "..." : ""),
				 errhint("promchunk text is \\x followed by an even number of hex digits, as promchunk output prints it.")));
	len = (slen - 2) / 2;
	raw = palloc_extended(Max(len, 1), MCXT_ALLOC_HUGE);
	for (size_t i = 0; i < len; i++)
	{
		int			hi = mimir_hex_digit(str[2 + 2 * i]);
		int			lo = mimir_hex_digit(str[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid hexadecimal digit in promchunk input at position %zu",
							3 + 2 * i + (hi < 0 ? 0 : 1)),
					 errhint("promchunk text is \\x followed by an even number of hex digits.")));
		raw[i] = (uint8) (hi << 4 | lo);
	}
	PG_RETURN_BYTEA_P(promchunk_from_bytes(raw, len));
}

Datum
promchunk_out(PG_FUNCTION_ARGS)
{
	bytea	   *c = PG_GETARG_BYTEA_PP(0);
	size_t		len = VARSIZE_ANY_EXHDR(c);
	const uint8 *d = (const uint8 *) VARDATA_ANY(c);
	static const char hexd[] = "0123456789abcdef";
	char	   *out = palloc(3 + 2 * len);

	out[0] = '\\';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++)
	{
		out[2 + 2 * i] = hexd[d[i] >> 4];
		out[3 + 2 * i] = hexd[d[i] & 15];
	}
	out[2 + 2 * len] = '\0';
	PG_RETURN_CSTRING(out);
}

Datum
promchunk_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *data = pq_getmsgbytes(buf, len);

	PG_RETURN_BYTEA_P(promchunk_from_bytes((const uint8 *) data, len));
}

Datum
promchunk_send(PG_FUNCTION_ARGS)
{
	bytea	   *c = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
promchunk_from_bytea(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_BYTEA_P(promchunk_from_bytes((const uint8 *) VARDATA_ANY(b),
										   VARSIZE_ANY_EXHDR(b)));
}

/* chunk_agg state: samples collected in the aggregate's memory context */
typedef struct ChunkAggState
{
	int			n;
	int			cap;
	pc_sample  *s;
} ChunkAggState;

Datum
chunk_agg_sfunc(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	ChunkAggState *st;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "chunk_agg_sfunc called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ChunkAggState *) PG_GETARG_POINTER(0);
	if (st == NULL)
	{
		st = MemoryContextAllocZero(aggctx, sizeof(ChunkAggState));
		st->cap = 64;
		st->s = MemoryContextAlloc(aggctx, sizeof(pc_sample) * st->cap);
	}
	/* NULL samples are skipped, as aggregates skip NULL inputs */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);
	if (st->n >= PC_MAX_SAMPLES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a promchunk holds at most %d samples", PC_MAX_SAMPLES)));
	if (st->n == st->cap)
	{
		st->cap *= 2;
		st->s = repalloc_huge(st->s, sizeof(pc_sample) * st->cap);
	}
	st->s[st->n].t = mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(1), "sample time");
	st->s[st->n].v = PG_GETARG_FLOAT8(2);
	st->n++;
	PG_RETURN_POINTER(st);
}

static int
sample_cmp(const void *a, const void *b)
{
	int64		ta = ((const pc_sample *) a)->t;
	int64		tb = ((const pc_sample *) b)->t;

	return ta < tb ? -1 : ta > tb;
}

/*
 * Sort by time (stable for equal times is not needed: equal times must carry
 * identical values, which makes their order irrelevant) and drop exact
 * duplicates. Returns the new count; raises on conflicting duplicates.
 */
int
mimir_sort_dedup_samples(pc_sample *s, int n, const char *series)
{
	int			out = 0;

	if (n > 1)
		qsort(s, n, sizeof(pc_sample), sample_cmp);
	for (int i = 0; i < n; i++)
	{
		if (out > 0 && s[out - 1].t == s[i].t)
		{
			uint64		a,
						b;

			memcpy(&a, &s[out - 1].v, 8);
			memcpy(&b, &s[i].v, 8);
			if (a != b)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("duplicate sample for timestamp %s%s%s with different values %s and %s",
								timestamptz_to_str(mimir_ms_to_ts_checked(s[i].t)),
								series ? " in series " : "", series ? series : "",
								float8out_internal(s[out - 1].v), float8out_internal(s[i].v))));
			continue;
		}
		s[out++] = s[i];
	}
	return out;
}

Datum
chunk_agg_final(PG_FUNCTION_ARGS)
{
	ChunkAggState *st = PG_ARGISNULL(0) ? NULL : (ChunkAggState *) PG_GETARG_POINTER(0);

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	st->n = mimir_sort_dedup_samples(st->s, st->n, NULL);
	PG_RETURN_BYTEA_P(mimir_chunk_encode(st->s, st->n));
}

Datum
chunk_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *c = PG_GETARG_BYTEA_PP(0);
	int			n;
	pc_sample  *s;

	InitMaterializedSRF(fcinfo, 0);
	s = mimir_chunk_decode(c, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		vals[2];
		bool		nulls[2] = {false, false};

		vals[0] = TimestampTzGetDatum(mimir_ms_to_ts_checked(s[i].t));
		vals[1] = Float8GetDatum(s[i].v);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
	}
	return (Datum) 0;
}

Datum
chunk_count(PG_FUNCTION_ARGS)
{
	uint32		n;
	int64		mint,
				maxt;

	chunk_header(PG_GETARG_BYTEA_PP(0), &n, &mint, &maxt);
	PG_RETURN_INT32((int32) n);
}

Datum
chunk_start(PG_FUNCTION_ARGS)
{
	uint32		n;
	int64		mint,
				maxt;

	chunk_header(PG_GETARG_BYTEA_PP(0), &n, &mint, &maxt);
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(mimir_ms_to_ts_checked(mint));
}

Datum
chunk_end(PG_FUNCTION_ARGS)
{
	uint32		n;
	int64		mint,
				maxt;

	chunk_header(PG_GETARG_BYTEA_PP(0), &n, &mint, &maxt);
	if (n == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(mimir_ms_to_ts_checked(maxt));
}
