/*
 * promql_func_vec.c — functions over instant vectors and scalars: the math
 * functions, clamp/round, date functions (UTC), timestamp, vector/scalar,
 * absent, sort/sort_desc/sort_by_label(_desc), label_replace/label_join
 * (with their validation and duplicate merging), histogram_quantile over
 * classic `le` buckets (monotonicity fix and annotations), time() and pi().
 * Native-histogram functions see only float samples here, so, as in
 * Prometheus, they return nothing.
 */
#include "promql/promql_eval.h"

#include <math.h>

#include "catalog/pg_collation_d.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"

/* ---- Go's math.Max / math.Min ---- */
static inline double
go_max(double x, double y)
{
	if (isinf(x) && x > 0)
		return x;
	if (isinf(y) && y > 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? y : x;
	return x > y ? x : y;
}

static inline double
go_min(double x, double y)
{
	if (isinf(x) && x < 0)
		return x;
	if (isinf(y) && y < 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? x : y;
	return x < y ? x : y;
}

static const PqNode *
arg_node(const PqNode *n, int i)
{
	return pq_unwrap_parens(list_nth(n->u.call.args, i));
}

static const char *
string_arg(const PqNode *n, int i)
{
	const PqNode *a = arg_node(n, i);

	if (a->kind != PQ_STRING)
		elog(ERROR, "argument %d of %s must be a string", i + 1, n->u.call.func->name);
	return a->u.string;
}

/* ---- per-series transforms ---- */

typedef struct MapSink
{
	PqSink		sink;
	PqSink	   *target;
	PqFunc		fn;
	double	   *a1;
	double	   *a2;
} MapSink;

static int64
go_int64(double f)
{
	/* Go's float64 -> int64 conversion on amd64: out of range gives MinInt64 */
	if (isnan(f) || f >= 9223372036854775808.0 || f < -9223372036854775808.0)
		return PG_INT64_MIN;
	return (int64) f;
}


static void
civil_from_days(int64 z, int64 *y, int *m, int *d)
{
	int64		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	if (*m <= 2)
		(*y)++;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm) */
int64
pq_days_from_civil(int64 y, int m, int d)
{
	int64		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
is_leap(int64 y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A date function of seconds since the epoch, in UTC. */
static double
date_func(PqFunc fn, int64 sec)
{
	int64		days = mimir_floor_div(sec, 86400);
	int64		secs = sec - days * 86400;
	int64		y;
	int			m,
				d;

	civil_from_days(days, &y, &m, &d);
	switch (fn)
	{
		case PQ_FN_DAYS_IN_MONTH:
			{
				static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

				return (m == 2 && is_leap(y)) ? 29 : dim[m - 1];
			}
		case PQ_FN_DAY_OF_MONTH:
			return d;
		case PQ_FN_DAY_OF_WEEK:
			{
				int64		w = (days + 4) % 7;

				return w < 0 ? w + 7 : w;
			}
		case PQ_FN_DAY_OF_YEAR:
			return (double) (days - pq_days_from_civil(y, 1, 1) + 1);
		case PQ_FN_HOUR:
			return (double) (secs / 3600);
		case PQ_FN_MINUTE:
			return (double) ((secs % 3600) / 60);
		case PQ_FN_MONTH:
			return m;
		case PQ_FN_YEAR:
			return (double) y;
		default:
			elog(ERROR, "not a date function");
	}
	return 0;
}

static bool
is_date_func(PqFunc fn)
{
	switch (fn)
	{
		case PQ_FN_DAYS_IN_MONTH:
		case PQ_FN_DAY_OF_MONTH:
		case PQ_FN_DAY_OF_WEEK:
		case PQ_FN_DAY_OF_YEAR:
		case PQ_FN_HOUR:
		case PQ_FN_MINUTE:
		case PQ_FN_MONTH:
		case PQ_FN_YEAR:
			return true;
		default:
			return false;
	}
}

static double
math_func(PqFunc fn, double v)
{
	switch (fn)
	{
		case PQ_FN_ABS:
			return fabs(v);
		case PQ_FN_CEIL:
			return ceil(v);
		case PQ_FN_FLOOR:
			return floor(v);
		case PQ_FN_EXP:
			return exp(v);
		case PQ_FN_SQRT:
			return sqrt(v);
		case PQ_FN_LN:
			return log(v);
		case PQ_FN_LOG2:
			return log2(v);
		case PQ_FN_LOG10:
			return log10(v);
		case PQ_FN_SIN:
			return sin(v);
		case PQ_FN_COS:
			return cos(v);
		case PQ_FN_TAN:
			return tan(v);
		case PQ_FN_ASIN:
			return asin(v);
		case PQ_FN_ACOS:
			return acos(v);
		case PQ_FN_ATAN:
			return atan(v);
		case PQ_FN_SINH:
			return sinh(v);
		case PQ_FN_COSH:
			return cosh(v);
		case PQ_FN_TANH:
			return tanh(v);
		case PQ_FN_ASINH:
			return asinh(v);
		case PQ_FN_ACOSH:
			return acosh(v);
		case PQ_FN_ATANH:
			return atanh(v);
		case PQ_FN_RAD:
			return v * M_PI / 180;
		case PQ_FN_DEG:
			return v * 180 / M_PI;
		case PQ_FN_SGN:
			return v < 0 ? -1 : (v > 0 ? 1 : v);
		default:
			elog(ERROR, "not a math function");
	}
	return 0;
}

static void
map_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	MapSink    *ms = (MapSink *) sink;

	for (int k = 0; k < ev->n; k++)
	{
		double		v;

		if (!s->ok[k])
			continue;
		v = s->v[k];
		switch (ms->fn)
		{
			case PQ_FN_ROUND:
				{
					double		inv = 1.0 / (ms->a1 ? ms->a1[k] : 1.0);

					v = floor(v * inv + 0.5) / inv;
					break;
				}
			case PQ_FN_CLAMP:
			case PQ_FN_CLAMP_MIN:
			case PQ_FN_CLAMP_MAX:
				{
					double		lo = ms->fn == PQ_FN_CLAMP_MAX ? -INFINITY : ms->a1[k];
					double		hi = ms->fn == PQ_FN_CLAMP ? ms->a2[k]
						: (ms->fn == PQ_FN_CLAMP_MAX ? ms->a1[k] : INFINITY);

					if (hi < lo)
					{
						s->ok[k] = false;
						s->count--;
						pq_account(ev, -1);
						continue;
					}
					v = go_max(lo, go_min(hi, v));
					break;
				}
			case PQ_FN_TIMESTAMP:
				v = (double) PQ_TS(ev, k) / 1000.0;
				break;
			default:
				if (is_date_func(ms->fn))
					v = date_func(ms->fn, go_int64(v));
				else
					v = math_func(ms->fn, v);
		}
		s->v[k] = v;
	}
	s->drop_name = true;
	if (s->count == 0)
	{
		pq_ser_free(ev, s);
		return;
	}
	ms->target->put(ms->target, ev, s);
}

/* ---- absent ---- */

MimirLabelSet
pq_absent_labels(const PqNode *arg)
{
	MimirLabelSet ls = {0, palloc(sizeof(MimirLabel))};
	List	   *has = NIL;
	ListCell   *lc;
	const PqNode *vs;

	arg = pq_unwrap_parens(arg);
	if (arg->kind == PQ_MATRIX_SELECTOR)
		vs = arg->u.ms.vs;
	else if (arg->kind == PQ_VECTOR_SELECTOR)
		vs = arg;
	else
		return ls;
	foreach(lc, vs->u.vs.matchers)
	{
		MimirMatcher *m = lfirst(lc);
		bool		seen = false;
		ListCell   *hc;

		if (strcmp(m->name, "__name__") == 0)
			continue;
		foreach(hc, has)
			if (strcmp(lfirst(hc), m->name) == 0)
			seen = true;
		if (m->op == MATCH_EQ && !seen)
		{
			ls = pq_ls_set(&ls, m->name, m->value);
			has = lappend(has, m->name);
		}
		else
			ls = pq_ls_del(&ls, m->name);
	}
	return ls;
}

typedef struct PresenceSink
{
	PqSink		sink;
	int		   *count;
	double	   *value;
} PresenceSink;

static void
presence_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	PresenceSink *ps = (PresenceSink *) sink;

	for (int k = 0; k < ev->n; k++)
		if (s->ok[k])
		{
			ps->count[k]++;
			if (ps->value)
				ps->value[k] = s->v[k];
		}
	pq_ser_free(ev, s);
}

static void
presence(PqEval *ev, const PqNode *arg, int **count, double **value)
{
	PresenceSink ps;

	ps.sink.put = presence_put;
	ps.count = palloc0(sizeof(int) * Max(ev->n, 1));
	ps.value = value ? palloc0(sizeof(double) * Max(ev->n, 1)) : NULL;
	pq_eval_vector(ev, arg, &ps.sink);
	*count = ps.count;
	if (value)
		*value = ps.value;
}

/* ---- sorting (instant queries only: range results are sorted by labels) ---- */

typedef struct SortArg
{
	PqFunc		fn;
	List	   *labels;
} SortArg;

static bool
sort_less(const void *a, const void *b, void *arg)
{
	const PqSer *x = *(PqSer *const *) a;
	const PqSer *y = *(PqSer *const *) b;
	SortArg    *sa = arg;
	ListCell   *lc;
	bool		desc = (sa->fn == PQ_FN_SORT_BY_LABEL_DESC);

	switch (sa->fn)
	{
		case PQ_FN_SORT:
			/* sort.Reverse(vectorByReverseValueHeap): ascending, NaN last */
			return isnan(y->v[0]) ? true : y->v[0] > x->v[0];
		case PQ_FN_SORT_DESC:
			return isnan(y->v[0]) ? true : y->v[0] < x->v[0];
		default:
			break;
	}
	foreach(lc, sa->labels)
	{
		const char *l1 = pq_ls_get(&x->ls, lfirst(lc));
		const char *l2 = pq_ls_get(&y->ls, lfirst(lc));

		if (l1 == NULL)
			l1 = "";
		if (l2 == NULL)
			l2 = "";
		if (strcmp(l1, l2) == 0)
			continue;
		if (pq_natsort_less(l1, l2))
			return !desc;
		return desc;
	}
	return desc ? pq_ls_cmp(&x->ls, &y->ls) > 0 : pq_ls_cmp(&x->ls, &y->ls) < 0;
}

static void
eval_sort(PqEval *ev, const PqNode *n, PqSink *sink)
{
	PqVec		v;
	SortArg		sa;

	if (ev->n > 1)
	{
		/* a range query's result is ordered by labels anyway */
		pq_eval_vector(ev, linitial(n->u.call.args), sink);
		return;
	}
	sa.fn = n->u.call.func->id;
	sa.labels = NIL;
	for (int i = 1; i < list_length(n->u.call.args); i++)
		sa.labels = lappend(sa.labels, (char *) string_arg(n, i));
	pq_eval_vector_collect(ev, linitial(n->u.call.args), &v);
	pq_sort(v.s, v.n, sizeof(PqSer *), sort_less, &sa);
	for (int i = 0; i < v.n; i++)
		sink->put(sink, ev, v.s[i]);
}

/* ---- label_replace / label_join ---- */

/*
 * Go's regexp.Expand of template with the submatches of src: $n / ${n} is
 * group n, $name / ${name} the first group of that name that matched,
 * anything else (out of range, unknown names, unmatched groups) nothing.
 */
static void
expand_template(StringInfo out, const char *tmpl, const char *src,
				const int *so, const int *eo, int nsub, char **names)
{
	const char *p = tmpl;

	while (*p)
	{
		const char *name;
		int			nlen = 0;
		bool		brace = false;
		int			num;
		const char *q;

		if (*p != '$')
		{
			appendStringInfoChar(out, *p++);
			continue;
		}
		p++;
		if (*p == '$')
		{
			appendStringInfoChar(out, '$');
			p++;
			continue;
		}
		q = p;
		if (*q == '{')
		{
			brace = true;
			q++;
		}
		name = q;
		while (q[nlen] && ((unsigned char) q[nlen] >= 0x80 || isalnum((unsigned char) q[nlen]) ||
						   q[nlen] == '_'))
			nlen++;
		if (nlen == 0 || (brace && q[nlen] != '}'))
		{
			appendStringInfoChar(out, '$');
			continue;
		}
		p = q + nlen + (brace ? 1 : 0);
		num = 0;
		for (int i = 0; i < nlen; i++)
		{
			if (name[i] < '0' || name[i] > '9' || num >= 100000000)
			{
				num = -1;
				break;
			}
			num = num * 10 + (name[i] - '0');
		}
		if (name[0] == '0' && nlen > 1)
			num = -1;
		if (num < 0)
		{
			for (int i = 1; i < nsub; i++)
				if (names[i][0] != '\0' && strlen(names[i]) == (size_t) nlen &&
					strncmp(names[i], name, nlen) == 0 && so[i] >= 0)
				{
					num = i;
					break;
				}
		}
		if (num >= 0 && num < nsub && so[num] >= 0)
			appendBinaryStringInfo(out, src + so[num], eo[num] - so[num]);
	}
}

/* A label_replace regex: RE2 syntax, anchored, through the matchers' translation. */
typedef struct CompiledRe
{
	regex_t		re;
	int			nsub;			/* groups, the whole match included */
	char	  **names;			/* [nsub]: group names, "" when unnamed */
} CompiledRe;

static bool
compile_re(CompiledRe *c, const char *regex)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *groups = NIL;
	char	   *a = NULL;
	int			len;
	pg_wchar   *w;
	int			wlen;
	ListCell   *lc;
	int			i = 1;

	PG_TRY();
	{
		a = mimir_re2_anchored(regex, &groups);
	}
	PG_CATCH();
	{
		/* the translation refuses what RE2 would refuse: same message as the engine's */
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		a = NULL;
	}
	PG_END_TRY();
	if (a == NULL)
		return false;
	len = strlen(a);
	w = palloc((len + 1) * sizeof(pg_wchar));
	wlen = pg_mb2wchar_with_len(a, w, len);
	if (pg_regcomp(&c->re, w, wlen, REG_ADVANCED, C_COLLATION_OID) != REG_OKAY)
		return false;
	c->nsub = (int) c->re.re_nsub + 1;
	c->names = palloc0(sizeof(char *) * c->nsub);
	c->names[0] = "";
	foreach(lc, groups)
	{
		if (i < c->nsub)
			c->names[i] = lfirst(lc);
		i++;
	}
	for (; i < c->nsub; i++)
		c->names[i] = "";
	return true;
}

/* Match; fills byte offsets of up to nsub submatches. */
static bool
match_re(CompiledRe *c, const char *s, int *so, int *eo, int nsub)
{
	int			len = strlen(s);
	pg_wchar   *w = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(s, w, len);
	regmatch_t *pm = palloc(sizeof(regmatch_t) * nsub);
	int			rc = pg_regexec(&c->re, w, wlen, 0, NULL, nsub, pm, 0);
	int		   *byteoff;

	if (rc == REG_NOMATCH)
		return false;
	if (rc != REG_OKAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("regular expression failed in label_replace()")));
	/* wchar offsets -> byte offsets */
	byteoff = palloc(sizeof(int) * (wlen + 1));
	{
		int			b = 0;

		for (int i = 0; i < wlen; i++)
		{
			byteoff[i] = b;
			b += pg_mblen(s + b);
		}
		byteoff[wlen] = b;
	}
	for (int i = 0; i < nsub; i++)
	{
		if (pm[i].rm_so < 0 || pm[i].rm_eo < 0)
		{
			so[i] = eo[i] = -1;
			continue;
		}
		so[i] = byteoff[pm[i].rm_so];
		eo[i] = byteoff[pm[i].rm_eo];
	}
	return true;
}

