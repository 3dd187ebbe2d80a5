/*
 * promql_print.c — PromQL expressions back to text, exactly as Prometheus'
 * String() methods print them (promql/parser/printer.go); this is what
 * messages quote; and Prometheus' Pretty() (promql/parser/prettier.go), the
 * indented multi-line layout /api/v1/format_query returns for expressions
 * longer than 100 characters. Also Prometheus' duration syntax
 * (model.ParseDuration / Duration.String) and the names of types and
 * operators.
 */
#include "promql/promql_ast.h"
#include "promql/promql_lex.h"

#include <math.h>

#include "common/shortest_dec.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"

/* ---------------------------------------------------------------------
 * Names and types
 * ---------------------------------------------------------------------
 */

const char *
pq_type_name(PqType t)
{
	switch (t)
	{
		case PQ_TYPE_SCALAR:
			return "scalar";
		case PQ_TYPE_VECTOR:
			return "instant vector";
		case PQ_TYPE_MATRIX:
			return "range vector";
		case PQ_TYPE_STRING:
			return "string";
		default:
			return "none";
	}
}

const char *
pq_binop_name(PqBinOp op)
{
	static const char *const names[] = {
		"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=",
		"and", "or", "unless"
	};

	return (int) op >= 0 && op < lengthof(names) ? names[op] : "?";
}

const char *
pq_aggop_name(PqAggOp op)
{
	static const char *const names[] = {
		"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk",
		"bottomk", "count_values", "quantile", "limitk", "limit_ratio"
	};

	return (int) op >= 0 && op < lengthof(names) ? names[op] : "?";
}

PqType
pq_node_type(const PqNode *n)
{
	check_stack_depth();
	switch (n->kind)
	{
		case PQ_NUMBER:
			return PQ_TYPE_SCALAR;
		case PQ_STRING:
			return PQ_TYPE_STRING;
		case PQ_VECTOR_SELECTOR:
		case PQ_AGGREGATE:
			return PQ_TYPE_VECTOR;
		case PQ_MATRIX_SELECTOR:
		case PQ_SUBQUERY:
			return PQ_TYPE_MATRIX;
		case PQ_CALL:
			return n->u.call.func->rettype;
		case PQ_BINARY:
			/* iterative along the left spine: long chains are common */
			for (; n->kind == PQ_BINARY; n = n->u.bin.lhs)
				if (pq_node_type(n->u.bin.rhs) != PQ_TYPE_SCALAR)
					return PQ_TYPE_VECTOR;
			return pq_node_type(n) == PQ_TYPE_SCALAR ? PQ_TYPE_SCALAR : PQ_TYPE_VECTOR;
		case PQ_UNARY:
			return pq_node_type(n->u.unary.expr);
		case PQ_PAREN:
		case PQ_STEP_INVARIANT:
			return pq_node_type(n->u.inner.expr);
	}
	return PQ_TYPE_NONE;
}

/* ---------------------------------------------------------------------
 * Durations
 * ---------------------------------------------------------------------
 */

typedef struct DurUnit
{
	const char *name;
	int			order;			/* units must come biggest first */
	int64		ms;
} DurUnit;

static const DurUnit dur_units[] = {
	{"y", 1, 365 * 86400000LL},
	{"w", 2, 7 * 86400000LL},
	{"d", 3, 86400000LL},
	{"h", 4, 3600000LL},
	{"m", 5, 60000LL},
	{"s", 6, 1000LL},
	{"ms", 7, 1LL},
};

