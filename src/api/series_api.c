/*
 * series_api.c — the index endpoints: /api/v1/series, /labels,
 * /label/<name>/values, /metadata, /query_exemplars, and Mimir's
 * cardinality analysis (/api/v1/cardinality/label_names, /label_values,
 * /active_series). Series are those of the tenant matching any of the
 * match[] selectors with samples in [start, end]; without start and end,
 * every series the tenant has.
 */
#include "api/api.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "promql/promql_eval.h"

/* Mimir: series that received a sample within this long are "active" */
#define ACTIVE_SERIES_WINDOW_MS	(20 * 60 * 1000)

static int
ref_cmp(const void *a, const void *b)
{
	return pq_ls_cmp(&((const MimirSeriesRef *) a)->labels,
						&((const MimirSeriesRef *) b)->labels);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
series_limit_error(int64 limit)
{
	ereport(ERROR,
			(errcode(API_ERRCODE_EXECUTION),
			 errmsg("the query exceeded the maximum number of series (limit: " INT64_FORMAT " series) (err-mimir-max-series-per-query). Consider reducing the time range and/or number of series selected by the query. One way to reduce the number of selected series is to add more label matchers to the query. Otherwise, to adjust the related per-tenant limit, configure -querier.max-fetched-series-per-query, or contact your service administrator.",
					limit)));
}

/*
 * Series of the tenant matching any of the matcher sets (every series when
 * sets is NIL), with samples in [mint, maxt] unless the range is unbounded;
 * sorted by labels, without duplicates.
 */
static MimirSeriesRef *
select_series(ApiRequest *req, List *sets, int64 mint, int64 maxt, int64 max_series, int *nout)
{
	int32		tenant_id = mimir_tenant_id(req->tenant, false);
	bool		unbounded = (mint <= API_MIN_TIME_MS && maxt >= API_MAX_TIME_MS);
	MimirSeriesRef *all = NULL;
	int			n = 0,
				cap = 0;
	ListCell   *lc;
	List	   *todo = sets;

	*nout = 0;
	if (tenant_id < 0)
		return NULL;
	if (todo == NIL)
		todo = list_make1(NIL);
	foreach(lc, todo)
	{
		List	   *matchers = lfirst(lc);
		int			cnt;

		CHECK_FOR_INTERRUPTS();
		if (unbounded)
		{
			MimirSeriesRef *r;

			mimir_head_flush();
			r = mimir_select_series(tenant_id, matchers, &cnt);
			if (n + cnt > cap)
			{
				cap = Max(64, (n + cnt) * 2);
				all = all ? repalloc_huge(all, sizeof(MimirSeriesRef) * cap)
					: palloc_extended(sizeof(MimirSeriesRef) * cap, MCXT_ALLOC_HUGE);
			}
			for (int i = 0; i < cnt; i++)
				all[n++] = r[i];
		}
		else
		{
			MimirSeriesData *d = mimir_read_series(tenant_id, matchers, mint, maxt, &cnt);

			if (n + cnt > cap)
			{
				cap = Max(64, (n + cnt) * 2);
				all = all ? repalloc_huge(all, sizeof(MimirSeriesRef) * cap)
					: palloc_extended(sizeof(MimirSeriesRef) * cap, MCXT_ALLOC_HUGE);
			}
			for (int i = 0; i < cnt; i++)
				if (d[i].n > 0)
				{
					all[n].id = d[i].id;
					all[n].labels = d[i].labels;
					n++;
					pfree(d[i].samples);
				}
		}
	}
	if (n > 1)
	{
		int			out = 1;

		qsort(all, n, sizeof(MimirSeriesRef), ref_cmp);
		for (int i = 1; i < n; i++)
			if (all[i].id != all[out - 1].id)
				all[out++] = all[i];
		n = out;
	}
	if (max_series > 0 && n > max_series)
		series_limit_error(max_series);
	*nout = n;
	return all;
}

/* start/end of an index request, with Mimir's max_labels_query_length clamp */
static void
index_range(ApiRequest *req, const QueryLimits *lim, int64 *start, int64 *end)
{
	*start = api_time_param(req, "start", API_MIN_TIME_MS);
	*end = api_time_param(req, "end", API_MAX_TIME_MS);
	if (lim->max_labels_query_length_ms > 0)
	{
		if (*end >= API_MAX_TIME_MS)
			*end = req->now_ms;
		if (*end - *start > lim->max_labels_query_length_ms || *start <= API_MIN_TIME_MS)
			*start = *end - lim->max_labels_query_length_ms;
	}
	if (lim->max_query_lookback_ms > 0 && *start < req->now_ms - lim->max_query_lookback_ms)
		*start = req->now_ms - lim->max_query_lookback_ms;
}

void
api_series(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	List	   *sets;
	int64		start,
				end;
	int			limit,
				n;
	MimirSeriesRef *refs;
	List	   *warnings = NIL;

	if (api_param(req, "match[]") == NULL)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("no match[] parameter provided")));
	query_limits_for(req->tenant, &lim);
	index_range(req, &lim, &start, &end);
	sets = api_match_params(req, "match[]", true);
	limit = api_limit_param(req, "limit");
	refs = select_series(req, sets, start, end, lim.max_fetched_series_per_query, &n);
	if (limit > 0 && n > limit)
	{
		n = limit;
		warnings = list_make1(pstrdup("results truncated due to limit"));
	}
	api_success_begin(resp);
	appendStringInfoChar(&resp->body, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&resp->body, ',');
		json_labels(&resp->body, &refs[i].labels);
	}
	appendStringInfoChar(&resp->body, ']');
	api_success_end(resp, warnings, NIL);
}