/*
 * Series that became equal are merged when they do not overlap in time
 * (Prometheus' mergeSeriesWithSameLabelset); overlapping is an error.
 */
static void
merge_and_emit(PqEval *ev, PqVec *v, PqSink *sink)
{
	PqStrMap   *m = pq_strmap_new(v->n);
	StringInfoData key;
	int			out = 0;

	initStringInfo(&key);
	for (int i = 0; i < v->n; i++)
	{
		int			idx;

		resetStringInfo(&key);
		pq_ls_key(&v->s[i]->ls, &key);
		idx = pq_strmap_put(m, key.data, key.len, out);
		if (idx == out)
		{
			v->s[out++] = v->s[i];
			continue;
		}
		for (int k = 0; k < ev->n; k++)
			if (v->s[i]->ok[k])
			{
				if (v->s[idx]->ok[k])
					ereport(ERROR,
							(errcode(ERRCODE_CARDINALITY_VIOLATION),
							 errmsg("vector cannot contain metrics with the same labelset")));
				pq_ser_set(v->s[idx], k, v->s[i]->v[k]);
			}
		pq_ser_free(ev, v->s[i]);
	}
	for (int i = 0; i < out; i++)
		sink->put(sink, ev, v->s[i]);
	pq_strmap_free(m);
}

