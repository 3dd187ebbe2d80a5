/*
 * promql_ast.h — the PromQL syntax tree, shared by the parser
 * (promql_lex.c, promql_parse.c), the printer (promql_print.c) and the
 * evaluator (promql_eval*.c). It mirrors Prometheus' promql/parser/ast.go so
 * that semantics (and error messages) can follow Prometheus closely.
 *
 * Nodes are palloc'd in the memory context current when parsing; a parsed
 * tree is immutable afterwards (the evaluator keeps its state elsewhere).
 */
#ifndef MIMIR_PROMQL_AST_H
#define MIMIR_PROMQL_AST_H

#include "mimir.h"

/* Value types of expressions (Prometheus' parser.ValueType). */
typedef enum PqType
{
	PQ_TYPE_NONE = 0,
	PQ_TYPE_SCALAR,
	PQ_TYPE_VECTOR,
	PQ_TYPE_MATRIX,
	PQ_TYPE_STRING
} PqType;

typedef enum PqNodeKind
{
	PQ_NUMBER,					/* 1, 1e3, 0x1f, Inf, NaN */
	PQ_STRING,					/* "a", 'a', `a` */
	PQ_VECTOR_SELECTOR,			/* name{a="b"} offset 5m @ 123 */
	PQ_MATRIX_SELECTOR,			/* <vector selector>[5m] */
	PQ_SUBQUERY,				/* <expr>[30m:1m] offset 5m @ 123 */
	PQ_CALL,					/* rate(x[5m]) */
	PQ_AGGREGATE,				/* sum by (a) (x) */
	PQ_BINARY,					/* a + on(b) group_left(c) d */
	PQ_UNARY,					/* -a, +a */
	PQ_PAREN,					/* (a) */
	PQ_STEP_INVARIANT			/* wrapper added by the evaluator's preprocessing
								 * (Prometheus' StepInvariantExpr); never made by
								 * the parser */
} PqNodeKind;

/* Binary operators, in Prometheus' token order. */
typedef enum PqBinOp
{
	PQ_OP_ADD,
	PQ_OP_SUB,
	PQ_OP_MUL,
	PQ_OP_DIV,
	PQ_OP_MOD,
	PQ_OP_POW,
	PQ_OP_ATAN2,
	PQ_OP_EQLC,					/* == */
	PQ_OP_NEQ,					/* != */
	PQ_OP_GTR,					/* > */
	PQ_OP_LSS,					/* < */
	PQ_OP_GTE,					/* >= */
	PQ_OP_LTE,					/* <= */
	PQ_OP_LAND,					/* and */
	PQ_OP_LOR,					/* or */
	PQ_OP_LUNLESS				/* unless */
} PqBinOp;

typedef enum PqAggOp
{
	PQ_AGG_SUM,
	PQ_AGG_AVG,
	PQ_AGG_COUNT,
	PQ_AGG_MIN,
	PQ_AGG_MAX,
	PQ_AGG_GROUP,
	PQ_AGG_STDDEV,
	PQ_AGG_STDVAR,
	PQ_AGG_TOPK,
	PQ_AGG_BOTTOMK,
	PQ_AGG_COUNT_VALUES,
	PQ_AGG_QUANTILE,
	PQ_AGG_LIMITK,
	PQ_AGG_LIMIT_RATIO
} PqAggOp;

