/*
 * query_api.c — /api/v1/query, /api/v1/query_range, /api/v1/format_query
 * and the status endpoints. Parameters are checked in Prometheus' order and
 * with its messages before the engine runs; Mimir's per-tenant query limits
 * (total query length, lookback, expression size, fetched series) apply.
 */
#include "api/api.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "promql/promql.h"

/* Prometheus' cap on points per series of a range query. */
#define API_MAX_POINTS 11000

/* The request's timeout: the `timeout` parameter, capped by the default. */
int
api_timeout_ms(ApiRequest *req)
{
	PqOptions	opts;
	int64		t;

	promql_default_options(&opts, -1);
	t = api_duration_param(req, "timeout", 0);
	if (t < 0)
		t = 0;
	if (t == 0 || (opts.timeout_ms > 0 && opts.timeout_ms < t))
		t = opts.timeout_ms;
	if (t > PG_INT32_MAX)
		t = PG_INT32_MAX;
	return (int) t;
}

/* Parse the query up front so that parse errors read `invalid parameter "query": ...`. */
static PqNode *
parse_query_param(ApiRequest *req, const char **text, const QueryLimits *lim)
{
	const char *q = api_param(req, "query");
	PqNode	   *n = NULL;

	if (q == NULL)
		q = "";
	*text = q;
	if (lim && lim->max_query_expression_size_bytes > 0 &&
		(int64) strlen(q) > lim->max_query_expression_size_bytes)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("the raw query size in bytes (%zu) exceeds the limit (" INT64_FORMAT ") (err-mimir-max-query-expression-size-bytes). To adjust the related per-tenant limit, configure -query-frontend.max-query-expression-size-bytes, or contact your service administrator.",
						strlen(q), lim->max_query_expression_size_bytes)));
	n = api_parse_promql(q, "invalid parameter \"query\"");
	return n;
}

static void
write_point(StringInfo s, int64 t, double v)
{
	appendStringInfoChar(s, '[');
	json_timestamp(s, t);
	appendStringInfoChar(s, ',');
	json_float(s, v);
	appendStringInfoChar(s, ']');
}

/* Seconds with up to three decimals (as json_timestamp) into buf; returns the length. */
static inline int
put_timestamp(char *buf, int64 ms)
{
	char	   *o = buf;
	uint64		u;
	int			frac;

	if (ms < 0)
	{
		*o++ = '-';
		u = (uint64) (-(ms + 1)) + 1;
	}
	else
		u = (uint64) ms;
	o += pg_ulltoa_n(u / 1000, o);
	frac = (int) (u % 1000);
	if (frac != 0)
	{
		o[0] = '.';
		o[1] = '0' + frac / 100;
		o[2] = '0' + (frac / 10) % 10;
		o[3] = '0' + frac % 10;
		o += 4;
	}
	return (int) (o - buf);
}

/*
 * "result":[...] of a matrix; series without points are left out. Points
 * are the bulk of a range query's answer: each is written straight into the
 * buffer, which grows ahead of them.
 */
void
api_write_matrix_result(StringInfo s, PqResult *res)
{
	bool		first = true;
	int64		estimate = 0;

	/* one allocation for the whole answer rather than doubling up to it */
	for (int i = 0; i < res->nseries; i++)
		estimate += (int64) res->series[i].npoints * 30 + 200;
	enlargeStringInfo(s, (int) Min(estimate, MaxAllocSize / 4));
	appendStringInfoChar(s, '[');
	for (int i = 0; i < res->nseries; i++)
	{
		PqSeries   *ser = &res->series[i];

		if (ser->npoints == 0)
			continue;
		if (!first)
			appendStringInfoChar(s, ',');
		first = false;
		appendStringInfoString(s, "{\"metric\":");
		json_labels(s, &ser->labels);
		appendStringInfoString(s, ",\"values\":[");
		for (int j = 0; j < ser->npoints; j++)
		{
			char	   *o;

			/* '[' ts ',"' float '"]' ',' */
			if (s->maxlen - s->len < API_FLOAT_BUFLEN + 40)
				enlargeStringInfo(s, API_FLOAT_BUFLEN + 40);
			o = s->data + s->len;
			if (j > 0)
				*o++ = ',';
			*o++ = '[';
			o += put_timestamp(o, ser->points[j].t);
			*o++ = ',';
			*o++ = '"';
			o += api_format_float_n(o, ser->points[j].v);
			*o++ = '"';
			*o++ = ']';
			s->len = (int) (o - s->data);
			if ((j & 4095) == 4095)
				CHECK_FOR_INTERRUPTS();
		}
		s->data[s->len] = '\0';
		appendStringInfoString(s, "]}");
	}
	appendStringInfoChar(s, ']');
}

