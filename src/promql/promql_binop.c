/*
 * promql_binop.c — binary operators: arithmetic and comparisons (with and
 * without bool) between scalars and vectors, the set operators and/or/
 * unless, and vector matching (on/ignoring, group_left/group_right with
 * extra labels) with Prometheus' cardinality errors and __name__ rules:
 * vector-vector arithmetic drops the name at once, vector-scalar arithmetic
 * and bool comparisons mark it for removal at the end.
 */
#include "promql/promql_eval.h"

#include <math.h>

static bool
is_comparison(PqBinOp op)
{
	return op >= PQ_OP_EQLC && op <= PQ_OP_LTE;
}

static bool
changes_schema(PqBinOp op)
{
	return op <= PQ_OP_ATAN2;
}

/* Prometheus' vectorElemBinop for floats: value and whether to keep it. */
static inline double
elem_binop(PqBinOp op, double l, double r, bool *keep)
{
	*keep = true;
	switch (op)
	{
		case PQ_OP_ADD:
			return l + r;
		case PQ_OP_SUB:
			return l - r;
		case PQ_OP_MUL:
			return l * r;
		case PQ_OP_DIV:
			return l / r;
		case PQ_OP_POW:
			return pow(l, r);
		case PQ_OP_MOD:
			return fmod(l, r);
		case PQ_OP_ATAN2:
			return atan2(l, r);
		case PQ_OP_EQLC:
			*keep = (l == r);
			return l;
		case PQ_OP_NEQ:
			*keep = (l != r);
			return l;
		case PQ_OP_GTR:
			*keep = (l > r);
			return l;
		case PQ_OP_LSS:
			*keep = (l < r);
			return l;
		case PQ_OP_GTE:
			*keep = (l >= r);
			return l;
		case PQ_OP_LTE:
			*keep = (l <= r);
			return l;
		default:
			elog(ERROR, "operator %s not allowed between samples", pq_binop_name(op));
	}
	return 0;
}

double
pq_scalar_binop(PqBinOp op, double l, double r)
{
	bool		keep;
	double		v = elem_binop(op, l, r, &keep);

	if (is_comparison(op))
		return keep ? 1 : 0;
	return v;
}

/* ---- vector op scalar: streamed series by series ---- */

typedef struct VsSink
{
	PqSink		sink;
	PqBinOp		op;
	double	   *scalar;
	bool		swap;			/* the scalar is the left operand */
	bool		return_bool;
	PqSink	   *target;
} VsSink;

static void
vs_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	VsSink	   *vs = (VsSink *) sink;

	for (int k = 0; k < ev->n; k++)
	{
		double		l,
					r,
					v;
		bool		keep;

		if (!s->ok[k])
			continue;
		l = s->v[k];
		r = vs->scalar[k];
		if (vs->swap)
		{
			double		t = l;

			l = r;
			r = t;
		}
		v = elem_binop(vs->op, l, r, &keep);
		/* comparisons keep the vector's value, whichever side it is on */
		if (is_comparison(vs->op) && vs->swap)
			v = r;
		if (vs->return_bool)
		{
			v = keep ? 1 : 0;
			keep = true;
		}
		if (keep)
			s->v[k] = v;
		else
		{
			s->ok[k] = false;
			s->count--;
			pq_account(ev, -1);
		}
	}
	if (changes_schema(vs->op) || vs->return_bool)
		s->drop_name = true;
	if (s->count == 0)
	{
		pq_ser_free(ev, s);
		return;
	}
	vs->target->put(vs->target, ev, s);
}

/* ---- vector op vector ---- */

typedef struct Side
{
	PqVec		vec;
	int		   *sig;			/* signature ordinal per series */
} Side;

static void
compute_sigs(Side *side, PqVec *v, PqStrMap *map, int *nsigs, List *names, bool on)
{
	StringInfoData buf;

	initStringInfo(&buf);
	side->vec = *v;
	side->sig = palloc(sizeof(int) * Max(v->n, 1));
	for (int i = 0; i < v->n; i++)
	{
		resetStringInfo(&buf);
		pq_sig_on(&v->s[i]->ls, names, on, &buf);
		side->sig[i] = pq_strmap_put(map, buf.data, buf.len, *nsigs);
		if (side->sig[i] == *nsigs)
			(*nsigs)++;
	}
	pfree(buf.data);
}

/* MatchLabels(on, names...) of Prometheus, for error messages. */
static char *
match_labels_string(const MimirLabelSet *ls, PqVectorMatching *m)
{
	MimirLabelSet r;

	if (m->on)
		r = pq_ls_keep(ls, m->matching_labels, true);
	else
	{
		r = pq_ls_keep(ls, m->matching_labels, false);
		r = pq_ls_drop_name(&r);
	}
	return pq_ls_string(&r);
}

