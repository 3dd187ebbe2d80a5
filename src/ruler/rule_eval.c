/*
 * rule_eval.c — evaluating a rule group at one timestamp, as Prometheus'
 * rules manager does: recording rules write their result series, alerting
 * rules run the pending -> firing -> resolved state machine (keep_firing_for,
 * limit, 15 minutes of resolved retention) and write ALERTS and
 * ALERTS_FOR_STATE, series that disappear get staleness markers, and alerts
 * due for (re)sending are queued in mimir.alert_outbox for the notifier.
 * Alert state lives in mimir.alert_state, so it survives restarts.
 *
 * Each rule runs in a subtransaction: a failing rule records its error and
 * the others still run, like a rule failure in Prometheus.
 */
#include "ruler/ruler.h"

#include <math.h>
#include <sys/time.h>

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "ingester/ingester.h"
#include "promql/promql.h"

PG_FUNCTION_INFO_V1(mimir_evaluate_rule_group);
PG_FUNCTION_INFO_V1(mimir_ruler_step);
PG_FUNCTION_INFO_V1(mimir_render_template);

#define RESOLVED_RETENTION_MS	(15 * 60 * 1000LL)
/* Prometheus' defaults for restoring 'for' state after an outage */
#define FOR_OUTAGE_TOLERANCE_MS	(3600 * 1000LL)
#define FOR_GRACE_PERIOD_MS		(2 * 60 * 1000LL)
#define UNSET					PG_INT64_MIN

enum
{
	ST_INACTIVE = 1,
	ST_PENDING = 2,
	ST_FIRING = 3
};

typedef struct EvalRule
{
	int64		id;
	int			idx;
	bool		alerting;
	char	   *name;
	char	   *expr;
	int64		for_ms;
	int64		kff_ms;
	MimirLabelSet labels;
	MimirLabelSet annotations;
	int			nprev;
	int64	   *prev;
} EvalRule;

typedef struct EvalGroup
{
	int64		id;
	int32		tenant_id;
	char	   *tenant;
	char	   *namespace;
	char	   *name;
	int64		interval_ms;
	int64		offset_ms;		/* query_offset */
	int64		limit;
	bool		align;
	int64		last_eval_ts;	/* UNSET: never */
	int			nstale;
	int64	   *stale;
	int			nrules;
	EvalRule   *rules;
} EvalGroup;

typedef struct AlertRec
{
	char	   *key;
	MimirLabelSet labels;
	MimirLabelSet annotations;
	int			state;
	double		value;
	int64		active_at,
				fired_at,
				resolved_at,
				last_sent_at,
				valid_until,
				keep_firing_since;
	bool		deleted;
	bool		in_result;
} AlertRec;

/* what an evaluation reports back to SQL (evaluate_rule_group) */
typedef struct EvalOut
{
	Tuplestorestate *ts;
	TupleDesc	desc;
} EvalOut;

/* ---------------------------------------------------------------------
 * label sets
 * --------------------------------------------------------------------- */
static void
ls_copy(MimirLabelSet *dst, const MimirLabelSet *src, int extra)
{
	dst->n = src->n;
	dst->labels = palloc(sizeof(MimirLabel) * (src->n + extra + 1));
	memcpy(dst->labels, src->labels, sizeof(MimirLabel) * src->n);
}

/* set (or, for an empty value, delete) a label, keeping the set sorted; room must exist */
static void
ls_set(MimirLabelSet *ls, const char *name, const char *value)
{
	int			i;

	for (i = 0; i < ls->n; i++)
	{
		int			c = strcmp(ls->labels[i].name, name);

		if (c == 0)
		{
			if (*value == '\0')
			{
				memmove(&ls->labels[i], &ls->labels[i + 1], sizeof(MimirLabel) * (ls->n - i - 1));
				ls->n--;
			}
			else
				ls->labels[i].value = (char *) value;
			return;
		}
		if (c > 0)
			break;
	}
	if (*value == '\0')
		return;
	memmove(&ls->labels[i + 1], &ls->labels[i], sizeof(MimirLabel) * (ls->n - i));
	ls->labels[i].name = (char *) name;
	ls->labels[i].value = (char *) value;
	ls->n++;
}

static const char *
ls_get(const MimirLabelSet *ls, const char *name)
{
	for (int i = 0; i < ls->n; i++)
		if (strcmp(ls->labels[i].name, name) == 0)
			return ls->labels[i].value;
	return "";
}

/* Prometheus' labels.String(): {a="b", c="d"} (including __name__) */
static char *
ls_key(const MimirLabelSet *ls)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (i)
			appendStringInfoString(&b, ", ");
		appendStringInfo(&b, "%s=", ls->labels[i].name);
		appendStringInfoString(&b, gofmt_quote(ls->labels[i].value));
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

static int64 *
int8_array(Datum d, bool isnull, int *n)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int64	   *out;

	*n = 0;
	if (isnull)
		return NULL;
	a = DatumGetArrayTypeP(d);
	deconstruct_array(a, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, n);
	out = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = DatumGetInt64(elems[i]);
	return out;
}

static int64
now_ms(void)
{
	return mimir_ts_to_ms(GetCurrentTimestamp());
}

