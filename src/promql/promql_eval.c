/*
 * promql_eval.c — the evaluator's core: evaluation grids, instant and range
 * selectors (lookback, staleness, offset, @), subqueries with Prometheus'
 * step alignment, step-invariant subexpressions (evaluated once and
 * broadcast), sample accounting against the query's limit, timeouts, the
 * final __name__ removal (Prometheus 3's delayed name removal) and the
 * engine entry points promql_exec_instant / promql_exec_range.
 */
#include "promql/promql_eval.h"
#include "querier/querier.h"

#include <limits.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Range functions read the storage's samples as points when they can. */
StaticAssertDecl(sizeof(PqPoint) == sizeof(pc_sample) &&
				 offsetof(PqPoint, t) == offsetof(pc_sample, t) &&
				 offsetof(PqPoint, v) == offsetof(pc_sample, v),
				 "PqPoint and pc_sample must have the same layout");

/* Default subquery resolution when none is given (Prometheus' evaluation interval). */
#define PQ_DEFAULT_SUBQUERY_STEP	60000
/* Prometheus' API refuses range queries with more points per series. */
#define PQ_MAX_POINTS				11000

/* ---------------------------------------------------------------------
 * limits, interrupts, annotations
 * --------------------------------------------------------------------- */

void
pq_check_interrupts(PqQuery *q)
{
	CHECK_FOR_INTERRUPTS();
	if (q->deadline != 0 && GetCurrentTimestamp() > q->deadline)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("query timed out in expression evaluation"),
				 errhint("Increase mimir.query_timeout or make the query cheaper.")));
}

void
pq_account(PqEval *ev, int64 samples)
{
	PqQuery    *q = ev->q;

	q->cur_samples += samples;
	if (q->cur_samples > q->peak_samples)
		q->peak_samples = q->cur_samples;
	if (samples > 0 && q->max_samples > 0 && q->cur_samples > q->max_samples)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query processing would load too many samples into memory in query execution"),
				 errhint("The limit is mimir.query_max_samples = " INT64_FORMAT ".", q->max_samples)));
}

/* Prometheus' "line:col" of a byte offset in the query. */
static char *
pos_string(const char *text, int pos)
{
	int			line = 1,
				last_nl = -1;

	if (text == NULL || pos < 0 || pos > (int) strlen(text))
		return NULL;
	for (int i = 0; i < pos; i++)
		if (text[i] == '\n')
		{
			line++;
			last_nl = i;
		}
	return psprintf("%d:%d", line, pos - last_nl);
}

void
pq_warn(PqEval *ev, bool info, const PqNode *at, const char *fmt,...)
{
	PqQuery    *q = ev->q;
	StringInfoData buf;
	List	  **list = info ? &q->infos : &q->warnings;
	ListCell   *lc;
	char	   *pos;

	initStringInfo(&buf);
	appendStringInfoString(&buf, info ? "PromQL info: " : "PromQL warning: ");
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	pos = at ? pos_string(q->text, at->pos.start) : NULL;
	if (pos)
		appendStringInfo(&buf, " (%s)", pos);
	foreach(lc, *list)
		if (strcmp((char *) lfirst(lc), buf.data) == 0)
		return;
	*list = lappend(*list, buf.data);
}

/* ---------------------------------------------------------------------
 * series and vectors
 * --------------------------------------------------------------------- */

PqSer *
pq_ser_new(PqEval *ev, const MimirLabelSet *ls, bool copy_labels)
{
	PqSer	   *s = palloc(sizeof(PqSer));

	s->ls = copy_labels ? pq_ls_copy(ls) : *ls;
	s->drop_name = false;
	s->count = 0;
	s->v = palloc(sizeof(double) * Max(ev->n, 1));
	s->ok = palloc0(sizeof(bool) * Max(ev->n, 1));
	return s;
}

void
pq_ser_set(PqSer *s, int k, double v)
{
	if (!s->ok[k])
	{
		s->ok[k] = true;
		s->count++;
	}
	s->v[k] = v;
}

/* A finished series now counts against the sample limit. */
void
pq_ser_done(PqEval *ev, PqSer *s)
{
	pq_account(ev, s->count);
}

void
pq_ser_free(PqEval *ev, PqSer *s)
{
	pq_account(ev, -s->count);
	pfree(s->v);
	pfree(s->ok);
	pfree(s);
}