/* Sorted distinct strings as a JSON list, truncated to limit (0 = all). */
static void
respond_strings(ApiResponse *resp, char **s, int n, int limit)
{
	int			out = 0;
	List	   *warnings = NIL;

	if (n > 1)
		qsort(s, n, sizeof(char *), str_cmp);
	for (int i = 0; i < n; i++)
		if (out == 0 || strcmp(s[out - 1], s[i]) != 0)
			s[out++] = s[i];
	if (limit > 0 && out > limit)
	{
		out = limit;
		warnings = list_make1(pstrdup("results truncated due to limit"));
	}
	api_success_begin(resp);
	appendStringInfoChar(&resp->body, '[');
	for (int i = 0; i < out; i++)
	{
		if (i > 0)
			appendStringInfoChar(&resp->body, ',');
		json_string(&resp->body, s[i]);
	}
	appendStringInfoChar(&resp->body, ']');
	api_success_end(resp, warnings, NIL);
}

static void
label_strings(ApiRequest *req, ApiResponse *resp, const char *want)
{
	QueryLimits lim;
	List	   *sets;
	int64		start,
				end;
	int			limit,
				n,
				cnt = 0,
				cap = 64;
	MimirSeriesRef *refs;
	char	  **out;

	query_limits_for(req->tenant, &lim);
	index_range(req, &lim, &start, &end);
	sets = api_match_params(req, "match[]", false);
	limit = api_limit_param(req, "limit");
	refs = select_series(req, sets, start, end, lim.max_fetched_series_per_query, &n);
	out = palloc(sizeof(char *) * cap);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < refs[i].labels.n; j++)
		{
			MimirLabel *l = &refs[i].labels.labels[j];

			if (want && strcmp(l->name, want) != 0)
				continue;
			if (want && l->value[0] == '\0')
				continue;
			if (cnt == cap)
			{
				cap *= 2;
				out = repalloc_huge(out, sizeof(char *) * cap);
			}
			out[cnt++] = want ? l->value : l->name;
		}
	respond_strings(resp, out, cnt, limit);
}

void
api_labels(ApiRequest *req, ApiResponse *resp)
{
	label_strings(req, resp, NULL);
}

void
api_label_values(ApiRequest *req, ApiResponse *resp)
{
	const char *name = req->path_arg ? req->path_arg : "";

	mimir_check_utf8("label name", name, strlen(name));
	if (!mimir_valid_label_name(name))
	{
		StringInfoData q;

		initStringInfo(&q);
		json_string(&q, name);
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid label name: %s", q.data)));
	}
	label_strings(req, resp, name);
}

/* strconv.Atoi for the metadata limits ("limit must be a number") */
static bool
atoi_param(const char *v, int *out)
{
	char	   *end;
	long		l;

	errno = 0;
	l = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || l < PG_INT32_MIN || l > PG_INT32_MAX ||
		v[0] == ' ')
		return false;
	*out = (int) l;
	return true;
}