/* ---------------------------------------------------------------------
 * loading and saving
 * --------------------------------------------------------------------- */
static bool
load_group(int64 id, EvalGroup *g, bool lock, bool skip_locked)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(id);
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	td;
	bool		found;

	memset(g, 0, sizeof(*g));
	mimir_spi_connect();
	if (SPI_execute_with_args(psprintf("SELECT g.id, g.tenant_id, t.name, g.namespace, g.name, g.interval_ms, "
									   "g.query_offset_ms, g.rule_limit, g.align, g.last_eval_ts, g.stale_series "
									   "FROM mimir.rule_groups g JOIN mimir.tenants t ON t.id = g.tenant_id "
									   "WHERE g.id = $1 %s",
									   lock ? (skip_locked ? "FOR UPDATE OF g SKIP LOCKED" : "FOR UPDATE OF g") : ""),
							  1, &type, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "rule group lookup failed");
	found = SPI_processed == 1;
	if (found)
	{
		Datum		d;

		tup = SPI_tuptable->vals[0];
		td = SPI_tuptable->tupdesc;
		MemoryContextSwitchTo(caller);
		g->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		g->tenant_id = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
		g->tenant = SPI_getvalue(tup, td, 3);
		g->namespace = SPI_getvalue(tup, td, 4);
		g->name = SPI_getvalue(tup, td, 5);
		g->interval_ms = DatumGetInt64(SPI_getbinval(tup, td, 6, &isnull));
		g->offset_ms = DatumGetInt64(SPI_getbinval(tup, td, 7, &isnull));
		g->limit = DatumGetInt64(SPI_getbinval(tup, td, 8, &isnull));
		g->align = DatumGetBool(SPI_getbinval(tup, td, 9, &isnull));
		d = SPI_getbinval(tup, td, 10, &isnull);
		g->last_eval_ts = isnull ? UNSET : DatumGetInt64(d);
		d = SPI_getbinval(tup, td, 11, &isnull);
		g->stale = int8_array(d, isnull, &g->nstale);
	}
	MemoryContextSwitchTo(caller);
	mimir_spi_finish();
	return found;
}

static void
load_rules(EvalGroup *g)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(g->id);

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT id, idx, kind, name, expr, for_ms, keep_firing_for_ms, labels, "
							  "annotations, prev_series FROM mimir.rules WHERE group_id = $1 ORDER BY idx",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "rule lookup failed");
	MemoryContextSwitchTo(caller);
	g->nrules = (int) SPI_processed;
	g->rules = palloc0(sizeof(EvalRule) * Max(g->nrules, 1));
	for (int i = 0; i < g->nrules; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		EvalRule   *r = &g->rules[i];
		bool		isnull;
		Datum		d;

		r->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		r->idx = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
		r->alerting = strcmp(SPI_getvalue(tup, td, 3), "alerting") == 0;
		r->name = SPI_getvalue(tup, td, 4);
		r->expr = SPI_getvalue(tup, td, 5);
		r->for_ms = DatumGetInt64(SPI_getbinval(tup, td, 6, &isnull));
		r->kff_ms = DatumGetInt64(SPI_getbinval(tup, td, 7, &isnull));
		mimir_labelset_from_jsonb(DatumGetJsonbPCopy(SPI_getbinval(tup, td, 8, &isnull)), &r->labels);
		mimir_labelset_from_jsonb(DatumGetJsonbPCopy(SPI_getbinval(tup, td, 9, &isnull)), &r->annotations);
		d = SPI_getbinval(tup, td, 10, &isnull);
		r->prev = int8_array(d, isnull, &r->nprev);
	}
	mimir_spi_finish();
}

static Datum
nullable_int8(int64 v, bool *isnull)
{
	*isnull = v == UNSET;
	return Int64GetDatum(v == UNSET ? 0 : v);
}

static const char *
state_name(int st)
{
	return st == ST_FIRING ? "firing" : st == ST_PENDING ? "pending" : "inactive";
}

static List *
load_alerts(int64 rule_id)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(rule_id);
	List	   *res = NIL;

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT labels_key, labels, annotations, state, value, active_at, fired_at, "
							  "resolved_at, last_sent_at, valid_until, keep_firing_since "
							  "FROM mimir.alert_state WHERE rule_id = $1",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "alert state lookup failed");
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		AlertRec   *a = palloc0(sizeof(AlertRec));
		bool		isnull;
		char	   *st;
		Datum		d;

		a->key = SPI_getvalue(tup, td, 1);
		mimir_labelset_from_jsonb(DatumGetJsonbPCopy(SPI_getbinval(tup, td, 2, &isnull)), &a->labels);
		mimir_labelset_from_jsonb(DatumGetJsonbPCopy(SPI_getbinval(tup, td, 3, &isnull)), &a->annotations);
		st = SPI_getvalue(tup, td, 4);
		a->state = strcmp(st, "firing") == 0 ? ST_FIRING : strcmp(st, "pending") == 0 ? ST_PENDING : ST_INACTIVE;
		a->value = DatumGetFloat8(SPI_getbinval(tup, td, 5, &isnull));
		a->active_at = DatumGetInt64(SPI_getbinval(tup, td, 6, &isnull));