void
pq_vec_add(PqVec *v, PqSer *s)
{
	if (v->n == v->cap)
	{
		v->cap = Max(16, v->cap * 2);
		v->s = v->s ? repalloc_huge(v->s, sizeof(PqSer *) * v->cap)
			: palloc_extended(sizeof(PqSer *) * v->cap, MCXT_ALLOC_HUGE);
	}
	v->s[v->n++] = s;
}

void
pq_vec_free(PqEval *ev, PqVec *v)
{
	for (int i = 0; i < v->n; i++)
		pq_ser_free(ev, v->s[i]);
	if (v->s)
		pfree(v->s);
	v->s = NULL;
	v->n = v->cap = 0;
}

static void
collect_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	PqCollect  *c = (PqCollect *) sink;

	pq_vec_add(&c->vec, s);
}

void
pq_collect_init(PqCollect *c)
{
	c->sink.put = collect_put;
	c->vec.n = c->vec.cap = 0;
	c->vec.s = NULL;
}

void
pq_eval_vector_collect(PqEval *ev, const PqNode *n, PqVec *out)
{
	PqCollect	c;

	pq_collect_init(&c);
	pq_eval_vector(ev, n, &c.sink);
	*out = c.vec;
}

/* Hand a finished series to a sink; empty series are dropped. */
void
pq_emit(PqEval *ev, PqSink *sink, PqSer *s)
{
	if (s->count == 0)
	{
		pq_ser_free(ev, s);
		return;
	}
	pq_ser_done(ev, s);
	sink->put(sink, ev, s);
}

/* ---------------------------------------------------------------------
 * output builder (Prometheus' rangeEval assembly of per-step results)
 * --------------------------------------------------------------------- */

struct PqOut
{
	PqEval	   *ev;
	PqStrMap   *map;
	PqVec		vec;
	StringInfoData key;
};

PqOut *
pq_out_new(PqEval *ev)
{
	PqOut	   *o = palloc0(sizeof(PqOut));

	o->ev = ev;
	if (ev->n > 1)
		o->map = pq_strmap_new(64);
	initStringInfo(&o->key);
	return o;
}

void
pq_out_put(PqOut *o, const MimirLabelSet *ls, bool copy_labels, bool drop_name, int k, double v)
{
	PqSer	   *s;

	if (o->map == NULL)
	{
		/* one step: results keep their order, duplicates are found at the end */
		s = pq_ser_new(o->ev, ls, copy_labels);
		s->drop_name = drop_name;
		pq_ser_set(s, k, v);
		pq_vec_add(&o->vec, s);
		return;
	}
	resetStringInfo(&o->key);
	pq_ls_key(ls, &o->key);
	{
		int			idx = pq_strmap_put(o->map, o->key.data, o->key.len, o->vec.n);

		if (idx == o->vec.n)
		{
			s = pq_ser_new(o->ev, ls, copy_labels);
			s->drop_name = drop_name;
			pq_vec_add(&o->vec, s);
		}
		else
		{
			s = o->vec.s[idx];
			if (s->ok[k])
				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("vector cannot contain metrics with the same labelset")));
		}
	}
	pq_ser_set(s, k, v);
}

/* The output series for a label set (created if needed); returns its index. */
int
pq_out_series(PqOut *o, const MimirLabelSet *ls, bool copy_labels, bool drop_name)
{
	int			idx = o->vec.n;
	PqSer	   *s;

	if (o->map)
	{
		resetStringInfo(&o->key);
		pq_ls_key(ls, &o->key);
		idx = pq_strmap_put(o->map, o->key.data, o->key.len, o->vec.n);
		if (idx < o->vec.n)
			return idx;
	}
	s = pq_ser_new(o->ev, ls, copy_labels);
	s->drop_name = drop_name;
	pq_vec_add(&o->vec, s);
	return idx;
}

void
pq_out_set(PqOut *o, int idx, int k, double v)
{
	PqSer	   *s = o->vec.s[idx];

	if (s->ok[k])
		ereport(ERROR,
				(errcode(ERRCODE_CARDINALITY_VIOLATION),
				 errmsg("vector cannot contain metrics with the same labelset")));
	pq_ser_set(s, k, v);
}

/* Range mode: series are keyed by labels, so an index stays valid across steps. */
bool
pq_out_keyed(PqOut *o)
{
	return o->map != NULL;
}

PqSer *
pq_out_ser(PqOut *o, int idx)
{
	return o->vec.s[idx];
}