char *
pq_parse_duration_err(const char *s, int len, int64 *ms)
{
	int			i = 0;
	int			last = 0;
	uint64		dur_ns = 0;
	StringInfoData err;

	*ms = 0;
	if (len == 1 && s[0] == '0')
		return NULL;
	if (len == 0)
		return pstrdup("empty duration string");
	while (i < len)
	{
		uint64		v = 0;
		int			ustart;
		const DurUnit *u = NULL;
		uint64		mult;

		if (!isdigit((unsigned char) s[i]))
			goto invalid;
		for (; i < len && isdigit((unsigned char) s[i]); i++)
		{
			if (v > (PG_UINT64_MAX - (s[i] - '0')) / 10)
				goto invalid;
			v = v * 10 + (s[i] - '0');
		}
		ustart = i;
		while (i < len && !isdigit((unsigned char) s[i]))
			i++;
		if (i == ustart)
			goto invalid;
		for (int k = 0; k < lengthof(dur_units); k++)
			if ((int) strlen(dur_units[k].name) == i - ustart &&
				strncmp(dur_units[k].name, s + ustart, i - ustart) == 0)
				u = &dur_units[k];
		if (u == NULL)
		{
			initStringInfo(&err);
			appendStringInfoString(&err, "unknown unit ");
			pq_append_go_quoted(&err, s + ustart, i - ustart);
			appendStringInfoString(&err, " in duration ");
			pq_append_go_quoted(&err, s, len);
			return err.data;
		}
		if (u->order <= last)
			goto invalid;
		last = u->order;
		/* as Go: the total must fit a time.Duration (int64 nanoseconds) */
		mult = (uint64) u->ms * 1000000;
		if (v > ((uint64) 1 << 63) / mult)
			return pstrdup("duration out of range");
		dur_ns += v * mult;
		if (dur_ns > (uint64) PG_INT64_MAX)
			return pstrdup("duration out of range");
	}
	*ms = (int64) (dur_ns / 1000000);
	return NULL;

invalid:
	initStringInfo(&err);
	appendStringInfoString(&err, "not a valid duration string: ");
	pq_append_go_quoted(&err, s, len);
	return err.data;
}

bool
pq_parse_duration(const char *s, int len, int64 *ms)
{
	return pq_parse_duration_err(s, len, ms) == NULL;
}

static void
append_duration(StringInfo buf, int64 ms)
{
	uint64		v;

	if (ms == 0)
	{
		appendStringInfoString(buf, "0s");
		return;
	}
	if (ms < 0)
	{
		appendStringInfoChar(buf, '-');
		v = (uint64) 0 - (uint64) ms;
	}
	else
		v = ms;
	for (int k = 0; k < lengthof(dur_units); k++)
	{
		uint64		mult = dur_units[k].ms;

		/* years and weeks only when exact: 90d reads better than 12w6d */
		if (k < 2 && v % mult != 0)
			continue;
		if (v / mult > 0)
		{
			appendStringInfo(buf, UINT64_FORMAT "%s", v / mult, dur_units[k].name);
			v %= mult;
		}
	}
}

char *
pq_format_duration(int64 ms)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_duration(&buf, ms);
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Expressions
 * ---------------------------------------------------------------------
 */

/* Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest digits that read
 * back as v, in plain (never exponential) notation. */