/* Functions. The table of names and signatures is in promql_functions.c. */
typedef enum PqFunc
{
	PQ_FN_ABS,
	PQ_FN_ABSENT,
	PQ_FN_ABSENT_OVER_TIME,
	PQ_FN_ACOS,
	PQ_FN_ACOSH,
	PQ_FN_ASIN,
	PQ_FN_ASINH,
	PQ_FN_ATAN,
	PQ_FN_ATANH,
	PQ_FN_AVG_OVER_TIME,
	PQ_FN_CEIL,
	PQ_FN_CHANGES,
	PQ_FN_CLAMP,
	PQ_FN_CLAMP_MAX,
	PQ_FN_CLAMP_MIN,
	PQ_FN_COS,
	PQ_FN_COSH,
	PQ_FN_COUNT_OVER_TIME,
	PQ_FN_DAYS_IN_MONTH,
	PQ_FN_DAY_OF_MONTH,
	PQ_FN_DAY_OF_WEEK,
	PQ_FN_DAY_OF_YEAR,
	PQ_FN_DEG,
	PQ_FN_DELTA,
	PQ_FN_DERIV,
	PQ_FN_DOUBLE_EXPONENTIAL_SMOOTHING,
	PQ_FN_EXP,
	PQ_FN_FLOOR,
	PQ_FN_HISTOGRAM_AVG,
	PQ_FN_HISTOGRAM_COUNT,
	PQ_FN_HISTOGRAM_FRACTION,
	PQ_FN_HISTOGRAM_QUANTILE,
	PQ_FN_HISTOGRAM_STDDEV,
	PQ_FN_HISTOGRAM_STDVAR,
	PQ_FN_HISTOGRAM_SUM,
	PQ_FN_HOUR,
	PQ_FN_IDELTA,
	PQ_FN_INCREASE,
	PQ_FN_IRATE,
	PQ_FN_LABEL_JOIN,
	PQ_FN_LABEL_REPLACE,
	PQ_FN_LAST_OVER_TIME,
	PQ_FN_LN,
	PQ_FN_LOG10,
	PQ_FN_LOG2,
	PQ_FN_MAD_OVER_TIME,
	PQ_FN_MAX_OVER_TIME,
	PQ_FN_MIN_OVER_TIME,
	PQ_FN_MINUTE,
	PQ_FN_MONTH,
	PQ_FN_PI,
	PQ_FN_PREDICT_LINEAR,
	PQ_FN_PRESENT_OVER_TIME,
	PQ_FN_QUANTILE_OVER_TIME,
	PQ_FN_RAD,
	PQ_FN_RATE,
	PQ_FN_RESETS,
	PQ_FN_ROUND,
	PQ_FN_SCALAR,
	PQ_FN_SGN,
	PQ_FN_SIN,
	PQ_FN_SINH,
	PQ_FN_SORT,
	PQ_FN_SORT_BY_LABEL,
	PQ_FN_SORT_BY_LABEL_DESC,
	PQ_FN_SORT_DESC,
	PQ_FN_SQRT,
	PQ_FN_STDDEV_OVER_TIME,
	PQ_FN_STDVAR_OVER_TIME,
	PQ_FN_SUM_OVER_TIME,
	PQ_FN_TAN,
	PQ_FN_TANH,
	PQ_FN_TIME,
	PQ_FN_TIMESTAMP,
	PQ_FN_VECTOR,
	PQ_FN_YEAR,
	PQ_FN__COUNT
} PqFunc;

/*
 * A function's signature, as Prometheus' parser.Function: argument types,
 * how many trailing arguments may be omitted or repeated (variadic: 0 =
 * fixed arity; n > 0 = up to n optional trailing arguments of the last
 * type; -1 = any number of repetitions of the last type), return type.
 * experimental marks Prometheus' experimental functions (sort_by_label,
 * double_exponential_smoothing, mad_over_time ...); they are enabled here,
 * as the conformance tests expect.
 */
#define PQ_MAX_FUNC_ARGS	8
typedef struct PqFunctionDef
{
	PqFunc		id;
	const char *name;
	int			nargs;
	PqType		argtypes[PQ_MAX_FUNC_ARGS];
	int			variadic;
	PqType		rettype;
	bool		experimental;
} PqFunctionDef;

extern const PqFunctionDef *pq_function_by_name(const char *name);
extern const PqFunctionDef *pq_function_def(PqFunc id);

/* Vector matching of a binary operation between two vectors. */
typedef enum PqCardinality
{
	PQ_CARD_ONE_TO_ONE,
	PQ_CARD_MANY_TO_ONE,		/* group_left */
	PQ_CARD_ONE_TO_MANY,		/* group_right */
	PQ_CARD_MANY_TO_MANY		/* and, or, unless */
} PqCardinality;

typedef struct PqVectorMatching
{
	PqCardinality card;
	List	   *matching_labels;	/* char *: the on(...) / ignoring(...) list */
	bool		on;				/* true: on(...), false: ignoring(...) */
	List	   *include;		/* char *: group_left(...) / group_right(...)
								 * extra labels */
} PqVectorMatching;