void
pq_out_emit(PqOut *o, PqSink *sink)
{
	for (int i = 0; i < o->vec.n; i++)
		pq_emit(o->ev, sink, o->vec.s[i]);
	if (o->map)
		pq_strmap_free(o->map);
	if (o->vec.s)
		pfree(o->vec.s);
	pfree(o->key.data);
	pfree(o);
}

/* ---------------------------------------------------------------------
 * step invariance (Prometheus' preprocessExprHelper)
 * --------------------------------------------------------------------- */

static bool
at_unsafe(PqFunc f)
{
	switch (f)
	{
		case PQ_FN_DAYS_IN_MONTH:
		case PQ_FN_DAY_OF_MONTH:
		case PQ_FN_DAY_OF_WEEK:
		case PQ_FN_DAY_OF_YEAR:
		case PQ_FN_HOUR:
		case PQ_FN_MINUTE:
		case PQ_FN_MONTH:
		case PQ_FN_YEAR:
		case PQ_FN_PREDICT_LINEAR:
		case PQ_FN_TIME:
		case PQ_FN_TIMESTAMP:
			return true;
		default:
			return false;
	}
}

bool
pq_step_invariant(const PqNode *n)
{
	ListCell   *lc;
	bool		inv;

	switch (n->kind)
	{
		case PQ_NUMBER:
		case PQ_STRING:
		case PQ_STEP_INVARIANT:
			return true;
		case PQ_VECTOR_SELECTOR:
			return n->u.vs.at != PQ_AT_NONE;
		case PQ_MATRIX_SELECTOR:
			return pq_step_invariant(n->u.ms.vs);
		case PQ_SUBQUERY:
			return n->u.sq.at != PQ_AT_NONE;
		case PQ_AGGREGATE:
			return pq_step_invariant(n->u.agg.expr);
		case PQ_BINARY:
			return pq_step_invariant(n->u.bin.lhs) && pq_step_invariant(n->u.bin.rhs);
		case PQ_CALL:
			inv = !at_unsafe(n->u.call.func->id);
			foreach(lc, n->u.call.args)
			{
				if (!pq_step_invariant(pq_unwrap_parens(lfirst(lc))))
					inv = false;
			}
			return inv;
		case PQ_PAREN:
		case PQ_UNARY:
			return pq_step_invariant(n->kind == PQ_PAREN ? n->u.inner.expr : n->u.unary.expr);
	}
	return false;
}

const PqNode *
pq_unwrap_parens(const PqNode *n)
{
	while (n->kind == PQ_PAREN)
		n = n->u.inner.expr;
	return n;
}

/* A one-step grid at ev's start, for step-invariant subexpressions. */
static void
single_step(PqEval *ev, PqEval *one)
{
	*one = *ev;
	one->end = ev->start;
	one->n = 1;
}

typedef struct Broadcast
{
	PqSink		sink;
	PqEval	   *outer;
	PqSink	   *target;
} Broadcast;

static void
broadcast_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	Broadcast  *b = (Broadcast *) sink;
	PqSer	   *o = pq_ser_new(b->outer, &s->ls, false);

	o->drop_name = s->drop_name;
	for (int k = 0; k < b->outer->n; k++)
		pq_ser_set(o, k, s->v[0]);
	pq_ser_free(ev, s);
	pq_emit(b->outer, b->target, o);
}

/* ---------------------------------------------------------------------
 * selectors
 * --------------------------------------------------------------------- */

static int64
at_time(PqEval *ev, PqAt at, int64 at_ms)
{
	switch (at)
	{
		case PQ_AT_START:
			return ev->q->start;
		case PQ_AT_END:
			return ev->q->end;
		default:
			return at_ms;
	}
}

/* Right ends of the windows of each step for a selector/subquery. */
static int64 *
selector_refs(PqEval *ev, PqAt at, int64 at_ms, int64 offset)
{
	int64	   *ref = palloc(sizeof(int64) * Max(ev->n, 1));

	for (int k = 0; k < ev->n; k++)
		ref[k] = (at != PQ_AT_NONE ? at_time(ev, at, at_ms) : PQ_TS(ev, k)) - offset;
	return ref;
}