#define GETTS(col, field) d = SPI_getbinval(tup, td, col, &isnull); a->field = isnull ? UNSET : DatumGetInt64(d)
		GETTS(7, fired_at);
		GETTS(8, resolved_at);
		GETTS(9, last_sent_at);
		GETTS(10, valid_until);
		GETTS(11, keep_firing_since);
#undef GETTS
		res = lappend(res, a);
	}
	mimir_spi_finish();
	return res;
}

static void
save_alerts(int64 rule_id, List *alerts)
{
	Oid			type = INT8OID;
	Datum		arg = Int64GetDatum(rule_id);
	ListCell   *lc;

	mimir_spi_connect();
	if (SPI_execute_with_args("DELETE FROM mimir.alert_state WHERE rule_id = $1",
							  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "alert state delete failed");
	foreach(lc, alerts)
	{
		AlertRec   *a = lfirst(lc);
		Oid			types[12] = {INT8OID, TEXTOID, JSONBOID, JSONBOID, TEXTOID, FLOAT8OID, INT8OID,
		INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
		Datum		args[12];
		char		nulls[12];
		bool		isnull;

		if (a->deleted)
			continue;
		memset(nulls, ' ', sizeof(nulls));
		args[0] = Int64GetDatum(rule_id);
		args[1] = CStringGetTextDatum(a->key);
		args[2] = JsonbPGetDatum(mimir_labels_jsonb(&a->labels));
		args[3] = JsonbPGetDatum(mimir_labels_jsonb(&a->annotations));
		args[4] = CStringGetTextDatum(state_name(a->state));
		args[5] = Float8GetDatum(a->value);
		args[6] = Int64GetDatum(a->active_at);
#define PUTTS(i, field) args[i] = nullable_int8(a->field, &isnull); nulls[i] = isnull ? 'n' : ' '
		PUTTS(7, fired_at);
		PUTTS(8, resolved_at);
		PUTTS(9, last_sent_at);
		PUTTS(10, valid_until);
		PUTTS(11, keep_firing_since);
#undef PUTTS
		if (SPI_execute_with_args("INSERT INTO mimir.alert_state(rule_id, labels_key, labels, annotations, "
								  "state, value, active_at, fired_at, resolved_at, last_sent_at, valid_until, "
								  "keep_firing_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
								  12, types, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "alert state insert failed");
	}
	mimir_spi_finish();
}

static void
save_rule(EvalRule *r, const char *error, TimestampTz started, double seconds, int64 *series,
		  int nseries, bool set_series)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID, INT8ARRAYOID};
	Datum		args[6];
	char		nulls[6] = "      ";

	args[0] = Int64GetDatum(r->id);
	args[1] = CStringGetTextDatum(error ? "err" : "ok");
	if (error)
		args[2] = CStringGetTextDatum(error);
	else
	{
		args[2] = (Datum) 0;
		nulls[2] = 'n';
	}
	args[3] = TimestampTzGetDatum(started);
	args[4] = Float8GetDatum(seconds);
	args[5] = set_series ? mimir_int8_array(series, nseries) : (Datum) 0;
	if (!set_series)
		nulls[5] = 'n';
	mimir_spi_connect();
	if (SPI_execute_with_args("UPDATE mimir.rules SET health = $2, last_error = $3, last_eval_at = $4, "
							  "eval_duration = $5, prev_series = coalesce($6, prev_series) WHERE id = $1",
							  6, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "rule update failed");
	mimir_spi_finish();
}

/* ---------------------------------------------------------------------
 * notifications
 * --------------------------------------------------------------------- */
static void
json_labels(StringInfo b, const MimirLabelSet *ls, const MimirLabelSet *extra)
{
	bool		first = true;

	appendStringInfoChar(b, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (!first)
			appendStringInfoChar(b, ',');
		first = false;
		escape_json(b, ls->labels[i].name);
		appendStringInfoChar(b, ':');
		escape_json(b, ls->labels[i].value);
	}
	/* external labels the alert does not have already (Prometheus' notifier) */
	for (int i = 0; extra && i < extra->n; i++)
	{
		if (*ls_get(ls, extra->labels[i].name))
			continue;
		if (!first)
			appendStringInfoChar(b, ',');
		first = false;
		escape_json(b, extra->labels[i].name);
		appendStringInfoChar(b, ':');
		escape_json(b, extra->labels[i].value);
	}
	appendStringInfoChar(b, '}');
}

static bool
alertmanager_configured(void)
{
	return mimir_alertmanager_url && *mimir_alertmanager_url;
}

static void
queue_alert(EvalGroup *g, EvalRule *r, AlertRec *a, const MimirLabelSet *ext)
{
	StringInfoData b;
	char	   *key = psprintf(INT64_FORMAT ":%s", r->id, a->key);
	bool		resolved = a->resolved_at != UNSET;
	Oid			types[4] = {TEXTOID, TEXTOID, BOOLOID, JSONBOID};
	Datum		args[4];

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"labels\":");
	json_labels(&b, &a->labels, ext);
	appendStringInfoString(&b, ",\"annotations\":");
	json_labels(&b, &a->annotations, NULL);
	appendStringInfo(&b, ",\"startsAt\":\"%s\"", gofmt_rfc3339(a->fired_at != UNSET ? a->fired_at : a->active_at, true));
	appendStringInfo(&b, ",\"endsAt\":\"%s\"", gofmt_rfc3339(resolved ? a->resolved_at : a->valid_until, true));
	{
		StringInfoData u;

		initStringInfo(&u);
		appendStringInfoString(&u, mimir_ruler_external_url ? mimir_ruler_external_url : "");
		while (u.len > 0 && u.data[u.len - 1] == '/')
			u.data[--u.len] = '\0';
		appendStringInfoString(&u, "/graph?g0.expr=");
		gofmt_query_escape(&u, r->expr);
		appendStringInfoString(&u, "&g0.tab=1");
		appendStringInfoString(&b, ",\"generatorURL\":");
		escape_json(&b, u.data);
	}
	appendStringInfoChar(&b, '}');

	args[0] = CStringGetTextDatum(g->tenant);
	args[1] = CStringGetTextDatum(key);
	args[2] = BoolGetDatum(resolved);
	args[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data));
	mimir_spi_connect();
	/* an undelivered firing notification is superseded by a newer one of the same alert */
	if (!resolved &&
		SPI_execute_with_args("DELETE FROM mimir.alert_outbox WHERE alert_key = $1 AND NOT resolved "
							  "AND delivered = '{}'",
							  1, types + 1, args + 1, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "outbox cleanup failed");
	if (SPI_execute_with_args("INSERT INTO mimir.alert_outbox(tenant, alert_key, resolved, alert) "
							  "VALUES ($1, $2, $3, $4)",
							  4, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "outbox insert failed");
	mimir_spi_finish();
}

/* ---------------------------------------------------------------------
 * queries
 * --------------------------------------------------------------------- */
typedef struct VecSample
{
	MimirLabelSet labels;
	double		value;
} VecSample;

/* Prometheus' EngineQueryFunc: a vector, or a scalar as one sample without labels */
static VecSample *
query_vector(int32 tenant_id, const char *expr, int64 t_ms, int *n)
{
	PqOptions	opts;
	PqResult   *res;
	VecSample  *out;

	promql_default_options(&opts, tenant_id);
	res = promql_exec_instant(expr, t_ms, &opts);
	if (res->type == PQ_TYPE_SCALAR)
	{
		out = palloc0(sizeof(VecSample));
		out->value = res->scalar;
		*n = 1;
		return out;
	}
	if (res->type != PQ_TYPE_VECTOR)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rule result is not a vector or scalar")));
	out = palloc0(sizeof(VecSample) * Max(res->nseries, 1));
	for (int i = 0; i < res->nseries; i++)
	{
		out[i].labels = res->series[i].labels;
		out[i].value = res->series[i].npoints > 0 ? res->series[i].points[0].v : NAN;
	}
	*n = res->nseries;
	return out;
}

/* run fn in a subtransaction; on error returns the message (and nothing is kept) */
typedef struct TemplateQuery
{
	int32		tenant_id;
} TemplateQuery;

static GtSample *
template_query(void *arg, const char *query, int64 t_ms, int *n)
{
	TemplateQuery *tq = arg;
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	GtSample   *res = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		int			cnt;
		VecSample  *v = query_vector(tq->tenant_id, query, t_ms, &cnt);

		res = palloc0(sizeof(GtSample) * Max(cnt, 1));
		for (int i = 0; i < cnt; i++)
		{
			res[i].labels = v[i].labels;
			res[i].value = v[i].value;
		}
		*n = cnt;
		mimir_subxact_commit(caller, owner);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		ed = mimir_subxact_abort(caller, owner);
		res = palloc0(sizeof(GtSample));
		res->labels.n = 1;
		res->labels.labels = palloc(sizeof(MimirLabel));
		res->labels.labels[0].name = "error";
		res->labels.labels[0].value = pstrdup(ed->message);
		*n = -1;
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return res;
}

/* ---------------------------------------------------------------------
 * writing series
 * --------------------------------------------------------------------- */
typedef struct Written
{
	int			n,
				cap;
	int64	   *ids;
} Written;

static void
write_sample(EvalGroup *g, const MimirLabelSet *ls, int64 t, double v, Written *w)
{
	SeriesKey	key;
	int64		sid;

	mimir_tenant_write_lock(g->tenant_id, false);
	sid = mimir_series_get_or_create(g->tenant_id, g->tenant, ls, &key);

	mimir_head_append(g->tenant_id, sid, &key, t, v);
	if (w->n == w->cap)
	{
		w->cap = Max(16, w->cap * 2);
		w->ids = w->ids ? repalloc(w->ids, sizeof(int64) * w->cap) : palloc(sizeof(int64) * w->cap);
	}
	w->ids[w->n++] = sid;
}


static bool
written_has(Written *w, int64 id)
{
	return w->n > 0 && bsearch(&id, w->ids, w->n, sizeof(int64), mimir_int64_cmp) != NULL;
}

/* append one sample to each of the series with these ids (their keys come from the index) */
void
ruler_append_to_series(int32 tenant_id, const int64 *ids, int n, int64 t, double v)
{
	MemoryContext caller = CurrentMemoryContext;
	int64	   *sids;
	SeriesKey  *keys;
	int			found;

	if (n == 0)
		return;
	mimir_tenant_write_lock(tenant_id, false);
	sids = MemoryContextAlloc(caller, sizeof(int64) * n);
	keys = MemoryContextAlloc(caller, sizeof(SeriesKey) * n);
	mimir_spi_connect();
	/* plain series by their stored key, packed ones by their labels */
	found = mimir_series_keys_by_ids(tenant_id, ids, n, sids, keys);
	mimir_spi_finish();
	for (int i = 0; i < found; i++)
		mimir_head_append(tenant_id, sids[i], &keys[i], t, v);
}

static double
stale_nan(void)
{
	uint64		bits = MIMIR_STALE_NAN_BITS;
	double		v;

	memcpy(&v, &bits, 8);
	return v;
}

/* staleness markers for series of the previous evaluation that are gone now */
static void
mark_stale(EvalGroup *g, int64 *prev, int nprev, Written *w, int64 t)
{
	int64	   *gone = palloc(sizeof(int64) * Max(nprev, 1));
	int			n = 0;

	for (int i = 0; i < nprev; i++)
		if (!written_has(w, prev[i]))
			gone[n++] = prev[i];
	ruler_append_to_series(g->tenant_id, gone, n, t, stale_nan());
}

static void
out_row(EvalOut *out, const char *rule, const char *kind, const MimirLabelSet *ls, double value,
		bool has_value, const char *state, const char *error)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, ls == NULL, !has_value, state == NULL, error == NULL};

	if (out == NULL)
		return;
	values[0] = CStringGetTextDatum(rule);
	values[1] = CStringGetTextDatum(kind);
	values[2] = ls ? JsonbPGetDatum(mimir_labels_jsonb(ls)) : (Datum) 0;
	values[3] = Float8GetDatum(value);
	values[4] = state ? CStringGetTextDatum(state) : (Datum) 0;
	values[5] = error ? CStringGetTextDatum(error) : (Datum) 0;
	tuplestore_putvalues(out->ts, out->desc, values, nulls);
}

