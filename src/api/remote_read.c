/*
 * remote_read.c — POST /api/v1/read: Prometheus remote read with the
 * SAMPLES response type. The request is a snappy-compressed ReadRequest;
 * each query's matchers select the tenant's series and their raw samples
 * in [start, end] (narrowed by the hints, as Mimir does) go back as a
 * snappy-compressed ReadResponse. The response is encoded by hand: building
 * one protobuf-c struct per sample would cost far more than the encoding.
 */
#include "api/api.h"

#include <snappy-c.h>

#include "miscadmin.h"

#include "api/remote_read.pb-c.h"
#include "distributor/distributor.h"

static void *
pb_alloc(void *data, size_t size)
{
	return palloc_extended(Max(size, 1), MCXT_ALLOC_HUGE);
}

static void
pb_free(void *data, void *ptr)
{
	if (ptr)
		pfree(ptr);
}

static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};



/* a length-delimited string field; proto3 leaves empty strings out */
static size_t
string_field_len(const char *str)
{
	size_t		l = strlen(str);

	return l == 0 ? 0 : 1 + mimir_varint_len(l) + l;
}

static void
put_string_field(StringInfo s, int field, const char *str)
{
	size_t		l = strlen(str);

	if (l == 0)
		return;
	appendStringInfoChar(s, (char) ((field << 3) | 2));
	mimir_put_varint(s, l);
	appendBinaryStringInfo(s, str, l);
}

static size_t
sample_len(const pc_sample *smp)
{
	return 1 + 8 + 1 + mimir_varint_len((uint64) smp->t);
}

static size_t
series_len(const MimirSeriesData *d)
{
	size_t		n = 0;

	for (int i = 0; i < d->labels.n; i++)
	{
		size_t		l = string_field_len(d->labels.labels[i].name) +
			string_field_len(d->labels.labels[i].value);

		n += 1 + mimir_varint_len(l) + l;
	}
	for (int i = 0; i < d->n; i++)
	{
		size_t		l = sample_len(&d->samples[i]);

		n += 1 + mimir_varint_len(l) + l;
	}
	return n;
}

static void
put_series(StringInfo s, const MimirSeriesData *d)
{
	for (int i = 0; i < d->labels.n; i++)
	{
		const MimirLabel *lb = &d->labels.labels[i];

		appendStringInfoChar(s, (1 << 3) | 2);
		mimir_put_varint(s, string_field_len(lb->name) + string_field_len(lb->value));
		put_string_field(s, 1, lb->name);
		put_string_field(s, 2, lb->value);
	}
	for (int i = 0; i < d->n; i++)
	{
		uint64		bits;

		appendStringInfoChar(s, (2 << 3) | 2);
		mimir_put_varint(s, sample_len(&d->samples[i]));
		appendStringInfoChar(s, (1 << 3) | 1);
		memcpy(&bits, &d->samples[i].v, 8);
		for (int b = 0; b < 8; b++)
			appendStringInfoChar(s, (char) ((bits >> (8 * b)) & 0xff));
		appendStringInfoChar(s, (2 << 3) | 0);
		mimir_put_varint(s, (uint64) d->samples[i].t);
	}
}

static MimirMatchOp
match_op(Mimirread__LabelMatcher__Type t)
{
	switch (t)
	{
		case MIMIRREAD__LABEL_MATCHER__TYPE__EQ:
			return MATCH_EQ;
		case MIMIRREAD__LABEL_MATCHER__TYPE__NEQ:
			return MATCH_NEQ;
		case MIMIRREAD__LABEL_MATCHER__TYPE__RE:
			return MATCH_RE;
		case MIMIRREAD__LABEL_MATCHER__TYPE__NRE:
			return MATCH_NRE;
		default:
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("unknown label matcher type %d", (int) t)));
	}
	return MATCH_EQ;
}