static MimirSeriesCursor *
open_cursor(PqEval *ev, const PqNode *vs, int64 mint, int64 maxt)
{
	MimirSeriesCursor *c = mimir_cursor_open(ev->q->tenant, vs->u.vs.matchers, mint, maxt);
	PqQuery    *q = ev->q;

	q->fetched_series += mimir_cursor_nseries(c);
	if (q->max_fetched_series > 0 && q->fetched_series > q->max_fetched_series)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the query exceeded the maximum number of series (limit: " INT64_FORMAT " series)",
						q->max_fetched_series)));
	return c;
}

/* Samples a cursor holds count against the query's limit while it is open. */
static const pc_sample *
cursor_samples(PqEval *ev, MimirSeriesCursor *c, int i, int *n, int64 *held)
{
	const pc_sample *s = mimir_cursor_samples(c, i, n);
	int64		now = mimir_cursor_held(c);

	pq_account(ev, now - *held);
	*held = now;
	return s;
}

static void
cursor_close(PqEval *ev, MimirSeriesCursor *c, int64 held)
{
	pq_account(ev, -held);
	mimir_cursor_close(c);
}

/*
 * Instant vector selector: the latest sample in (ref - lookback, ref] unless
 * it is a staleness marker. With timestamps, the sample's time (seconds) is
 * the value instead, and an @ time is used without the offset (Prometheus'
 * timestamp() does the same).
 */
static void
eval_selector(PqEval *ev, const PqNode *vs, bool timestamps, PqSink *sink)
{
	PqQuery    *q = ev->q;
	int64		offset = vs->u.vs.offset_ms;
	int64	   *ref;
	MimirSeriesCursor *c;
	int			nser;
	int64		held = 0;

	if (ev->n == 0)
		return;
	if (timestamps && vs->u.vs.at != PQ_AT_NONE)
		offset = 0;
	ref = selector_refs(ev, vs->u.vs.at, vs->u.vs.at_ms, offset);
	c = open_cursor(ev, vs, ref[0] - q->lookback + 1, ref[ev->n - 1]);
	nser = mimir_cursor_nseries(c);
	for (int i = 0; i < nser; i++)
	{
		int			ns;
		const pc_sample *s = cursor_samples(ev, c, i, &ns, &held);
		PqSer	   *out;
		int			j = -1;

		pq_check_interrupts(q);
		if (ns == 0)
			continue;
		q->total_samples += ns;
		out = pq_ser_new(ev, mimir_cursor_labels(c, i), false);
		for (int k = 0; k < ev->n; k++)
		{
			if ((k & 65535) == 65535)
				pq_check_interrupts(q);
			while (j + 1 < ns && s[j + 1].t <= ref[k])
				j++;
			if (j < 0 || s[j].t <= ref[k] - q->lookback || mimir_is_stale(s[j].v))
				continue;
			pq_ser_set(out, k, timestamps ? (double) s[j].t / 1000.0 : s[j].v);
		}
		out->drop_name = timestamps;
		pq_emit(ev, sink, out);
	}
	cursor_close(ev, c, held);
	pfree(ref);
}

/* timestamp(<vector selector>) reads sample times straight from storage. */
void
pq_eval_timestamp_selector(PqEval *ev, const PqNode *vs, PqSink *sink)
{
	eval_selector(ev, vs, true, sink);
}

/* ---- range-vector sources: matrix selectors and subqueries ---- */

typedef struct SubqSink
{
	PqSink		sink;
	PqEval	   *outer;
	PqEval	   *inner;
	PqRangeFn	fn;
	void	   *fnarg;
} SubqSink;

static void
subq_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	SubqSink   *ss = (SubqSink *) sink;
	PqPoint    *p = palloc(sizeof(PqPoint) * Max(s->count, 1));
	int			n = 0;
	MimirLabelSet ls = s->ls;

	for (int k = 0; k < ss->inner->n; k++)
		if (s->ok[k])
		{
			p[n].t = PQ_TS(ss->inner, k);
			p[n].v = s->v[k];
			n++;
		}
	/*
	 * A subquery's result series become plain series that keep __name__ even
	 * where it was marked for removal (Prometheus' StorageSeries does the same).
	 */
	ss->fn(ss->outer, ss->fnarg, &ls, p, n);
	pfree(p);
	pq_ser_free(ev, s);
}