/* ---------------------------------------------------------------------
 * rules
 * --------------------------------------------------------------------- */
static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
eval_recording(EvalGroup *g, EvalRule *r, int64 ts, Written *w, EvalOut *out)
{
	int64		qt = ts - g->offset_ms;
	int			n;
	VecSample  *v = query_vector(g->tenant_id, r->expr, qt, &n);
	MimirLabelSet *outls = palloc(sizeof(MimirLabelSet) * Max(n, 1));
	char	  **keys = palloc(sizeof(char *) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		ls_copy(&outls[i], &v[i].labels, r->labels.n + 1);
		ls_set(&outls[i], "__name__", r->name);
		for (int k = 0; k < r->labels.n; k++)
			ls_set(&outls[i], r->labels.labels[k].name, r->labels.labels[k].value);
		keys[i] = ls_key(&outls[i]);
	}
	qsort(keys, n, sizeof(char *), key_cmp);
	for (int i = 1; i < n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("vector contains metrics with the same labelset after applying rule labels")));
	if (g->limit > 0 && n > g->limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("exceeded limit of " INT64_FORMAT " with %d series", g->limit, n)));
	for (int i = 0; i < n; i++)
	{
		write_sample(g, &outls[i], qt, v[i].value, w);
		out_row(out, r->name, "recording", &outls[i], v[i].value, true, NULL, NULL);
	}
}