static void
eval_label_replace(PqEval *ev, const PqNode *n, PqSink *sink)
{
	const char *dst = string_arg(n, 1);
	const char *repl = string_arg(n, 2);
	const char *src = string_arg(n, 3);
	const char *regex = string_arg(n, 4);
	CompiledRe	re;
	PqVec		v;
	int			nsub;
	int		   *so,
			   *eo;

	if (!compile_re(&re, regex))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("invalid regular expression in label_replace(): %s", regex)));
	if (!mimir_valid_label_name(dst))
		ereport(ERROR,
				(errcode(PQ_ERR_EXEC),
				 errmsg("invalid destination label name in label_replace(): %s", dst)));
	nsub = re.nsub;
	so = palloc(sizeof(int) * nsub);
	eo = palloc(sizeof(int) * nsub);
	pq_eval_vector_collect(ev, linitial(n->u.call.args), &v);
	for (int i = 0; i < v.n; i++)
	{
		PqSer	   *s = v.s[i];
		const char *sv = pq_ls_get(&s->ls, src);

		if (sv == NULL)
			sv = "";
		if (match_re(&re, sv, so, eo, nsub))
		{
			StringInfoData res;

			initStringInfo(&res);
			expand_template(&res, repl, sv, so, eo, nsub, re.names);
			s->ls = pq_ls_set(&s->ls, pstrdup(dst), res.data);
			if (strcmp(dst, "__name__") == 0)
				s->drop_name = false;
		}
	}
	pg_regfree(&re.re);
	merge_and_emit(ev, &v, sink);
}