/* The inner grid of a subquery, aligned to its step as Prometheus does. */
static void
subquery_grid(PqEval *ev, const PqNode *sq, int64 *ref, PqEval *inner)
{
	int64		step = sq->u.sq.step_ms > 0 ? sq->u.sq.step_ms : PQ_DEFAULT_SUBQUERY_STEP;
	int64		from = ref[0] - sq->u.sq.range_ms;
	int64		start = step * (from / step);

	if (start <= from)
		start += step;
	inner->q = ev->q;
	inner->step = step;
	inner->start = start;
	inner->end = ref[ev->n - 1];
	if (inner->end < inner->start)
		inner->n = 0;
	else
	{
		int64		n = (inner->end - inner->start) / step + 1;

		if (n > INT_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("subquery %s would evaluate too many steps", pq_format_duration(sq->u.sq.range_ms))));
		inner->n = (int) n;
	}
}

void
pq_range_source(PqEval *ev, const PqNode *arg, PqRangeFn fn, void *fnarg,
				int64 **ref_out, int64 *range_out)
{
	PqQuery    *q = ev->q;

	arg = pq_unwrap_parens(arg);
	if (arg->kind == PQ_MATRIX_SELECTOR)
	{
		const PqNode *vs = arg->u.ms.vs;
		int64		range = arg->u.ms.range_ms;
		int64	   *ref = selector_refs(ev, vs->u.vs.at, vs->u.vs.at_ms, vs->u.vs.offset_ms);
		MimirSeriesCursor *c;
		int			nser;
		PqPoint    *p = NULL;
		int			cap = 0;
		int64		held = 0;

		*ref_out = ref;
		*range_out = range;
		if (ev->n == 0)
			return;
		c = open_cursor(ev, vs, ref[0] - range + 1, ref[ev->n - 1]);
		nser = mimir_cursor_nseries(c);
		for (int i = 0; i < nser; i++)
		{
			int			ns,
						n = 0,
						first_stale = -1;
			const pc_sample *s = cursor_samples(ev, c, i, &ns, &held);

			pq_check_interrupts(q);
			if (ns == 0)
				continue;
			q->total_samples += ns;
			for (int k = 0; k < ns; k++)
				if (mimir_is_stale(s[k].v))
				{
					first_stale = k;
					break;
				}
			if (first_stale < 0)
			{
				/* no staleness markers: the storage's samples are the points */
				pq_account(ev, ns);
				fn(ev, fnarg, mimir_cursor_labels(c, i), (const PqPoint *) s, ns);
				pq_account(ev, -ns);
				continue;
			}
			if (ns > cap)
			{
				cap = Max(ns, cap * 2);
				p = p ? repalloc_huge(p, sizeof(PqPoint) * cap)
					: palloc_extended(sizeof(PqPoint) * cap, MCXT_ALLOC_HUGE);
			}
			for (int k = 0; k < ns; k++)
				if (!mimir_is_stale(s[k].v))
				{
					p[n].t = s[k].t;
					p[n].v = s[k].v;
					n++;
				}
			pq_account(ev, n);
			fn(ev, fnarg, mimir_cursor_labels(c, i), p, n);
			pq_account(ev, -n);
		}
		cursor_close(ev, c, held);
		if (p)
			pfree(p);
		return;
	}
	if (arg->kind == PQ_SUBQUERY)
	{
		int64	   *ref = selector_refs(ev, arg->u.sq.at, arg->u.sq.at_ms, arg->u.sq.offset_ms);
		PqEval		inner;
		SubqSink	ss;

		*ref_out = ref;
		*range_out = arg->u.sq.range_ms;
		if (ev->n == 0)
			return;
		subquery_grid(ev, arg, ref, &inner);
		if (inner.n == 0)
			return;
		ss.sink.put = subq_put;
		ss.outer = ev;
		ss.inner = &inner;
		ss.fn = fn;
		ss.fnarg = fnarg;
		pq_eval_vector(&inner, arg->u.sq.expr, &ss.sink);
		return;
	}
	elog(ERROR, "expected a range vector, got %s", pq_type_name(pq_node_type(arg)));
}

/* ---------------------------------------------------------------------
 * expression dispatch
 * --------------------------------------------------------------------- */

typedef struct NegSink
{
	PqSink		sink;
	PqSink	   *target;
} NegSink;

static void
neg_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	NegSink    *ns = (NegSink *) sink;

	for (int k = 0; k < ev->n; k++)
		if (s->ok[k])
			s->v[k] = -s->v[k];
	s->drop_name = true;
	ns->target->put(ns->target, ev, s);
}

