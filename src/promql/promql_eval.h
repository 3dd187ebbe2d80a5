/*
 * promql_eval.h — internals shared by the evaluator's files (core, binary
 * operators, aggregations, functions). Not part of the engine's API, which
 * is promql.h.
 *
 * Evaluation model: every expression is evaluated over a grid of steps
 * (start, start+step, ..., end); an instant query is a grid of one step.
 * Instant-vector results are streamed one series at a time into a sink (a
 * series carries a value slot per step), so selectors, per-series functions
 * and aggregations never hold all input series at once; operators that need
 * both operands (binary operators, sort, topk ...) materialize them.
 */
#ifndef MIMIR_PROMQL_EVAL_H
#define MIMIR_PROMQL_EVAL_H

#include "promql/promql.h"

/* Query-wide state. */
typedef struct PqQuery
{
	const char *text;			/* query text, for annotation positions */
	int64		start;			/* the query's own range: @ start() / end() */
	int64		end;
	int64		lookback;
	int64		max_samples;	/* 0: unlimited */
	int64		cur_samples;	/* samples held right now */
	int64		peak_samples;
	int64		total_samples;	/* samples read from storage */
	int64		max_fetched_series;
	int64		fetched_series;
	TimestampTz deadline;		/* 0: no timeout */
	int32		tenant;
	uint32		tick;
	List	   *warnings;
	List	   *infos;
} PqQuery;

/* An evaluation grid: n steps start, start+step, ..., end. */
typedef struct PqEval
{
	PqQuery    *q;
	int64		start;
	int64		end;
	int64		step;
	int			n;
} PqEval;

#define PQ_TS(ev, k)	((ev)->start + (int64) (k) * (ev)->step)

/* One series of an instant-vector result, a value slot per grid step. */
typedef struct PqSer
{
	MimirLabelSet ls;			/* sorted by name */
	bool		drop_name;		/* __name__ to be removed at the end */
	int			count;			/* steps that have a value */
	double	   *v;				/* [n] */
	bool	   *ok;				/* [n] */
} PqSer;

/* A materialized instant vector (series in result order). */
typedef struct PqVec
{
	int			n;
	int			cap;
	PqSer	  **s;
} PqVec;

/* Receives the series of an instant-vector result; takes ownership. */
typedef struct PqSink PqSink;
struct PqSink
{
	void		(*put) (PqSink *sink, PqEval *ev, PqSer *s);
};

/* A collecting sink. */
typedef struct PqCollect
{
	PqSink		sink;
	PqVec		vec;
} PqCollect;

/* Series of a range vector (points in time order). */
typedef struct PqRSer
{
	MimirLabelSet ls;
	bool		drop_name;
	int			n;
	PqPoint    *p;
} PqRSer;

/* ---- promql_eval.c: core ---- */
extern void pq_eval_vector(PqEval *ev, const PqNode *n, PqSink *sink);
extern void pq_eval_vector_collect(PqEval *ev, const PqNode *n, PqVec *out);
extern double *pq_eval_scalar(PqEval *ev, const PqNode *n);
extern PqSer *pq_ser_new(PqEval *ev, const MimirLabelSet *ls, bool copy_labels);
extern void pq_ser_free(PqEval *ev, PqSer *s);
extern void pq_ser_set(PqSer *s, int k, double v);
extern void pq_ser_done(PqEval *ev, PqSer *s);
extern void pq_vec_add(PqVec *v, PqSer *s);
extern void pq_vec_free(PqEval *ev, PqVec *v);
extern void pq_collect_init(PqCollect *c);
extern void pq_account(PqEval *ev, int64 samples);
extern void pq_check_interrupts(PqQuery *q);
extern void pq_warn(PqEval *ev, bool info, const PqNode *at, const char *fmt,...) pg_attribute_printf(4, 5);
extern const PqNode *pq_unwrap_parens(const PqNode *n);
extern bool pq_step_invariant(const PqNode *n);

/*
 * Range-vector arguments: calls fn once per series of a matrix selector or
 * subquery, with all its points that any step's window can need.
 * ref[k] is the right end of step k's window (left-open, right-closed).
 */
typedef void (*PqRangeFn) (PqEval *ev, void *arg, const MimirLabelSet *ls,
						   const PqPoint *p, int n);
extern void pq_range_source(PqEval *ev, const PqNode *arg, PqRangeFn fn, void *fnarg,
							int64 **ref_out, int64 *range_out);

