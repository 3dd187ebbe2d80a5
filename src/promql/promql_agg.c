/*
 * promql_agg.c — aggregation operators. Input series are folded into their
 * group's per-step state as they stream in, so `sum(rate(x[5m]))` over 100k
 * series holds one state per group and step, never the input series.
 * Arithmetic follows Prometheus exactly: Kahan(-Neumaier) sums, avg as a
 * direct mean until the sum would overflow and an incremental mean after,
 * Welford for stddev/stdvar, Go's container/heap order for topk/bottomk/
 * limitk/limit_ratio, and limit_ratio's choice by label hash.
 */
#include "promql/promql_eval.h"

#include <math.h>

typedef struct HeapEnt
{
	int			series;			/* index into AggState.labels */
	double		v;
	bool		drop_name;
} HeapEnt;

typedef struct Heap
{
	int			n;
	int			cap;
	HeapEnt    *e;
} Heap;

typedef struct Group
{
	MimirLabelSet ls;
	double	   *val;
	double	   *mean;
	double	   *c;
	double	   *cnt;
	bool	   *seen;
	bool	   *incr;
	bool	   *drop;
	/* quantile values, or heaps for topk & co. */
	Heap	   *heap;
} Group;

typedef struct AggState
{
	PqSink		sink;
	PqEval	   *ev;
	const PqNode *n;
	PqAggOp		op;
	List	   *grouping;
	bool		without;
	double	   *param;
	PqStrMap   *map;
	int			ngroups;
	int			capgroups;
	Group	  **groups;
	StringInfoData key;
	/* labels of input series (topk & co. output them) */
	int			nlabels;
	int			caplabels;
	MimirLabelSet *labels;
	/* count_values */
	const char *value_label;
	PqOut	   *out;
	PqStrMap   *cv_map;
	double	  **cv_counts;
	int			cv_n;
	int			cv_cap;
	MimirLabelSet *cv_labels;
} AggState;

static bool
is_k_op(PqAggOp op)
{
	return op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_LIMITK ||
		op == PQ_AGG_LIMIT_RATIO;
}

static Group *
new_group(AggState *st, const MimirLabelSet *ls)
{
	int			n = st->ev->n;
	Group	   *g = palloc0(sizeof(Group));

	g->ls = pq_group_labels(ls, st->grouping, st->without);
	g->val = palloc(sizeof(double) * n);
	g->mean = palloc(sizeof(double) * n);
	g->c = palloc0(sizeof(double) * n);
	g->cnt = palloc0(sizeof(double) * n);
	g->seen = palloc0(sizeof(bool) * n);
	g->incr = palloc0(sizeof(bool) * n);
	g->drop = palloc0(sizeof(bool) * n);
	if (st->op == PQ_AGG_QUANTILE || is_k_op(st->op))
		g->heap = palloc0(sizeof(Heap) * n);
	return g;
}

static int
group_of(AggState *st, const MimirLabelSet *ls)
{
	int			idx;

	resetStringInfo(&st->key);
	pq_group_key(ls, st->grouping, st->without, &st->key);
	idx = pq_strmap_put(st->map, st->key.data, st->key.len, st->ngroups);
	if (idx == st->ngroups)
	{
		if (st->ngroups == st->capgroups)
		{
			st->capgroups = Max(16, st->capgroups * 2);
			st->groups = st->groups ? repalloc(st->groups, sizeof(Group *) * st->capgroups)
				: palloc(sizeof(Group *) * st->capgroups);
		}
		st->groups[st->ngroups++] = new_group(st, ls);
	}
	return idx;
}

/* ---- Go container/heap over HeapEnt with Prometheus' Less ---- */

static inline bool
heap_less(bool reverse, const HeapEnt *a, const HeapEnt *b)
{
	if (isnan(a->v))
		return true;
	return reverse ? a->v > b->v : a->v < b->v;
}

static void
heap_swap(Heap *h, int i, int j)
{
	HeapEnt		t = h->e[i];

	h->e[i] = h->e[j];
	h->e[j] = t;
}