static bool
call_has_matrix_arg(const PqNode *n, int *idx)
{
	ListCell   *lc;
	int			i = 0;

	foreach(lc, n->u.call.args)
	{
		const PqNode *a = pq_unwrap_parens(lfirst(lc));

		if (a->kind == PQ_MATRIX_SELECTOR || a->kind == PQ_SUBQUERY)
		{
			*idx = i;
			return true;
		}
		i++;
	}
	return false;
}

void
pq_eval_vector(PqEval *ev, const PqNode *n, PqSink *sink)
{
	pq_check_interrupts(ev->q);
	n = pq_unwrap_parens(n);
	if (ev->n == 0)
		return;
	if (n->kind == PQ_STEP_INVARIANT)
		n = pq_unwrap_parens(n->u.inner.expr);
	if (ev->n > 1 && pq_step_invariant(n))
	{
		PqEval		one;
		Broadcast	b;

		single_step(ev, &one);
		b.sink.put = broadcast_put;
		b.outer = ev;
		b.target = sink;
		pq_eval_vector(&one, n, &b.sink);
		return;
	}
	switch (n->kind)
	{
		case PQ_VECTOR_SELECTOR:
			eval_selector(ev, n, false, sink);
			return;
		case PQ_CALL:
			{
				int			idx;

				if (call_has_matrix_arg(n, &idx))
					pq_eval_range_call(ev, n, idx, sink);
				else
					pq_eval_vector_call(ev, n, sink);
				return;
			}
		case PQ_AGGREGATE:
			pq_eval_aggregate(ev, n, sink);
			return;
		case PQ_BINARY:
			pq_eval_binary(ev, n, sink);
			return;
		case PQ_UNARY:
			if (n->u.unary.negate)
			{
				NegSink		ns;

				ns.sink.put = neg_put;
				ns.target = sink;
				pq_eval_vector(ev, n->u.unary.expr, &ns.sink);
			}
			else
				pq_eval_vector(ev, n->u.unary.expr, sink);
			return;
		default:
			elog(ERROR, "unexpected %s expression where an instant vector is needed",
				 pq_type_name(pq_node_type(n)));
	}
}

double *
pq_eval_scalar(PqEval *ev, const PqNode *n)
{
	double	   *r;

	pq_check_interrupts(ev->q);
	n = pq_unwrap_parens(n);
	if (n->kind == PQ_STEP_INVARIANT)
		n = pq_unwrap_parens(n->u.inner.expr);
	if (ev->n > 1 && n->kind != PQ_NUMBER && pq_step_invariant(n))
	{
		PqEval		one;
		double	   *v;

		single_step(ev, &one);
		v = pq_eval_scalar(&one, n);
		r = palloc(sizeof(double) * ev->n);
		for (int k = 0; k < ev->n; k++)
			r[k] = v[0];
		pfree(v);
		return r;
	}
	switch (n->kind)
	{
		case PQ_NUMBER:
			r = palloc(sizeof(double) * Max(ev->n, 1));
			for (int k = 0; k < ev->n; k++)
				r[k] = n->u.number;
			return r;
		case PQ_UNARY:
			r = pq_eval_scalar(ev, n->u.unary.expr);
			if (n->u.unary.negate)
				for (int k = 0; k < ev->n; k++)
					r[k] = -r[k];
			return r;
		case PQ_BINARY:
			{
				double	   *l = pq_eval_scalar(ev, n->u.bin.lhs);
				double	   *rr = pq_eval_scalar(ev, n->u.bin.rhs);

				for (int k = 0; k < ev->n; k++)
					l[k] = pq_scalar_binop(n->u.bin.op, l[k], rr[k]);
				pfree(rr);
				return l;
			}
		case PQ_CALL:
			return pq_eval_scalar_call(ev, n);
		default:
			elog(ERROR, "unexpected %s expression where a scalar is needed",
				 pq_type_name(pq_node_type(n)));
	}
	return NULL;
}

/* ---------------------------------------------------------------------
 * top level
 * --------------------------------------------------------------------- */

typedef struct RangeCollect
{
	List	   *series;			/* PqRSer * */
} RangeCollect;

static void
collect_range(PqEval *ev, void *arg, const MimirLabelSet *ls, const PqPoint *p, int n)
{
	RangeCollect *rc = arg;
	PqRSer	   *r;

	if (n == 0)
		return;
	r = palloc(sizeof(PqRSer));
	r->ls = pq_ls_copy(ls);
	r->drop_name = false;
	r->n = n;
	r->p = palloc(sizeof(PqPoint) * n);
	memcpy(r->p, p, sizeof(PqPoint) * n);
	pq_account(ev, n);
	rc->series = lappend(rc->series, r);
}