void
api_metadata(ApiRequest *req, ApiResponse *resp)
{
	int			limit = -1,
				limit_per_metric = -1;
	const char *v;
	const char *metric = api_param(req, "metric");
	int32		tenant_id;
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	StringInfo	s = &resp->body;
	char	   *cur = NULL;
	int			nmetrics = 0,
				nthis = 0;
	MemoryContext caller = CurrentMemoryContext;

	if ((v = api_param(req, "limit")) != NULL && *v && !atoi_param(v, &limit))
		ereport(ERROR, (errcode(API_ERRCODE_BAD_DATA), errmsg("limit must be a number")));
	if ((v = api_param(req, "limit_per_metric")) != NULL && *v && !atoi_param(v, &limit_per_metric))
		ereport(ERROR, (errcode(API_ERRCODE_BAD_DATA), errmsg("limit_per_metric must be a number")));

	api_success_begin(resp);
	appendStringInfoChar(s, '{');
	tenant_id = mimir_tenant_id(req->tenant, false);
	if (tenant_id >= 0 && limit != 0)
	{
		args[0] = Int32GetDatum(tenant_id);
		args[1] = metric && *metric ? CStringGetTextDatum(metric) : (Datum) 0;
		mimir_spi_connect();
		if (SPI_execute_with_args("SELECT metric, lower(type), help, unit FROM ("
								  " SELECT DISTINCT ON (metric, lower(type), help, unit) *"
								  " FROM mimir.metadata WHERE tenant_id = $1"
								  " AND ($2::text IS NULL OR metric = $2)"
								  " ORDER BY metric, lower(type), help, unit, updated DESC) m"
								  " ORDER BY metric, updated DESC, type, help, unit",
								  2, types, args, metric && *metric ? NULL : " n",
								  true, 0) != SPI_OK_SELECT)
			elog(ERROR, "metadata lookup failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			char	   *m = SPI_getvalue(tup, td, 1);

			if (cur == NULL || strcmp(cur, m) != 0)
			{
				if (limit > 0 && nmetrics >= limit)
					break;
				if (cur != NULL)
					appendStringInfoString(s, "],");
				json_string(s, m);
				appendStringInfoString(s, ":[");
				cur = m;
				nmetrics++;
				nthis = 0;
			}
			if (limit_per_metric >= 0 && nthis >= limit_per_metric)
				continue;
			if (nthis > 0)
				appendStringInfoChar(s, ',');
			appendStringInfoString(s, "{\"type\":");
			json_string(s, SPI_getvalue(tup, td, 2));
			appendStringInfoString(s, ",\"help\":");
			json_string(s, SPI_getvalue(tup, td, 3));
			appendStringInfoString(s, ",\"unit\":");
			json_string(s, SPI_getvalue(tup, td, 4));
			appendStringInfoChar(s, '}');
			nthis++;
		}
		if (cur != NULL)
			appendStringInfoChar(s, ']');
		mimir_spi_finish();
		MemoryContextSwitchTo(caller);
	}
	appendStringInfoChar(s, '}');
	api_success_end(resp, NIL, NIL);
}

/* Every vector selector of an expression (Prometheus' parser.ExtractSelectors). */
static void
collect_selectors(PqNode *n, List **out)
{
	ListCell   *lc;

	if (n == NULL)
		return;
	switch (n->kind)
	{
		case PQ_VECTOR_SELECTOR:
			*out = lappend(*out, n->u.vs.matchers);
			break;
		case PQ_MATRIX_SELECTOR:
			collect_selectors(n->u.ms.vs, out);
			break;
		case PQ_SUBQUERY:
			collect_selectors(n->u.sq.expr, out);
			break;
		case PQ_CALL:
			foreach(lc, n->u.call.args)
				collect_selectors(lfirst(lc), out);
			break;
		case PQ_AGGREGATE:
			collect_selectors(n->u.agg.expr, out);
			collect_selectors(n->u.agg.param, out);
			break;
		case PQ_BINARY:
			collect_selectors(n->u.bin.lhs, out);
			collect_selectors(n->u.bin.rhs, out);
			break;
		case PQ_UNARY:
			collect_selectors(n->u.unary.expr, out);
			break;
		case PQ_PAREN:
		case PQ_STEP_INVARIANT:
			collect_selectors(n->u.inner.expr, out);
			break;
		default:
			break;
	}
}

/* The labels of an exemplar (a jsonb object) as a sorted JSON object. */
static void
json_jsonb_labels(StringInfo s, Jsonb *jb)
{
	MimirLabelSet ls;

	mimir_labelset_from_jsonb(jb, &ls);
	json_labels(s, &ls);
}

