/*
 * grafana.c — SQL functions made for Grafana's PostgreSQL data source:
 * mimir.grafana() runs a PromQL range query over a panel's time range and
 * returns (time, metric, value) rows sorted by time, the "time series"
 * format Grafana expects, with series named exactly as Grafana's Prometheus
 * data source names them (legend templates like "{{instance}} {{mode}}",
 * or the label set). Like Grafana, the range is aligned to the step, so the
 * same panel drawn from either data source shows the same points.
 */
#include "api/api.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "promql/promql.h"

PG_FUNCTION_INFO_V1(mimir_grafana);
PG_FUNCTION_INFO_V1(mimir_grafana_legend);

static bool
js_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *
label_value(const MimirLabelSet *ls, const char *name, int len)
{
	for (int i = 0; i < ls->n; i++)
		if ((int) strlen(ls->labels[i].name) == len &&
			strncmp(ls->labels[i].name, name, len) == 0)
			return ls->labels[i].value;
	return NULL;
}

/*
 * Grafana's renderLegendFormat: every match of /\{\{\s*(.+?)\s*\}\}/g is
 * replaced by the label's value, or by the label name itself when the
 * series has no such label (or it is empty). The regex is evaluated with
 * JavaScript's semantics: greedy leading blanks, then the shortest name.
 */
static char *
render_legend(const char *pat, const MimirLabelSet *ls)
{
	StringInfoData out;
	int			len = strlen(pat);
	int			i = 0;

	initStringInfo(&out);
	while (i < len)
	{
		bool		matched = false;

		if (i + 1 < len && pat[i] == '{' && pat[i + 1] == '{')
		{
			int			ws = 0;

			while (i + 2 + ws < len && js_space(pat[i + 2 + ws]))
				ws++;
			for (int w = ws; w >= 0 && !matched; w--)
			{
				int			s = i + 2 + w;

				for (int e = s + 1; e <= len; e++)
				{
					int			f = e;

					if (pat[e - 1] == '\n' || pat[e - 1] == '\r')
						break;
					while (f < len && js_space(pat[f]))
						f++;
					if (f + 1 < len && pat[f] == '}' && pat[f + 1] == '}')
					{
						const char *v = label_value(ls, pat + s, e - s);

						if (v && *v)
							appendStringInfoString(&out, v);
						else
							appendBinaryStringInfo(&out, pat + s, e - s);
						i = f + 2;
						matched = true;
						break;
					}
				}
			}
		}
		if (!matched)
			appendStringInfoChar(&out, pat[i++]);
	}
	return out.data;
}

/* Grafana's getOriginalMetricName: name{a="x",b="y"} */
static char *
original_name(const MimirLabelSet *ls)
{
	StringInfoData out;
	bool		first = true;
	const char *name = label_value(ls, "__name__", 8);

	initStringInfo(&out);
	if (name)
		appendStringInfoString(&out, name);
	appendStringInfoChar(&out, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (strcmp(ls->labels[i].name, "__name__") == 0)
			continue;
		if (!first)
			appendStringInfoChar(&out, ',');
		first = false;
		appendStringInfo(&out, "%s=\"%s\"", ls->labels[i].name, ls->labels[i].value);
	}
	appendStringInfoChar(&out, '}');
	return out.data;
}

/* The series name Grafana would show; the query itself for an empty label set. */
static char *
series_name(const char *query, const char *legend, const MimirLabelSet *ls)
{
	char	   *name;

	if (legend && *legend && strcmp(legend, "__auto") != 0)
		name = render_legend(legend, ls);
	else
		name = original_name(ls);
	if (*name == '\0' || strcmp(name, "{}") == 0)
		name = pstrdup(query);
	return name;
}

static int64
interval_ms(Interval *iv)
{
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must not contain months or years"),
				 errhint("Pass the panel interval quoted, as '$__interval' (e.g. '1m').")));
	return iv->time / 1000 + (int64) iv->day * 86400000;
}