static AlertRec *
find_alert(List *alerts, const char *key)
{
	ListCell   *lc;

	foreach(lc, alerts)
	{
		AlertRec   *a = lfirst(lc);

		if (!a->deleted && strcmp(a->key, key) == 0)
			return a;
	}
	return NULL;
}

/* set when the limit error must also clear the rule's alerts (as Prometheus does) */
static bool clear_alerts_on_error;

static void
eval_alerting(EvalGroup *g, EvalRule *r, int64 ts, Written *w, EvalOut *out,
			  const MimirLabelSet *ext, bool after_outage)
{
	int64		qt = ts - g->offset_ms;
	int			n;
	VecSample  *v = query_vector(g->tenant_id, r->expr, qt, &n);
	List	   *active = load_alerts(r->id);
	List	   *fresh = NIL;
	ListCell   *lc;
	int			num_active = 0;
	TemplateQuery tq = {g->tenant_id};
	int64		resend = mimir_ruler_resend_delay_ms;

	/* 'for' state after an outage, as Prometheus restores it from ALERTS_FOR_STATE */
	if (after_outage && g->last_eval_ts != UNSET)
	{
		int64		down_at = g->last_eval_ts;

		foreach(lc, active)
		{
			AlertRec   *a = lfirst(lc);

			if (a->state != ST_PENDING)
				continue;
			if (ts - down_at > FOR_OUTAGE_TOLERANCE_MS || r->for_ms < FOR_GRACE_PERIOD_MS)
				a->active_at = ts;	/* not restored: pending starts over */
			else if (r->for_ms - (down_at - a->active_at) < FOR_GRACE_PERIOD_MS)
				a->active_at = ts + FOR_GRACE_PERIOD_MS - r->for_ms;
			else
				a->active_at += ts - down_at;
		}
	}

	/* 1. the alerts of this evaluation, with templated labels and annotations */
	for (int i = 0; i < n; i++)
	{
		AlertRec   *a = palloc0(sizeof(AlertRec));
		GtEnv		env;

		memset(&env, 0, sizeof(env));
		env.labels = v[i].labels;
		env.external_labels = *ext;
		env.external_url = mimir_ruler_external_url;
		env.value = v[i].value;
		env.t_ms = ts;
		env.query = template_query;
		env.query_arg = &tq;

		ls_copy(&a->labels, &v[i].labels, r->labels.n + 2);
		ls_set(&a->labels, "__name__", "");
		for (int k = 0; k < r->labels.n; k++)
		{
			char	   *err;
			char	   *val = gotmpl_expand_alert(r->name, r->labels.labels[k].value, &env, &err);

			if (val == NULL)
				val = psprintf("<error expanding template: %s>", err);
			ls_set(&a->labels, r->labels.labels[k].name, val);
		}
		ls_set(&a->labels, "alertname", r->name);
		a->annotations.n = 0;
		a->annotations.labels = palloc(sizeof(MimirLabel) * Max(r->annotations.n, 1));
		for (int k = 0; k < r->annotations.n; k++)
		{
			char	   *err;
			char	   *val = gotmpl_expand_alert(r->name, r->annotations.labels[k].value, &env, &err);

			if (val == NULL)
				val = psprintf("<error expanding template: %s>", err);
			/* annotations keep empty values (a ScratchBuilder, not Set) */
			a->annotations.labels[a->annotations.n].name = r->annotations.labels[k].name;
			a->annotations.labels[a->annotations.n].value = val;
			a->annotations.n++;
		}
		a->key = ls_key(&a->labels);
		if (find_alert(fresh, a->key))
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("vector contains metrics with the same labelset after applying alert labels")));
		a->state = ST_PENDING;
		a->value = v[i].value;
		a->active_at = ts;
		a->fired_at = a->resolved_at = a->last_sent_at = a->valid_until = a->keep_firing_since = UNSET;
		fresh = lappend(fresh, a);
	}

	/* 2. merge with the active alerts */
	foreach(lc, fresh)
	{
		AlertRec   *a = lfirst(lc);
		AlertRec   *old = find_alert(active, a->key);

		if (old && old->state != ST_INACTIVE)
		{
			old->value = a->value;
			old->annotations = a->annotations;
			old->in_result = true;
			continue;
		}
		if (old)
			old->deleted = true;
		a->in_result = true;
		active = lappend(active, a);
	}

	/* 3. transitions */
	foreach(lc, active)
	{
		AlertRec   *a = lfirst(lc);

		if (a->deleted)
			continue;
		if (!a->in_result)
		{
			bool		keep = false;

			if (a->state == ST_FIRING && r->kff_ms > 0)
			{
				if (a->keep_firing_since == UNSET)
					a->keep_firing_since = ts;
				if (ts - a->keep_firing_since < r->kff_ms)
					keep = true;
			}
			if (a->state == ST_PENDING ||
				(a->resolved_at != UNSET && ts - a->resolved_at > RESOLVED_RETENTION_MS))
				a->deleted = true;
			if (a->state != ST_INACTIVE && !keep)
			{
				a->state = ST_INACTIVE;
				a->resolved_at = ts;
			}
			if (!keep)
				continue;
		}
		else
			a->keep_firing_since = UNSET;
		num_active++;
		if (a->state == ST_PENDING && ts - a->active_at >= r->for_ms)
		{
			a->state = ST_FIRING;
			a->fired_at = ts;
		}
		/* ALERTS and ALERTS_FOR_STATE */
		{
			MimirLabelSet s;

			ls_copy(&s, &a->labels, 3);
			ls_set(&s, "__name__", "ALERTS");
			ls_set(&s, "alertname", r->name);
			ls_set(&s, "alertstate", state_name(a->state));
			write_sample(g, &s, qt, 1, w);
			ls_copy(&s, &a->labels, 3);
			ls_set(&s, "__name__", "ALERTS_FOR_STATE");
			ls_set(&s, "alertname", r->name);
			write_sample(g, &s, qt, (double) (a->active_at >= 0 ? a->active_at / 1000 :
											  -((-a->active_at + 999) / 1000)), w);
		}
	}
	if (g->limit > 0 && num_active > g->limit)
	{
		clear_alerts_on_error = true;
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("exceeded limit of " INT64_FORMAT " with %d alerts", g->limit, num_active)));
	}

	/* 4. notifications due (needsSending), then the state */
	foreach(lc, active)
	{
		AlertRec   *a = lfirst(lc);

		if (a->deleted)
			continue;
		if (a->state != ST_PENDING &&
			((a->resolved_at != UNSET && (a->last_sent_at == UNSET || a->resolved_at > a->last_sent_at)) ||
			 a->last_sent_at == UNSET || a->last_sent_at + resend < ts))
		{
			a->last_sent_at = ts;
			a->valid_until = ts + 4 * Max(g->interval_ms, resend);
			if (alertmanager_configured())
				queue_alert(g, r, a, ext);
		}
		out_row(out, r->name, "alerting", &a->labels, a->value, true, state_name(a->state), NULL);
	}
	save_alerts(r->id, active);
}