/* Keep at most limit series (0 = all); say so in a warning as Prometheus does. */
static List *
apply_limit(PqResult *res, int limit, List *warnings)
{
	if (limit > 0 && res->nseries > limit)
	{
		res->nseries = limit;
		warnings = lappend(warnings, pstrdup("results truncated due to limit"));
	}
	return warnings;
}

static void
write_result(ApiResponse *resp, PqResult *res, int64 t, int limit)
{
	StringInfo	s = &resp->body;
	List	   *warnings = list_copy(res->warnings);

	api_success_begin(resp);
	switch (res->type)
	{
		case PQ_TYPE_SCALAR:
			appendStringInfoString(s, "{\"resultType\":\"scalar\",\"result\":");
			write_point(s, res->scalar_t, res->scalar);
			break;
		case PQ_TYPE_STRING:
			appendStringInfoString(s, "{\"resultType\":\"string\",\"result\":[");
			json_timestamp(s, res->scalar_t ? res->scalar_t : t);
			appendStringInfoChar(s, ',');
			json_string(s, res->string ? res->string : "");
			appendStringInfoChar(s, ']');
			break;
		case PQ_TYPE_MATRIX:
			warnings = apply_limit(res, limit, warnings);
			appendStringInfoString(s, "{\"resultType\":\"matrix\",\"result\":");
			api_write_matrix_result(s, res);
			break;
		default:
			{
				bool		first = true;

				warnings = apply_limit(res, limit, warnings);
				appendStringInfoString(s, "{\"resultType\":\"vector\",\"result\":[");
				for (int i = 0; i < res->nseries; i++)
				{
					PqSeries   *ser = &res->series[i];

					if (ser->npoints == 0)
						continue;
					if (!first)
						appendStringInfoChar(s, ',');
					first = false;
					appendStringInfoString(s, "{\"metric\":");
					json_labels(s, &ser->labels);
					appendStringInfoString(s, ",\"value\":");
					write_point(s, ser->points[0].t, ser->points[0].v);
					appendStringInfoChar(s, '}');
				}
				appendStringInfoChar(s, ']');
			}
			break;
	}
	appendStringInfoChar(s, '}');
	api_success_end(resp, warnings, res->infos);
}

static void
query_options(ApiRequest *req, const QueryLimits *lim, PqOptions *opts)
{
	int32		tenant_id = mimir_tenant_id(req->tenant, false);

	promql_default_options(opts, tenant_id);
	opts->tenant_id = tenant_id;
	opts->timeout_ms = api_timeout_ms(req);
	if (lim->max_fetched_series_per_query > 0)
		opts->max_fetched_series = lim->max_fetched_series_per_query;
}

void
api_query(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	PqOptions	opts;
	int64		t;
	int			limit;
	const char *q;
	PqResult   *res;

	t = api_time_param(req, "time", req->now_ms);
	(void) api_timeout_ms(req);
	query_limits_for(req->tenant, &lim);
	(void) parse_query_param(req, &q, &lim);
	limit = api_limit_param(req, "limit");
	query_options(req, &lim, &opts);
	if (lim.max_query_lookback_ms > 0 && t < req->now_ms - lim.max_query_lookback_ms)
	{
		/* Mimir: a query entirely before the lookback limit returns nothing */
		api_success_begin(resp);
		appendStringInfoString(&resp->body, "{\"resultType\":\"vector\",\"result\":[]}");
		api_success_end(resp, NIL, NIL);
		return;
	}
	api_in_evaluation = true;
	res = promql_exec_instant(q, t, &opts);
	api_in_evaluation = false;
	write_result(resp, res, t, limit);
}

