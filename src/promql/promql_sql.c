/*
 * promql_sql.c — the SQL face of the PromQL engine: mimir.query and
 * mimir.query_range, the engine's GUCs (mimir.lookback_delta,
 * mimir.query_max_samples, mimir.query_timeout) and
 * promql_default_options. Result rows come in result order; annotations
 * are raised as WARNING (warnings) and NOTICE (infos).
 */
#include "promql/promql.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "access/htup_details.h"
#include "access/tupmacs.h"

PG_FUNCTION_INFO_V1(mimir_query);
PG_FUNCTION_INFO_V1(mimir_query_range);

static int	lookback_delta_ms = 5 * 60 * 1000;
static int	query_max_samples = 50000000;
static int	query_timeout_ms = 2 * 60 * 1000;

void
promql_init(void)
{
	DefineCustomIntVariable("mimir.lookback_delta",
							"How far back an instant vector selector looks for the latest sample.",
							"Prometheus' --query.lookback-delta.",
							&lookback_delta_ms, 5 * 60 * 1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.query_max_samples",
							"Maximum number of samples a PromQL query may hold in memory (0: no limit).",
							"Prometheus' --query.max-samples.",
							&query_max_samples, 50000000, 0, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.query_timeout",
							"Maximum evaluation time of a PromQL query (0: none; statement_timeout applies too).",
							"Prometheus' --query.timeout.",
							&query_timeout_ms, 2 * 60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

void
promql_default_options(PqOptions *opts, int32 tenant_id)
{
	memset(opts, 0, sizeof(PqOptions));
	opts->lookback_ms = lookback_delta_ms;
	opts->max_samples = query_max_samples;
	opts->timeout_ms = query_timeout_ms;
	opts->max_fetched_series = 0;
	opts->tenant_id = tenant_id;
}

static const char *
text_arg(FunctionCallInfo fcinfo, int i, const char *what)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(i));
}

static int64
time_arg(FunctionCallInfo fcinfo, int i, const char *what)
{
	if (PG_ARGISNULL(i))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	return mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(i), what);
}

static void
raise_annotations(PqResult *res)
{
	ListCell   *lc;

	foreach(lc, res->warnings)
		ereport(WARNING, (errmsg("%s", (char *) lfirst(lc))));
	foreach(lc, res->infos)
		ereport(NOTICE, (errmsg("%s", (char *) lfirst(lc))));
}

static void
put_row(ReturnSetInfo *rsinfo, Datum labels, bool labels_null, int64 t, double v, bool v_null)
{
	Datum		vals[3];
	bool		nulls[3] = {labels_null, false, v_null};

	vals[0] = labels;
	vals[1] = TimestampTzGetDatum(mimir_ms_to_ts_checked(t));
	vals[2] = Float8GetDatum(v);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
}

/*
 * All rows of one series: the tuple is formed once (labels are the same on
 * every row) and only its time and value are rewritten per point, which
 * saves forming a tuple per row for results of many points.
 */
static void
put_series(ReturnSetInfo *rsinfo, PqSeries *s)
{
	TupleDesc	td = rsinfo->setDesc;
	Datum		vals[3];
	bool		nulls[3] = {false, false, false};
	HeapTuple	tup;
	char	   *data;
	uint32		off = 0;

	if (s->npoints == 0)
		return;
	vals[0] = JsonbPGetDatum(mimir_labels_jsonb(&s->labels));
	if (td->natts != 3 || TupleDescAttr(td, 1)->attlen != 8 || TupleDescAttr(td, 2)->attlen != 8 ||
		TupleDescAttr(td, 0)->attlen != -1)
	{
		for (int j = 0; j < s->npoints; j++)
			put_row(rsinfo, vals[0], false, s->points[j].t, s->points[j].v, false);
		return;
	}
	vals[1] = TimestampTzGetDatum(0);
	vals[2] = Float8GetDatum(0);
	tup = heap_form_tuple(td, vals, nulls);
	data = (char *) tup->t_data + tup->t_data->t_hoff;
	off = att_align_pointer(off, TupleDescAttr(td, 0)->attalign, -1, data + off);
	off = att_addlength_pointer(off, -1, data + off);
	{
		uint32		off_t = att_align_nominal(off, TupleDescAttr(td, 1)->attalign);
		uint32		off_v = att_align_nominal(off_t + 8, TupleDescAttr(td, 2)->attalign);

		for (int j = 0; j < s->npoints; j++)
		{
			TimestampTz t = mimir_ms_to_ts_checked(s->points[j].t);
			double		v = s->points[j].v;

			memcpy(data + off_t, &t, 8);
			memcpy(data + off_v, &v, 8);
			tuplestore_puttuple(rsinfo->setResult, tup);
		}
	}
	heap_freetuple(tup);
}

static void
emit_result(FunctionCallInfo fcinfo, PqResult *res)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	switch (res->type)
	{
		case PQ_TYPE_SCALAR:
			put_row(rsinfo, (Datum) 0, true, res->scalar_t, res->scalar, false);
			break;
		case PQ_TYPE_STRING:
			{
				/* a string result: its value as a JSON string in labels */
				JsonbValue	jv;

				jv.type = jbvString;
				jv.val.string.val = res->string;
				jv.val.string.len = strlen(res->string);
				put_row(rsinfo, JsonbPGetDatum(JsonbValueToJsonb(&jv)), false,
						res->scalar_t, 0, true);
				break;
			}
		default:
			for (int i = 0; i < res->nseries; i++)
				put_series(rsinfo, &res->series[i]);
	}
}

static int32
tenant_arg(FunctionCallInfo fcinfo, int i)
{
	const char *name = mimir_tenant_name(PG_ARGISNULL(i) ? NULL : PG_GETARG_TEXT_PP(i));

	return mimir_tenant_id(name, false);
}

/* mimir.query(query text, at timestamptz DEFAULT now(), tenant text DEFAULT NULL) */
Datum
mimir_query(PG_FUNCTION_ARGS)
{
	const char *q = text_arg(fcinfo, 0, "query");
	int64		at = time_arg(fcinfo, 1, "evaluation time");
	PqOptions	opts;
	PqResult   *res;

	promql_default_options(&opts, tenant_arg(fcinfo, 2));
	res = promql_exec_instant(q, at, &opts);
	raise_annotations(res);
	emit_result(fcinfo, res);
	return (Datum) 0;
}

/* mimir.query_range(query, start, "end", step interval, tenant DEFAULT NULL) */
Datum
mimir_query_range(PG_FUNCTION_ARGS)
{
	const char *q = text_arg(fcinfo, 0, "query");
	int64		start = time_arg(fcinfo, 1, "start");
	int64		end = time_arg(fcinfo, 2, "end");
	Interval   *step;
	int64		step_ms;
	PqOptions	opts;
	PqResult   *res;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("step must not be NULL")));
	step = PG_GETARG_INTERVAL_P(3);
	if (step->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("step must not contain months or years"),
				 errhint("Use days, hours, minutes or seconds, e.g. '1 minute'.")));
	step_ms = step->time / 1000 + (int64) step->day * 86400 * 1000;
	promql_default_options(&opts, tenant_arg(fcinfo, 4));
	res = promql_exec_range(q, start, end, step_ms, &opts);
	raise_annotations(res);
	emit_result(fcinfo, res);
	return (Datum) 0;
}