/*
 * Evaluate every rule of g at ts. Returns the first rule error (or NULL).
 * after_outage: slots were skipped before this one.
 */
static char *
eval_group(EvalGroup *g, int64 ts, EvalOut *out, bool after_outage)
{
	MimirLabelSet ext;
	char	   *first_error = NULL;
	Written		all = {0};

	ruler_external_labels(&ext);
	for (int i = 0; i < g->nrules; i++)
	{
		EvalRule   *r = &g->rules[i];
		MemoryContext caller = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		TimestampTz started = GetCurrentTimestamp();
		Written		w = {0};
		char	   *error = NULL;

		CHECK_FOR_INTERRUPTS();
		clear_alerts_on_error = false;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(caller);
		PG_TRY();
		{
			if (r->alerting)
				eval_alerting(g, r, ts, &w, out, &ext, after_outage);
			else
				eval_recording(g, r, ts, &w, out);
			if (w.n > 0)
				qsort(w.ids, w.n, sizeof(int64), mimir_int64_cmp);
			mark_stale(g, r->prev, r->nprev, &w, ts - g->offset_ms);
			/* conflicts with stored samples surface here, inside the rule */
			mimir_head_flush();
			mimir_subxact_commit(caller, owner);
		}
		PG_CATCH();
		{
			ErrorData  *ed;

			ed = mimir_subxact_abort(caller, owner);
			error = pstrdup(ed->message);
			FreeErrorData(ed);
			if (clear_alerts_on_error)
				save_alerts(r->id, NIL);
			out_row(out, r->name, r->alerting ? "alerting" : "recording", NULL, 0, false, NULL, error);
		}
		PG_END_TRY();
		save_rule(r, error, started,
				  (double) (GetCurrentTimestamp() - started) / 1e6, w.ids, w.n, error == NULL);
		if (error && first_error == NULL)
			first_error = psprintf("rule %d (%s): %s", r->idx + 1, r->name, error);
		for (int k = 0; error == NULL && k < w.n; k++)
		{
			if (all.n == all.cap)
			{
				all.cap = Max(64, all.cap * 2);
				all.ids = all.ids ? repalloc(all.ids, sizeof(int64) * all.cap) : palloc(sizeof(int64) * all.cap);
			}
			all.ids[all.n++] = w.ids[k];
		}
	}
	/* series of rules that were removed from the group */
	if (g->nstale > 0)
	{
		if (all.n > 0)
			qsort(all.ids, all.n, sizeof(int64), mimir_int64_cmp);
		mark_stale(g, g->stale, g->nstale, &all, ts - g->offset_ms);
	}
	return first_error;
}