void
api_query_exemplars(ApiRequest *req, ApiResponse *resp)
{
	int64		start = api_time_param(req, "start", API_MIN_TIME_MS);
	int64		end = api_time_param(req, "end", API_MAX_TIME_MS);
	const char *q = api_param(req, "query");
	PqNode	   *n;
	List	   *sels = NIL;
	ListCell   *lc;
	MimirSeriesRef *refs = NULL;
	int			nrefs = 0;
	int32		tenant_id;
	StringInfo	s = &resp->body;
	bool		first_series = true;

	if (end < start)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("end timestamp must not be before start timestamp")));
	n = promql_parse(q ? q : "");
	collect_selectors(n, &sels);
	tenant_id = mimir_tenant_id(req->tenant, false);
	api_success_begin(resp);
	appendStringInfoChar(s, '[');
	if (sels != NIL && tenant_id >= 0)
	{
		int			cap = 0;

		foreach(lc, sels)
		{
			int			cnt;
			MimirSeriesRef *r;

			mimir_head_flush();
			r = mimir_select_series(tenant_id, lfirst(lc), &cnt);
			if (nrefs + cnt > cap)
			{
				cap = Max(16, (nrefs + cnt) * 2);
				refs = refs ? repalloc_huge(refs, sizeof(MimirSeriesRef) * cap)
					: palloc_extended(sizeof(MimirSeriesRef) * cap, MCXT_ALLOC_HUGE);
			}
			for (int i = 0; i < cnt; i++)
				refs[nrefs++] = r[i];
		}
		if (nrefs > 1)
		{
			int			out = 1;

			qsort(refs, nrefs, sizeof(MimirSeriesRef), ref_cmp);
			for (int i = 1; i < nrefs; i++)
				if (refs[i].id != refs[out - 1].id)
					refs[out++] = refs[i];
			nrefs = out;
		}
	}
	if (nrefs > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * nrefs);
		Oid			types[4] = {INT4OID, INT8ARRAYOID, INT8OID, INT8OID};
		Datum		args[4];
		MemoryContext caller = CurrentMemoryContext;
		int64		cur = -1;
		bool		first_ex = true;

		for (int i = 0; i < nrefs; i++)
			ids[i] = refs[i].id;
		args[0] = Int32GetDatum(tenant_id);
		args[1] = mimir_int8_array(ids, nrefs);
		args[2] = Int64GetDatum(start);
		args[3] = Int64GetDatum(end);
		mimir_spi_connect();
		if (SPI_execute_with_args("SELECT series_id, t, value, labels FROM mimir.exemplars"
								  " WHERE tenant_id = $1 AND series_id = ANY($2)"
								  " AND t >= $3 AND t <= $4 ORDER BY series_id, t",
								  4, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "exemplar lookup failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		sid = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			int64		t = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
			double		v = DatumGetFloat8(SPI_getbinval(tup, td, 3, &isnull));
			Jsonb	   *jb = DatumGetJsonbP(SPI_getbinval(tup, td, 4, &isnull));

			if (sid != cur)
			{
				MimirLabelSet *ls = NULL;

				for (int k = 0; k < nrefs; k++)
					if (refs[k].id == sid)
						ls = &refs[k].labels;
				if (ls == NULL)
					continue;
				if (cur != -1)
					appendStringInfoString(s, "]}");
				if (!first_series)
					appendStringInfoChar(s, ',');
				first_series = false;
				appendStringInfoString(s, "{\"seriesLabels\":");
				json_labels(s, ls);
				appendStringInfoString(s, ",\"exemplars\":[");
				cur = sid;
				first_ex = true;
			}
			if (!first_ex)
				appendStringInfoChar(s, ',');
			first_ex = false;
			appendStringInfoString(s, "{\"labels\":");
			json_jsonb_labels(s, jb);
			appendStringInfoString(s, ",\"value\":");
			json_float(s, v);
			appendStringInfoString(s, ",\"timestamp\":");
			json_timestamp(s, t);
			appendStringInfoChar(s, '}');
		}
		if (cur != -1)
			appendStringInfoString(s, "]}");
		mimir_spi_finish();
		MemoryContextSwitchTo(caller);
	}
	appendStringInfoChar(s, ']');
	api_success_end(resp, NIL, NIL);
}

