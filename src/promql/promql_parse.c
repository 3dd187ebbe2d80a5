/*
 * promql_parse.c — the PromQL parser: a hand-written recursive-descent
 * parser with precedence climbing that builds the PqNode tree of
 * promql_ast.h, followed by Prometheus' type-checking pass (checkAST).
 *
 * It reproduces the language Prometheus 3's yacc grammar accepts
 * (promql/parser/generated_parser.y): precedence and associativity
 * (or < and/unless < comparisons < + - < * / % atan2 < ^, unary +/- binding
 * like *), the postfix modifiers [range], [range:step], offset and @ binding
 * tightest, keywords usable as metric names, aggregations with the grouping
 * clause before or after the arguments. Errors are raised at the first
 * problem, with Prometheus' position ("line:col", 1-based, col in bytes) and
 * wording; where yacc would report an error through an enclosing error
 * production ("... in aggregation", "... in grouping opts"), so do we.
 */
#include "promql/promql_ast.h"
#include "promql/promql_lex.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

bool		pq_enable_experimental_functions = true;

/* Binary operator precedence levels, lowest first. */
#define PREC_OR		1
#define PREC_AND	2
#define PREC_CMP	3
#define PREC_ADD	4
#define PREC_MUL	5
#define PREC_POW	6

typedef struct PqParser
{
	const char *query;
	int			querylen;
	PqLexer		lex;
	PqToken		la[2];			/* lookahead tokens */
	int			nla;
	int			prev_end;		/* end of the last consumed token */
	int			agg_depth;		/* inside an aggregation's arguments */
} PqParser;

/* ---------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------
 */