static void
eval_label_join(PqEval *ev, const PqNode *n, PqSink *sink)
{
	const char *dst = string_arg(n, 1);
	const char *sep = string_arg(n, 2);
	int			nsrc = list_length(n->u.call.args) - 3;
	const char **src = palloc(sizeof(char *) * Max(nsrc, 1));
	PqVec		v;

	for (int i = 0; i < nsrc; i++)
	{
		src[i] = string_arg(n, i + 3);
		if (!mimir_valid_label_name(src[i]))
			ereport(ERROR,
					(errcode(PQ_ERR_EXEC),
					 errmsg("invalid source label name in label_join(): %s", src[i])));
	}
	if (!mimir_valid_label_name(dst))
		ereport(ERROR,
				(errcode(PQ_ERR_EXEC),
				 errmsg("invalid destination label name in label_join(): %s", dst)));
	pq_eval_vector_collect(ev, linitial(n->u.call.args), &v);
	for (int i = 0; i < v.n; i++)
	{
		PqSer	   *s = v.s[i];
		StringInfoData res;

		initStringInfo(&res);
		for (int j = 0; j < nsrc; j++)
		{
			const char *sv = pq_ls_get(&s->ls, src[j]);

			if (j > 0)
				appendStringInfoString(&res, sep);
			if (sv)
				appendStringInfoString(&res, sv);
		}
		s->ls = pq_ls_set(&s->ls, pstrdup(dst), res.data);
		if (strcmp(dst, "__name__") == 0)
			s->drop_name = false;
	}
	merge_and_emit(ev, &v, sink);
}