typedef struct GrafanaRow
{
	int64		t;
	int			series;
	double		v;
} GrafanaRow;

static int
row_cmp(const void *a, const void *b)
{
	const GrafanaRow *x = a,
			   *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->series - y->series;
}

/*
 * mimir.grafana(query, "from", "to", step, legend, tenant)
 *   → TABLE(time timestamptz, metric text, value float8) ORDER BY time
 */
Datum
mimir_grafana(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query;
	char	   *legend;
	const char *tenant;
	int64		from,
				to,
				step,
				start,
				end;
	PqOptions	opts;
	PqResult   *res;
	GrafanaRow *rows;
	int64		nrows = 0;
	char	  **names;
	Datum	   *name_datums;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query, from, to and step must not be NULL"),
				 errhint("In a Grafana panel: SELECT * FROM mimir.grafana('up', $__timeFrom(), $__timeTo(), '$__interval')")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	from = mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(1), "from");
	to = mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(2), "to");
	step = interval_ms(PG_GETARG_INTERVAL_P(3));
	legend = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	tenant = mimir_tenant_name(PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_PP(5));
	if (step <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("zero or negative query resolution step widths are not accepted. Try a positive integer"),
				 errhint("Pass the panel interval quoted, as '$__interval' (e.g. '1m').")));
	if (to < from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end timestamp must not be before start time")));
	/* Grafana's alignRange (UTC): both ends down to a multiple of the step */
	start = from - ((from % step) + step) % step;
	end = to - ((to % step) + step) % step;
	if ((end - start) / step > 11000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"),
				 errhint("Use a larger step (the panel's Min interval) or a shorter time range.")));

	promql_default_options(&opts, mimir_tenant_id(tenant, false));
	opts.tenant_id = mimir_tenant_id(tenant, false);
	{
		QueryLimits lim;

		query_limits_for(tenant, &lim);
		if (lim.max_fetched_series_per_query > 0)
			opts.max_fetched_series = lim.max_fetched_series_per_query;
	}
	res = promql_exec_range(query, start, end, step, &opts);

	names = palloc(sizeof(char *) * Max(res->nseries, 1));
	name_datums = palloc(sizeof(Datum) * Max(res->nseries, 1));
	for (int i = 0; i < res->nseries; i++)
	{
		names[i] = series_name(query, legend, &res->series[i].labels);
		name_datums[i] = CStringGetTextDatum(names[i]);
		nrows += res->series[i].npoints;
	}
	rows = palloc_extended(sizeof(GrafanaRow) * Max(nrows, 1), MCXT_ALLOC_HUGE);
	nrows = 0;
	for (int i = 0; i < res->nseries; i++)
		for (int j = 0; j < res->series[i].npoints; j++)
		{
			rows[nrows].t = res->series[i].points[j].t;
			rows[nrows].series = i;
			rows[nrows].v = res->series[i].points[j].v;
			nrows++;
		}
	/* Grafana refuses "long" frames that are not sorted by time */
	qsort(rows, nrows, sizeof(GrafanaRow), row_cmp);

	InitMaterializedSRF(fcinfo, 0);
	for (int64 k = 0; k < nrows; k++)
	{
		Datum		vals[3];
		bool		nulls[3] = {false, false, false};

		if ((k & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();
		vals[0] = TimestampTzGetDatum(mimir_ms_to_ts(rows[k].t));
		vals[1] = name_datums[rows[k].series];
		vals[2] = Float8GetDatum(rows[k].v);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
	}
	return (Datum) 0;
}

/*
 * mimir.grafana_legend(legend, labels jsonb, query) → text: the series name
 * Grafana shows, for SQL users who run mimir.query()/query_range() directly.
 */
Datum
mimir_grafana_legend(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb;
	MimirLabelSet ls;
	char	   *legend = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	jb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("labels must be a JSON object such as {\"job\": \"api\"}")));
	mimir_labelset_from_jsonb(jb, &ls);
	PG_RETURN_TEXT_P(cstring_to_text(series_name(query, legend, &ls)));
}