static void
append_float(StringInfo buf, double v)
{
	char		sd[DOUBLE_SHORTEST_DECIMAL_LEN];
	char		mant[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			nm = 0;
	int			intdigits = -1;
	int			expo = 0;
	int			point;
	int			first;
	const char *c;

	if (isnan(v))
	{
		appendStringInfoString(buf, "NaN");
		return;
	}
	if (isinf(v))
	{
		appendStringInfoString(buf, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	double_to_shortest_decimal_buf(v, sd);
	c = sd;
	if (*c == '-')
	{
		appendStringInfoChar(buf, '-');
		c++;
	}
	for (; *c && *c != 'e'; c++)
	{
		if (*c == '.')
			intdigits = nm;
		else
			mant[nm++] = *c;
	}
	if (intdigits < 0)
		intdigits = nm;
	if (*c == 'e')
		expo = atoi(c + 1);
	point = intdigits + expo;
	for (first = 0; first < nm && mant[first] == '0'; first++)
		point--;
	while (nm > first && mant[nm - 1] == '0' && nm - first > 0)
	{
		/* trailing zeros carry no information once the point is known */
		nm--;
	}
	if (nm == first)
	{
		appendStringInfoChar(buf, '0');
		return;
	}
	if (point <= 0)
	{
		appendStringInfoString(buf, "0.");
		for (int i = 0; i < -point; i++)
			appendStringInfoChar(buf, '0');
		appendBinaryStringInfo(buf, mant + first, nm - first);
	}
	else if (point >= nm - first)
	{
		appendBinaryStringInfo(buf, mant + first, nm - first);
		for (int i = 0; i < point - (nm - first); i++)
			appendStringInfoChar(buf, '0');
	}
	else
	{
		appendBinaryStringInfo(buf, mant + first, point);
		appendStringInfoChar(buf, '.');
		appendBinaryStringInfo(buf, mant + first + point, nm - first - point);
	}
}

static bool
is_legacy_label_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (s++; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			  (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* Label lists of by/without/on/ignoring/group_x: quoted when not a legacy
 * label name. */
static void
append_labels(StringInfo buf, List *labels)
{
	ListCell   *lc;

	foreach(lc, labels)
	{
		const char *l = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoString(buf, ", ");
		if (is_legacy_label_name(l))
			appendStringInfoString(buf, l);
		else
			pq_append_go_quoted(buf, l, strlen(l));
	}
}

/* labels.Matcher.String() */
static char *
matcher_string(const MimirMatcher *m)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (is_legacy_label_name(m->name))
		appendStringInfoString(&buf, m->name);
	else
		pq_append_go_quoted(&buf, m->name, strlen(m->name));
	appendStringInfoString(&buf, mimir_match_op_str(m->op));
	pq_append_go_quoted(&buf, m->value, strlen(m->value));
	return buf.data;
}

static int
cmp_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void
append_at(StringInfo buf, PqAt at, int64 at_ms)
{
	switch (at)
	{
		case PQ_AT_TIMESTAMP:
			appendStringInfo(buf, " @ %.3f", (double) at_ms / 1000.0);
			break;
		case PQ_AT_START:
			appendStringInfoString(buf, " @ start()");
			break;
		case PQ_AT_END:
			appendStringInfoString(buf, " @ end()");
			break;
		case PQ_AT_NONE:
			break;
	}
}

static void
append_offset(StringInfo buf, int64 off)
{
	if (off > 0)
	{
		appendStringInfoString(buf, " offset ");
		append_duration(buf, off);
	}
	else if (off < 0)
	{
		appendStringInfoString(buf, " offset -");
		append_duration(buf, -off);
	}
}

/* name{matchers}, sorted as Prometheus sorts them; with_mods adds @ and
 * offset (a range selector prints them after the range instead) */
static void
append_vector_selector(StringInfo buf, const PqNode *n, bool with_mods)
{
	int			nm = list_length(n->u.vs.matchers);
	char	  **strs = palloc(sizeof(char *) * (nm + 1));
	int			k = 0;
	ListCell   *lc;

	foreach(lc, n->u.vs.matchers)
	{
		MimirMatcher *m = lfirst(lc);

		/* the name's own matcher is implied by the name */
		if (n->u.vs.name != NULL && strcmp(m->name, "__name__") == 0 &&
			m->op == MATCH_EQ && strcmp(m->value, n->u.vs.name) == 0 &&
			m->value[0] != '\0')
			continue;
		strs[k++] = matcher_string(m);
	}
	if (n->u.vs.name)
		appendStringInfoString(buf, n->u.vs.name);
	if (k > 0)
	{
		qsort(strs, k, sizeof(char *), cmp_strings);
		appendStringInfoChar(buf, '{');
		for (int i = 0; i < k; i++)
		{
			if (i > 0)
				appendStringInfoChar(buf, ',');
			appendStringInfoString(buf, strs[i]);
		}
		appendStringInfoChar(buf, '}');
	}
	if (with_mods)
	{
		append_at(buf, n->u.vs.at, n->u.vs.at_ms);
		append_offset(buf, n->u.vs.offset_ms);
	}
}

static void append_node(StringInfo buf, const PqNode *n);

static void
append_matching(StringInfo buf, const PqVectorMatching *vm)
{
	bool		group = vm->card == PQ_CARD_MANY_TO_ONE || vm->card == PQ_CARD_ONE_TO_MANY;

	if (vm->matching_labels != NIL || vm->on || group)
	{
		appendStringInfoString(buf, vm->on ? " on (" : " ignoring (");
		append_labels(buf, vm->matching_labels);
		appendStringInfoChar(buf, ')');
	}
	if (group)
	{
		appendStringInfoString(buf, vm->card == PQ_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
		append_labels(buf, vm->include);
		appendStringInfoChar(buf, ')');
	}
}

/* A subquery's "[range:step] @ t offset d". */
static void
append_subquery_suffix(StringInfo buf, const PqNode *n)
{
	appendStringInfoChar(buf, '[');
	append_duration(buf, n->u.sq.range_ms);
	appendStringInfoChar(buf, ':');
	if (n->u.sq.step_ms != 0)
		append_duration(buf, n->u.sq.step_ms);
	appendStringInfoChar(buf, ']');
	append_at(buf, n->u.sq.at, n->u.sq.at_ms);
	append_offset(buf, n->u.sq.offset_ms);
}

/* An aggregation's operator and grouping, as AggregateExpr.ShortString(). */
static void
append_agg_op(StringInfo buf, const PqNode *n)
{
	appendStringInfoString(buf, pq_aggop_name(n->u.agg.op));
	if (n->u.agg.without)
	{
		appendStringInfoString(buf, " without (");
		append_labels(buf, n->u.agg.grouping);
		appendStringInfoString(buf, ") ");
	}
	else if (n->u.agg.grouping != NIL)
	{
		appendStringInfoString(buf, " by (");
		append_labels(buf, n->u.agg.grouping);
		appendStringInfoString(buf, ") ");
	}
}

static void
append_node(StringInfo buf, const PqNode *n)
{
	ListCell   *lc;

	check_stack_depth();
	switch (n->kind)
	{
		case PQ_NUMBER:
			append_float(buf, n->u.number);
			break;
		case PQ_STRING:
			pq_append_go_quoted(buf, n->u.string, strlen(n->u.string));
			break;
		case PQ_VECTOR_SELECTOR:
			append_vector_selector(buf, n, true);
			break;
		case PQ_MATRIX_SELECTOR:
			append_vector_selector(buf, n->u.ms.vs, false);
			appendStringInfoChar(buf, '[');
			append_duration(buf, n->u.ms.range_ms);
			appendStringInfoChar(buf, ']');
			append_at(buf, n->u.ms.vs->u.vs.at, n->u.ms.vs->u.vs.at_ms);
			append_offset(buf, n->u.ms.vs->u.vs.offset_ms);
			break;
		case PQ_SUBQUERY:
			append_node(buf, n->u.sq.expr);
			append_subquery_suffix(buf, n);
			break;
		case PQ_CALL:
			appendStringInfo(buf, "%s(", n->u.call.func->name);
			foreach(lc, n->u.call.args)
			{
				if (foreach_current_index(lc) > 0)
					appendStringInfoString(buf, ", ");
				append_node(buf, lfirst(lc));
			}
			appendStringInfoChar(buf, ')');
			break;
		case PQ_AGGREGATE:
			append_agg_op(buf, n);
			appendStringInfoChar(buf, '(');
			if (n->u.agg.param)
			{
				append_node(buf, n->u.agg.param);
				appendStringInfoString(buf, ", ");
			}
			append_node(buf, n->u.agg.expr);
			appendStringInfoChar(buf, ')');
			break;
		case PQ_BINARY:
			{
				/* a left-deep chain (a + b + c ...) is printed without recursion */
				int			depth = 0;
				const PqNode *b;
				const PqNode **spine;

				for (b = n; b->kind == PQ_BINARY; b = b->u.bin.lhs)
					depth++;
				spine = palloc(sizeof(PqNode *) * depth);
				b = n;
				for (int i = depth - 1; i >= 0; i--, b = b->u.bin.lhs)
					spine[i] = b;
				append_node(buf, b);
				for (int i = 0; i < depth; i++)
				{
					b = spine[i];
					appendStringInfo(buf, " %s", pq_binop_name(b->u.bin.op));
					if (b->u.bin.return_bool)
						appendStringInfoString(buf, " bool");
					if (b->u.bin.matching)
						append_matching(buf, b->u.bin.matching);
					appendStringInfoChar(buf, ' ');
					append_node(buf, b->u.bin.rhs);
				}
				pfree(spine);
				break;
			}
		case PQ_UNARY:
			appendStringInfoChar(buf, n->u.unary.negate ? '-' : '+');
			append_node(buf, n->u.unary.expr);
			break;
		case PQ_PAREN:
			appendStringInfoChar(buf, '(');
			append_node(buf, n->u.inner.expr);
			appendStringInfoChar(buf, ')');
			break;
		case PQ_STEP_INVARIANT:
			append_node(buf, n->u.inner.expr);
			break;
	}
}

char *
promql_to_string(const PqNode *n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_node(&buf, n);
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Pretty printing (Prometheus' Prettify / Node.Pretty)
 *
 * A node whose String() fits in PQ_PRETTY_WIDTH characters prints as
 * String(); a longer one is split: its children go on lines of their own,
 * indented two spaces per level. Quirks kept on purpose, for byte-identical
 * output: a split binary expression puts no indent before its left operand
 * (which indents itself one level deeper), and a subquery that is not split
 * prints without indent.
 * ---------------------------------------------------------------------
 */

#define PQ_PRETTY_WIDTH 100

static void pretty_node(StringInfo buf, const PqNode *n, int level);

static void
append_indent(StringInfo buf, int level)
{
	for (int i = 0; i < level; i++)
		appendStringInfoString(buf, "  ");
}

/* String() of n unless it must be split: then NULL. */
static char *
unsplit_string(const PqNode *n)
{
	char	   *s = promql_to_string(n);

	if (strlen(s) > PQ_PRETTY_WIDTH)
	{
		pfree(s);
		return NULL;
	}
	return s;
}

/* Indent, then String() if it fits; true if done. */
static bool
pretty_short(StringInfo buf, const PqNode *n, int level)
{
	char	   *s = unsplit_string(n);

	if (s == NULL)
		return false;
	append_indent(buf, level);
	appendStringInfoString(buf, s);
	pfree(s);
	return true;
}

static void
pretty_node(StringInfo buf, const PqNode *n, int level)
{
	ListCell   *lc;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	switch (n->kind)
	{
		case PQ_NUMBER:
		case PQ_STRING:
		case PQ_VECTOR_SELECTOR:
		case PQ_MATRIX_SELECTOR:
			{
				char	   *s = promql_to_string(n);

				append_indent(buf, level);
				appendStringInfoString(buf, s);
				pfree(s);
				break;
			}
		case PQ_AGGREGATE:
			if (pretty_short(buf, n, level))
				break;
			append_indent(buf, level);
			append_agg_op(buf, n);
			appendStringInfoString(buf, "(\n");
			if (n->u.agg.param)
			{
				pretty_node(buf, n->u.agg.param, level + 1);
				appendStringInfoString(buf, ",\n");
			}
			pretty_node(buf, n->u.agg.expr, level + 1);
			appendStringInfoChar(buf, '\n');
			append_indent(buf, level);
			appendStringInfoChar(buf, ')');
			break;
		case PQ_BINARY:
			if (pretty_short(buf, n, level))
				break;
			pretty_node(buf, n->u.bin.lhs, level + 1);
			appendStringInfoChar(buf, '\n');
			append_indent(buf, level);
			appendStringInfoString(buf, pq_binop_name(n->u.bin.op));
			if (n->u.bin.return_bool)
				appendStringInfoString(buf, " bool");
			if (n->u.bin.matching)
				append_matching(buf, n->u.bin.matching);
			appendStringInfoChar(buf, '\n');
			pretty_node(buf, n->u.bin.rhs, level + 1);
			break;
		case PQ_CALL:
			if (pretty_short(buf, n, level))
				break;
			append_indent(buf, level);
			appendStringInfo(buf, "%s(\n", n->u.call.func->name);
			foreach(lc, n->u.call.args)
			{
				if (foreach_current_index(lc) > 0)
					appendStringInfoString(buf, ",\n");
				pretty_node(buf, lfirst(lc), level + 1);
			}
			appendStringInfoChar(buf, '\n');
			append_indent(buf, level);
			appendStringInfoChar(buf, ')');
			break;
		case PQ_PAREN:
			if (pretty_short(buf, n, level))
				break;
			append_indent(buf, level);
			appendStringInfoString(buf, "(\n");
			pretty_node(buf, n->u.inner.expr, level + 1);
			appendStringInfoChar(buf, '\n');
			append_indent(buf, level);
			appendStringInfoChar(buf, ')');
			break;
		case PQ_STEP_INVARIANT:
			pretty_node(buf, n->u.inner.expr, level);
			break;
		case PQ_SUBQUERY:
			{
				char	   *s = unsplit_string(n);

				if (s)
				{
					appendStringInfoString(buf, s);
					pfree(s);
					break;
				}
				pretty_node(buf, n->u.sq.expr, level);
				append_subquery_suffix(buf, n);
				break;
			}
		case PQ_UNARY:
			{
				/* the operand, unindented: the operator takes the indent */
				StringInfoData child;
				const char *c;

				initStringInfo(&child);
				pretty_node(&child, n->u.unary.expr, level);
				append_indent(buf, level);
				appendStringInfoChar(buf, n->u.unary.negate ? '-' : '+');
				c = child.data;
				while (*c == ' ' || *c == '\n' || *c == '\t' || *c == '\r')
					c++;
				appendStringInfoString(buf, c);
				/* Go's TrimSpace trims the end too */
				while (buf->len > 0 && (buf->data[buf->len - 1] == ' ' || buf->data[buf->len - 1] == '\n'))
					buf->data[--buf->len] = '\0';
				pfree(child.data);
				break;
			}
	}
}

char *
promql_pretty(const PqNode *n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	pretty_node(&buf, n, 0);
	return buf.data;
}