static void
init_query(PqQuery *q, const char *text, int64 start, int64 end, const PqOptions *opts)
{
	memset(q, 0, sizeof(PqQuery));
	q->text = text;
	q->start = start;
	q->end = end;
	q->lookback = opts->lookback_ms > 0 ? opts->lookback_ms : 5 * 60 * 1000;
	q->max_samples = opts->max_samples;
	q->max_fetched_series = opts->max_fetched_series;
	q->tenant = opts->tenant_id;
	if (opts->timeout_ms > 0)
		q->deadline = GetCurrentTimestamp() + opts->timeout_ms * 1000;
}

static int
ser_label_cmp(const void *a, const void *b)
{
	const PqSeries *x = a,
			   *y = b;

	return pq_ls_cmp(&x->labels, &y->labels);
}

static MimirLabelSet
copy_labels_out(const MimirLabelSet *ls, bool drop_name)
{
	MimirLabelSet r;

	r.n = 0;
	r.labels = palloc(sizeof(MimirLabel) * Max(ls->n, 1));
	for (int i = 0; i < ls->n; i++)
	{
		if (drop_name && strcmp(ls->labels[i].name, "__name__") == 0)
			continue;
		r.labels[r.n].name = pstrdup(ls->labels[i].name);
		r.labels[r.n].value = pstrdup(ls->labels[i].value);
		r.n++;
	}
	return r;
}

/*
 * The delayed __name__ removal at the end of evaluation: drop names where
 * flagged, then series that became equal must not overlap in time (they
 * are merged), as Prometheus' cleanupMetricLabels.
 */
static void
finish_series(PqResult *res)
{
	PqSeries   *s = res->series;
	int			n = res->nseries,
				out = 0;

	if (n <= 1)
		return;
	qsort(s, n, sizeof(PqSeries), ser_label_cmp);
	for (int i = 0; i < n; i++)
	{
		if (out > 0 && pq_ls_equal(&s[out - 1].labels, &s[i].labels))
		{
			PqSeries   *a = &s[out - 1];
			PqPoint    *m = palloc(sizeof(PqPoint) * (a->npoints + s[i].npoints));
			int			x = 0,
						y = 0,
						z = 0;

			while (x < a->npoints || y < s[i].npoints)
			{
				if (y >= s[i].npoints || (x < a->npoints && a->points[x].t < s[i].points[y].t))
					m[z++] = a->points[x++];
				else if (x >= a->npoints || s[i].points[y].t < a->points[x].t)
					m[z++] = s[i].points[y++];
				else
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("vector cannot contain metrics with the same labelset")));
			}
			a->points = m;
			a->npoints = z;
			continue;
		}
		s[out++] = s[i];
	}
	res->nseries = out;
}

/* Instant results keep their order; only duplicates are an error. */
static void
check_vector_duplicates(PqResult *res)
{
	PqStrMap   *m;
	StringInfoData key;

	if (res->nseries <= 1)
		return;
	m = pq_strmap_new(res->nseries);
	initStringInfo(&key);
	for (int i = 0; i < res->nseries; i++)
	{
		resetStringInfo(&key);
		pq_ls_key(&res->series[i].labels, &key);
		if (pq_strmap_put(m, key.data, key.len, i) != i)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("vector cannot contain metrics with the same labelset")));
	}
}

static List *
copy_strings(List *l)
{
	List	   *r = NIL;
	ListCell   *lc;

	foreach(lc, l)
		r = lappend(r, pstrdup(lfirst(lc)));
	return r;
}

