/*
 * labels.c — Prometheus label notation: parsing series (`up{job="a"}`) and
 * selectors (`{job=~"a|b", path!=""}`), validating names and UTF-8, and
 * evaluating matchers, whose regexes are fully anchored like Prometheus'.
 */
#include "mimir.h"

#include "catalog/pg_collation_d.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"
#include "utils/builtins.h"

/* re2_regex.c */
extern char *mimir_re2_to_are(const char *re);
extern char *mimir_re2_to_are_groups(const char *re, List **group_names);

typedef struct Parser
{
	const char *input;			/* whole text, for messages */
	const char *p;
	const char *what;			/* "series" or "selector" */
} Parser;

static void pg_attribute_noreturn()
parse_error(Parser *ps, const char *msg)
{
	int			pos = (int) (ps->p - ps->input);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s \"%s\": %s at character %d%s%.20s%s",
					ps->what, ps->input, msg, pos + 1,
					*ps->p ? " near \"" : " (end of input)", ps->p,
					*ps->p ? (strlen(ps->p) > 20 ? "...\"" : "\"") : ""),
			 errhint("Use Prometheus notation, e.g. http_requests_total{job=\"api\",code=~\"2..\"}.")));
}

static void
skip_ws(Parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static bool
is_name_start(char c, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool
is_name_char(char c, bool metric)
{
	return is_name_start(c, metric) || (c >= '0' && c <= '9');
}

bool
mimir_valid_label_name(const char *s)
{
	if (!is_name_start(*s, false))
		return false;
	for (s++; *s; s++)
		if (!is_name_char(*s, false))
			return false;
	return true;
}

bool
mimir_valid_metric_name(const char *s)
{
	if (!is_name_start(*s, true))
		return false;
	for (s++; *s; s++)
		if (!is_name_char(*s, true))
			return false;
	return true;
}

static char *
scan_ident(Parser *ps, bool metric)
{
	const char *start = ps->p;

	while (is_name_char(*ps->p, metric))
		ps->p++;
	return pnstrdup(start, ps->p - start);
}


/* A Go-style quoted string: "..." and '...' with escapes, `...` raw. */
static char *
parse_string(Parser *ps)
{
	char		q = *ps->p;
	const char *start = ps->p;
	StringInfoData buf;

	if (q != '"' && q != '\'' && q != '`')
		parse_error(ps, "expected a quoted string");
	ps->p++;
	initStringInfo(&buf);
	for (;;)
	{
		char		c = *ps->p;

		if (c == '\0')
			parse_error(ps, "unterminated quoted string");
		if (c == q)
		{
			ps->p++;
			break;
		}
		if (c == '\n' && q != '`')
			parse_error(ps, "newline in quoted string");
		if (c != '\\' || q == '`')
		{
			appendStringInfoChar(&buf, c);
			ps->p++;
			continue;
		}
		/* escape sequence */
		ps->p++;
		c = *ps->p++;
		switch (c)
		{
			case 'a': appendStringInfoChar(&buf, '\a'); break;
			case 'b': appendStringInfoChar(&buf, '\b'); break;
			case 'f': appendStringInfoChar(&buf, '\f'); break;
			case 'n': appendStringInfoChar(&buf, '\n'); break;
			case 'r': appendStringInfoChar(&buf, '\r'); break;
			case 't': appendStringInfoChar(&buf, '\t'); break;
			case 'v': appendStringInfoChar(&buf, '\v'); break;
			case '\\': appendStringInfoChar(&buf, '\\'); break;
			case '\'':
			case '"':
				if (c != q)
				{
					ps->p -= 2;
					parse_error(ps, "unknown escape sequence");
				}
				appendStringInfoChar(&buf, c);
				break;
			case 'x':
			case 'u':
			case 'U':
				{
					int			nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
					uint32		cp = 0;

					for (int i = 0; i < nd; i++)
					{
						int			h = mimir_hex_digit(ps->p[i]);

						if (h < 0)
						{
							ps->p -= 2;
							parse_error(ps, "invalid escape sequence");
						}
						cp = cp * 16 + h;
					}
					ps->p += nd;
					if (c == 'x')
						appendStringInfoChar(&buf, (char) cp);
					else
					{
						unsigned char u[8];

						if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
						{
							ps->p -= nd + 2;
							parse_error(ps, "escape sequence is an invalid Unicode code point");
						}
						unicode_to_utf8(cp, u);
						appendBinaryStringInfo(&buf, (char *) u, pg_utf_mblen(u));
					}
					break;
				}
			default:
				if (c >= '0' && c <= '7')
				{
					int			v = c - '0';

					for (int i = 0; i < 2; i++)
					{
						if (ps->p[i] < '0' || ps->p[i] > '7')
						{
							ps->p -= 2;
							parse_error(ps, "invalid octal escape sequence");
						}
						v = v * 8 + (ps->p[i] - '0');
					}
					ps->p += 2;
					if (v > 255)
					{
						ps->p -= 4;
						parse_error(ps, "octal escape value > 255");
					}
					appendStringInfoChar(&buf, (char) v);
					break;
				}
				ps->p -= 2;
				parse_error(ps, "unknown escape sequence");
		}
	}
	if (!pg_verify_mbstr(PG_UTF8, buf.data, buf.len, true) || memchr(buf.data, '\0', buf.len))
	{
		ps->p = start;
		parse_error(ps, "quoted string is not valid UTF-8 (or contains NUL)");
	}
	return buf.data;
}

void
mimir_check_utf8(const char *what, const char *s, int len)
{
	if (!pg_verify_mbstr(PG_UTF8, s, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s contains invalid UTF-8", what)));
	if (memchr(s, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("%s contains a NUL character", what)));
}

typedef struct RawMatcher
{
	MimirMatchOp op;
	char	   *name;
	char	   *value;
	const char *at;				/* where it started, for messages */
} RawMatcher;

/*
 * Parse `name{...}` or `{...}`. Returns a List of RawMatcher with the metric
 * name (if any) first as __name__ = name.
 */
static List *
parse_notation(Parser *ps)
{
	List	   *res = NIL;

	skip_ws(ps);
	if (is_name_start(*ps->p, true))
	{
		RawMatcher *m = palloc0(sizeof(RawMatcher));

		m->at = ps->p;
		m->op = MATCH_EQ;
		m->name = pstrdup("__name__");
		m->value = scan_ident(ps, true);
		res = lappend(res, m);
		skip_ws(ps);
	}
	if (*ps->p == '{')
	{
		ps->p++;
		for (;;)
		{
			RawMatcher *m;

			skip_ws(ps);
			if (*ps->p == '}')
				break;
			m = palloc0(sizeof(RawMatcher));
			m->at = ps->p;
			if (*ps->p == '"' || *ps->p == '\'' || *ps->p == '`')
				m->name = parse_string(ps);
			else if (is_name_start(*ps->p, false))
				m->name = scan_ident(ps, false);
			else
				parse_error(ps, "expected a label name");
			skip_ws(ps);
			if (*ps->p == ',' || *ps->p == '}')
			{
				/* a lone quoted string is the metric name (Prometheus 3) */
				if (*m->at != '"' && *m->at != '\'' && *m->at != '`')
				{
					ps->p = m->at;
					parse_error(ps, "expected a matcher after the label name");
				}
				m->value = m->name;
				m->name = pstrdup("__name__");
				m->op = MATCH_EQ;
			}
			else
			{
				if (ps->p[0] == '=' && ps->p[1] == '~')
					m->op = MATCH_RE, ps->p += 2;
				else if (ps->p[0] == '!' && ps->p[1] == '~')
					m->op = MATCH_NRE, ps->p += 2;
				else if (ps->p[0] == '!' && ps->p[1] == '=')
					m->op = MATCH_NEQ, ps->p += 2;
				else if (ps->p[0] == '=')
					m->op = MATCH_EQ, ps->p += 1;
				else
					parse_error(ps, "expected one of =, !=, =~, !~");
				skip_ws(ps);
				m->value = parse_string(ps);
			}
			if (m->name[0] == '\0')
			{
				ps->p = m->at;
				parse_error(ps, "empty label name");
			}
			res = lappend(res, m);
			skip_ws(ps);
			if (*ps->p == ',')
			{
				ps->p++;
				continue;
			}
			if (*ps->p != '}')
				parse_error(ps, "expected \",\" or \"}\"");
			break;
		}
		ps->p++;
		skip_ws(ps);
	}
	if (*ps->p != '\0')
		parse_error(ps, "unexpected characters");
	if (res == NIL && ps->p > ps->input && ps->p[-1] == '}')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\": vector selector must contain at least one non-empty matcher",
						ps->what, ps->input)));
	if (res == NIL)
		parse_error(ps, "expected a metric name or {");
	return res;
}

int
mimir_label_cmp(const void *a, const void *b)
{
	return strcmp(((const MimirLabel *) a)->name, ((const MimirLabel *) b)->name);
}

void
mimir_parse_series(const char *text, MimirLabelSet *out)
{
	Parser		ps = {text, text, "series"};
	List	   *raw = parse_notation(&ps);
	ListCell   *lc;
	int			n = 0;
	bool		has_name = false;

	out->labels = palloc(sizeof(MimirLabel) * list_length(raw));
	foreach(lc, raw)
	{
		RawMatcher *m = lfirst(lc);

		if (m->op != MATCH_EQ)
		{
			ps.p = m->at;
			parse_error(&ps, "a series can only have = labels");
		}
		if (strcmp(m->name, "__name__") == 0)
		{
			if (m->value[0] == '\0')
			{
				ps.p = m->at;
				parse_error(&ps, "empty metric name");
			}
			has_name = true;
		}
		/* Prometheus treats an empty label value as an absent label */
		if (m->value[0] == '\0')
			continue;
		out->labels[n].name = m->name;
		out->labels[n].value = m->value;
		n++;
	}
	if (!has_name)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid series \"%s\": metric name is missing", text),
				 errhint("Give the name before the braces, as in up{job=\"a\"}, or as __name__=\"up\".")));
	out->n = n;
	qsort(out->labels, n, sizeof(MimirLabel), mimir_label_cmp);
	for (int i = 1; i < n; i++)
		if (strcmp(out->labels[i - 1].name, out->labels[i].name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid series \"%s\": duplicate label name \"%s\"",
							text, out->labels[i].name)));
}

