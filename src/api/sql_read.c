/*
 * sql_read.c — SQL entry points that read: mimir.samples, mimir.series,
 * mimir.label_names and mimir.label_values.
 */
#include "mimir.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(mimir_samples);
PG_FUNCTION_INFO_V1(mimir_series);
PG_FUNCTION_INFO_V1(mimir_label_names);
PG_FUNCTION_INFO_V1(mimir_label_values);

Jsonb *
mimir_labels_jsonb(const MimirLabelSet *ls)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < ls->n; i++)
	{
		JsonbValue	k,
					v;

		k.type = jbvString;
		k.val.string.val = ls->labels[i].name;
		k.val.string.len = strlen(ls->labels[i].name);
		v.type = jbvString;
		v.val.string.val = ls->labels[i].value;
		v.val.string.len = strlen(ls->labels[i].value);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* the inverse: a jsonb object of string values as a label set sorted by name */
void
mimir_labelset_from_jsonb(Jsonb *jb, MimirLabelSet *out)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap = 8;
	char	   *key = NULL;

	out->n = 0;
	out->labels = palloc(sizeof(MimirLabel) * cap);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key)
		{
			if (out->n == cap)
			{
				cap *= 2;
				out->labels = repalloc(out->labels, sizeof(MimirLabel) * cap);
			}
			out->labels[out->n].name = key;
			out->labels[out->n].value = v.type == jbvString ?
				pnstrdup(v.val.string.val, v.val.string.len) : pstrdup("");
			out->n++;
			key = NULL;
		}
	}
	qsort(out->labels, out->n, sizeof(MimirLabel), mimir_label_cmp);
}

/* Time range argument pair; NULL start/end mean unbounded. */
static void
time_range(FunctionCallInfo fcinfo, int a, int b, int64 *mint, int64 *maxt)
{
	*mint = PG_ARGISNULL(a) ? PG_INT64_MIN : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(a), "start");
	*maxt = PG_ARGISNULL(b) ? PG_INT64_MAX : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(b), "end");
	if (*mint > *maxt)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end timestamp must not be before start time")));
}

static List *
selector_arg(FunctionCallInfo fcinfo, int i, bool required)
{
	if (PG_ARGISNULL(i))
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("selector must not be NULL"),
					 errhint("Pass a series selector such as 'up' or '{job=\"api\"}'.")));
		return NIL;
	}
	return mimir_parse_selector(text_to_cstring(PG_GETARG_TEXT_PP(i)));
}

Datum
mimir_samples(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *matchers = selector_arg(fcinfo, 0, true);
	int64		mint,
				maxt;
	const char *tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	MimirSeriesData *d;
	int			n;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("start and end must not be NULL")));
	time_range(fcinfo, 1, 2, &mint, &maxt);
	InitMaterializedSRF(fcinfo, 0);
	d = mimir_read_series(mimir_tenant_id(tenant, false), matchers, mint, maxt, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		labels;

		if (d[i].n == 0)
			continue;
		labels = JsonbPGetDatum(mimir_labels_jsonb(&d[i].labels));
		for (int j = 0; j < d[i].n; j++)
		{
			Datum		vals[3];
			bool		nulls[3] = {false, false, false};

			vals[0] = labels;
			vals[1] = TimestampTzGetDatum(mimir_ms_to_ts_checked(d[i].samples[j].t));
			vals[2] = Float8GetDatum(d[i].samples[j].v);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * Series matching the selector (all series of the tenant if NIL) that have
 * samples in [mint, maxt] (any series when the range is unbounded).
 */
static MimirSeriesRef *
matching_series(List *matchers, int32 tenant_id, int64 mint, int64 maxt, int *n)
{
	MimirSeriesRef *refs;
	bool		unbounded = (mint == PG_INT64_MIN && maxt == PG_INT64_MAX);

	if (unbounded)
	{
		mimir_head_flush();
		return mimir_select_series(tenant_id, matchers, n);
	}
	else
	{
		MimirSeriesData *d = mimir_read_series(tenant_id, matchers, mint, maxt, n);
		int			out = 0;

		refs = palloc(sizeof(MimirSeriesRef) * Max(*n, 1));
		for (int i = 0; i < *n; i++)
			if (d[i].n > 0)
			{
				refs[out].id = d[i].id;
				refs[out].labels = d[i].labels;
				out++;
			}
		*n = out;
		return refs;
	}
}

Datum
mimir_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *matchers = selector_arg(fcinfo, 0, true);
	int64		mint,
				maxt;
	const char *tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	MimirSeriesRef *refs;
	int			n;

	time_range(fcinfo, 1, 2, &mint, &maxt);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	refs = matching_series(matchers, mimir_tenant_id(tenant, false), mint, maxt, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		val = JsonbPGetDatum(mimir_labels_jsonb(&refs[i].labels));
		bool		null = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &val, &null);
	}
	return (Datum) 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Emit the sorted distinct strings. */
static void
emit_sorted_unique(FunctionCallInfo fcinfo, char **s, int n)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	qsort(s, n, sizeof(char *), str_cmp);
	for (int i = 0; i < n; i++)
	{
		Datum		val;
		bool		null = false;

		if (i > 0 && strcmp(s[i - 1], s[i]) == 0)
			continue;
		val = CStringGetTextDatum(s[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &val, &null);
	}
}

static void
label_strings(FunctionCallInfo fcinfo, const char *want_name, int sel_arg, int range_arg,
			  int tenant_arg)
{
	List	   *matchers = selector_arg(fcinfo, sel_arg, false);
	int64		mint,
				maxt;
	const char *tenant = mimir_tenant_name(PG_ARGISNULL(tenant_arg) ? NULL : PG_GETARG_TEXT_PP(tenant_arg));
	MimirSeriesRef *refs;
	int			n,
				cnt = 0,
				cap = 64;
	char	  **out = palloc(sizeof(char *) * cap);

	time_range(fcinfo, range_arg, range_arg + 1, &mint, &maxt);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	refs = matching_series(matchers, mimir_tenant_id(tenant, false), mint, maxt, &n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < refs[i].labels.n; j++)
		{
			MimirLabel *l = &refs[i].labels.labels[j];

			if (want_name && strcmp(l->name, want_name) != 0)
				continue;
			if (cnt == cap)
			{
				cap *= 2;
				out = repalloc_huge(out, sizeof(char *) * cap);
			}
			out[cnt++] = want_name ? l->value : l->name;
		}
	emit_sorted_unique(fcinfo, out, cnt);
}

Datum
mimir_label_names(PG_FUNCTION_ARGS)
{
	label_strings(fcinfo, NULL, 0, 1, 3);
	return (Datum) 0;
}

Datum
mimir_label_values(PG_FUNCTION_ARGS)
{
	char	   *name;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label name must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label name must not be empty")));
	mimir_check_utf8("label name", name, strlen(name));
	label_strings(fcinfo, name, 1, 2, 4);
	return (Datum) 0;
}