static PqResult *
run_query(const char *query, int64 start, int64 end, int64 step, bool range,
		  const PqOptions *opts)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext qcxt;
	PqResult   *res;
	PqQuery		q;
	PqEval		ev;
	PqNode	   *expr;
	PqType		type;

	if (query == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("query must not be NULL")));
	if (range)
	{
		if (end < start)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("end timestamp must not be before start time")));
		if (step <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("zero or negative query resolution step widths are not accepted. Try a positive integer")));
		if ((end - start) / step >= PQ_MAX_POINTS)
			ereport(ERROR,
					(errcode(ERRCODE_SYNTAX_ERROR),
					 errmsg("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")));
	}

	qcxt = AllocSetContextCreate(caller, "promql query", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(qcxt);

	expr = promql_parse(query);
	type = pq_node_type(expr);
	if (range && type != PQ_TYPE_VECTOR && type != PQ_TYPE_SCALAR)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
						pq_type_name(type))));

	init_query(&q, query, start, end, opts);
	ev.q = &q;
	ev.start = start;
	ev.end = end;
	ev.step = range ? step : 1;
	ev.n = range ? (int) ((end - start) / step) + 1 : 1;

	MemoryContextSwitchTo(caller);
	res = palloc0(sizeof(PqResult));
	res->type = range ? PQ_TYPE_MATRIX : type;
	MemoryContextSwitchTo(qcxt);

	switch (type)
	{
		case PQ_TYPE_SCALAR:
			{
				double	   *v = pq_eval_scalar(&ev, expr);

				MemoryContextSwitchTo(caller);
				if (range)
				{
					res->nseries = 1;
					res->series = palloc0(sizeof(PqSeries));
					res->series[0].npoints = ev.n;
					res->series[0].points = palloc(sizeof(PqPoint) * ev.n);
					res->series[0].labels.labels = palloc(sizeof(MimirLabel));
					for (int k = 0; k < ev.n; k++)
					{
						res->series[0].points[k].t = PQ_TS(&ev, k);
						res->series[0].points[k].v = v[k];
					}
				}
				else
				{
					res->scalar_t = start;
					res->scalar = v[0];
				}
				break;
			}
		case PQ_TYPE_VECTOR:
			{
				PqVec		vec;

				pq_eval_vector_collect(&ev, expr, &vec);
				MemoryContextSwitchTo(caller);
				res->series = palloc0(sizeof(PqSeries) * Max(vec.n, 1));
				for (int i = 0; i < vec.n; i++)
				{
					PqSer	   *s = vec.s[i];
					PqSeries   *o = &res->series[res->nseries++];
					int			z = 0;

					o->labels = copy_labels_out(&s->ls, s->drop_name);
					o->points = palloc(sizeof(PqPoint) * Max(s->count, 1));
					for (int k = 0; k < ev.n; k++)
						if (s->ok[k])
						{
							o->points[z].t = PQ_TS(&ev, k);
							o->points[z].v = s->v[k];
							z++;
						}
					o->npoints = z;
				}
				if (range)
					finish_series(res);
				else
					check_vector_duplicates(res);
				break;
			}
		case PQ_TYPE_MATRIX:
			{
				RangeCollect rc = {NIL};
				int64	   *ref;
				int64		rng;
				ListCell   *lc;
				const PqNode *e = pq_unwrap_parens(expr);

				if (e->kind == PQ_STEP_INVARIANT)
					e = pq_unwrap_parens(e->u.inner.expr);
				pq_range_source(&ev, e, collect_range, &rc, &ref, &rng);
				MemoryContextSwitchTo(caller);
				res->series = palloc0(sizeof(PqSeries) * Max(list_length(rc.series), 1));
				foreach(lc, rc.series)
				{
					PqRSer	   *r = lfirst(lc);
					PqSeries   *o = &res->series[res->nseries++];

					o->labels = copy_labels_out(&r->ls, false);
					o->npoints = r->n;
					o->points = palloc(sizeof(PqPoint) * r->n);
					memcpy(o->points, r->p, sizeof(PqPoint) * r->n);
				}
				finish_series(res);
				break;
			}
		case PQ_TYPE_STRING:
			MemoryContextSwitchTo(caller);
			res->string = pstrdup(pq_unwrap_parens(expr)->u.string);
			res->scalar_t = start;
			break;
		default:
			elog(ERROR, "unexpected expression type");
	}
	MemoryContextSwitchTo(caller);
	res->warnings = copy_strings(q.warnings);
	res->infos = copy_strings(q.infos);
	res->total_samples = q.total_samples;
	MemoryContextDelete(qcxt);
	return res;
}

PqResult *
promql_exec_instant(const char *query, int64 t_ms, const PqOptions *opts)
{
	return run_query(query, t_ms, t_ms, 0, false, opts);
}

PqResult *
promql_exec_range(const char *query, int64 start_ms, int64 end_ms, int64 step_ms,
				  const PqOptions *opts)
{
	return run_query(query, start_ms, end_ms, step_ms, true, opts);
}