const char *
mimir_match_op_str(MimirMatchOp op)
{
	switch (op)
	{
		case MATCH_EQ: return "=";
		case MATCH_NEQ: return "!=";
		case MATCH_RE: return "=~";
		case MATCH_NRE: return "!~";
	}
	return "?";
}

/*
 * Prometheus anchors regexes as ^(?s:re)$. They are RE2 syntax; re2_regex.c
 * rewrites what PostgreSQL's engine lacks (flags inside the pattern, \b ...)
 * into ARE, where . spans newlines by default. With group_names (may be
 * NULL), the capture groups' names in group order ("" when unnamed): the
 * anchoring adds no capturing group. Everything in the engine that takes a
 * regex (matchers, label_replace) goes through here, so RE2 syntax means
 * the same everywhere.
 */
char *
mimir_re2_anchored(const char *re, List **group_names)
{
	StringInfoData buf;
	char	   *are = group_names ? mimir_re2_to_are_groups(re, group_names) : mimir_re2_to_are(re);

	initStringInfo(&buf);
	appendStringInfo(&buf, "^(?:%s)$", are);
	return buf.data;
}

static text *
anchor_regex(const char *re)
{
	return cstring_to_text(mimir_re2_anchored(re, NULL));
}

MimirMatcher *
mimir_make_matcher(MimirMatchOp op, const char *name, const char *value)
{
	MimirMatcher *m = palloc0(sizeof(MimirMatcher));

	m->op = op;
	m->name = pstrdup(name);
	m->value = pstrdup(value);
	if (op == MATCH_RE || op == MATCH_NRE)
	{
		regex_t		re;
		pg_wchar   *w;
		int			wlen;
		int			rc;

		m->anchored = anchor_regex(value);
		w = palloc((VARSIZE_ANY_EXHDR(m->anchored) + 1) * sizeof(pg_wchar));
		wlen = pg_mb2wchar_with_len(VARDATA_ANY(m->anchored), w,
									VARSIZE_ANY_EXHDR(m->anchored));
		rc = pg_regcomp(&re, w, wlen, REG_ADVANCED, C_COLLATION_OID);
		if (rc != REG_OKAY)
		{
			char		msg[256];

			pg_regerror(rc, &re, msg, sizeof(msg));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
					 errmsg("invalid regular expression in matcher %s%s\"%s\": %s",
							name, mimir_match_op_str(op), value, msg)));
		}
		pg_regfree(&re);
		pfree(w);
	}
	return m;
}