/* Output builder: series keyed by label set (range mode) or appended (instant). */
typedef struct PqOut PqOut;
extern PqOut *pq_out_new(PqEval *ev);
extern void pq_out_put(PqOut *o, const MimirLabelSet *ls, bool copy_labels, bool drop_name,
					   int k, double v);
extern int	pq_out_series(PqOut *o, const MimirLabelSet *ls, bool copy_labels, bool drop_name);
extern void pq_out_set(PqOut *o, int idx, int k, double v);
extern bool pq_out_keyed(PqOut *o);
extern PqSer *pq_out_ser(PqOut *o, int idx);
extern void pq_out_emit(PqOut *o, PqSink *sink);
extern void pq_eval_timestamp_selector(PqEval *ev, const PqNode *vs, PqSink *sink);
extern void pq_emit(PqEval *ev, PqSink *sink, PqSer *s);

/* ---- promql_binop.c ---- */
extern void pq_eval_binary(PqEval *ev, const PqNode *n, PqSink *sink);
extern double pq_scalar_binop(PqBinOp op, double l, double r);

/* ---- promql_agg.c ---- */
extern void pq_eval_aggregate(PqEval *ev, const PqNode *n, PqSink *sink);

/* ---- promql_func_range.c ---- */
extern void pq_eval_range_call(PqEval *ev, const PqNode *n, int matrix_arg, PqSink *sink);

/* ---- promql_func_vec.c ---- */
extern void pq_eval_vector_call(PqEval *ev, const PqNode *n, PqSink *sink);
extern double *pq_eval_scalar_call(PqEval *ev, const PqNode *n);
extern MimirLabelSet pq_absent_labels(const PqNode *arg);

/* ---- promql_labels.c: label sets ---- */
extern const char *pq_ls_get(const MimirLabelSet *ls, const char *name);
extern MimirLabelSet pq_ls_copy(const MimirLabelSet *ls);
extern MimirLabelSet pq_ls_deep_copy(const MimirLabelSet *ls);
extern MimirLabelSet pq_ls_set(const MimirLabelSet *ls, const char *name, const char *value);
extern MimirLabelSet pq_ls_del(const MimirLabelSet *ls, const char *name);
extern MimirLabelSet pq_ls_keep(const MimirLabelSet *ls, List *names, bool keep);
extern MimirLabelSet pq_ls_drop_name(const MimirLabelSet *ls);
extern int	pq_ls_cmp(const MimirLabelSet *a, const MimirLabelSet *b);
extern int64 pq_days_from_civil(int64 y, int m, int d);
extern bool pq_ls_equal(const MimirLabelSet *a, const MimirLabelSet *b);
extern void pq_ls_key(const MimirLabelSet *ls, StringInfo buf);
extern uint64 pq_ls_hash(const MimirLabelSet *ls);
extern char *pq_ls_string(const MimirLabelSet *ls);
extern void pq_sig_on(const MimirLabelSet *ls, List *names, bool on, StringInfo buf);
extern void pq_group_key(const MimirLabelSet *ls, List *grouping, bool without, StringInfo buf);
extern MimirLabelSet pq_group_labels(const MimirLabelSet *ls, List *grouping, bool without);
extern List *pq_sorted_names(List *names);

/* ---- promql_util.c ---- */
extern uint64 pq_xxhash64(const void *data, size_t len);
extern void pq_kahan_inc(double inc, double *sum, double *c);
extern double pq_quantile(double q, double *v, int n);
extern char *pq_format_float(double v);
extern bool pq_parse_float(const char *s, double *out);
extern bool pq_natsort_less(const char *a, const char *b);
extern char *pq_format_g(double v);

/* A string -> int hash table (labels keys, signatures). */
typedef struct PqStrMap PqStrMap;
extern PqStrMap *pq_strmap_new(int size_hint);
extern int	pq_strmap_get(PqStrMap *m, const char *key, int len);
extern int	pq_strmap_put(PqStrMap *m, const char *key, int len, int value);
extern void pq_strmap_free(PqStrMap *m);

/* Go's sort.Sort on small inputs is an insertion sort; mirror it so that ties
 * come out in Prometheus' order. less(a, b, arg). */
extern void pq_sort(void *base, int n, size_t size,
					bool (*less) (const void *a, const void *b, void *arg), void *arg);

/* ---- errors ---- */
#define PQ_ERR_EXEC		ERRCODE_DATA_EXCEPTION

#endif							/* MIMIR_PROMQL_EVAL_H */