void
api_remote_read(ApiRequest *req, ApiResponse *resp)
{
	size_t		ulen;
	char	   *raw;
	Mimirread__ReadRequest *rr;
	QueryLimits lim;
	int32		tenant_id;
	StringInfoData out;
	bool		samples_ok;
	size_t		clen;
	char	   *comp;

	if (req->body == NULL || req->body_len == 0)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("empty remote read request body"),
				 errhint("The body must be a snappy-compressed prometheus.ReadRequest.")));
	if (snappy_uncompressed_length(req->body, req->body_len, &ulen) != SNAPPY_OK)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("snappy: corrupt input")));
	if (ulen > (size_t) mimir_max_recv_msg_size)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("the remote read request of %zu bytes (uncompressed) is larger than the allowed limit of %d bytes",
						ulen, mimir_max_recv_msg_size)));
	raw = palloc_extended(Max(ulen, 1), MCXT_ALLOC_HUGE);
	if (snappy_uncompress(req->body, req->body_len, raw, &ulen) != SNAPPY_OK)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("snappy: corrupt input")));
	rr = mimirread__read_request__unpack(&pb_allocator, ulen, (const uint8_t *) raw);
	if (rr == NULL)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("proto: cannot parse the remote read request (invalid prometheus.ReadRequest)")));

	samples_ok = rr->n_accepted_response_types == 0;
	for (size_t i = 0; i < rr->n_accepted_response_types; i++)
		if (rr->accepted_response_types[i] == MIMIRREAD__READ_REQUEST__RESPONSE_TYPE__SAMPLES)
			samples_ok = true;
	if (!samples_ok)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]; supported: [SAMPLES]")));

	query_limits_for(req->tenant, &lim);
	tenant_id = mimir_tenant_id(req->tenant, false);
	initStringInfo(&out);
	for (size_t qi = 0; qi < rr->n_queries; qi++)
	{
		Mimirread__Query *q = rr->queries[qi];
		List	   *matchers = NIL;
		int64		mint = q->start_timestamp_ms,
					maxt = q->end_timestamp_ms;
		MimirSeriesData *d = NULL;
		int			n = 0,
					kept = 0;
		size_t		qlen = 0;

		CHECK_FOR_INTERRUPTS();
		for (size_t m = 0; m < q->n_matchers; m++)
		{
			Mimirread__LabelMatcher *lm = q->matchers[m];

			mimir_check_utf8("label name", lm->name, strlen(lm->name));
			mimir_check_utf8("label value", lm->value, strlen(lm->value));
			matchers = lappend(matchers, mimir_make_matcher(match_op(lm->type), lm->name, lm->value));
		}
		if (q->hints && (q->hints->start_ms != 0 || q->hints->end_ms != 0))
		{
			if (q->hints->start_ms > mint)
				mint = q->hints->start_ms;
			if (q->hints->end_ms != 0 && q->hints->end_ms < maxt)
				maxt = q->hints->end_ms;
		}
		if (lim.max_query_lookback_ms > 0 && mint < req->now_ms - lim.max_query_lookback_ms)
			mint = req->now_ms - lim.max_query_lookback_ms;
		if (lim.max_total_query_length_ms > 0 && maxt - mint > lim.max_total_query_length_ms)
		{
			char		a[64],
						b[64];

			api_format_go_duration(a, sizeof(a), maxt - mint);
			api_format_go_duration(b, sizeof(b), lim.max_total_query_length_ms);
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("the total query time range exceeds the limit (query length: %s, limit: %s) (err-mimir-max-total-query-length). To adjust the related per-tenant limit, configure -query-frontend.max-total-query-length, or contact your service administrator.",
							a, b)));
		}
		if (tenant_id >= 0 && maxt >= mint)
			d = mimir_read_series(tenant_id, matchers, mint, maxt, &n);
		for (int i = 0; i < n; i++)
			if (d[i].n > 0)
			{
				size_t		l = series_len(&d[i]);

				qlen += 1 + mimir_varint_len(l) + l;
				kept++;
			}
		if (lim.max_fetched_series_per_query > 0 && kept > lim.max_fetched_series_per_query)
			ereport(ERROR,
					(errcode(API_ERRCODE_EXECUTION),
					 errmsg("the query exceeded the maximum number of series (limit: " INT64_FORMAT " series) (err-mimir-max-series-per-query). To adjust the related per-tenant limit, configure -querier.max-fetched-series-per-query, or contact your service administrator.",
							lim.max_fetched_series_per_query)));
		/* ReadResponse.results (1) → QueryResult.timeseries (1) */
		appendStringInfoChar(&out, (1 << 3) | 2);
		mimir_put_varint(&out, qlen);
		for (int i = 0; i < n; i++)
			if (d[i].n > 0)
			{
				appendStringInfoChar(&out, (1 << 3) | 2);
				mimir_put_varint(&out, series_len(&d[i]));
				put_series(&out, &d[i]);
			}
	}

	clen = snappy_max_compressed_length(out.len);
	comp = palloc_extended(Max(clen, 1), MCXT_ALLOC_HUGE);
	if (snappy_compress(out.data, out.len, comp, &clen) != SNAPPY_OK)
		elog(ERROR, "snappy compression of the remote read response failed");
	resp->status = 200;
	resp->content_type = "application/x-protobuf";
	resetStringInfo(&resp->body);
	appendBinaryStringInfo(&resp->body, comp, clen);
	api_add_header(resp, "Content-Encoding", "snappy");
}