/* evaluate g at ts and record the group's outcome; caller holds the group's row lock */
static char *
evaluate_and_record(EvalGroup *g, int64 ts, EvalOut *out, int64 missed)
{
	TimestampTz started = GetCurrentTimestamp();
	char	   *err;
	Oid			types[7] = {INT8OID, INT8OID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID, TEXTOID, INT8OID};
	Datum		args[7];
	char		nulls[7] = "       ";

	load_rules(g);
	err = eval_group(g, ts, out, missed > 0);
	args[0] = Int64GetDatum(g->id);
	args[1] = Int64GetDatum(ts);
	args[2] = TimestampTzGetDatum(started);
	args[3] = Float8GetDatum((double) (GetCurrentTimestamp() - started) / 1e6);
	args[4] = CStringGetTextDatum(err ? "err" : "ok");
	args[5] = err ? CStringGetTextDatum(err) : (Datum) 0;
	if (!err)
		nulls[5] = 'n';
	args[6] = Int64GetDatum(missed);
	mimir_spi_connect();
	if (SPI_execute_with_args("UPDATE mimir.rule_groups SET last_eval_ts = $2, last_eval_at = $3, "
							  "last_duration = $4, health = $5, last_error = $6, "
							  "evaluations = evaluations + 1, failures = failures + ($6 IS NOT NULL)::int, "
							  "missed = missed + $7, stale_series = '{}' WHERE id = $1",
							  7, types, args, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "rule group update failed");
	mimir_spi_finish();
	mimir_head_flush();
	return err;
}

/* ---------------------------------------------------------------------
 * SQL entry points
 * --------------------------------------------------------------------- */
static int64
find_group(const char *tenant, const char *namespace, const char *name)
{
	int32		tid = mimir_tenant_id(tenant, false);
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	int64		id = -1;
	bool		isnull;

	if (tid < 0)
		return -1;
	args[0] = Int32GetDatum(tid);
	args[1] = CStringGetTextDatum(namespace);
	args[2] = CStringGetTextDatum(name);
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT id FROM mimir.rule_groups WHERE tenant_id = $1 AND namespace = $2 "
							  "AND name = $3", 3, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "rule group lookup failed");
	if (SPI_processed == 1)
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mimir_spi_finish();
	return id;
}