/* ---- histogram_quantile over classic buckets ---- */

typedef struct Bucket
{
	double		ub;
	double		count;
} Bucket;

static int
bucket_cmp(const void *a, const void *b)
{
	double		x = ((const Bucket *) a)->ub,
				y = ((const Bucket *) b)->ub;

	return x < y ? -1 : x > y;
}

/* A bucket series' place: its group, upper bound and input position. */
typedef struct HqOrder
{
	int			group;
	double		ub;
	int			series;
} HqOrder;

static int
hqorder_cmp(const void *a, const void *b)
{
	const HqOrder *x = a,
			   *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	/* as bucket_cmp: a NaN bound sorts with anything */
	if (x->ub < y->ub)
		return -1;
	if (x->ub > y->ub)
		return 1;
	return x->series < y->series ? -1 : x->series > y->series;
}

/* Prometheus' bucketQuantile; *forced: monotonicity had to be fixed. */
static double
bucket_quantile(double q, Bucket *b, int n, bool *forced)
{
	int			out;
	double		max,
				prev,
				obs,
				rank,
				start = 0,
				end,
				count;
	int			i;

	*forced = false;
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(b, n, sizeof(Bucket), bucket_cmp);
	if (!(isinf(b[n - 1].ub) && b[n - 1].ub > 0))
		return NAN;
	/* coalesce equal upper bounds */
	out = 0;
	for (i = 1; i < n; i++)
	{
		if (b[i].ub == b[out].ub)
			b[out].count += b[i].count;
		else
			b[++out] = b[i];
	}
	n = out + 1;
	/* float precision errors */
	prev = b[0].count;
	for (i = 1; i < n; i++)
	{
		double		delta = fabs(b[i].count - prev);

		if (delta == 0)
			continue;
		if (delta / b[i].count <= 1e-12)
			b[i].count = prev;
		else
			prev = b[i].count;
	}
	/* monotonicity */
	max = b[0].count;
	for (i = 1; i < n; i++)
	{
		if (b[i].count > max)
			max = b[i].count;
		else if (b[i].count < max)
		{
			b[i].count = max;
			*forced = true;
		}
	}
	if (n < 2)
		return NAN;
	obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	rank = q * obs;
	/* sort.Search(n-1, count >= rank) */
	{
		int			lo = 0,
					hi = n - 1;

		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (b[mid].count >= rank)
				hi = mid;
			else
				lo = mid + 1;
		}
		i = lo;
	}
	if (i == n - 1)
		return b[n - 2].ub;
	if (i == 0 && b[0].ub <= 0)
		return b[0].ub;
	end = b[i].ub;
	count = b[i].count;
	if (i > 0)
	{
		start = b[i - 1].ub;
		count -= b[i - 1].count;
		rank -= b[i - 1].count;
	}
	return start + (end - start) * (rank / count);
}