static void
heap_up(Heap *h, int j, bool rev)
{
	for (;;)
	{
		int			i = (j - 1) / 2;

		if (i == j || !heap_less(rev, &h->e[j], &h->e[i]))
			break;
		heap_swap(h, i, j);
		j = i;
	}
}

static bool
heap_down(Heap *h, int i0, int n, bool rev)
{
	int			i = i0;

	for (;;)
	{
		int			j1 = 2 * i + 1,
					j,
					j2;

		if (j1 >= n || j1 < 0)
			break;
		j = j1;
		j2 = j1 + 1;
		if (j2 < n && heap_less(rev, &h->e[j2], &h->e[j1]))
			j = j2;
		if (!heap_less(rev, &h->e[j], &h->e[i]))
			break;
		heap_swap(h, i, j);
		i = j;
	}
	return i > i0;
}

static void
heap_append(Heap *h, HeapEnt e)
{
	if (h->n == h->cap)
	{
		h->cap = Max(4, h->cap * 2);
		h->e = h->e ? repalloc_huge(h->e, sizeof(HeapEnt) * h->cap)
			: palloc(sizeof(HeapEnt) * h->cap);
	}
	h->e[h->n++] = e;
}

static void
heap_push(Heap *h, HeapEnt e, bool rev)
{
	heap_append(h, e);
	heap_up(h, h->n - 1, rev);
}

static void
heap_fix(Heap *h, int i, bool rev)
{
	if (!heap_down(h, i, h->n, rev))
		heap_up(h, i, rev);
}

/* limit_ratio's sampler: the label hash as a fraction of 2^64. */
static bool
ratio_take(double r, const MimirLabelSet *ls)
{
	double		off = (double) pq_ls_hash(ls) / (double) PG_UINT64_MAX;

	return (r >= 0 && off < r) || (r < 0 && off >= 1.0 + r);
}

/* ---- folding one input series ---- */

