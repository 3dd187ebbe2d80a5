/*
 * promql_lex.h — the PromQL lexer's tokens, shared by promql_lex.c and the
 * parser (promql_parse.c) only. The token classes follow Prometheus' lexer
 * (promql/parser/lex.go) so that error messages can describe tokens the way
 * Prometheus does ("unexpected <op:*>", "unexpected identifier \"foo\"").
 */
#ifndef MIMIR_PROMQL_LEX_H
#define MIMIR_PROMQL_LEX_H

#include "mimir.h"

typedef enum PqTok
{
	T_EOF,
	T_ERROR,					/* a lexer error: text holds the message */
	T_IDENTIFIER,
	T_METRIC_IDENTIFIER,		/* an identifier containing ':' */
	T_NUMBER,					/* includes Inf and NaN */
	T_DURATION,
	T_STRING,					/* text is the raw token, quotes included */
	T_LEFT_PAREN,
	T_RIGHT_PAREN,
	T_LEFT_BRACE,
	T_RIGHT_BRACE,
	T_LEFT_BRACKET,
	T_RIGHT_BRACKET,
	T_COMMA,
	T_EQL,						/* = */
	T_COLON,

	/* operators (Prometheus' operatorsStart .. operatorsEnd) */
	T_ADD,
	T_DIV,
	T_EQLC,						/* == */
	T_EQL_REGEX,				/* =~ */
	T_GTE,
	T_GTR,
	T_LAND,
	T_LOR,
	T_LSS,
	T_LTE,
	T_LUNLESS,
	T_MOD,
	T_MUL,
	T_NEQ,
	T_NEQ_REGEX,				/* !~ */
	T_POW,
	T_SUB,
	T_AT,
	T_ATAN2,

	/* aggregators */
	T_AVG,
	T_BOTTOMK,
	T_COUNT,
	T_COUNT_VALUES,
	T_GROUP,
	T_MAX,
	T_MIN,
	T_QUANTILE,
	T_STDDEV,
	T_STDVAR,
	T_SUM,
	T_TOPK,
	T_LIMITK,
	T_LIMIT_RATIO,

	/* keywords */
	T_BOOL,
	T_BY,
	T_GROUP_LEFT,
	T_GROUP_RIGHT,
	T_IGNORING,
	T_OFFSET,
	T_ON,
	T_WITHOUT,

	/* @ modifier preprocessors */
	T_START,
	T_END
} PqTok;

#define PQ_TOK_IS_OPERATOR(t)	((t) >= T_ADD && (t) <= T_ATAN2)
#define PQ_TOK_IS_AGGREGATOR(t) ((t) >= T_AVG && (t) <= T_LIMIT_RATIO)
#define PQ_TOK_IS_KEYWORD(t)	((t) >= T_BOOL && (t) <= T_WITHOUT)

typedef struct PqToken
{
	PqTok		type;
	int			pos;			/* byte offset of the token's start */
	int			end;			/* byte offset just past it */
	const char *text;			/* points into the query (T_ERROR: message) */
	int			len;
} PqToken;

typedef struct PqLexer
{
	const char *input;
	int			inputlen;
	int			pos;			/* next byte to read */
	int			start;			/* start of the token being scanned */
	int			paren_depth;
	bool		brace_open;
	bool		bracket_open;
	bool		got_colon;
	bool		after_bracket;	/* the last token was '[' */
	bool		done;			/* EOF or an error was returned */
} PqLexer;

extern void pq_lex_init(PqLexer *l, const char *input);
extern void pq_lex_next(PqLexer *l, PqToken *tok);

/* Prometheus' description of a token, for "unexpected ..." messages. */
extern char *pq_token_desc(const PqToken *tok);

/* Unquote a T_STRING token as Prometheus does (escapes were validated by the
 * lexer). Sets *len to the byte length (the result may contain NUL). */
extern char *pq_unquote(const char *s, int slen, int *len);

/* Go's strconv.Quote / QuoteRune, used in messages and by the printer. */
extern void pq_append_go_quoted(StringInfo buf, const char *s, int len);
extern void pq_append_go_quoted_rune(StringInfo buf, int32 r);

/* Decode one UTF-8 rune as Go's utf8.DecodeRune (0xFFFD, width 1 when
 * invalid; width 0 at the end). */
extern int32 pq_decode_rune(const char *s, int len, int *width);

/* Prometheus' model.ParseDuration; returns NULL or its error message
 * (promql_print.c). */
extern char *pq_parse_duration_err(const char *s, int len, int64 *ms);

/* Whether experimental functions and aggregations (sort_by_label,
 * double_exponential_smoothing, mad_over_time, limitk, limit_ratio) are
 * accepted; on, as the conformance tests expect. */
extern bool pq_enable_experimental_functions;

#endif							/* MIMIR_PROMQL_LEX_H */