static void
eval_histogram_quantile(PqEval *ev, const PqNode *n, PqSink *sink)
{
	double	   *q = pq_eval_scalar(ev, linitial(n->u.call.args));
	const PqNode *varg = lsecond(n->u.call.args);
	PqVec		v;
	int		   *group;
	double	   *ub;
	int			ngroups = 0;
	MimirLabelSet *glabels;
	const char **gname;
	PqStrMap   *m;
	StringInfoData key;
	PqOut	   *out;
	Bucket	   *buckets;
	HqOrder    *order;
	int			norder;
	int		   *gstart;
	int		   *gidx;

	pq_eval_vector_collect(ev, varg, &v);
	group = palloc(sizeof(int) * Max(v.n, 1));
	ub = palloc(sizeof(double) * Max(v.n, 1));
	glabels = palloc(sizeof(MimirLabelSet) * Max(v.n, 1));
	gname = palloc(sizeof(char *) * Max(v.n, 1));
	m = pq_strmap_new(v.n);
	initStringInfo(&key);
	for (int i = 0; i < v.n; i++)
	{
		const char *le = pq_ls_get(&v.s[i]->ls, "le");
		MimirLabelSet rest;

		if (le == NULL || !pq_parse_float(le, &ub[i]))
		{
			const char *name = pq_ls_get(&v.s[i]->ls, "__name__");

			group[i] = -1;
			pq_warn(ev, false, varg,
					"bucket label \"le\" is missing or has a malformed value of \"%s\" for metric name \"%s\"",
					le ? le : "", name ? name : "");
			continue;
		}
		rest = pq_ls_del(&v.s[i]->ls, "le");
		resetStringInfo(&key);
		pq_ls_key(&rest, &key);
		group[i] = pq_strmap_put(m, key.data, key.len, ngroups);
		if (group[i] == ngroups)
		{
			const char *name = pq_ls_get(&rest, "__name__");

			gname[ngroups] = name ? name : "";
			glabels[ngroups] = pq_ls_drop_name(&rest);
			ngroups++;
		}
	}
	pq_strmap_free(m);
	for (int k = 0; k < ev->n; k++)
		if (isnan(q[k]) || q[k] < 0 || q[k] > 1)
		{
			bool		any = false;

			for (int i = 0; i < v.n; i++)
				any = any || v.s[i]->ok[k];
			if (any)
				pq_warn(ev, false, linitial(n->u.call.args),
						"quantile value should be between 0 and 1, got %s", pq_format_g(q[k]));
		}
	out = pq_out_new(ev);
	buckets = palloc(sizeof(Bucket) * Max(v.n, 1));
	/*
	 * The series in group order, each group's by upper bound (equal bounds
	 * in input order, as Go's sort of a few buckets leaves them): every
	 * step then finds its groups' buckets laid out and already sorted.
	 */
	order = palloc(sizeof(HqOrder) * Max(v.n, 1));
	norder = 0;
	for (int i = 0; i < v.n; i++)
		if (group[i] >= 0)
		{
			order[norder].group = group[i];
			order[norder].ub = ub[i];
			order[norder].series = i;
			norder++;
		}
	qsort(order, norder, sizeof(HqOrder), hqorder_cmp);
	gstart = palloc0(sizeof(int) * (ngroups + 1));
	for (int j = 0; j < norder; j++)
		gstart[order[j].group + 1]++;
	for (int g = 0; g < ngroups; g++)
		gstart[g + 1] += gstart[g];
	gidx = palloc(sizeof(int) * Max(ngroups, 1));
	for (int g = 0; g < ngroups; g++)
		gidx[g] = -1;
	for (int k = 0; k < ev->n; k++)
	{
		pq_check_interrupts(ev->q);
		for (int g = 0; g < ngroups; g++)
		{
			bool		forced;
			double		r;
			int			nbk = 0;

			for (int j = gstart[g]; j < gstart[g + 1]; j++)
			{
				PqSer	   *sv = v.s[order[j].series];

				if (!sv->ok[k])
					continue;
				buckets[nbk].ub = order[j].ub;
				buckets[nbk].count = sv->v[k];
				nbk++;
			}
			if (nbk == 0)
				continue;
			r = bucket_quantile(q[k], buckets, nbk, &forced);
			if (forced)
				pq_warn(ev, true, varg,
						"input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%s\"",
						gname[g]);
			/* a group's output series is the same at every step of a range query */
			if (gidx[g] < 0 || !pq_out_keyed(out))
				gidx[g] = pq_out_series(out, &glabels[g], false, true);
			pq_out_set(out, gidx[g], k, r);
		}
	}
	pq_vec_free(ev, &v);
	pq_out_emit(out, sink);
}

