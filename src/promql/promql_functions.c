/*
 * promql_functions.c — the table of PromQL functions with Prometheus 3.0's
 * signatures (promql/parser/functions.go): argument types, how many trailing
 * arguments are optional or repeatable, the return type, and whether the
 * function is experimental. The parser type-checks calls against it; the
 * evaluator dispatches on PqFunc.
 */
#include "promql/promql_ast.h"

#define S PQ_TYPE_SCALAR
#define V PQ_TYPE_VECTOR
#define M PQ_TYPE_MATRIX
#define STR PQ_TYPE_STRING

/* In PqFunc order, so that functions[id] is the entry of id. */
static const PqFunctionDef functions[] = {
	{PQ_FN_ABS, "abs", 1, {V}, 0, V, false},
	{PQ_FN_ABSENT, "absent", 1, {V}, 0, V, false},
	{PQ_FN_ABSENT_OVER_TIME, "absent_over_time", 1, {M}, 0, V, false},
	{PQ_FN_ACOS, "acos", 1, {V}, 0, V, false},
	{PQ_FN_ACOSH, "acosh", 1, {V}, 0, V, false},
	{PQ_FN_ASIN, "asin", 1, {V}, 0, V, false},
	{PQ_FN_ASINH, "asinh", 1, {V}, 0, V, false},
	{PQ_FN_ATAN, "atan", 1, {V}, 0, V, false},
	{PQ_FN_ATANH, "atanh", 1, {V}, 0, V, false},
	{PQ_FN_AVG_OVER_TIME, "avg_over_time", 1, {M}, 0, V, false},
	{PQ_FN_CEIL, "ceil", 1, {V}, 0, V, false},
	{PQ_FN_CHANGES, "changes", 1, {M}, 0, V, false},
	{PQ_FN_CLAMP, "clamp", 3, {V, S, S}, 0, V, false},
	{PQ_FN_CLAMP_MAX, "clamp_max", 2, {V, S}, 0, V, false},
	{PQ_FN_CLAMP_MIN, "clamp_min", 2, {V, S}, 0, V, false},
	{PQ_FN_COS, "cos", 1, {V}, 0, V, false},
	{PQ_FN_COSH, "cosh", 1, {V}, 0, V, false},
	{PQ_FN_COUNT_OVER_TIME, "count_over_time", 1, {M}, 0, V, false},
	{PQ_FN_DAYS_IN_MONTH, "days_in_month", 1, {V}, 1, V, false},
	{PQ_FN_DAY_OF_MONTH, "day_of_month", 1, {V}, 1, V, false},
	{PQ_FN_DAY_OF_WEEK, "day_of_week", 1, {V}, 1, V, false},
	{PQ_FN_DAY_OF_YEAR, "day_of_year", 1, {V}, 1, V, false},
	{PQ_FN_DEG, "deg", 1, {V}, 0, V, false},
	{PQ_FN_DELTA, "delta", 1, {M}, 0, V, false},
	{PQ_FN_DERIV, "deriv", 1, {M}, 0, V, false},
	{PQ_FN_DOUBLE_EXPONENTIAL_SMOOTHING, "double_exponential_smoothing", 3, {M, S, S}, 0, V, true},
	{PQ_FN_EXP, "exp", 1, {V}, 0, V, false},
	{PQ_FN_FLOOR, "floor", 1, {V}, 0, V, false},
	{PQ_FN_HISTOGRAM_AVG, "histogram_avg", 1, {V}, 0, V, false},
	{PQ_FN_HISTOGRAM_COUNT, "histogram_count", 1, {V}, 0, V, false},
	{PQ_FN_HISTOGRAM_FRACTION, "histogram_fraction", 3, {S, S, V}, 0, V, false},
	{PQ_FN_HISTOGRAM_QUANTILE, "histogram_quantile", 2, {S, V}, 0, V, false},
	{PQ_FN_HISTOGRAM_STDDEV, "histogram_stddev", 1, {V}, 0, V, false},
	{PQ_FN_HISTOGRAM_STDVAR, "histogram_stdvar", 1, {V}, 0, V, false},
	{PQ_FN_HISTOGRAM_SUM, "histogram_sum", 1, {V}, 0, V, false},
	{PQ_FN_HOUR, "hour", 1, {V}, 1, V, false},
	{PQ_FN_IDELTA, "idelta", 1, {M}, 0, V, false},
	{PQ_FN_INCREASE, "increase", 1, {M}, 0, V, false},
	{PQ_FN_IRATE, "irate", 1, {M}, 0, V, false},
	{PQ_FN_LABEL_JOIN, "label_join", 4, {V, STR, STR, STR}, -1, V, false},
	{PQ_FN_LABEL_REPLACE, "label_replace", 5, {V, STR, STR, STR, STR}, 0, V, false},
	{PQ_FN_LAST_OVER_TIME, "last_over_time", 1, {M}, 0, V, false},
	{PQ_FN_LN, "ln", 1, {V}, 0, V, false},
	{PQ_FN_LOG10, "log10", 1, {V}, 0, V, false},
	{PQ_FN_LOG2, "log2", 1, {V}, 0, V, false},
	{PQ_FN_MAD_OVER_TIME, "mad_over_time", 1, {M}, 0, V, true},
	{PQ_FN_MAX_OVER_TIME, "max_over_time", 1, {M}, 0, V, false},
	{PQ_FN_MIN_OVER_TIME, "min_over_time", 1, {M}, 0, V, false},
	{PQ_FN_MINUTE, "minute", 1, {V}, 1, V, false},
	{PQ_FN_MONTH, "month", 1, {V}, 1, V, false},
	{PQ_FN_PI, "pi", 0, {0}, 0, S, false},
	{PQ_FN_PREDICT_LINEAR, "predict_linear", 2, {M, S}, 0, V, false},
	{PQ_FN_PRESENT_OVER_TIME, "present_over_time", 1, {M}, 0, V, false},
	{PQ_FN_QUANTILE_OVER_TIME, "quantile_over_time", 2, {S, M}, 0, V, false},
	{PQ_FN_RAD, "rad", 1, {V}, 0, V, false},
	{PQ_FN_RATE, "rate", 1, {M}, 0, V, false},
	{PQ_FN_RESETS, "resets", 1, {M}, 0, V, false},
	{PQ_FN_ROUND, "round", 2, {V, S}, 1, V, false},
	{PQ_FN_SCALAR, "scalar", 1, {V}, 0, S, false},
	{PQ_FN_SGN, "sgn", 1, {V}, 0, V, false},
	{PQ_FN_SIN, "sin", 1, {V}, 0, V, false},
	{PQ_FN_SINH, "sinh", 1, {V}, 0, V, false},
	{PQ_FN_SORT, "sort", 1, {V}, 0, V, false},
	{PQ_FN_SORT_BY_LABEL, "sort_by_label", 2, {V, STR}, -1, V, true},
	{PQ_FN_SORT_BY_LABEL_DESC, "sort_by_label_desc", 2, {V, STR}, -1, V, true},
	{PQ_FN_SORT_DESC, "sort_desc", 1, {V}, 0, V, false},
	{PQ_FN_SQRT, "sqrt", 1, {V}, 0, V, false},
	{PQ_FN_STDDEV_OVER_TIME, "stddev_over_time", 1, {M}, 0, V, false},
	{PQ_FN_STDVAR_OVER_TIME, "stdvar_over_time", 1, {M}, 0, V, false},
	{PQ_FN_SUM_OVER_TIME, "sum_over_time", 1, {M}, 0, V, false},
	{PQ_FN_TAN, "tan", 1, {V}, 0, V, false},
	{PQ_FN_TANH, "tanh", 1, {V}, 0, V, false},
	{PQ_FN_TIME, "time", 0, {0}, 0, S, false},
	{PQ_FN_TIMESTAMP, "timestamp", 1, {V}, 0, V, false},
	{PQ_FN_VECTOR, "vector", 1, {S}, 0, V, false},
	{PQ_FN_YEAR, "year", 1, {V}, 1, V, false},
};

StaticAssertDecl(lengthof(functions) == PQ_FN__COUNT,
				 "every PqFunc needs an entry in the function table");

const PqFunctionDef *
pq_function_by_name(const char *name)
{
	/* PqFunc order is not strict strcmp order ("days_in_month"), and the
	 * table is small: a linear scan it is. */
	for (int i = 0; i < lengthof(functions); i++)
		if (strcmp(name, functions[i].name) == 0)
			return &functions[i];
	return NULL;
}

const PqFunctionDef *
pq_function_def(PqFunc id)
{
	if ((int) id < 0 || id >= PQ_FN__COUNT)
		return NULL;
	Assert(functions[id].id == id);
	return &functions[id];
}