static void
agg_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	AggState   *st = (AggState *) sink;
	int			gidx = group_of(st, &s->ls);
	Group	   *g = st->groups[gidx];
	PqAggOp		op = st->op;
	int			lidx = -1;

	if (is_k_op(op))
	{
		if (st->nlabels == st->caplabels)
		{
			st->caplabels = Max(64, st->caplabels * 2);
			st->labels = st->labels ? repalloc_huge(st->labels, sizeof(MimirLabelSet) * st->caplabels)
				: palloc(sizeof(MimirLabelSet) * st->caplabels);
		}
		lidx = st->nlabels;
		st->labels[st->nlabels++] = s->ls;
	}
	for (int k = 0; k < ev->n; k++)
	{
		double		f;

		if (!s->ok[k])
			continue;
		f = s->v[k];
		if (is_k_op(op))
		{
			HeapEnt		e = {lidx, f, s->drop_name};
			Heap	   *h = &g->heap[k];
			double		p = st->param[k];
			int64		kk = 0;
			double		r = 0;

			if (op == PQ_AGG_LIMIT_RATIO)
			{
				if (p == 0)
					continue;
				r = p < -1.0 ? -1.0 : (p > 1.0 ? 1.0 : p);
			}
			else
			{
				kk = (int64) p;
				if (kk < 1)
					continue;
			}
			if (!g->seen[k])
			{
				g->seen[k] = true;
				h->n = 0;
				if (op == PQ_AGG_LIMIT_RATIO)
				{
					if (ratio_take(r, &s->ls))
						heap_push(h, e, false);
				}
				else if (op == PQ_AGG_LIMITK)
					heap_append(h, e);
				else
					heap_push(h, e, op == PQ_AGG_BOTTOMK);
				continue;
			}
			switch (op)
			{
				case PQ_AGG_TOPK:
					if (h->n < kk)
						heap_push(h, e, false);
					else if (h->e[0].v < f || (isnan(h->e[0].v) && !isnan(f)))
					{
						h->e[0] = e;
						if (kk > 1)
							heap_fix(h, 0, false);
					}
					break;
				case PQ_AGG_BOTTOMK:
					if (h->n < kk)
						heap_push(h, e, true);
					else if (h->e[0].v > f || (isnan(h->e[0].v) && !isnan(f)))
					{
						h->e[0] = e;
						if (kk > 1)
							heap_fix(h, 0, true);
					}
					break;
				case PQ_AGG_LIMITK:
					if (h->n < kk)
						heap_push(h, e, false);
					break;
				default:
					if (ratio_take(r, &s->ls))
						heap_push(h, e, false);
					break;
			}
			continue;
		}
		if (!g->seen[k])
		{
			g->seen[k] = true;
			g->val[k] = f;
			g->mean[k] = f;
			g->cnt[k] = 1;
			g->c[k] = 0;
			g->incr[k] = false;
			g->drop[k] = s->drop_name;
			switch (op)
			{
				case PQ_AGG_STDDEV:
				case PQ_AGG_STDVAR:
					g->val[k] = (isnan(f) || isinf(f)) ? NAN : 0;
					break;
				case PQ_AGG_QUANTILE:
					g->heap[k].n = 0;
					heap_append(&g->heap[k], (HeapEnt) {0, f, false});
					break;
				case PQ_AGG_GROUP:
					g->val[k] = 1;
					break;
				default:
					break;
			}
			continue;
		}
		if (s->drop_name)
			g->drop[k] = true;
		switch (op)
		{
			case PQ_AGG_SUM:
				pq_kahan_inc(f, &g->val[k], &g->c[k]);
				break;
			case PQ_AGG_AVG:
				g->cnt[k]++;
				if (!g->incr[k])
				{
					double		nv = g->val[k],
								nc = g->c[k];

					pq_kahan_inc(f, &nv, &nc);
					if (!isinf(nv))
					{
						g->val[k] = nv;
						g->c[k] = nc;
						break;
					}
					g->incr[k] = true;
					g->mean[k] = g->val[k] / (g->cnt[k] - 1);
					g->c[k] /= g->cnt[k] - 1;
				}
				{
					double		q = (g->cnt[k] - 1) / g->cnt[k];
					double		m = q * g->mean[k],
								c = q * g->c[k];

					pq_kahan_inc(f / g->cnt[k], &m, &c);
					g->mean[k] = m;
					g->c[k] = c;
				}
				break;
			case PQ_AGG_GROUP:
				break;
			case PQ_AGG_MAX:
				if (g->val[k] < f || isnan(g->val[k]))
					g->val[k] = f;
				break;
			case PQ_AGG_MIN:
				if (g->val[k] > f || isnan(g->val[k]))
					g->val[k] = f;
				break;
			case PQ_AGG_COUNT:
				g->cnt[k]++;
				break;
			case PQ_AGG_STDDEV:
			case PQ_AGG_STDVAR:
				{
					double		delta;

					g->cnt[k]++;
					delta = f - g->mean[k];
					g->mean[k] += delta / g->cnt[k];
					g->val[k] += delta * (f - g->mean[k]);
					break;
				}
			case PQ_AGG_QUANTILE:
				heap_append(&g->heap[k], (HeapEnt) {0, f, false});
				break;
			default:
				elog(ERROR, "unexpected aggregation %s", pq_aggop_name(op));
		}
	}
	if (!is_k_op(op))
		pq_ser_free(ev, s);
	else
	{
		/* the labels stay (topk may output them); the values go */
		pq_account(ev, -s->count);
		pfree(s->v);
		pfree(s->ok);
		pfree(s);
	}
}

static bool
rev_heap_less(const void *a, const void *b, void *arg)
{
	/* sort.Reverse(heap): Less(i, j) = heap.Less(j, i) */
	return heap_less(*(bool *) arg, b, a);
}

