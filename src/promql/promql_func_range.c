/*
 * promql_func_range.c — functions over range vectors (rate, increase,
 * delta with Prometheus' extrapolation, irate/idelta, deriv and
 * predict_linear by least squares, changes/resets, the *_over_time family,
 * double_exponential_smoothing, absent_over_time). Each series of the
 * matrix selector or subquery is processed on its own: the windows of all
 * steps slide over its points (left-open, right-closed), so nothing but one
 * series' points and its output is held at a time.
 */
#include "promql/promql_eval.h"

#include <math.h>

typedef struct RangeCall
{
	PqSink	   *sink;
	const PqNode *n;
	PqFunc		fn;
	int			matrix_arg;
	double	  **args;			/* scalar arguments per step (NULL for the matrix) */
	int64	   *ref;
	int64		range;
	bool	   *found;			/* absent_over_time: steps with data */
	bool		complete;		/* absent_over_time: a series with every step */
	bool		warned_name;
	int		   *resets;			/* rate/increase: reset positions of a series */
	int			resets_cap;
	int		   *deque;			/* max/min_over_time: the window's candidates */
	int			deque_cap;
} RangeCall;

/* ---- kernels: return false when the step has no output ---- */

/*
 * resets: when not NULL, the window's counter resets as positions in the
 * series' points sp, found once for the whole series (see on_series), so
 * that windows need not be scanned for them; the corrections are added in
 * the same order either way.
 */
static bool
extrapolated_rate(const PqPoint *p, int n, int64 range_start, int64 range_end,
				  int64 range_ms, bool counter, bool is_rate,
				  const PqPoint *sp, const int *resets, int nresets, double *out)
{
	double		result,
				dur_start,
				dur_end,
				sampled,
				avg_dur,
				threshold,
				factor;

	if (n < 2)
		return false;
	result = p[n - 1].v - p[0].v;
	if (counter && resets)
	{
		for (int j = 0; j < nresets; j++)
			result += sp[resets[j] - 1].v;
	}
	else if (counter)
		for (int i = 1; i < n; i++)
			if (p[i].v < p[i - 1].v)
				result += p[i - 1].v;
	dur_start = (double) (p[0].t - range_start) / 1000;
	dur_end = (double) (range_end - p[n - 1].t) / 1000;
	sampled = (double) (p[n - 1].t - p[0].t) / 1000;
	avg_dur = sampled / (n - 1);
	threshold = avg_dur * 1.1;
	if (dur_start >= threshold)
		dur_start = avg_dur / 2;
	if (counter)
	{
		double		dur_zero = dur_start;

		if (result > 0 && p[0].v >= 0)
			dur_zero = sampled * (p[0].v / result);
		if (dur_zero < dur_start)
			dur_start = dur_zero;
	}
	if (dur_end >= threshold)
		dur_end = avg_dur / 2;
	factor = (sampled + dur_start + dur_end) / sampled;
	if (is_rate)
		factor /= (double) range_ms / 1000;
	*out = result * factor;
	return true;
}

static bool
instant_value(const PqPoint *p, int n, bool is_rate, double *out)
{
	const PqPoint *a,
			   *b;
	double		r;
	int64		interval;

	if (n < 2)
		return false;
	a = &p[n - 2];
	b = &p[n - 1];
	interval = b->t - a->t;
	if (interval == 0)
		return false;
	r = b->v;
	if (!is_rate || !(b->v < a->v))
		r = b->v - a->v;
	if (is_rate)
		r /= (double) interval / 1000;
	*out = r;
	return true;
}

