/*
 * promql.h — the PromQL engine's interface for its callers: the SQL
 * functions (mimir.query, mimir.query_range), the HTTP query API and the
 * ruler. Evaluation runs in a PostgreSQL backend (it reads storage through
 * SPI); results are palloc'd in the caller's memory context.
 */
#ifndef MIMIR_PROMQL_H
#define MIMIR_PROMQL_H

#include "mimir.h"
#include "promql/promql_ast.h"

/* One float point of a series. */
typedef struct PqPoint
{
	int64		t;				/* ms since the epoch */
	double		v;
} PqPoint;

/* A series of a result: labels (sorted by name) and its points. */
typedef struct PqSeries
{
	MimirLabelSet labels;
	int			npoints;
	PqPoint    *points;
} PqSeries;

/*
 * A query result. For PQ_TYPE_VECTOR each series has exactly one point
 * (t = evaluation time); for PQ_TYPE_MATRIX (range queries, and instant
 * queries of range-vector expressions) each series has its points in time
 * order; PQ_TYPE_SCALAR uses scalar_t/scalar; PQ_TYPE_STRING uses string.
 * Series come in result order (sort(), topk() ... are visible); for range
 * queries series are sorted by labels, as Prometheus does.
 */
typedef struct PqResult
{
	PqType		type;
	int			nseries;
	PqSeries   *series;
	int64		scalar_t;
	double		scalar;
	char	   *string;
	List	   *warnings;		/* char *: Prometheus' annotations (warnings) */
	List	   *infos;			/* char *: info annotations */
	int64		total_samples;	/* samples loaded (for stats / limits) */
} PqResult;

/* Per-query options; promql_default_options() fills them from the GUCs. */
typedef struct PqOptions
{
	int64		lookback_ms;	/* mimir.lookback_delta */
	int64		max_samples;	/* mimir.query_max_samples; 0 = unlimited */
	int64		timeout_ms;		/* mimir.query_timeout; 0 = none */
	int64		max_fetched_series; /* per-tenant limit; 0 = unlimited */
	int32		tenant_id;
} PqOptions;

extern void promql_default_options(PqOptions *opts, int32 tenant_id);

/* Registers the engine's GUCs; called from _PG_init. */
extern void promql_init(void);

/* Instant query at t_ms. */
extern PqResult *promql_exec_instant(const char *query, int64 t_ms, const PqOptions *opts);

/* Range query over [start_ms, end_ms] every step_ms; the result is a matrix
 * (scalar expressions give one series with no labels). */
extern PqResult *promql_exec_range(const char *query, int64 start_ms, int64 end_ms,
								   int64 step_ms, const PqOptions *opts);

/*
 * Error classes, as SQL error codes, so the HTTP API can map them to
 * Prometheus' error types: ERRCODE_SYNTAX_ERROR -> bad_data (parse errors
 * and invalid parameters), ERRCODE_PROGRAM_LIMIT_EXCEEDED -> execution
 * (too many samples / series), ERRCODE_QUERY_CANCELED -> timeout or
 * canceled, anything else -> execution.
 */

#endif							/* MIMIR_PROMQL_H */