static void
finish(AggState *st, PqSink *sink)
{
	PqEval	   *ev = st->ev;
	PqOut	   *out = NULL;

	if (is_k_op(st->op))
		out = pq_out_new(ev);
	for (int gi = 0; gi < st->ngroups; gi++)
	{
		Group	   *g = st->groups[gi];
		PqSer	   *s = NULL;
		int			last = -1;

		if (!is_k_op(st->op))
			s = pq_ser_new(ev, &g->ls, false);
		for (int k = 0; k < ev->n; k++)
		{
			double		v;

			if (!g->seen[k])
				continue;
			last = k;
			switch (st->op)
			{
				case PQ_AGG_AVG:
					v = g->incr[k] ? g->mean[k] + g->c[k]
						: g->val[k] / g->cnt[k] + g->c[k] / g->cnt[k];
					break;
				case PQ_AGG_COUNT:
					v = g->cnt[k];
					break;
				case PQ_AGG_STDVAR:
					v = g->val[k] / g->cnt[k];
					break;
				case PQ_AGG_STDDEV:
					v = sqrt(g->val[k] / g->cnt[k]);
					break;
				case PQ_AGG_QUANTILE:
					{
						Heap	   *h = &g->heap[k];
						double	   *vals = palloc(sizeof(double) * h->n);

						for (int i = 0; i < h->n; i++)
							vals[i] = h->e[i].v;
						v = pq_quantile(st->param[k], vals, h->n);
						pfree(vals);
						break;
					}
				case PQ_AGG_SUM:
					v = g->val[k] + g->c[k];
					break;
				case PQ_AGG_TOPK:
				case PQ_AGG_BOTTOMK:
				case PQ_AGG_LIMITK:
				case PQ_AGG_LIMIT_RATIO:
					{
						Heap	   *h = &g->heap[k];

						if (h->n > 1 && (st->op == PQ_AGG_TOPK || st->op == PQ_AGG_BOTTOMK))
						{
							bool		rev = (st->op == PQ_AGG_BOTTOMK);

							pq_sort(h->e, h->n, sizeof(HeapEnt), rev_heap_less, &rev);
						}
						for (int i = 0; i < h->n; i++)
						{
							HeapEnt    *e = &h->e[i];
							int			idx = pq_out_series(out, &st->labels[e->series], false,
														   e->drop_name);

							pq_out_set(out, idx, k, e->v);
						}
						continue;
					}
				default:
					v = g->val[k];
			}
			pq_ser_set(s, k, v);
		}
		if (s)
		{
			if (last >= 0)
				s->drop_name = g->drop[last];
			pq_emit(ev, sink, s);
		}
	}
	if (out)
		pq_out_emit(out, sink);
}

/* ---- count_values ---- */

static void
cv_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	AggState   *st = (AggState *) sink;

	for (int k = 0; k < ev->n; k++)
	{
		MimirLabelSet metric;
		int			idx;

		if (!s->ok[k])
			continue;
		metric = pq_ls_set(&s->ls, st->value_label, pq_format_float(s->v[k]));
		resetStringInfo(&st->key);
		pq_group_key(&metric, st->grouping, st->without, &st->key);
		idx = pq_strmap_put(st->cv_map, st->key.data, st->key.len, st->cv_n);
		if (idx == st->cv_n)
		{
			if (st->cv_n == st->cv_cap)
			{
				st->cv_cap = Max(16, st->cv_cap * 2);
				st->cv_counts = st->cv_counts ? repalloc(st->cv_counts, sizeof(double *) * st->cv_cap)
					: palloc(sizeof(double *) * st->cv_cap);
				st->cv_labels = st->cv_labels ? repalloc(st->cv_labels, sizeof(MimirLabelSet) * st->cv_cap)
					: palloc(sizeof(MimirLabelSet) * st->cv_cap);
			}
			st->cv_counts[idx] = palloc0(sizeof(double) * ev->n);
			st->cv_labels[idx] = pq_group_labels(&metric, st->grouping, st->without);
			st->cv_n++;
		}
		else
			pfree(metric.labels);
		st->cv_counts[idx][k]++;
	}
	pq_ser_free(ev, s);
}