static void pg_attribute_noreturn() pg_attribute_printf(4, 5)
perr(PqParser *p, int pos, const char *hint, const char *fmt,...)
{
	StringInfoData msg;
	int			line = 1;
	int			lastnl = -1;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&msg, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	if (pos < 0 || pos > p->querylen)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("invalid position: parse error: %s", msg.data),
				 hint ? errhint("%s", hint) : 0));
	for (int i = 0; i < pos; i++)
		if (p->query[i] == '\n')
			lastnl = i, line++;
	ereport(ERROR,
			(errcode(ERRCODE_SYNTAX_ERROR),
			 errmsg("%d:%d: parse error: %s", line, pos - lastnl, msg.data),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

static char *
quoted(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	pq_append_go_quoted(&buf, s, strlen(s));
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Tokens
 * ---------------------------------------------------------------------
 */

static void
fill(PqParser *p, int n)
{
	while (p->nla < n)
	{
		PqToken    *t = &p->la[p->nla];

		pq_lex_next(&p->lex, t);
		if (t->type == T_ERROR)
			perr(p, t->pos, NULL, "%.*s", t->len, t->text);
		p->nla++;
	}
}

static PqToken *
peek(PqParser *p)
{
	fill(p, 1);
	return &p->la[0];
}

static PqToken *
peek2(PqParser *p)
{
	fill(p, 2);
	return &p->la[1];
}

static PqToken
next(PqParser *p)
{
	PqToken		t;

	fill(p, 1);
	t = p->la[0];
	p->la[0] = p->la[1];
	p->nla--;
	p->prev_end = t.end;
	return t;
}

static char *
tok_str(const PqToken *t)
{
	return pnstrdup(t->text, t->len);
}

/*
 * "unexpected <token>[ in context][, expected ...]" for the lookahead token.
 * Without an explicit context, an error inside an aggregation's arguments is
 * reported in its context, as yacc's error recovery does.
 */
static void pg_attribute_noreturn()
unexpected(PqParser *p, const char *context, const char *expected)
{
	PqToken    *t = peek(p);
	StringInfoData msg;

	initStringInfo(&msg);
	appendStringInfo(&msg, "unexpected %s", pq_token_desc(t));
	if (context == NULL && expected == NULL && p->agg_depth > 0)
		context = "aggregation";
	if (context)
		appendStringInfo(&msg, " in %s", context);
	if (expected)
		appendStringInfo(&msg, ", expected %s", expected);
	perr(p, t->pos, NULL, "%s", msg.data);
}

/* ---------------------------------------------------------------------
 * Nodes and literals
 * ---------------------------------------------------------------------
 */

static PqNode *
new_node(PqNodeKind kind, int start, int end)
{
	PqNode	   *n = palloc0(sizeof(PqNode));

	n->kind = kind;
	n->pos.start = start;
	n->pos.end = end;
	return n;
}

/*
 * Go's strconv.ParseInt(s, 0, 64), then strconv.ParseFloat(s, 64), as
 * Prometheus' parser.number does; returns NULL or Go's error text.
 */
static char *
go_parse_number(const char *text, int len, double *out)
{
	char	   *s = palloc(len + 1);
	int			n = 0;
	bool		allint = true;
	char	   *end;
	double		d;
	StringInfoData err;

	for (int i = 0; i < len; i++)
		if (text[i] != '_')
			s[n++] = text[i];
	s[n] = '\0';

	/* integers: 0x hex, leading-0 octal, decimal */
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
	{
		uint64		v = 0;
		bool		ok = true;

		for (int i = 2; i < n && ok; i++)
		{
			int			c = s[i];
			int			dv = (c >= '0' && c <= '9') ? c - '0' :
			(c >= 'a' && c <= 'f') ? c - 'a' + 10 :
			(c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

			if (dv < 0 || v > (PG_INT64_MAX - dv) / 16)
				ok = false;
			else
				v = v * 16 + dv;
		}
		if (ok)
		{
			*out = (double) (int64) v;
			return NULL;
		}
		/* ParseFloat accepts hexadecimal only with a p exponent */
		goto syntax;
	}
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char) s[i]))
			allint = false;
	if (allint && n > 0)
	{
		int			base = (s[0] == '0' && n > 1) ? 8 : 10;
		uint64		v = 0;
		bool		ok = true;

		for (int i = 0; i < n && ok; i++)
		{
			int			dv = s[i] - '0';

			if (dv >= base || v > (PG_INT64_MAX - dv) / base)
				ok = false;
			else
				v = v * base + dv;
		}
		if (ok)
		{
			*out = (double) (int64) v;
			return NULL;
		}
		/* otherwise ParseFloat reads it as a decimal */
	}
	if (pg_strcasecmp(s, "inf") == 0 || pg_strcasecmp(s, "+inf") == 0)
	{
		*out = get_float8_infinity();
		return NULL;
	}
	if (pg_strcasecmp(s, "nan") == 0)
	{
		*out = get_float8_nan();
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if (!(isdigit((unsigned char) s[i]) || strchr(".eE+-", s[i])))
			goto syntax;
	errno = 0;
	d = strtod(s, &end);
	if (end != s + n || n == 0)
		goto syntax;
	if (errno == ERANGE && isinf(d))
	{
		initStringInfo(&err);
		appendStringInfoString(&err, "strconv.ParseFloat: parsing ");
		pq_append_go_quoted(&err, text, len);
		appendStringInfoString(&err, ": value out of range");
		return err.data;
	}
	*out = d;
	return NULL;

syntax:
	initStringInfo(&err);
	appendStringInfoString(&err, "strconv.ParseFloat: parsing ");
	pq_append_go_quoted(&err, text, len);
	appendStringInfoString(&err, ": invalid syntax");
	return err.data;
}

/* The value of a NUMBER or DURATION token in seconds (number_duration_literal). */
static double
number_value(PqParser *p, const PqToken *t)
{
	double		v = 0;

	if (t->type == T_DURATION)
	{
		int64		ms;
		char	   *err = pq_parse_duration_err(t->text, t->len, &ms);

		if (err)
			perr(p, t->pos, NULL, "%s", err);
		return (double) ms / 1000.0;
	}
	else
	{
		char	   *err = go_parse_number(t->text, t->len, &v);

		if (err)
			perr(p, t->pos, NULL, "error parsing number: %s", err);
		return v;
	}
}

/* A NUMBER (seconds) or DURATION token as milliseconds, for ranges, steps
 * and offsets. */
static int64
duration_ms(PqParser *p, const PqToken *t)
{
	double		v;

	if (t->type == T_DURATION)
	{
		int64		ms;
		char	   *err = pq_parse_duration_err(t->text, t->len, &ms);

		if (err)
			perr(p, t->pos, NULL, "%s", err);
		return ms;
	}
	v = number_value(p, t);
	/* a time.Duration holds about 292 years */
	if (isnan(v) || v > 9223372036.854775807 || v < -9223372036.854775807)
		perr(p, t->pos, NULL, "duration out of range");
	return (int64) (v * 1000.0);
}

static char *
unquote_token(PqParser *p, const PqToken *t)
{
	int			len;
	char	   *s = pq_unquote(t->text, t->len, &len);

	if ((int) strlen(s) != len)
		perr(p, t->pos, "PostgreSQL text cannot hold NUL characters; remove the \\x00 escape.",
			 "NUL characters are not supported in strings");
	return s;
}

/* ---------------------------------------------------------------------
 * Grammar
 * ---------------------------------------------------------------------
 */

static PqNode *parse_expr(PqParser *p, int min_prec);

static int
binop_prec(PqTok t)
{
	switch (t)
	{
		case T_LOR:
			return PREC_OR;
		case T_LAND:
		case T_LUNLESS:
			return PREC_AND;
		case T_EQLC:
		case T_NEQ:
		case T_GTR:
		case T_LSS:
		case T_GTE:
		case T_LTE:
			return PREC_CMP;
		case T_ADD:
		case T_SUB:
			return PREC_ADD;
		case T_MUL:
		case T_DIV:
		case T_MOD:
		case T_ATAN2:
			return PREC_MUL;
		case T_POW:
			return PREC_POW;
		default:
			return -1;
	}
}

static PqBinOp
binop_of(PqTok t)
{
	switch (t)
	{
		case T_ADD:
			return PQ_OP_ADD;
		case T_SUB:
			return PQ_OP_SUB;
		case T_MUL:
			return PQ_OP_MUL;
		case T_DIV:
			return PQ_OP_DIV;
		case T_MOD:
			return PQ_OP_MOD;
		case T_POW:
			return PQ_OP_POW;
		case T_ATAN2:
			return PQ_OP_ATAN2;
		case T_EQLC:
			return PQ_OP_EQLC;
		case T_NEQ:
			return PQ_OP_NEQ;
		case T_GTR:
			return PQ_OP_GTR;
		case T_LSS:
			return PQ_OP_LSS;
		case T_GTE:
			return PQ_OP_GTE;
		case T_LTE:
			return PQ_OP_LTE;
		case T_LAND:
			return PQ_OP_LAND;
		case T_LOR:
			return PQ_OP_LOR;
		default:
			return PQ_OP_LUNLESS;
	}
}

static PqAggOp
aggop_of(PqTok t)
{
	switch (t)
	{
		case T_SUM:
			return PQ_AGG_SUM;
		case T_AVG:
			return PQ_AGG_AVG;
		case T_COUNT:
			return PQ_AGG_COUNT;
		case T_MIN:
			return PQ_AGG_MIN;
		case T_MAX:
			return PQ_AGG_MAX;
		case T_GROUP:
			return PQ_AGG_GROUP;
		case T_STDDEV:
			return PQ_AGG_STDDEV;
		case T_STDVAR:
			return PQ_AGG_STDVAR;
		case T_TOPK:
			return PQ_AGG_TOPK;
		case T_BOTTOMK:
			return PQ_AGG_BOTTOMK;
		case T_COUNT_VALUES:
			return PQ_AGG_COUNT_VALUES;
		case T_QUANTILE:
			return PQ_AGG_QUANTILE;
		case T_LIMITK:
			return PQ_AGG_LIMITK;
		default:
			return PQ_AGG_LIMIT_RATIO;
	}
}

static bool
agg_has_param(PqAggOp op)
{
	return op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_COUNT_VALUES ||
		op == PQ_AGG_QUANTILE || op == PQ_AGG_LIMITK || op == PQ_AGG_LIMIT_RATIO;
}

/* Tokens that name a metric in a selector (the grammar's metric_identifier). */
static bool
is_metric_identifier(PqTok t)
{
	return t == T_IDENTIFIER || t == T_METRIC_IDENTIFIER || t == T_BY ||
		t == T_WITHOUT || t == T_OFFSET || t == T_LAND || t == T_LOR ||
		t == T_LUNLESS || t == T_START || t == T_END || PQ_TOK_IS_AGGREGATOR(t);
}

/* Tokens usable as label names in grouping clauses (maybe_label). */
static bool
is_maybe_label(PqTok t)
{
	return t == T_IDENTIFIER || t == T_METRIC_IDENTIFIER || PQ_TOK_IS_KEYWORD(t) ||
		PQ_TOK_IS_AGGREGATOR(t) || t == T_LAND || t == T_LOR || t == T_LUNLESS ||
		t == T_ATAN2 || t == T_START || t == T_END;
}

/* ( label, ... ) of by/without/on/ignoring/group_left/group_right */
static List *
parse_grouping_labels(PqParser *p)
{
	List	   *labels = NIL;

	if (peek(p)->type != T_LEFT_PAREN)
		unexpected(p, "grouping opts", "\"(\"");
	next(p);
	if (peek(p)->type == T_RIGHT_PAREN)
	{
		next(p);
		return NIL;
	}
	for (;;)
	{
		PqToken    *t = peek(p);
		char	   *name;

		if (is_maybe_label(t->type))
			name = tok_str(t);
		else if (t->type == T_STRING)
		{
			name = unquote_token(p, t);
			if (name[0] == '\0' || !pg_verifymbstr(name, strlen(name), true))
				perr(p, t->pos, NULL, "invalid label name for grouping: %s", quoted(name));
		}
		else
			unexpected(p, "grouping opts", "label");
		next(p);
		labels = lappend(labels, name);

		t = peek(p);
		if (t->type == T_COMMA)
		{
			next(p);
			if (peek(p)->type == T_RIGHT_PAREN)
			{
				next(p);
				break;
			}
			continue;
		}
		if (t->type == T_RIGHT_PAREN)
		{
			next(p);
			break;
		}
		unexpected(p, "grouping opts", "\",\" or \")\"");
	}
	return labels;
}

/* ( expr, ... ) of a function call or an aggregation; '(' is the lookahead */
static List *
parse_call_args(PqParser *p)
{
	List	   *args = NIL;

	next(p);
	if (peek(p)->type == T_RIGHT_PAREN)
	{
		next(p);
		return NIL;
	}
	for (;;)
	{
		PqToken    *t;

		args = lappend(args, parse_expr(p, 0));
		t = peek(p);
		if (t->type == T_COMMA)
		{
			int			commapos = t->pos;

			next(p);
			t = peek(p);
			if (t->type == T_RIGHT_PAREN || t->type == T_COMMA)
				perr(p, commapos, NULL, "trailing commas not allowed in function call args");
			continue;
		}
		if (t->type == T_RIGHT_PAREN)
		{
			next(p);
			break;
		}
		unexpected(p, NULL, NULL);
	}
	return args;
}

static MimirMatcher *
make_matcher(PqParser *p, int pos, MimirMatchOp op, const char *name, const char *value)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	MimirMatcher *volatile m = NULL;

	PG_TRY();
	{
		m = mimir_make_matcher(op, name, value);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		StringInfoData prefix;
		const char *detail;

		MemoryContextSwitchTo(oldcxt);
		ed = CopyErrorData();
		FlushErrorState();
		/* keep the regex engine's own words, in Prometheus' frame */
		initStringInfo(&prefix);
		appendStringInfo(&prefix, "invalid regular expression in matcher %s%s\"%s\": ",
						 name, mimir_match_op_str(op), value);
		detail = ed->message;
		if (strncmp(detail, prefix.data, prefix.len) == 0)
			detail += prefix.len;
		perr(p, pos, "Label matcher regexes use RE2 syntax and are fully anchored.",
			 "error parsing regexp: %s", detail);
	}
	PG_END_TRY();
	return m;
}

static MimirMatchOp
match_op_of(PqTok t)
{
	switch (t)
	{
		case T_NEQ:
			return MATCH_NEQ;
		case T_EQL_REGEX:
			return MATCH_RE;
		case T_NEQ_REGEX:
			return MATCH_NRE;
		default:
			return MATCH_EQ;
	}
}

static bool
is_match_op(PqTok t)
{
	return t == T_EQL || t == T_NEQ || t == T_EQL_REGEX || t == T_NEQ_REGEX;
}

/* One matcher inside {...}: name op "value", "name" op "value" or "name". */
static MimirMatcher *
parse_label_matcher(PqParser *p)
{
	PqToken		t = *peek(p);
	char	   *name;
	PqToken		op;
	PqToken		val;

	if (t.type == T_IDENTIFIER)
	{
		next(p);
		name = tok_str(&t);
		if (!is_match_op(peek(p)->type))
			unexpected(p, "label matching", "label matching operator");
	}
	else if (t.type == T_STRING)
	{
		next(p);
		name = unquote_token(p, &t);
		if (!is_match_op(peek(p)->type))
			/* a quoted metric name: {"name"} */
			return make_matcher(p, t.pos, MATCH_EQ, "__name__", name);
	}
	else
		unexpected(p, "label matching", "identifier or \"}\"");

	op = next(p);
	if (peek(p)->type != T_STRING)
		unexpected(p, "label matching", "string");
	val = next(p);
	return make_matcher(p, t.pos, match_op_of(op.type), name, unquote_token(p, &val));
}

/* name, name{...} or {...}; name is NULL or the consumed name token */
static PqNode *
parse_vector_selector(PqParser *p, const PqToken *name)
{
	int			start = name ? name->pos : peek(p)->pos;
	List	   *matchers = NIL;
	PqNode	   *n;

	if (peek(p)->type == T_LEFT_BRACE)
	{
		next(p);
		if (peek(p)->type == T_RIGHT_BRACE)
			next(p);
		else
			for (;;)
			{
				PqToken    *t;

				matchers = lappend(matchers, parse_label_matcher(p));
				t = peek(p);
				if (t->type == T_COMMA)
				{
					next(p);
					if (peek(p)->type == T_RIGHT_BRACE)
					{
						next(p);
						break;
					}
					continue;
				}
				if (t->type == T_RIGHT_BRACE)
				{
					next(p);
					break;
				}
				unexpected(p, "label matching", "\",\" or \"}\"");
			}
	}
	n = new_node(PQ_VECTOR_SELECTOR, start, p->prev_end);
	if (name)
	{
		n->u.vs.name = tok_str(name);
		/* as Prometheus, the name's matcher comes last */
		matchers = lappend(matchers, make_matcher(p, name->pos, MATCH_EQ, "__name__", n->u.vs.name));
	}
	n->u.vs.matchers = matchers;
	return n;
}

static PqNode *
parse_call(PqParser *p)
{
	PqToken		name = next(p);
	List	   *args = parse_call_args(p);
	char	   *fname = tok_str(&name);
	const PqFunctionDef *fn = pq_function_by_name(fname);
	PqNode	   *n;

	if (fn == NULL)
		perr(p, name.pos, "See the list of PromQL functions in the Prometheus documentation.",
			 "unknown function with name %s", quoted(fname));
	if (fn->experimental && !pq_enable_experimental_functions)
		perr(p, name.pos, NULL, "function %s is not enabled", quoted(fname));
	n = new_node(PQ_CALL, name.pos, p->prev_end);
	n->u.call.func = fn;
	n->u.call.args = args;
	return n;
}

static void
parse_agg_modifier(PqParser *p, PqNode *n)
{
	PqToken		t = next(p);

	n->u.agg.without = t.type == T_WITHOUT;
	n->u.agg.by = t.type == T_BY;
	n->u.agg.grouping = parse_grouping_labels(p);
}

static PqNode *
parse_aggregate(PqParser *p)
{
	PqToken		op = next(p);
	PqNode	   *n = new_node(PQ_AGGREGATE, op.pos, op.end);
	bool		modifier = false;
	List	   *args;
	int			desired = 1;

	n->u.agg.op = aggop_of(op.type);
	p->agg_depth++;
	if (peek(p)->type == T_BY || peek(p)->type == T_WITHOUT)
	{
		parse_agg_modifier(p, n);
		modifier = true;
	}
	if (peek(p)->type != T_LEFT_PAREN)
		unexpected(p, NULL, NULL);
	args = parse_call_args(p);
	p->agg_depth--;
	if (!modifier && (peek(p)->type == T_BY || peek(p)->type == T_WITHOUT))
		parse_agg_modifier(p, n);
	n->pos.end = p->prev_end;

	if (args == NIL)
		perr(p, op.pos, NULL, "no arguments for aggregate expression provided");
	if (agg_has_param(n->u.agg.op))
	{
		if (!pq_enable_experimental_functions &&
			(n->u.agg.op == PQ_AGG_LIMITK || n->u.agg.op == PQ_AGG_LIMIT_RATIO))
			perr(p, op.pos, NULL,
				 "%s() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
				 pq_aggop_name(n->u.agg.op));
		desired = 2;
		n->u.agg.param = linitial(args);
	}
	if (list_length(args) != desired)
		perr(p, op.pos, desired == 2 ? "This aggregation takes a parameter and an expression, e.g. topk(5, x)." : NULL,
			 "wrong number of arguments for aggregate expression provided, expected %d, got %d",
			 desired, list_length(args));
	n->u.agg.expr = llast(args);
	return n;
}

/* [range] or [range:step] or [range:] after n; '[' is the lookahead */
static PqNode *
parse_range_suffix(PqParser *p, PqNode *n)
{
	PqToken		lb = next(p);
	PqToken		t;
	int64		range;
	PqNode	   *r;

	if (peek(p)->type != T_NUMBER && peek(p)->type != T_DURATION)
		unexpected(p, "subquery selector", "number or duration");
	t = next(p);
	range = duration_ms(p, &t);
	if (range <= 0)
		perr(p, t.pos, "Ranges and subquery ranges must be positive, e.g. [5m].",
			 "duration must be greater than 0");

	if (peek(p)->type == T_RIGHT_BRACKET)
	{
		next(p);
		if (n->kind != PQ_VECTOR_SELECTOR)
			perr(p, lb.pos, "Use a subquery, e.g. (expr)[5m:1m], to get a range of an expression.",
				 "ranges only allowed for vector selectors");
		if (n->u.vs.offset_ms != 0)
			perr(p, lb.pos, "Write the offset after the range: foo[5m] offset 1h.",
				 "no offset modifiers allowed before range");
		if (n->u.vs.at != PQ_AT_NONE)
			perr(p, lb.pos, "Write the @ modifier after the range: foo[5m] @ 1700000000.",
				 "no @ modifiers allowed before range");
		r = new_node(PQ_MATRIX_SELECTOR, n->pos.start, p->prev_end);
		r->u.ms.vs = n;
		r->u.ms.range_ms = range;
		return r;
	}
	if (peek(p)->type != T_COLON)
		unexpected(p, "subquery or range", "\":\" or \"]\"");
	next(p);
	r = new_node(PQ_SUBQUERY, n->pos.start, 0);
	r->u.sq.expr = n;
	r->u.sq.range_ms = range;
	if (peek(p)->type == T_NUMBER || peek(p)->type == T_DURATION)
	{
		t = next(p);
		r->u.sq.step_ms = duration_ms(p, &t);
		if (r->u.sq.step_ms < 0)
			perr(p, t.pos, NULL, "duration must be greater than 0");
		if (peek(p)->type != T_RIGHT_BRACKET)
			unexpected(p, "subquery selector", "\"]\"");
	}
	else if (peek(p)->type != T_RIGHT_BRACKET)
		unexpected(p, "subquery selector", "number or duration or \"]\"");
	next(p);
	r->pos.end = p->prev_end;
	return r;
}

static void
parse_offset(PqParser *p, PqNode *n)
{
	bool		neg = false;
	PqToken		t;
	int64		off;
	int64	   *target;

	next(p);
	if (peek(p)->type == T_SUB)
	{
		next(p);
		neg = true;
	}
	if (peek(p)->type != T_NUMBER && peek(p)->type != T_DURATION)
		unexpected(p, "offset", "number or duration");
	t = next(p);
	off = duration_ms(p, &t);
	if (neg)
		off = -off;

	switch (n->kind)
	{
		case PQ_VECTOR_SELECTOR:
			target = &n->u.vs.offset_ms;
			break;
		case PQ_MATRIX_SELECTOR:
			target = &n->u.ms.vs->u.vs.offset_ms;
			break;
		case PQ_SUBQUERY:
			target = &n->u.sq.offset_ms;
			break;
		default:
			perr(p, n->pos.start, NULL,
				 "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
	}
	/* as in Prometheus, an offset of 0 counts as no offset */
	if (*target != 0)
		perr(p, n->pos.start, NULL, "offset may not be set multiple times");
	*target = off;
	n->pos.end = p->prev_end;
}

/* The @ fields of n, or an error if n cannot take one. */
static void
at_target(PqParser *p, PqNode *n, PqAt **at, int64 **at_ms)
{
	switch (n->kind)
	{
		case PQ_VECTOR_SELECTOR:
			*at = &n->u.vs.at;
			*at_ms = &n->u.vs.at_ms;
			break;
		case PQ_MATRIX_SELECTOR:
			*at = &n->u.ms.vs->u.vs.at;
			*at_ms = &n->u.ms.vs->u.vs.at_ms;
			break;
		case PQ_SUBQUERY:
			*at = &n->u.sq.at;
			*at_ms = &n->u.sq.at_ms;
			break;
		default:
			perr(p, n->pos.start, NULL,
				 "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
	}
	if (**at != PQ_AT_NONE)
		perr(p, n->pos.start, NULL, "@ <timestamp> may not be set multiple times");
}

static void
parse_at(PqParser *p, PqNode *n)
{
	PqToken    *t;
	PqAt	   *at;
	int64	   *at_ms;

	next(p);
	t = peek(p);
	if (t->type == T_START || t->type == T_END)
	{
		PqAt		which = t->type == T_START ? PQ_AT_START : PQ_AT_END;

		next(p);
		if (peek(p)->type != T_LEFT_PAREN)
			unexpected(p, "@", "timestamp");
		next(p);
		if (peek(p)->type != T_RIGHT_PAREN)
			unexpected(p, "@", "timestamp");
		next(p);
		at_target(p, n, &at, &at_ms);
		*at = which;
	}
	else
	{
		double		sign = 1;
		double		ts;
		PqToken		num;

		if (t->type == T_ADD || t->type == T_SUB)
		{
			sign = t->type == T_SUB ? -1 : 1;
			next(p);
		}
		if (peek(p)->type != T_NUMBER && peek(p)->type != T_DURATION)
			unexpected(p, "@", "timestamp");
		num = next(p);
		ts = sign * number_value(p, &num);
		/* Prometheus' bounds, plus what fits in int64 milliseconds */
		if (isinf(ts) || isnan(ts) || ts * 1000.0 >= 9223372036854775807.0 ||
			ts * 1000.0 <= -9223372036854775808.0)
		{
			if (isinf(ts))
				perr(p, n->pos.start, NULL, "timestamp out of bounds for @ modifier: %s",
					 ts > 0 ? "+Inf" : "-Inf");
			else if (isnan(ts))
				perr(p, n->pos.start, NULL, "timestamp out of bounds for @ modifier: NaN");
			else
				perr(p, n->pos.start, NULL, "timestamp out of bounds for @ modifier: %f", ts);
		}
		at_target(p, n, &at, &at_ms);
		*at = PQ_AT_TIMESTAMP;
		*at_ms = (int64) round(ts * 1000.0);
	}
	n->pos.end = p->prev_end;
}

static PqNode *
parse_primary(PqParser *p)
{
	PqToken    *t = peek(p);
	PqToken		tok;
	PqNode	   *n;

	switch (t->type)
	{
		case T_NUMBER:
		case T_DURATION:
			tok = next(p);
			n = new_node(PQ_NUMBER, tok.pos, tok.end);
			n->u.number = number_value(p, &tok);
			return n;
		case T_STRING:
			tok = next(p);
			n = new_node(PQ_STRING, tok.pos, tok.end);
			n->u.string = unquote_token(p, &tok);
			return n;
		case T_LEFT_PAREN:
			{
				PqNode	   *inner;

				tok = next(p);
				inner = parse_expr(p, 0);
				if (peek(p)->type != T_RIGHT_PAREN)
					unexpected(p, NULL, NULL);
				next(p);
				n = new_node(PQ_PAREN, tok.pos, p->prev_end);
				n->u.inner.expr = inner;
				return n;
			}
		case T_LEFT_BRACE:
			return parse_vector_selector(p, NULL);
		default:
			break;
	}
	if (t->type == T_IDENTIFIER && peek2(p)->type == T_LEFT_PAREN)
		return parse_call(p);
	if (PQ_TOK_IS_AGGREGATOR(t->type))
	{
		PqTok		t2 = peek2(p)->type;

		if (t2 == T_LEFT_PAREN || t2 == T_BY || t2 == T_WITHOUT)
			return parse_aggregate(p);
	}
	if (is_metric_identifier(t->type))
	{
		tok = next(p);
		return parse_vector_selector(p, &tok);
	}
	unexpected(p, NULL, NULL);
}

/* A primary expression and its postfix modifiers, or a unary expression. */
static PqNode *
parse_unary(PqParser *p)
{
	PqToken    *t;
	PqNode	   *n;

	/* nesting depth is the query author's to choose: guard the C stack */
	check_stack_depth();
	t = peek(p);
	if (t->type == T_ADD || t->type == T_SUB)
	{
		PqToken		op = next(p);
		PqNode	   *operand = parse_expr(p, PREC_POW);

		/* a sign directly on a number literal folds into it */
		if (operand->kind == PQ_NUMBER)
		{
			if (op.type == T_SUB)
				operand->u.number = -operand->u.number;
			operand->pos.start = op.pos;
			return operand;
		}
		n = new_node(PQ_UNARY, op.pos, operand->pos.end);
		n->u.unary.negate = op.type == T_SUB;
		n->u.unary.expr = operand;
		return n;
	}

	n = parse_primary(p);
	for (;;)
	{
		switch (peek(p)->type)
		{
			case T_LEFT_BRACKET:
				n = parse_range_suffix(p, n);
				continue;
			case T_OFFSET:
				parse_offset(p, n);
				continue;
			case T_AT:
				parse_at(p, n);
				continue;
			default:
				break;
		}
		break;
	}
	return n;
}

static PqNode *
parse_expr(PqParser *p, int min_prec)
{
	PqNode	   *lhs = parse_unary(p);

	for (;;)
	{
		PqToken		op = *peek(p);
		int			prec = binop_prec(op.type);
		PqNode	   *rhs;
		PqNode	   *n;
		PqVectorMatching *vm;
		bool		return_bool = false;

		if (prec < 0 || prec < min_prec)
			break;
		next(p);
		vm = palloc0(sizeof(PqVectorMatching));
		vm->card = PQ_CARD_ONE_TO_ONE;
		if (peek(p)->type == T_BOOL)
		{
			next(p);
			return_bool = true;
		}
		if (peek(p)->type == T_ON || peek(p)->type == T_IGNORING)
		{
			vm->on = next(p).type == T_ON;
			vm->matching_labels = parse_grouping_labels(p);
			if (peek(p)->type == T_GROUP_LEFT || peek(p)->type == T_GROUP_RIGHT)
			{
				vm->card = next(p).type == T_GROUP_LEFT ? PQ_CARD_MANY_TO_ONE : PQ_CARD_ONE_TO_MANY;
				/* "(" after group_x always starts its label list */
				if (peek(p)->type == T_LEFT_PAREN)
					vm->include = parse_grouping_labels(p);
			}
		}
		/* ^ is right-associative, the others left-associative */
		rhs = parse_expr(p, op.type == T_POW ? prec : prec + 1);
		n = new_node(PQ_BINARY, lhs->pos.start, rhs->pos.end);
		n->u.bin.op = binop_of(op.type);
		n->u.bin.lhs = lhs;
		n->u.bin.rhs = rhs;
		n->u.bin.return_bool = return_bool;
		n->u.bin.matching = vm;
		lhs = n;
	}
	return lhs;
}

/* ---------------------------------------------------------------------
 * Type checking (Prometheus' checkAST), in Prometheus' order so that the
 * first error reported is the one Prometheus reports.
 * ---------------------------------------------------------------------
 */

static bool
is_comparison(PqBinOp op)
{
	return op >= PQ_OP_EQLC && op <= PQ_OP_LTE;
}

static bool
is_set_op(PqBinOp op)
{
	return op == PQ_OP_LAND || op == PQ_OP_LOR || op == PQ_OP_LUNLESS;
}

/* ValueType's own name (used by the subquery message) */
static const char *
raw_type_name(PqType t)
{
	switch (t)
	{
		case PQ_TYPE_SCALAR:
			return "scalar";
		case PQ_TYPE_VECTOR:
			return "vector";
		case PQ_TYPE_MATRIX:
			return "matrix";
		case PQ_TYPE_STRING:
			return "string";
		default:
			return "none";
	}
}

/* The position of a binary expression's operator (Prometheus' opRange). */
static int
op_pos(PqParser *p, PqNode *n)
{
	int			i = n->u.bin.lhs->pos.end;

	while (i < p->querylen && (p->query[i] == ' ' || p->query[i] == '\t' ||
							   p->query[i] == '\n' || p->query[i] == '\r'))
		i++;
	return i;
}

static PqType check_node(PqParser *p, PqNode *n);

static void
expect_type(PqParser *p, PqNode *n, PqType want, const char *context)
{
	PqType		t = check_node(p, n);

	if (t != want)
		perr(p, n->pos.start, NULL, "expected type %s in %s, got %s",
			 pq_type_name(want), context, pq_type_name(t));
}

/* A binary expression's own checks, its operands' types being known. */
static PqType
check_binary(PqParser *p, PqNode *n, PqType lt, PqType rt)
{
	ListCell   *lc;
	PqVectorMatching *vm = n->u.bin.matching;
	PqBinOp		op = n->u.bin.op;

	if (n->u.bin.return_bool && !is_comparison(op))
		perr(p, op_pos(p, n), NULL, "bool modifier can only be used on comparison operators");
	if (is_comparison(op) && !n->u.bin.return_bool &&
		rt == PQ_TYPE_SCALAR && lt == PQ_TYPE_SCALAR)
		perr(p, op_pos(p, n), "Write e.g. 1 > bool 0 to compare two scalars.",
			 "comparisons between scalars must use BOOL modifier");
	if (is_set_op(op) && vm->card == PQ_CARD_ONE_TO_ONE)
		vm->card = PQ_CARD_MANY_TO_MANY;
	if (vm->on)
	{
		foreach(lc, vm->matching_labels)
		{
			ListCell   *lc2;

			foreach(lc2, vm->include)
				if (strcmp(lfirst(lc), lfirst(lc2)) == 0)
					perr(p, op_pos(p, n), NULL,
						 "label %s must not occur in ON and GROUP clause at once",
						 quoted(lfirst(lc)));
		}
	}
	if (lt != PQ_TYPE_SCALAR && lt != PQ_TYPE_VECTOR)
		perr(p, n->u.bin.lhs->pos.start, NULL,
			 "binary expression must contain only scalar and instant vector types");
	if (rt != PQ_TYPE_SCALAR && rt != PQ_TYPE_VECTOR)
		perr(p, n->u.bin.rhs->pos.start, NULL,
			 "binary expression must contain only scalar and instant vector types");
	if (lt != PQ_TYPE_VECTOR || rt != PQ_TYPE_VECTOR)
	{
		if (vm->matching_labels != NIL)
			perr(p, n->pos.start, NULL, "vector matching only allowed between instant vectors");
		n->u.bin.matching = NULL;
	}
	else if (is_set_op(op))
	{
		if (vm->card == PQ_CARD_ONE_TO_MANY || vm->card == PQ_CARD_MANY_TO_ONE)
			perr(p, n->pos.start, NULL, "no grouping allowed for \"%s\" operation",
				 pq_binop_name(op));
	}
	if ((lt == PQ_TYPE_SCALAR || rt == PQ_TYPE_SCALAR) && is_set_op(op))
		perr(p, n->pos.start, NULL, "set operator \"%s\" not allowed in binary scalar expression",
			 pq_binop_name(op));
	return (lt == PQ_TYPE_SCALAR && rt == PQ_TYPE_SCALAR) ? PQ_TYPE_SCALAR : PQ_TYPE_VECTOR;
}

static PqType
check_node(PqParser *p, PqNode *n)
{
	PqType		typ;
	ListCell   *lc;

	check_stack_depth();
	/* children's types come from their checks: no quadratic re-walks */
	if (n->kind == PQ_BINARY || n->kind == PQ_UNARY || n->kind == PQ_PAREN ||
		n->kind == PQ_STEP_INVARIANT)
		typ = PQ_TYPE_NONE;
	else
		typ = pq_node_type(n);

	switch (n->kind)
	{
		case PQ_AGGREGATE:
			expect_type(p, n->u.agg.expr, PQ_TYPE_VECTOR, "aggregation expression");
			if (n->u.agg.op == PQ_AGG_TOPK || n->u.agg.op == PQ_AGG_BOTTOMK ||
				n->u.agg.op == PQ_AGG_QUANTILE || n->u.agg.op == PQ_AGG_LIMITK ||
				n->u.agg.op == PQ_AGG_LIMIT_RATIO)
				expect_type(p, n->u.agg.param, PQ_TYPE_SCALAR, "aggregation parameter");
			if (n->u.agg.op == PQ_AGG_COUNT_VALUES)
				expect_type(p, n->u.agg.param, PQ_TYPE_STRING, "aggregation parameter");
			break;

		case PQ_BINARY:
			{
				/* a left-deep chain (a + b + c ...) is walked without recursion */
				int			depth = 0;
				PqNode	   *b;
				PqNode	  **spine;
				PqType		lt;

				for (b = n; b->kind == PQ_BINARY; b = b->u.bin.lhs)
					depth++;
				spine = palloc(sizeof(PqNode *) * depth);
				b = n;
				for (int i = depth - 1; i >= 0; i--, b = b->u.bin.lhs)
					spine[i] = b;
				lt = check_node(p, b);
				for (int i = 0; i < depth; i++)
					lt = check_binary(p, spine[i], lt, check_node(p, spine[i]->u.bin.rhs));
				pfree(spine);
				typ = lt;
				break;
			}

		case PQ_CALL:
			{
				const PqFunctionDef *fn = n->u.call.func;
				int			nargs = fn->nargs;
				int			got = list_length(n->u.call.args);
				int			i = 0;

				if (fn->variadic == 0)
				{
					if (nargs != got)
						perr(p, n->pos.start, NULL, "expected %d argument(s) in call to \"%s\", got %d",
							 nargs, fn->name, got);
				}
				else
				{
					int			na = nargs - 1;

					if (na > got)
						perr(p, n->pos.start, NULL, "expected at least %d argument(s) in call to \"%s\", got %d",
							 na, fn->name, got);
					else if (fn->variadic > 0 && na + fn->variadic < got)
						perr(p, n->pos.start, NULL, "expected at most %d argument(s) in call to \"%s\", got %d",
							 na + fn->variadic, fn->name, got);
				}
				foreach(lc, n->u.call.args)
				{
					PqNode	   *arg = lfirst(lc);
					int			k = i++;
					PqType		t;

					if (k >= nargs)
					{
						if (fn->variadic == 0)
							break;
						k = nargs - 1;
					}
					t = check_node(p, arg);
					if (t != fn->argtypes[k])
						perr(p, arg->pos.start, NULL, "expected type %s in call to function \"%s\", got %s",
							 pq_type_name(fn->argtypes[k]), fn->name, pq_type_name(t));
				}
				break;
			}

		case PQ_PAREN:
		case PQ_STEP_INVARIANT:
			typ = check_node(p, n->u.inner.expr);
			break;

		case PQ_UNARY:
			typ = check_node(p, n->u.unary.expr);
			if (typ != PQ_TYPE_SCALAR && typ != PQ_TYPE_VECTOR)
				perr(p, n->pos.start, NULL,
					 "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
					 pq_type_name(typ));
			break;

		case PQ_SUBQUERY:
			{
				PqType		t = check_node(p, n->u.sq.expr);

				if (t != PQ_TYPE_VECTOR)
					perr(p, n->pos.start, NULL, "subquery is only allowed on instant vector, got %s instead",
						 raw_type_name(t));
				break;
			}

		case PQ_MATRIX_SELECTOR:
			check_node(p, n->u.ms.vs);
			break;

		case PQ_VECTOR_SELECTOR:
			if (n->u.vs.name != NULL)
			{
				/* the last matcher is the one for the name before the braces */
				foreach(lc, n->u.vs.matchers)
				{
					MimirMatcher *m = lfirst(lc);

					if (lnext(n->u.vs.matchers, lc) == NULL)
						break;
					if (strcmp(m->name, "__name__") == 0)
						perr(p, n->pos.start, NULL, "metric name must not be set twice: %s or %s",
							 quoted(n->u.vs.name), quoted(m->value));
				}
			}
			else
			{
				bool		nonempty = false;

				foreach(lc, n->u.vs.matchers)
					if (!mimir_matcher_matches_empty(lfirst(lc)))
						nonempty = true;
				if (!nonempty)
					perr(p, n->pos.start,
						 "Add a metric name or a matcher that does not match the empty string, e.g. {job=\"api\"}.",
						 "vector selector must contain at least one non-empty matcher");
			}
			break;

		case PQ_NUMBER:
		case PQ_STRING:
			break;
	}
	return typ;
}

PqNode *
promql_parse(const char *query)
{
	PqParser	p;
	PqNode	   *n;

	memset(&p, 0, sizeof(p));
	p.query = query;
	p.querylen = strlen(query);
	pq_lex_init(&p.lex, query);

	if (peek(&p)->type == T_EOF)
		perr(&p, 0, NULL, "no expression found in input");
	n = parse_expr(&p, 0);
	if (peek(&p)->type != T_EOF)
		unexpected(&p, NULL, NULL);
	check_node(&p, n);
	return n;
}