static void
linear_regression(const PqPoint *p, int n, int64 intercept_t, double *slope, double *intercept)
{
	double		cnt = 0,
				sx = 0,
				cx = 0,
				sy = 0,
				cy = 0,
				sxy = 0,
				cxy = 0,
				sx2 = 0,
				cx2 = 0;
	double		inity = p[0].v;
	bool		consty = true;
	double		cov,
				var;

	for (int i = 0; i < n; i++)
	{
		double		x;

		if (consty && i > 0 && p[i].v != inity)
			consty = false;
		cnt += 1.0;
		x = (double) (p[i].t - intercept_t) / 1e3;
		pq_kahan_inc(x, &sx, &cx);
		pq_kahan_inc(p[i].v, &sy, &cy);
		pq_kahan_inc(x * p[i].v, &sxy, &cxy);
		pq_kahan_inc(x * x, &sx2, &cx2);
	}
	if (consty)
	{
		if (isinf(inity))
		{
			*slope = NAN;
			*intercept = NAN;
			return;
		}
		*slope = 0;
		*intercept = inity;
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	cov = sxy - sx * sy / cnt;
	var = sx2 - sx * sx / cnt;
	*slope = cov / var;
	*intercept = sy / cnt - *slope * sx / cnt;
}

static double
avg_over_time(const PqPoint *p, int n)
{
	double		sum = p[0].v,
				count = 1,
				mean = 0,
				c = 0;
	bool		incr = false;

	for (int i = 1; i < n; i++)
	{
		double		q;

		count = i + 1;
		if (!incr)
		{
			double		ns = sum,
						nc = c;

			pq_kahan_inc(p[i].v, &ns, &nc);
			if (!isinf(ns))
			{
				sum = ns;
				c = nc;
				continue;
			}
			incr = true;
			mean = sum / (count - 1);
			c /= count - 1;
		}
		q = (count - 1) / count;
		mean = q * mean;
		c = q * c;
		pq_kahan_inc(p[i].v / count, &mean, &c);
	}
	if (incr)
		return mean + c;
	return sum / count + c / count;
}

static double
variance_over_time(const PqPoint *p, int n)
{
	double		count = 0,
				mean = 0,
				cmean = 0,
				aux = 0,
				caux = 0;

	for (int i = 0; i < n; i++)
	{
		double		delta;

		count++;
		delta = p[i].v - (mean + cmean);
		pq_kahan_inc(delta / count, &mean, &cmean);
		pq_kahan_inc(delta * (p[i].v - (mean + cmean)), &aux, &caux);
	}
	return (aux + caux) / count;
}

static double
quantile_points(double q, const PqPoint *p, int n)
{
	double	   *v = palloc(sizeof(double) * Max(n, 1));
	double		r;

	for (int i = 0; i < n; i++)
		v[i] = p[i].v;
	r = pq_quantile(q, v, n);
	pfree(v);
	return r;
}

static double
mad_over_time(const PqPoint *p, int n)
{
	double	   *v = palloc(sizeof(double) * Max(n, 1));
	double		median,
				r;

	for (int i = 0; i < n; i++)
		v[i] = p[i].v;
	median = pq_quantile(0.5, v, n);
	for (int i = 0; i < n; i++)
		v[i] = fabs(p[i].v - median);
	r = pq_quantile(0.5, v, n);
	pfree(v);
	return r;
}

static double
des_trend(int i, double tf, double s0, double s1, double b)
{
	if (i == 0)
		return b;
	return tf * (s1 - s0) + (1 - tf) * b;
}

static bool
double_exponential_smoothing(const PqPoint *p, int n, double sf, double tf, double *out)
{
	double		s0 = 0,
				s1,
				b;

	if (sf <= 0 || sf >= 1)
		ereport(ERROR,
				(errcode(PQ_ERR_EXEC),
				 errmsg("invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf)));
	if (tf <= 0 || tf >= 1)
		ereport(ERROR,
				(errcode(PQ_ERR_EXEC),
				 errmsg("invalid trend factor. Expected: 0 < tf < 1, got: %f", tf)));
	if (n < 2)
		return false;
	s1 = p[0].v;
	b = p[1].v - p[0].v;
	for (int i = 1; i < n; i++)
	{
		double		x = sf * p[i].v;
		double		y;

		b = des_trend(i - 1, tf, s0, s1, b);
		y = (1 - sf) * (s1 + b);
		s0 = s1;
		s1 = x + y;
	}
	*out = s1;
	return true;
}

/* One step's window [p, p+n) of a series; false if the step has no output. */
static bool
apply(RangeCall *rc, PqEval *ev, int k, const PqPoint *p, int n, double *out)
{
	int64		ref = rc->ref[k];
	int64		start = ref - rc->range;

	switch (rc->fn)
	{
		case PQ_FN_RATE:
			return extrapolated_rate(p, n, start, ref, rc->range, true, true, NULL, NULL, 0, out);
		case PQ_FN_INCREASE:
			return extrapolated_rate(p, n, start, ref, rc->range, true, false, NULL, NULL, 0, out);
		case PQ_FN_DELTA:
			return extrapolated_rate(p, n, start, ref, rc->range, false, false, NULL, NULL, 0, out);
		case PQ_FN_IRATE:
			return instant_value(p, n, true, out);
		case PQ_FN_IDELTA:
			return instant_value(p, n, false, out);
		case PQ_FN_DERIV:
			{
				double		slope,
							icpt;

				if (n < 2)
					return false;
				linear_regression(p, n, p[0].t, &slope, &icpt);
				*out = slope;
				return true;
			}
		case PQ_FN_PREDICT_LINEAR:
			{
				double		slope,
							icpt;

				if (n < 2)
					return false;
				linear_regression(p, n, PQ_TS(ev, k), &slope, &icpt);
				*out = slope * rc->args[1][k] + icpt;
				return true;
			}
		case PQ_FN_AVG_OVER_TIME:
			*out = avg_over_time(p, n);
			return true;
		case PQ_FN_COUNT_OVER_TIME:
			*out = n;
			return true;
		case PQ_FN_LAST_OVER_TIME:
			*out = p[n - 1].v;
			return true;
		case PQ_FN_MAX_OVER_TIME:
		case PQ_FN_MIN_OVER_TIME:
			{
				double		m = p[0].v;
				bool		mx = rc->fn == PQ_FN_MAX_OVER_TIME;

				for (int i = 0; i < n; i++)
					if ((mx ? p[i].v > m : p[i].v < m) || isnan(m))
						m = p[i].v;
				*out = m;
				return true;
			}
		case PQ_FN_SUM_OVER_TIME:
			{
				double		s = 0,
							c = 0;

				for (int i = 0; i < n; i++)
					pq_kahan_inc(p[i].v, &s, &c);
				*out = isinf(s) ? s : s + c;
				return true;
			}
		case PQ_FN_QUANTILE_OVER_TIME:
			{
				double		q = rc->args[0][k];

				if (isnan(q) || q < 0 || q > 1)
					pq_warn(ev, false, (const PqNode *) linitial(rc->n->u.call.args),
							"quantile value should be between 0 and 1, got %s", pq_format_g(q));
				*out = quantile_points(q, p, n);
				return true;
			}
		case PQ_FN_STDDEV_OVER_TIME:
			*out = sqrt(variance_over_time(p, n));
			return true;
		case PQ_FN_STDVAR_OVER_TIME:
			*out = variance_over_time(p, n);
			return true;
		case PQ_FN_MAD_OVER_TIME:
			*out = mad_over_time(p, n);
			return true;
		case PQ_FN_PRESENT_OVER_TIME:
		case PQ_FN_ABSENT_OVER_TIME:
			*out = 1;
			return true;
		case PQ_FN_CHANGES:
			{
				int			c = 0;

				for (int i = 1; i < n; i++)
					if (p[i].v != p[i - 1].v && !(isnan(p[i].v) && isnan(p[i - 1].v)))
						c++;
				*out = c;
				return true;
			}
		case PQ_FN_RESETS:
			{
				int			c = 0;

				for (int i = 1; i < n; i++)
					if (p[i].v < p[i - 1].v)
						c++;
				*out = c;
				return true;
			}
		case PQ_FN_DOUBLE_EXPONENTIAL_SMOOTHING:
			return double_exponential_smoothing(p, n, rc->args[1][k], rc->args[2][k], out);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function %s over a range vector is not supported",
							rc->n->u.call.func->name)));
	}
	return false;
}

/*
 * For max_over_time (min: mirrored): does value a win over b? NaN loses to
 * any number, as in Prometheus, where a NaN maximum is replaced by the
 * next value and a NaN never replaces one; between equal values the
 * earlier one stays.
 */
static inline bool
extremum_beats(double a, double b, bool max)
{
	if (isnan(b))
		return !isnan(a);
	return max ? a > b : a < b;
}

static bool
counter_like(const char *name)
{
	static const char *const suffixes[] = {"_total", "_sum", "_count", "_bucket"};
	size_t		len = strlen(name);

	for (int i = 0; i < lengthof(suffixes); i++)
	{
		size_t		sl = strlen(suffixes[i]);

		if (len >= sl && strcmp(name + len - sl, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static void
on_series(PqEval *ev, void *arg, const MimirLabelSet *ls, const PqPoint *p, int n)
{
	RangeCall  *rc = arg;
	PqSer	   *out = NULL;
	int			lo = 0,
				hi = 0;

	bool		counter = (rc->fn == PQ_FN_RATE || rc->fn == PQ_FN_INCREASE);
	int			nresets = 0,
				rlo = 0,
				rhi = 0;
	bool		extremum = (rc->fn == PQ_FN_MAX_OVER_TIME || rc->fn == PQ_FN_MIN_OVER_TIME);
	bool		want_max = (rc->fn == PQ_FN_MAX_OVER_TIME);
	int			dq_head = 0,
				dq_tail = 0,
				pushed = 0;

	if (n == 0)
		return;
	if (counter)
	{
		/* where the counter resets, once for all the windows */
		if (rc->resets_cap < n)
		{
			rc->resets_cap = Max(n, 2 * rc->resets_cap);
			rc->resets = rc->resets ? repalloc_huge(rc->resets, sizeof(int) * rc->resets_cap)
				: palloc_extended(sizeof(int) * rc->resets_cap, MCXT_ALLOC_HUGE);
		}
		for (int i = 1; i < n; i++)
			if (p[i].v < p[i - 1].v)
				rc->resets[nresets++] = i;
	}
	if (extremum && rc->deque_cap < n)
	{
		rc->deque_cap = Max(n, 2 * rc->deque_cap);
		rc->deque = rc->deque ? repalloc_huge(rc->deque, sizeof(int) * rc->deque_cap)
			: palloc_extended(sizeof(int) * rc->deque_cap, MCXT_ALLOC_HUGE);
	}
	for (int k = 0; k < ev->n; k++)
	{
		int64		ref = rc->ref[k];
		double		v;
		bool		ok;

		if ((k & 65535) == 65535)
			pq_check_interrupts(ev->q);
		while (lo < n && p[lo].t <= ref - rc->range)
			lo++;
		if (hi < lo)
			hi = lo;
		while (hi < n && p[hi].t <= ref)
			hi++;
		if (hi <= lo)
			continue;
		if (counter)
		{
			/* resets inside the window: positions in (lo, hi) */
			while (rlo < nresets && rc->resets[rlo] <= lo)
				rlo++;
			if (rhi < rlo)
				rhi = rlo;
			while (rhi < nresets && rc->resets[rhi] < hi)
				rhi++;
			ok = extrapolated_rate(p + lo, hi - lo, ref - rc->range, ref, rc->range, true,
								   rc->fn == PQ_FN_RATE, p, rc->resets + rlo, rhi - rlo, &v);
		}
		else if (extremum)
		{
			/*
			 * Sliding windows: a deque of the candidates, best first, so
			 * each point is pushed and popped once however much the
			 * windows overlap.
			 */
			int		   *dq = rc->deque;

			for (; pushed < hi; pushed++)
			{
				while (dq_tail > dq_head && extremum_beats(p[pushed].v, p[dq[dq_tail - 1]].v, want_max))
					dq_tail--;
				dq[dq_tail++] = pushed;
			}
			while (dq_head < dq_tail && dq[dq_head] < lo)
				dq_head++;
			v = p[dq[dq_head]].v;
			ok = true;
		}
		else
			ok = apply(rc, ev, k, p + lo, hi - lo, &v);
		if (!ok)
			continue;
		if (out == NULL)
			out = pq_ser_new(ev, ls, true);
		pq_ser_set(out, k, v);
	}
	pq_check_interrupts(ev->q);
	if (out == NULL)
		return;
	if (rc->fn == PQ_FN_ABSENT_OVER_TIME)
	{
		if (out->count == ev->n)
			rc->complete = true;
		for (int k = 0; k < ev->n; k++)
			if (out->ok[k])
				rc->found[k] = true;
		pq_ser_free(ev, out);
		return;
	}
	if ((rc->fn == PQ_FN_RATE || rc->fn == PQ_FN_INCREASE) && !rc->warned_name)
	{
		const char *name = pq_ls_get(ls, "__name__");

		if (name && !counter_like(name))
		{
			pq_warn(ev, true, (const PqNode *) linitial(rc->n->u.call.args),
					"metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"%s\"",
					name);
			rc->warned_name = true;
		}
	}
	/* last_over_time acts like an offset and keeps the name */
	out->drop_name = (rc->fn != PQ_FN_LAST_OVER_TIME);
	pq_emit(ev, rc->sink, out);
}

void
pq_eval_range_call(PqEval *ev, const PqNode *n, int matrix_arg, PqSink *sink)
{
	RangeCall	rc = {0};
	ListCell   *lc;
	int			i = 0;
	int			nargs = list_length(n->u.call.args);

	rc.sink = sink;
	rc.n = n;
	rc.fn = n->u.call.func->id;
	rc.matrix_arg = matrix_arg;
	rc.args = palloc0(sizeof(double *) * Max(nargs, 1));
	foreach(lc, n->u.call.args)
	{
		if (i != matrix_arg)
			rc.args[i] = pq_eval_scalar(ev, lfirst(lc));
		i++;
	}
	if (rc.fn == PQ_FN_ABSENT_OVER_TIME)
		rc.found = palloc0(sizeof(bool) * Max(ev->n, 1));
	pq_range_source(ev, list_nth(n->u.call.args, matrix_arg), on_series, &rc,
					&rc.ref, &rc.range);
	if (rc.fn == PQ_FN_ABSENT_OVER_TIME && !rc.complete)
	{
		MimirLabelSet ls = pq_absent_labels(list_nth(n->u.call.args, matrix_arg));
		PqSer	   *s = pq_ser_new(ev, &ls, false);

		for (int k = 0; k < ev->n; k++)
			if (!rc.found[k])
				pq_ser_set(s, k, 1);
		s->drop_name = true;
		pq_emit(ev, sink, s);
	}
}