/* ---------------------------------------------------------------------
 * Mimir's cardinality analysis
 * --------------------------------------------------------------------- */

#define CARD_DEFAULT_LIMIT 20
#define CARD_MAX_LIMIT 500
#define CARD_MAX_LABEL_NAMES 100

static void
cardinality_check_enabled(ApiRequest *req, QueryLimits *lim)
{
	query_limits_for(req->tenant, lim);
	if (!lim->cardinality_analysis_enabled)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("cardinality analysis is disabled for the tenant: %s", req->tenant)));
}

static int
cardinality_limit(ApiRequest *req)
{
	const char *v = api_param(req, "limit");
	int			limit;

	if (v == NULL || *v == '\0')
		return CARD_DEFAULT_LIMIT;
	if (!atoi_param(v, &limit))
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("strconv.Atoi: parsing \"%s\": invalid syntax", v)));
	if (limit < 0)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("'limit' param cannot be less than '0'")));
	if (limit > CARD_MAX_LIMIT)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("'limit' param cannot be greater than '%d'", CARD_MAX_LIMIT)));
	return limit;
}

/* The optional `selector` parameter as a matcher-set list (NIL: all series). */
static List *
cardinality_selector(ApiRequest *req, bool required)
{
	const char *sel = api_param(req, "selector");
	PqNode	   *n;

	if (sel == NULL || *sel == '\0')
	{
		if (required)
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("selector cannot be empty")));
		return NIL;
	}
	n = api_parse_promql(sel, "failed to parse selector");
	if (n->kind != PQ_VECTOR_SELECTOR)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("failed to parse selector: a series selector such as up{job=\"x\"} is expected")));
	return list_make1(n->u.vs.matchers);
}

typedef struct CardEntry
{
	char	   *key;
	int64		count;
} CardEntry;