/* ---- dispatch ---- */

typedef struct NullSink
{
	PqSink		sink;
} NullSink;

static void
null_put(PqSink *sink, PqEval *ev, PqSer *s)
{
	pq_ser_free(ev, s);
}

void
pq_eval_vector_call(PqEval *ev, const PqNode *n, PqSink *sink)
{
	PqFunc		fn = n->u.call.func->id;
	int			nargs = list_length(n->u.call.args);

	switch (fn)
	{
		case PQ_FN_LABEL_REPLACE:
			eval_label_replace(ev, n, sink);
			return;
		case PQ_FN_LABEL_JOIN:
			eval_label_join(ev, n, sink);
			return;
		case PQ_FN_SORT:
		case PQ_FN_SORT_DESC:
		case PQ_FN_SORT_BY_LABEL:
		case PQ_FN_SORT_BY_LABEL_DESC:
			eval_sort(ev, n, sink);
			return;
		case PQ_FN_HISTOGRAM_QUANTILE:
			eval_histogram_quantile(ev, n, sink);
			return;
		case PQ_FN_VECTOR:
			{
				double	   *v = pq_eval_scalar(ev, linitial(n->u.call.args));
				MimirLabelSet empty = {0, palloc(sizeof(MimirLabel))};
				PqSer	   *s = pq_ser_new(ev, &empty, false);

				for (int k = 0; k < ev->n; k++)
					pq_ser_set(s, k, v[k]);
				pq_emit(ev, sink, s);
				return;
			}
		case PQ_FN_ABSENT:
			{
				int		   *cnt;
				MimirLabelSet ls;
				PqSer	   *s;

				presence(ev, linitial(n->u.call.args), &cnt, NULL);
				ls = pq_absent_labels(linitial(n->u.call.args));
				s = pq_ser_new(ev, &ls, false);
				for (int k = 0; k < ev->n; k++)
					if (cnt[k] == 0)
						pq_ser_set(s, k, 1);
				pq_emit(ev, sink, s);
				return;
			}
		case PQ_FN_TIMESTAMP:
			{
				const PqNode *a = arg_node(n, 0);

				if (a->kind == PQ_STEP_INVARIANT)
					a = pq_unwrap_parens(a->u.inner.expr);
				if (a->kind == PQ_VECTOR_SELECTOR)
				{
					pq_eval_timestamp_selector(ev, a, sink);
					return;
				}
				break;
			}
		case PQ_FN_HISTOGRAM_AVG:
		case PQ_FN_HISTOGRAM_COUNT:
		case PQ_FN_HISTOGRAM_SUM:
		case PQ_FN_HISTOGRAM_STDDEV:
		case PQ_FN_HISTOGRAM_STDVAR:
		case PQ_FN_HISTOGRAM_FRACTION:
			{
				/* only native histogram samples count; floats are skipped */
				NullSink	ns = {{null_put}};

				pq_eval_vector(ev, llast(n->u.call.args), &ns.sink);
				return;
			}
		default:
			break;
	}

	if (is_date_func(fn) && nargs == 0)
	{
		MimirLabelSet empty = {0, palloc(sizeof(MimirLabel))};
		PqSer	   *s = pq_ser_new(ev, &empty, false);

		for (int k = 0; k < ev->n; k++)
		{
			int64		t = PQ_TS(ev, k);

			/* Go: time.Unix(ts/1000, 0), division truncating toward zero */
			pq_ser_set(s, k, date_func(fn, t / 1000));
		}
		pq_emit(ev, sink, s);
		return;
	}
	{
		MapSink		ms = {{map_put}, sink, fn, NULL, NULL};

		if (nargs >= 2)
			ms.a1 = pq_eval_scalar(ev, list_nth(n->u.call.args, 1));
		if (nargs >= 3)
			ms.a2 = pq_eval_scalar(ev, list_nth(n->u.call.args, 2));
		switch (fn)
		{
			case PQ_FN_ROUND:
			case PQ_FN_CLAMP:
			case PQ_FN_CLAMP_MIN:
			case PQ_FN_CLAMP_MAX:
			case PQ_FN_TIMESTAMP:
				break;
			default:
				if (!is_date_func(fn))
					(void) math_func(fn, 0);	/* errors for unknown functions */
		}
		pq_eval_vector(ev, linitial(n->u.call.args), &ms.sink);
	}
}

double *
pq_eval_scalar_call(PqEval *ev, const PqNode *n)
{
	double	   *r = palloc(sizeof(double) * Max(ev->n, 1));

	switch (n->u.call.func->id)
	{
		case PQ_FN_TIME:
			for (int k = 0; k < ev->n; k++)
				r[k] = (double) PQ_TS(ev, k) / 1000.0;
			return r;
		case PQ_FN_PI:
			for (int k = 0; k < ev->n; k++)
				r[k] = M_PI;
			return r;
		case PQ_FN_SCALAR:
			{
				int		   *cnt;
				double	   *val;

				presence(ev, linitial(n->u.call.args), &cnt, &val);
				for (int k = 0; k < ev->n; k++)
					r[k] = cnt[k] == 1 ? val[k] : NAN;
				return r;
			}
		default:
			elog(ERROR, "function %s does not return a scalar", n->u.call.func->name);
	}
	return r;
}