Datum
mimir_evaluate_rule_group(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *tenant;
	char	   *ns,
			   *name;
	int64		ts;
	int64		id;
	EvalGroup	g;
	EvalOut		out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("namespace and group name must not be NULL")));
	ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ts = PG_ARGISNULL(2) ? now_ms() : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(2), "evaluation time");
	tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));

	InitMaterializedSRF(fcinfo, 0);
	out.ts = rsinfo->setResult;
	out.desc = rsinfo->setDesc;

	id = find_group(tenant, ns, name);
	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rule group \"%s\" does not exist in namespace \"%s\" of tenant \"%s\"",
						name, ns, tenant),
				 errhint("See SELECT * FROM mimir.rule_groups('%s').", tenant)));
	/* the row lock makes this wait for a running evaluation of the group */
	if (!load_group(id, &g, true, false))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rule group \"%s\" was deleted concurrently", name)));
	if (g.last_eval_ts != UNSET && ts <= g.last_eval_ts)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule group \"%s\" was already evaluated at %s", name,
						timestamptz_to_str(mimir_ms_to_ts(g.last_eval_ts))),
				 errhint("Evaluation times must increase, as the alert state moves forward in time.")));
	evaluate_and_record(&g, ts, &out, 0);
	return (Datum) 0;
}

/*
 * One step of a group's job: evaluate the oldest due slot (skipping slots
 * older than mimir.ruler_catchup_window, counted as missed). Returns the slot
 * evaluated, or NULL if none is due or the group is being evaluated
 * elsewhere.
 */
Datum
mimir_ruler_step(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	/* slots are evaluated once remote-written samples up to them have arrived */
	int64		now = mimir_ts_to_ms(PG_GETARG_TIMESTAMPTZ(1)) - mimir_ruler_slot_delay_ms;
	EvalGroup	g;
	uint64		hash;
	int64		now_slot,
				next,
				missed = 0;

	if (!load_group(id, &g, true, true))
		PG_RETURN_NULL();
	hash = ruler_group_hash(g.namespace, g.name);
	now_slot = ruler_eval_slot(now, g.interval_ms, hash, g.align);
	if (g.last_eval_ts == UNSET)
		next = now_slot;
	else
	{
		next = ruler_eval_slot(g.last_eval_ts, g.interval_ms, hash, g.align) + g.interval_ms;
		if (next > now_slot)
			PG_RETURN_NULL();
		/* slots before the catch-up window were missed (downtime) */
		if (now_slot - next >= Max(mimir_ruler_max_catchup, g.interval_ms))
		{
			int64		first = now_slot - ((Max(mimir_ruler_max_catchup, g.interval_ms) - 1) / g.interval_ms) * g.interval_ms;

			missed = (first - next) / g.interval_ms;
			next = first;
		}
	}
	evaluate_and_record(&g, next, NULL, missed);
	PG_RETURN_TIMESTAMPTZ(mimir_ms_to_ts(next));
}

Datum
mimir_render_template(PG_FUNCTION_ARGS)
{
	char	   *tmpl;
	GtEnv		env;
	char	   *err;
	char	   *res;
	TemplateQuery tq;
	const char *tenant;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	tmpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	tenant = mimir_tenant_name(PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4));
	memset(&env, 0, sizeof(env));
	if (!PG_ARGISNULL(1))
		mimir_labelset_from_jsonb(PG_GETARG_JSONB_P(1), &env.labels);
	env.value = PG_ARGISNULL(2) ? 0 : PG_GETARG_FLOAT8(2);
	env.t_ms = PG_ARGISNULL(3) ? now_ms() : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(3), "at");
	ruler_external_labels(&env.external_labels);
	env.external_url = mimir_ruler_external_url;
	tq.tenant_id = mimir_tenant_id(tenant, false);
	env.query = template_query;
	env.query_arg = &tq;
	{
		char	   *perr = gotmpl_check_alert("render_template", tmpl);

		if (perr)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("%s", perr)));
	}
	res = gotmpl_expand_alert("render_template", tmpl, &env, &err);
	if (res == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s", err),
				 errhint("An alerting rule would show it as \"<error expanding template: ...>\".")));
	PG_RETURN_TEXT_P(cstring_to_text(res));
}

PG_FUNCTION_INFO_V1(mimir_rule_group_slot);

/* the group's latest evaluation slot at or before `at` (Prometheus' alignment) */
Datum
mimir_rule_group_slot(PG_FUNCTION_ARGS)
{
	const char *tenant;
	char	   *ns,
			   *name;
	int64		id;
	int64		at;
	EvalGroup	g;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("namespace and group name must not be NULL")));
	ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	at = PG_ARGISNULL(2) ? now_ms() : mimir_ts_to_ms_checked(PG_GETARG_TIMESTAMPTZ(2), "at");
	tenant = mimir_tenant_name(PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3));
	id = find_group(tenant, ns, name);
	if (id < 0 || !load_group(id, &g, false, false))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("rule group \"%s\" does not exist in namespace \"%s\" of tenant \"%s\"",
						name, ns, tenant)));
	PG_RETURN_TIMESTAMPTZ(mimir_ms_to_ts(ruler_eval_slot(at, g.interval_ms,
														 ruler_group_hash(g.namespace, g.name),
														 g.align)));
}