bool
mimir_matcher_matches(MimirMatcher *m, const char *value)
{
	switch (m->op)
	{
		case MATCH_EQ:
			return strcmp(value, m->value) == 0;
		case MATCH_NEQ:
			return strcmp(value, m->value) != 0;
		case MATCH_RE:
		case MATCH_NRE:
			{
				bool		r = RE_compile_and_execute(m->anchored, (char *) value,
													   strlen(value), REG_ADVANCED,
													   C_COLLATION_OID, 0, NULL);

				return m->op == MATCH_RE ? r : !r;
			}
	}
	return false;
}

bool
mimir_matcher_matches_empty(MimirMatcher *m)
{
	return mimir_matcher_matches(m, "");
}

List *
mimir_parse_selector(const char *text)
{
	Parser		ps = {text, text, "selector"};
	List	   *raw = parse_notation(&ps);
	List	   *res = NIL;
	ListCell   *lc;
	bool		nonempty = false;

	foreach(lc, raw)
	{
		RawMatcher *r = lfirst(lc);
		MimirMatcher *m = mimir_make_matcher(r->op, r->name, r->value);

		if (!mimir_matcher_matches_empty(m))
			nonempty = true;
		res = lappend(res, m);
	}
	if (!nonempty)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid selector \"%s\": vector selector must contain at least one non-empty matcher", text),
				 errhint("Add a metric name or a matcher such as job=\"api\" that does not match the empty string.")));
	return res;
}

/* Prometheus notation of a label set: name{a="b", ...} */
char *
mimir_labelset_to_text(const MimirLabelSet *ls)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	for (int i = 0; i < ls->n; i++)
		if (strcmp(ls->labels[i].name, "__name__") == 0)
			appendStringInfoString(&buf, ls->labels[i].value);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (strcmp(ls->labels[i].name, "__name__") == 0)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		appendStringInfo(&buf, "%s=\"", ls->labels[i].name);
		for (const char *c = ls->labels[i].value; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				appendStringInfoChar(&buf, '\\');
			if (*c == '\n')
				appendStringInfoString(&buf, "\\n");
			else
				appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}