void
api_query_range(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	PqOptions	opts;
	int64		start,
				end,
				step;
	int			limit;
	const char *q;
	PqNode	   *n;
	PqType		type;
	PqResult   *res;

	start = api_required_time_param(req, "start");
	end = api_required_time_param(req, "end");
	if (end < start)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter \"end\": end timestamp must not be before start time")));
	step = api_duration_param(req, "step", -1);
	if (step <= 0)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")));
	if ((end - start) / step > API_MAX_POINTS)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")));
	(void) api_timeout_ms(req);
	query_limits_for(req->tenant, &lim);
	n = parse_query_param(req, &q, &lim);
	type = pq_node_type(n);
	if (type != PQ_TYPE_SCALAR && type != PQ_TYPE_VECTOR)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter \"query\": invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
						pq_type_name(type))));
	limit = api_limit_param(req, "limit");
	if (lim.max_total_query_length_ms > 0 && end - start > lim.max_total_query_length_ms)
	{
		char		a[64],
					b[64];

		api_format_go_duration(a, sizeof(a), end - start);
		api_format_go_duration(b, sizeof(b), lim.max_total_query_length_ms);
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("the total query time range exceeds the limit (query length: %s, limit: %s) (err-mimir-max-total-query-length). To adjust the related per-tenant limit, configure -query-frontend.max-total-query-length, or contact your service administrator.",
						a, b)));
	}
	if (lim.max_query_lookback_ms > 0)
	{
		int64		min_start = req->now_ms - lim.max_query_lookback_ms;

		if (end < min_start)
		{
			api_success_begin(resp);
			appendStringInfoString(&resp->body, "{\"resultType\":\"matrix\",\"result\":[]}");
			api_success_end(resp, NIL, NIL);
			return;
		}
		/* Mimir clamps the start to the lookback limit, on the step grid */
		if (start < min_start)
			start += ((min_start - start + step - 1) / step) * step;
	}
	query_options(req, &lim, &opts);
	api_in_evaluation = true;
	res = promql_exec_range(q, start, end, step, &opts);
	api_in_evaluation = false;
	res->type = PQ_TYPE_MATRIX;
	write_result(resp, res, start, limit);
}

void
api_format_query(ApiRequest *req, ApiResponse *resp)
{
	const char *q;
	PqNode	   *n = parse_query_param(req, &q, NULL);

	api_success_begin(resp);
	/* Prometheus answers with the parser's Pretty(0) */
	json_string(&resp->body, promql_pretty(n));
	api_success_end(resp, NIL, NIL);
}

/*
 * Mimir's build information. Grafana reads "application" and "features" to
 * recognise Mimir (and, with ruler_config_api, to offer rule management).
 */
void
api_buildinfo(ApiRequest *req, ApiResponse *resp)
{
	api_success_begin(resp);
	appendStringInfoString(&resp->body,
						   "{\"application\":\"Grafana Mimir\","
						   "\"version\":\"2.10.0\","
						   "\"revision\":\"mimir-postgresql-0.1\","
						   "\"branch\":\"main\","
						   "\"buildUser\":\"\","
						   "\"buildDate\":\"\",");
	appendStringInfo(&resp->body, "\"goVersion\":\"PostgreSQL %s\",", PG_MAJORVERSION);
	appendStringInfoString(&resp->body,
						   "\"features\":{\"ruler_config_api\":\"true\","
						   "\"alertmanager_config_api\":\"false\","
						   "\"query_sharding\":\"false\","
						   "\"federated_rules\":\"false\"}}");
	api_success_end(resp, NIL, NIL);
}

/* Mimir answers these two with empty stubs. */
void
api_status_config(ApiRequest *req, ApiResponse *resp)
{
	api_success_begin(resp);
	appendStringInfoString(&resp->body, "{\"yaml\":\"\"}");
	api_success_end(resp, NIL, NIL);
}

void
api_status_flags(ApiRequest *req, ApiResponse *resp)
{
	api_success_begin(resp);
	appendStringInfoString(&resp->body, "{}");
	api_success_end(resp, NIL, NIL);
}