static void
eval_count_values(PqEval *ev, const PqNode *n, PqSink *sink)
{
	AggState	st = {0};
	const PqNode *p = pq_unwrap_parens(n->u.agg.param);

	if (p->kind != PQ_STRING)
		elog(ERROR, "count_values expects a string parameter");
	st.value_label = p->u.string;
	if (st.value_label[0] == '\0')
		ereport(ERROR,
				(errcode(PQ_ERR_EXEC),
				 errmsg("invalid label name \"%s\"", st.value_label)));
	mimir_check_utf8("label name", st.value_label, strlen(st.value_label));
	st.sink.put = cv_put;
	st.ev = ev;
	st.without = n->u.agg.without;
	st.grouping = n->u.agg.grouping;
	if (!st.without)
		st.grouping = lappend(list_copy(st.grouping), (char *) st.value_label);
	st.cv_map = pq_strmap_new(64);
	initStringInfo(&st.key);
	pq_eval_vector(ev, n->u.agg.expr, &st.sink);
	for (int g = 0; g < st.cv_n; g++)
	{
		PqSer	   *s = pq_ser_new(ev, &st.cv_labels[g], false);

		for (int k = 0; k < ev->n; k++)
			if (st.cv_counts[g][k] > 0)
				pq_ser_set(s, k, st.cv_counts[g][k]);
		pq_emit(ev, sink, s);
	}
	pq_strmap_free(st.cv_map);
}

/* ---- entry ---- */

void
pq_eval_aggregate(PqEval *ev, const PqNode *n, PqSink *sink)
{
	AggState	st = {0};
	PqAggOp		op = n->u.agg.op;

	if (op == PQ_AGG_COUNT_VALUES)
	{
		eval_count_values(ev, n, sink);
		return;
	}
	st.sink.put = agg_put;
	st.ev = ev;
	st.n = n;
	st.op = op;
	st.grouping = n->u.agg.grouping;
	st.without = n->u.agg.without;
	st.map = pq_strmap_new(64);
	initStringInfo(&st.key);

	if (n->u.agg.param != NULL)
	{
		double		mn = INFINITY,
					mx = -INFINITY;
		bool		anynan = false;

		st.param = pq_eval_scalar(ev, n->u.agg.param);
		for (int k = 0; k < ev->n; k++)
		{
			if (isnan(st.param[k]))
				anynan = true;
			else
			{
				mn = Min(mn, st.param[k]);
				mx = Max(mx, st.param[k]);
			}
		}
		switch (op)
		{
			case PQ_AGG_TOPK:
			case PQ_AGG_BOTTOMK:
			case PQ_AGG_LIMITK:
				if (!anynan && mx < 1)
					return;
				if (anynan)
					ereport(ERROR,
							(errcode(PQ_ERR_EXEC),
							 errmsg("Parameter value is NaN")));
				if (mn <= -9223372036854775808.0)
					ereport(ERROR,
							(errcode(PQ_ERR_EXEC),
							 errmsg("Scalar value %s underflows int64", pq_format_g(mn))));
				if (mx >= 9223372036854774784.0)
					ereport(ERROR,
							(errcode(PQ_ERR_EXEC),
							 errmsg("Scalar value %s overflows int64", pq_format_g(mx))));
				break;
			case PQ_AGG_LIMIT_RATIO:
				if (!anynan && mx == 0 && mn == 0)
					return;
				if (anynan)
					ereport(ERROR,
							(errcode(PQ_ERR_EXEC),
							 errmsg("Ratio value is NaN")));
				if (mx > 1.0)
					pq_warn(ev, false, n->u.agg.param,
							"ratio value should be between -1 and 1, got %s, capping to %s",
							pq_format_g(mx), "1");
				if (mn < -1.0)
					pq_warn(ev, false, n->u.agg.param,
							"ratio value should be between -1 and 1, got %s, capping to %s",
							pq_format_g(mn), "-1");
				break;
			case PQ_AGG_QUANTILE:
				if (anynan)
					pq_warn(ev, false, n->u.agg.param,
							"quantile value should be between 0 and 1, got NaN");
				if (mx > 1)
					pq_warn(ev, false, n->u.agg.param,
							"quantile value should be between 0 and 1, got %s", pq_format_g(mx));
				if (mn < 0)
					pq_warn(ev, false, n->u.agg.param,
							"quantile value should be between 0 and 1, got %s", pq_format_g(mn));
				break;
			default:
				break;
		}
	}
	pq_eval_vector(ev, n->u.agg.expr, &st.sink);
	finish(&st, sink);
	pq_strmap_free(st.map);
}