/* The @ modifier. */
typedef enum PqAt
{
	PQ_AT_NONE,
	PQ_AT_TIMESTAMP,			/* @ <number>: at_ms holds it */
	PQ_AT_START,				/* @ start() */
	PQ_AT_END					/* @ end() */
} PqAt;

/* Byte offsets into the query text: [start, end). */
typedef struct PqPos
{
	int			start;
	int			end;
} PqPos;

typedef struct PqNode PqNode;

struct PqNode
{
	PqNodeKind	kind;
	PqPos		pos;
	union
	{
		/* PQ_NUMBER */
		double		number;

		/* PQ_STRING */
		char	   *string;

		/* PQ_VECTOR_SELECTOR */
		struct
		{
			char	   *name;	/* metric name if given as name or
								 * name{...}, else NULL (as Prometheus, a
								 * quoted {"name"} is only a __name__
								 * matcher) */
			List	   *matchers;	/* MimirMatcher *, including the __name__
									 * matcher for a given name (last, as in
									 * Prometheus) */
			int64		offset_ms;	/* offset (may be negative) */
			PqAt		at;
			int64		at_ms;	/* for PQ_AT_TIMESTAMP */
		}			vs;

		/* PQ_MATRIX_SELECTOR: offset and @ live in the inner selector */
		struct
		{
			PqNode	   *vs;		/* a PQ_VECTOR_SELECTOR */
			int64		range_ms;
		}			ms;

		/* PQ_SUBQUERY */
		struct
		{
			PqNode	   *expr;
			int64		range_ms;
			int64		step_ms;	/* 0: the default evaluation interval */
			int64		offset_ms;
			PqAt		at;
			int64		at_ms;
		}			sq;

		/* PQ_CALL */
		struct
		{
			const PqFunctionDef *func;
			List	   *args;	/* PqNode * */
		}			call;

		/* PQ_AGGREGATE */
		struct
		{
			PqAggOp		op;
			PqNode	   *expr;
			PqNode	   *param;	/* topk/bottomk/quantile/count_values/limitk/
								 * limit_ratio parameter, else NULL */
			List	   *grouping;	/* char *: by(...) / without(...) labels */
			bool		without;
			bool		by;		/* by(...) was written (even if empty) */
		}			agg;

		/* PQ_BINARY */
		struct
		{
			PqBinOp		op;
			PqNode	   *lhs;
			PqNode	   *rhs;
			bool		return_bool;	/* comparison with `bool` */
			PqVectorMatching *matching; /* NULL unless both sides are
										 * vectors */
		}			bin;

		/* PQ_UNARY */
		struct
		{
			bool		negate; /* '-' (true) or '+' (false) */
			PqNode	   *expr;
		}			unary;

		/* PQ_PAREN, PQ_STEP_INVARIANT */
		struct
		{
			PqNode	   *expr;
		}			inner;
	}			u;
};

/* Parsing. Errors are ereport(ERROR, ERRCODE_SYNTAX_ERROR) with messages in
 * Prometheus' form, e.g. "1:14: parse error: unexpected <EOF>". */
extern PqNode *promql_parse(const char *query);

/* The type an expression evaluates to. */
extern PqType pq_node_type(const PqNode *n);
extern const char *pq_type_name(PqType t);	/* "scalar", "instant vector", ... */
extern const char *pq_binop_name(PqBinOp op);	/* "+", "==", "and", ... */
extern const char *pq_aggop_name(PqAggOp op);	/* "sum", "topk", ... */

/* Printing, as Prometheus' String() (used in messages). */
extern char *promql_to_string(const PqNode *n);
/* As Prometheus' Prettify (format_query): String() up to 100 characters, else indented lines. */
extern char *promql_pretty(const PqNode *n);

/* Prometheus duration syntax (1h30m, 500ms); false if invalid. */
extern bool pq_parse_duration(const char *s, int len, int64 *ms);
extern char *pq_format_duration(int64 ms);

#endif							/* MIMIR_PROMQL_AST_H */