static MimirLabelSet
result_metric(const MimirLabelSet *l, const MimirLabelSet *r, PqBinOp op, PqVectorMatching *m)
{
	MimirLabelSet res = *l;
	ListCell   *lc;

	if (changes_schema(op))
		res = pq_ls_drop_name(&res);
	if (m->card == PQ_CARD_ONE_TO_ONE)
		res = pq_ls_keep(&res, m->matching_labels, m->on);
	foreach(lc, m->include)
	{
		const char *name = lfirst(lc);
		const char *v = pq_ls_get(r, name);

		res = pq_ls_set(&res, name, v ? v : "");
	}
	if (res.labels == l->labels)
		res = pq_ls_copy(l);
	return res;
}

static void
set_operation(PqEval *ev, PqBinOp op, Side *L, Side *R, int nsigs, PqSink *sink)
{
	int		   *mark = palloc0(sizeof(int) * Max(nsigs, 1));
	PqOut	   *out = pq_out_new(ev);
	int		   *lidx = palloc(sizeof(int) * Max(L->vec.n, 1));
	int		   *ridx = palloc(sizeof(int) * Max(R->vec.n, 1));

	for (int i = 0; i < L->vec.n; i++)
		lidx[i] = -1;
	for (int j = 0; j < R->vec.n; j++)
		ridx[j] = -1;
	for (int k = 0; k < ev->n; k++)
	{
		bool		lany = false,
					rany = false;

		pq_check_interrupts(ev->q);
		for (int i = 0; i < L->vec.n; i++)
			if (L->vec.s[i]->ok[k])
				lany = true;
		for (int j = 0; j < R->vec.n; j++)
			if (R->vec.s[j]->ok[k])
				rany = true;
		if (op == PQ_OP_LAND && (!lany || !rany))
			continue;
		/* mark the signatures present on the side that filters */
		if (op == PQ_OP_LOR)
		{
			for (int i = 0; i < L->vec.n; i++)
				if (L->vec.s[i]->ok[k])
					mark[L->sig[i]] = k + 1;
		}
		else
		{
			for (int j = 0; j < R->vec.n; j++)
				if (R->vec.s[j]->ok[k])
					mark[R->sig[j]] = k + 1;
		}
		for (int i = 0; i < L->vec.n; i++)
		{
			PqSer	   *s = L->vec.s[i];
			bool		take;

			if (!s->ok[k])
				continue;
			if (op == PQ_OP_LOR)
				take = true;
			else if (op == PQ_OP_LAND)
				take = mark[L->sig[i]] == k + 1;
			else
				take = mark[L->sig[i]] != k + 1;
			if (!take)
				continue;
			if (lidx[i] < 0 || !pq_out_keyed(out))
				lidx[i] = pq_out_series(out, &s->ls, false, s->drop_name);
			pq_out_set(out, lidx[i], k, s->v[k]);
		}
		if (op == PQ_OP_LOR)
			for (int j = 0; j < R->vec.n; j++)
			{
				PqSer	   *s = R->vec.s[j];

				if (!s->ok[k] || (lany && mark[R->sig[j]] == k + 1))
					continue;
				if (ridx[j] < 0 || !pq_out_keyed(out))
					ridx[j] = pq_out_series(out, &s->ls, false, s->drop_name);
				pq_out_set(out, ridx[j], k, s->v[k]);
			}
	}
	pq_out_emit(out, sink);
	pfree(mark);
	pfree(lidx);
	pfree(ridx);
}