static int
card_cmp(const void *a, const void *b)
{
	const CardEntry *x = a,
			   *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int
pair_cmp(const void *a, const void *b)
{
	const MimirLabel *x = *(MimirLabel * const *) a,
			   *y = *(MimirLabel * const *) b;
	int			c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* All (name, value) pairs of the series, sorted by name then value. */
static MimirLabel **
all_pairs(MimirSeriesRef *refs, int n, int *npairs)
{
	int			total = 0,
				k = 0;
	MimirLabel **p;

	for (int i = 0; i < n; i++)
		total += refs[i].labels.n;
	p = palloc_extended(sizeof(MimirLabel *) * Max(total, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < refs[i].labels.n; j++)
			p[k++] = &refs[i].labels.labels[j];
	if (total > 1)
		qsort(p, total, sizeof(MimirLabel *), pair_cmp);
	*npairs = total;
	return p;
}

void
api_cardinality_label_names(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	int			limit,
				n,
				np,
				nnames = 0;
	List	   *sets;
	MimirSeriesRef *refs;
	MimirLabel **pairs;
	CardEntry  *names;
	int64		total_values = 0;
	StringInfo	s = &resp->body;

	cardinality_check_enabled(req, &lim);
	sets = cardinality_selector(req, false);
	limit = cardinality_limit(req);
	refs = select_series(req, sets, API_MIN_TIME_MS, API_MAX_TIME_MS, 0, &n);
	pairs = all_pairs(refs, n, &np);
	names = palloc(sizeof(CardEntry) * Max(np, 1));
	for (int i = 0; i < np; i++)
	{
		bool		new_value = (i == 0 || pair_cmp(&pairs[i - 1], &pairs[i]) != 0);

		if (!new_value)
			continue;
		total_values++;
		if (nnames > 0 && strcmp(names[nnames - 1].key, pairs[i]->name) == 0)
			names[nnames - 1].count++;
		else
		{
			names[nnames].key = pairs[i]->name;
			names[nnames].count = 1;
			nnames++;
		}
	}
	if (nnames > 1)
		qsort(names, nnames, sizeof(CardEntry), card_cmp);
	resp->status = 200;
	resp->content_type = "application/json";
	resetStringInfo(s);
	appendStringInfo(s, "{\"label_values_count_total\":" INT64_FORMAT ",\"label_names_count\":%d,\"cardinality\":[",
					 total_values, nnames);
	for (int i = 0; i < nnames && i < limit; i++)
	{
		if (i > 0)
			appendStringInfoChar(s, ',');
		appendStringInfoString(s, "{\"label_name\":");
		json_string(s, names[i].key);
		appendStringInfo(s, ",\"label_values_count\":" INT64_FORMAT "}", names[i].count);
	}
	appendStringInfoString(s, "]}");
}

void
api_cardinality_label_values(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	int			limit,
				n,
				np,
				nwant;
	List	   *want = api_param_all(req, "label_names[]");
	List	   *sets;
	MimirSeriesRef *refs;
	MimirLabel **pairs;
	ListCell   *lc;
	CardEntry  *order;
	StringInfo	s = &resp->body;
	int			k = 0;

	cardinality_check_enabled(req, &lim);
	if (want == NIL)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("'label_names[]' param is required")));
	if (list_length(want) > CARD_MAX_LABEL_NAMES)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("'label_names[]' param is too long: at most %d label names are allowed",
						CARD_MAX_LABEL_NAMES)));
	foreach(lc, want)
		if (!mimir_valid_label_name(lfirst(lc)))
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("invalid 'label_names' param '%s'", (char *) lfirst(lc))));
	sets = cardinality_selector(req, false);
	limit = cardinality_limit(req);
	refs = select_series(req, sets, API_MIN_TIME_MS, API_MAX_TIME_MS, 0, &n);
	pairs = all_pairs(refs, n, &np);

	/* per wanted label: its series count, to order the labels */
	nwant = list_length(want);
	order = palloc(sizeof(CardEntry) * nwant);
	foreach(lc, want)
	{
		const char *name = lfirst(lc);
		bool		dup = false;

		for (int i = 0; i < k; i++)
			if (strcmp(order[i].key, name) == 0)
				dup = true;
		if (dup)
			continue;
		order[k].key = (char *) name;
		order[k].count = 0;
		for (int i = 0; i < np; i++)
			if (strcmp(pairs[i]->name, name) == 0)
				order[k].count++;
		k++;
	}
	nwant = k;
	qsort(order, nwant, sizeof(CardEntry), card_cmp);

	resp->status = 200;
	resp->content_type = "application/json";
	resetStringInfo(s);
	appendStringInfo(s, "{\"series_count_total\":%d,\"labels\":[", n);
	for (int w = 0; w < nwant; w++)
	{
		const char *name = order[w].key;
		CardEntry  *vals = palloc(sizeof(CardEntry) * Max(np, 1));
		int			nv = 0;

		for (int i = 0; i < np; i++)
		{
			if (strcmp(pairs[i]->name, name) != 0)
				continue;
			if (nv > 0 && strcmp(vals[nv - 1].key, pairs[i]->value) == 0)
				vals[nv - 1].count++;
			else
			{
				vals[nv].key = pairs[i]->value;
				vals[nv].count = 1;
				nv++;
			}
		}
		if (nv > 1)
			qsort(vals, nv, sizeof(CardEntry), card_cmp);
		if (w > 0)
			appendStringInfoChar(s, ',');
		appendStringInfoString(s, "{\"label_name\":");
		json_string(s, name);
		appendStringInfo(s, ",\"label_values_count\":%d,\"series_count\":" INT64_FORMAT ",\"cardinality\":[",
						 nv, order[w].count);
		for (int i = 0; i < nv && i < limit; i++)
		{
			if (i > 0)
				appendStringInfoChar(s, ',');
			appendStringInfoString(s, "{\"label_value\":");
			json_string(s, vals[i].key);
			appendStringInfo(s, ",\"series_count\":" INT64_FORMAT "}", vals[i].count);
		}
		appendStringInfoString(s, "]}");
		pfree(vals);
	}
	appendStringInfoString(s, "]}");
}

void
api_cardinality_active_series(ApiRequest *req, ApiResponse *resp)
{
	QueryLimits lim;
	List	   *sets;
	MimirSeriesRef *refs;
	int			n;
	StringInfo	s = &resp->body;

	cardinality_check_enabled(req, &lim);
	sets = cardinality_selector(req, true);
	refs = select_series(req, sets, req->now_ms - ACTIVE_SERIES_WINDOW_MS, req->now_ms,
						 lim.max_fetched_series_per_query, &n);
	resp->status = 200;
	resp->content_type = "application/json";
	resetStringInfo(s);
	appendStringInfoString(s, "{\"data\":[");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(s, ',');
		json_labels(s, &refs[i].labels);
	}
	appendStringInfoString(s, "]}");
}