static void
vector_binop(PqEval *ev, const PqNode *n, Side *lhs, Side *rhs, int nsigs,
			 PqVectorMatching *m, PqSink *sink)
{
	PqBinOp		op = n->u.bin.op;
	bool		rbool = n->u.bin.return_bool;
	bool		swapped = (m->card == PQ_CARD_ONE_TO_MANY);
	Side	   *L = swapped ? rhs : lhs;	/* the "many" side */
	Side	   *R = swapped ? lhs : rhs;	/* the "one" side */
	int		   *rstamp = palloc0(sizeof(int) * Max(nsigs, 1));
	int		   *rat = palloc(sizeof(int) * Max(nsigs, 1));
	int		   *matched = palloc0(sizeof(int) * Max(nsigs, 1));
	int		   *cache_r = palloc(sizeof(int) * Max(L->vec.n, 1));
	int		   *cache_o = palloc(sizeof(int) * Max(L->vec.n, 1));
	PqOut	   *out = pq_out_new(ev);
	PqStrMap   *seen = NULL;
	StringInfoData key;

	initStringInfo(&key);
	for (int i = 0; i < L->vec.n; i++)
		cache_r[i] = -1;
	for (int k = 0; k < ev->n; k++)
	{
		bool		lany = false,
					rany = false;

		pq_check_interrupts(ev->q);
		for (int i = 0; i < L->vec.n && !lany; i++)
			lany = L->vec.s[i]->ok[k];
		for (int j = 0; j < R->vec.n && !rany; j++)
			rany = R->vec.s[j]->ok[k];
		if (!lany || !rany)
			continue;
		/* the "one" side must be unique per signature */
		for (int j = 0; j < R->vec.n; j++)
		{
			int			sig = R->sig[j];

			if (!R->vec.s[j]->ok[k])
				continue;
			if (rstamp[sig] == k + 1)
			{
				PqSer	   *dup = R->vec.s[rat[sig]];
				PqSer	   *cur = R->vec.s[j];

				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("found duplicate series for the match group %s on the %s hand-side of the operation: [%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
								match_labels_string(&cur->ls, m),
								swapped ? "left" : "right",
								pq_ls_string(&cur->ls), pq_ls_string(&dup->ls))));
			}
			rstamp[sig] = k + 1;
			rat[sig] = j;
		}
		if (m->card != PQ_CARD_ONE_TO_ONE)
		{
			if (seen)
				pq_strmap_free(seen);
			seen = pq_strmap_new(16);
		}
		for (int i = 0; i < L->vec.n; i++)
		{
			PqSer	   *ls = L->vec.s[i];
			int			sig = L->sig[i];
			int			j;
			PqSer	   *rs;
			double		fl,
						fr,
						v;
			bool		keep;
			int			oidx;

			if (!ls->ok[k] || rstamp[sig] != k + 1)
				continue;
			j = rat[sig];
			rs = R->vec.s[j];
			fl = ls->v[k];
			fr = rs->v[k];
			if (swapped)
			{
				double		t = fl;

				fl = fr;
				fr = t;
			}
			v = elem_binop(op, fl, fr, &keep);
			if (rbool)
				v = keep ? 1 : 0;

			/* the output series (result labels cached per pair of inputs) */
			if (cache_r[i] == j && pq_out_keyed(out))
				oidx = cache_o[i];
			else
			{
				MimirLabelSet res = result_metric(&ls->ls, &rs->ls, op, m);

				oidx = pq_out_series(out, &res, false, rbool);
				cache_r[i] = j;
				cache_o[i] = oidx;
			}
			if (m->card == PQ_CARD_ONE_TO_ONE)
			{
				if (matched[sig] == k + 1)
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")));
				matched[sig] = k + 1;
			}
			else
			{
				PqSer	   *o = pq_out_ser(out, oidx);

				resetStringInfo(&key);
				appendBinaryStringInfo(&key, (char *) &sig, sizeof(int));
				pq_ls_key(&o->ls, &key);
				if (pq_strmap_get(seen, key.data, key.len) >= 0)
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("multiple matches for labels: grouping labels must ensure unique matches")));
				pq_strmap_put(seen, key.data, key.len, 1);
			}
			if (!keep && !rbool)
				continue;
			pq_out_set(out, oidx, k, v);
		}
	}
	if (seen)
		pq_strmap_free(seen);
	pq_out_emit(out, sink);
	pfree(key.data);
	pfree(rstamp);
	pfree(rat);
	pfree(matched);
	pfree(cache_r);
	pfree(cache_o);
}

void
pq_eval_binary(PqEval *ev, const PqNode *n, PqSink *sink)
{
	PqType		lt = pq_node_type(n->u.bin.lhs);
	PqType		rt = pq_node_type(n->u.bin.rhs);

	if (lt == PQ_TYPE_VECTOR && rt == PQ_TYPE_VECTOR)
	{
		PqVectorMatching defm = {0};
		PqVectorMatching *m = n->u.bin.matching;
		PqVec		lv,
					rv;
		Side		L,
					R;
		PqStrMap   *sigs;
		int			nsigs = 0;

		if (m == NULL)
		{
			defm.card = (n->u.bin.op >= PQ_OP_LAND) ? PQ_CARD_MANY_TO_MANY : PQ_CARD_ONE_TO_ONE;
			m = &defm;
		}
		pq_eval_vector_collect(ev, n->u.bin.lhs, &lv);
		pq_eval_vector_collect(ev, n->u.bin.rhs, &rv);
		sigs = pq_strmap_new(lv.n + rv.n);
		compute_sigs(&L, &lv, sigs, &nsigs, m->matching_labels, m->on);
		compute_sigs(&R, &rv, sigs, &nsigs, m->matching_labels, m->on);
		pq_strmap_free(sigs);
		if (n->u.bin.op >= PQ_OP_LAND)
			set_operation(ev, n->u.bin.op, &L, &R, nsigs, sink);
		else
			vector_binop(ev, n, &L, &R, nsigs, m, sink);
		pq_vec_free(ev, &lv);
		pq_vec_free(ev, &rv);
		return;
	}
	if (lt == PQ_TYPE_VECTOR || rt == PQ_TYPE_VECTOR)
	{
		VsSink		vs;
		bool		swap = (lt != PQ_TYPE_VECTOR);

		vs.sink.put = vs_put;
		vs.op = n->u.bin.op;
		vs.swap = swap;
		vs.return_bool = n->u.bin.return_bool;
		vs.target = sink;
		vs.scalar = pq_eval_scalar(ev, swap ? n->u.bin.lhs : n->u.bin.rhs);
		pq_eval_vector(ev, swap ? n->u.bin.rhs : n->u.bin.lhs, &vs.sink);
		pfree(vs.scalar);
		return;
	}
	elog(ERROR, "binary operation between two scalars evaluated as a vector");
}
