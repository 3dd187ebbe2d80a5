/*
 * gotmpl_parse.c — lexer and parser of Go's text/template language (the
 * subset Prometheus alert templates use: actions, pipelines, variables,
 * if/else/range/with, define/template/block, break/continue, comments and
 * trim markers). Error messages follow text/template/parse so that template
 * errors read the same as in Prometheus.
 */
#include "ruler/gotmpl_int.h"

#include "mb/pg_wchar.h"
#include "utils/memutils.h"

typedef enum TokKind
{
	T_ERROR,
	T_EOF,
	T_TEXT,
	T_LDELIM,
	T_RDELIM,
	T_SPACE,
	T_IDENT,
	T_FIELD,
	T_VARIABLE,
	T_DOT,
	T_NUMBER,
	T_STRING,
	T_RAWSTRING,
	T_CHARCONST,
	T_BOOL,
	T_NIL,
	T_PIPE,
	T_DECLARE,
	T_ASSIGN,
	T_LPAREN,
	T_RPAREN,
	T_CHAR,
	/* keywords */
	T_IF,
	T_ELSE,
	T_END,
	T_RANGE,
	T_WITH,
	T_DEFINE,
	T_TEMPLATE,
	T_BLOCK,
	T_BREAK,
	T_CONTINUE
} TokKind;

typedef struct Tok
{
	TokKind		k;
	int			pos;
	int			line;
	char	   *val;
} Tok;

typedef struct Parser
{
	const char *name;
	const char *text;
	int			len;
	/* lexer */
	Tok		   *toks;
	int			ntoks,
				captoks;
	/* parser */
	int			cur;
	List	   *vars;			/* char * */
	int			range_depth;
	List	   *defines;
	jmp_buf    *fail_jmp;
	jmp_buf		lex_jmp;
	char	   *err;
} Parser;

static void emit(Parser *p, int k, int start, int end);
static int	line_at(Parser *p, int pos);

static void pg_attribute_noreturn() pg_attribute_printf(3, 4)
perr(Parser *p, int line, const char *fmt,...)
{
	va_list		ap;
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "template: %s:%d: ", p->name, line);
	for (;;)
	{
		int			need;

		va_start(ap, fmt);
		need = appendStringInfoVA(&b, fmt, ap);
		va_end(ap);
		if (need == 0)
			break;
		enlargeStringInfo(&b, need);
	}
	p->err = b.data;
	longjmp(*p->fail_jmp, 1);
}

/* ---------------------------------------------------------------------
 * lexer
 * --------------------------------------------------------------------- */

/*
 * A lexing error becomes an error token: Go's lexer runs ahead of the parser
 * only as far as the parser reads, so a parse error before it wins.
 */
static void pg_attribute_noreturn() pg_attribute_printf(3, 4)
lexerr(Parser *p, int pos, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	emit(p, T_ERROR, pos, pos);
	p->toks[p->ntoks - 1].val = pstrdup(buf);
	longjmp(p->lex_jmp, 1);
}

static int
line_at(Parser *p, int pos)
{
	int			line = 1;

	for (int i = 0; i < pos && i < p->len; i++)
		if (p->text[i] == '\n')
			line++;
	return line;
}

static void
emit(Parser *p, int k, int start, int end)
{
	Tok		   *t;

	if (p->ntoks == p->captoks)
	{
		p->captoks = Max(64, p->captoks * 2);
		p->toks = p->toks ? repalloc(p->toks, sizeof(Tok) * p->captoks) : palloc(sizeof(Tok) * p->captoks);
	}
	t = &p->toks[p->ntoks++];
	t->k = (TokKind) k;
	t->pos = start;
	t->line = line_at(p, start);
	t->val = pnstrdup(p->text + start, end - start);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_alnum(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		(unsigned char) c >= 0x80;
}

/* right delimiter, possibly with a trim marker, at i? returns its length */
static int
right_delim_at(Parser *p, int i, bool *trim)
{
	*trim = false;
	if (i + 3 <= p->len && p->text[i] == '-' && p->text[i + 1] == '}' && p->text[i + 2] == '}' &&
		i > 0 && is_space(p->text[i - 1]))
	{
		*trim = true;
		return 3;
	}
	if (i + 2 <= p->len && p->text[i] == '}' && p->text[i + 1] == '}')
		return 2;
	return 0;
}

static const struct
{
	const char *word;
	TokKind		k;
}			keywords[] = {
	{"if", T_IF}, {"else", T_ELSE}, {"end", T_END}, {"range", T_RANGE}, {"with", T_WITH},
	{"define", T_DEFINE}, {"template", T_TEMPLATE}, {"block", T_BLOCK}, {"break", T_BREAK},
	{"continue", T_CONTINUE}, {"nil", T_NIL}, {"true", T_BOOL}, {"false", T_BOOL},
};

static void
lex(Parser *p)
{
	int			i = 0;
	bool		trim_next = false;

	if (setjmp(p->lex_jmp) != 0)
	{
		emit(p, T_EOF, p->len, p->len);
		return;
	}
	while (i < p->len)
	{
		/* text up to the next "{{" */
		const char *d = strstr(p->text + i, "{{");
		int			start = i,
					end = d ? (int) (d - p->text) : p->len;
		int			tend = end;
		bool		ltrim;
		int			paren = 0;

		if (trim_next)
			while (start < end && is_space(p->text[start]))
				start++;
		trim_next = false;
		ltrim = d && end + 3 < p->len && p->text[end + 2] == '-' && is_space(p->text[end + 3]);
		if (ltrim)
			while (tend > start && is_space(p->text[tend - 1]))
				tend--;
		if (tend > start)
			emit(p, T_TEXT, start, tend);
		if (!d)
			break;
		i = end + 2 + (ltrim ? 1 : 0);
		/* comment */
		{
			int			j = i;

			while (ltrim && j < p->len && is_space(p->text[j]))
				j++;
			if (j + 1 < p->len && p->text[j] == '/' && p->text[j + 1] == '*')
			{
				const char *ce = strstr(p->text + j + 2, "*/");
				int			k;
				bool		rtrim;

				if (!ce)
					lexerr(p, end, "unclosed comment");
				k = (int) (ce - p->text) + 2;
				if (k < p->len && is_space(p->text[k]))
				{
					int			m = k;

					while (m < p->len && is_space(p->text[m]))
						m++;
					if (right_delim_at(p, m, &rtrim) == 3)
						k = m;
				}
				if (right_delim_at(p, k, &rtrim) == 0)
					lexerr(p, end, "comment ends before closing delimiter");
				i = k + (rtrim ? 3 : 2);
				trim_next = rtrim;
				continue;
			}
		}
		emit(p, T_LDELIM, end, end + 2);
		/* inside the action */
		for (;;)
		{
			bool		rtrim;
			int			dl;
			char		c;

			if (i >= p->len)
				lexerr(p, end, "unclosed action");
			dl = right_delim_at(p, i, &rtrim);
			if (dl && paren == 0)
			{
				emit(p, T_RDELIM, i, i + dl);
				i += dl;
				trim_next = rtrim;
				break;
			}
			c = p->text[i];
			if (is_space(c))
			{
				int			s = i;

				while (i < p->len && is_space(p->text[i]) && !right_delim_at(p, i, &rtrim))
					i++;
				/* the space before " -}}" belongs to the delimiter check */
				emit(p, T_SPACE, s, i);
				continue;
			}
			if (dl && paren > 0)
				lexerr(p, i, "unclosed left paren");
			if (c == '=')
			{
				emit(p, T_ASSIGN, i, i + 1);
				i++;
			}
			else if (c == ':')
			{
				if (i + 1 >= p->len || p->text[i + 1] != '=')
					lexerr(p, i, "expected :=");
				emit(p, T_DECLARE, i, i + 2);
				i += 2;
			}
			else if (c == '|')
			{
				emit(p, T_PIPE, i, i + 1);
				i++;
			}
			else if (c == '"')
			{
				int			s = i++;

				for (;;)
				{
					if (i >= p->len || p->text[i] == '\n')
						lexerr(p, s, "unterminated quoted string");
					if (p->text[i] == '\\')
						i += 2;
					else if (p->text[i++] == '"')
						break;
				}
				emit(p, T_STRING, s, i);
			}
			else if (c == '`')
			{
				const char *q = strchr(p->text + i + 1, '`');
				int			s = i;

				if (!q)
					lexerr(p, s, "unterminated raw quoted string");
				i = (int) (q - p->text) + 1;
				emit(p, T_RAWSTRING, s, i);
			}
			else if (c == '\'')
			{
				int			s = i++;

				for (;;)
				{
					if (i >= p->len || p->text[i] == '\n')
						lexerr(p, s, "unterminated character constant");
					if (p->text[i] == '\\')
						i += 2;
					else if (p->text[i++] == '\'')
						break;
				}
				emit(p, T_CHARCONST, s, i);
			}
			else if (c == '$')
			{
				int			s = i++;

				while (i < p->len && is_alnum(p->text[i]))
					i++;
				emit(p, T_VARIABLE, s, i);
			}
			else if (c == '.' && !(i + 1 < p->len && p->text[i + 1] >= '0' && p->text[i + 1] <= '9'))
			{
				int			s = i++;

				if (i < p->len && is_alnum(p->text[i]))
				{
					while (i < p->len && is_alnum(p->text[i]))
						i++;
					emit(p, T_FIELD, s, i);
				}
				else
					emit(p, T_DOT, s, i);
			}
			else if (c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'))
			{
				int			s = i++;

				while (i < p->len && (is_alnum(p->text[i]) || p->text[i] == '.' ||
									  ((p->text[i] == '+' || p->text[i] == '-') &&
									   (p->text[i - 1] == 'e' || p->text[i - 1] == 'E' ||
										p->text[i - 1] == 'p' || p->text[i - 1] == 'P'))))
					i++;
				if (i < p->len && !is_space(p->text[i]) && !strchr(".,|:)(}=-", p->text[i]))
					lexerr(p, s, "bad number syntax: \"%.*s\"", i - s + 1, p->text + s);
				emit(p, T_NUMBER, s, i);
			}
			else if (is_alnum(c))
			{
				int			s = i;
				TokKind		k = T_IDENT;
				char	   *w;

				while (i < p->len && is_alnum(p->text[i]))
					i++;
				w = pnstrdup(p->text + s, i - s);
				for (int kw = 0; kw < lengthof(keywords); kw++)
					if (strcmp(w, keywords[kw].word) == 0)
						k = keywords[kw].k;
				if (i < p->len && !is_space(p->text[i]) && !strchr(".,|:)(", p->text[i]) &&
					!right_delim_at(p, i, &rtrim))
					lexerr(p, i, "bad character %s", gofmt_quote(pnstrdup(p->text + i, 1)));
				emit(p, k, s, i);
			}
			else if (c == '(')
			{
				emit(p, T_LPAREN, i, i + 1);
				paren++;
				i++;
			}
			else if (c == ')')
			{
				if (paren == 0)
					lexerr(p, i, "unexpected right paren");
				emit(p, T_RPAREN, i, i + 1);
				paren--;
				i++;
			}
			else if ((unsigned char) c >= 0x20 && (unsigned char) c < 0x7f)
			{
				emit(p, T_CHAR, i, i + 1);
				i++;
			}
			else
				lexerr(p, i, "unrecognized character in action: U+%04X", (unsigned char) c);
		}
	}
	emit(p, T_EOF, p->len, p->len);
}

/* ---------------------------------------------------------------------
 * parser
 * --------------------------------------------------------------------- */
static Tok *
next(Parser *p)
{
	Tok		   *t = &p->toks[p->cur];

	if (t->k != T_EOF)
		p->cur++;
	return t;
}

static Tok *
peek(Parser *p)
{
	return &p->toks[p->cur];
}

static Tok *
next_non_space(Parser *p)
{
	Tok		   *t;

	do
		t = next(p);
	while (t->k == T_SPACE);
	return t;
}

static Tok *
peek_non_space(Parser *p)
{
	int			save = p->cur;
	Tok		   *t = next_non_space(p);

	p->cur = save;
	return t;
}

static const char *
tok_desc(Tok *t)
{
	switch (t->k)
	{
		case T_EOF:
			return "EOF";
		case T_RDELIM:
			return "<}}>";
		case T_LDELIM:
			return "<{{>";
		case T_SPACE:
			return "space";
		case T_IF:
		case T_ELSE:
		case T_END:
		case T_RANGE:
		case T_WITH:
		case T_DEFINE:
		case T_TEMPLATE:
		case T_BLOCK:
		case T_BREAK:
		case T_CONTINUE:
			return psprintf("<%s>", t->val);
		default:
			return gofmt_quote(t->val);
	}
}

static void pg_attribute_noreturn()
unexpected(Parser *p, Tok *t, const char *context)
{
	if (t->k == T_ERROR)
		perr(p, t->line, "%s", t->val);
	perr(p, t->line, "unexpected %s in %s", tok_desc(t), context);
}

static GtNode *
new_node(GtNodeKind k, Tok *t)
{
	GtNode	   *n = palloc0(sizeof(GtNode));

	n->kind = k;
	n->pos = t ? t->pos : 0;
	n->line = t ? t->line : 1;
	n->src = t ? t->val : "";
	return n;
}

static GtNode *parse_pipeline(Parser *p, const char *context, TokKind end);
static GtNode *item_list(Parser *p, GtNode **endnode);

static bool
var_defined(Parser *p, const char *name)
{
	ListCell   *lc;

	foreach(lc, p->vars)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

static void
pop_vars(Parser *p, int n)
{
	while (list_length(p->vars) > n)
		p->vars = list_delete_last(p->vars);
}

/* Go string literal unquoting (the escapes templates use) */
static char *
unquote(Parser *p, Tok *t)
{
	StringInfoData b;
	const char *s = t->val;
	int			n = strlen(s);

	if (t->k == T_RAWSTRING)
		return pnstrdup(s + 1, n - 2);
	initStringInfo(&b);
	for (int i = 1; i < n - 1; i++)
	{
		char		c = s[i];

		if (c != '\\')
		{
			appendStringInfoChar(&b, c);
			continue;
		}
		c = s[++i];
		switch (c)
		{
			case 'n':
				appendStringInfoChar(&b, '\n');
				break;
			case 't':
				appendStringInfoChar(&b, '\t');
				break;
			case 'r':
				appendStringInfoChar(&b, '\r');
				break;
			case 'a':
				appendStringInfoChar(&b, '\a');
				break;
			case 'b':
				appendStringInfoChar(&b, '\b');
				break;
			case 'f':
				appendStringInfoChar(&b, '\f');
				break;
			case 'v':
				appendStringInfoChar(&b, '\v');
				break;
			case '\\':
			case '"':
			case '\'':
				appendStringInfoChar(&b, c);
				break;
			case 'x':
				{
					char		hex[3] = {s[i + 1], s[i + 2], 0};

					if (!isxdigit((unsigned char) hex[0]) || !isxdigit((unsigned char) hex[1]))
						perr(p, t->line, "invalid syntax");
					appendStringInfoChar(&b, (char) strtol(hex, NULL, 16));
					i += 2;
					break;
				}
			case 'u':
			case 'U':
				{
					int			len = c == 'u' ? 4 : 8;
					char		hex[9];
					pg_wchar	cp;
					unsigned char utf[8];

					if (i + len >= n)
						perr(p, t->line, "invalid syntax");
					memcpy(hex, s + i + 1, len);
					hex[len] = 0;
					cp = (pg_wchar) strtoul(hex, NULL, 16);
					unicode_to_utf8(cp, utf);
					appendBinaryStringInfo(&b, (char *) utf, pg_utf_mblen(utf));
					i += len;
					break;
				}
			default:
				perr(p, t->line, "invalid syntax");
		}
	}
	return b.data;
}

static GtNode *
parse_number(Parser *p, Tok *t)
{
	GtNode	   *n = new_node(GN_NUMBER, t);
	const char *s = t->val;
	char	   *end;

	if (t->k == T_CHARCONST)
	{
		char	   *u;
		Tok			fake = *t;

		fake.k = T_STRING;
		u = unquote(p, &fake);
		n->is_int = true;
		n->ival = (unsigned char) u[0];
		if ((unsigned char) u[0] >= 0x80)
		{
			pg_wchar	w = utf8_to_unicode((unsigned char *) u);

			n->ival = w;
		}
		n->fval = (double) n->ival;
		return n;
	}
	errno = 0;
	{
		char	   *clean = palloc(strlen(s) + 1);
		int			j = 0;
		int64		iv;

		for (const char *c = s; *c; c++)
			if (*c != '_')
				clean[j++] = *c;
		clean[j] = 0;
		iv = strtoll(clean, &end, 0);
		/* Go's 0-prefixed ints are octal too; 0o / 0b need their own handling */
		if (*end == '\0' && errno == 0)
		{
			n->is_int = true;
			n->ival = iv;
			n->fval = (double) iv;
			return n;
		}
		if ((clean[0] == '0' && (clean[1] == 'b' || clean[1] == 'B' || clean[1] == 'o' || clean[1] == 'O')))
		{
			iv = strtoll(clean + 2, &end, (clean[1] == 'b' || clean[1] == 'B') ? 2 : 8);
			if (*end == '\0')
			{
				n->is_int = true;
				n->ival = iv;
				n->fval = (double) iv;
				return n;
			}
		}
		errno = 0;
		n->fval = strtod(clean, &end);
		if (*end != '\0' || clean[0] == '\0')
			perr(p, t->line, "illegal number syntax: %s", gofmt_quote(s));
		n->is_int = false;
		/* an integral float constant is also usable as an int (Go's IsInt) */
		return n;
	}
}

static GtNode *
term(Parser *p)
{
	int			save = p->cur;
	Tok		   *t = next_non_space(p);
	GtNode	   *n;

	switch (t->k)
	{
		case T_IDENT:
			if (gt_lookup_func(t->val) == NULL)
				perr(p, t->line, "function %s not defined", gofmt_quote(t->val));
			n = new_node(GN_IDENT, t);
			n->text = t->val;
			return n;
		case T_DOT:
			return new_node(GN_DOT, t);
		case T_NIL:
			return new_node(GN_NIL, t);
		case T_VARIABLE:
			if (!var_defined(p, t->val))
				perr(p, t->line, "undefined variable %s", gofmt_quote(t->val));
			n = new_node(GN_VARIABLE, t);
			n->var = t->val;
			return n;
		case T_FIELD:
			n = new_node(GN_FIELD, t);
			n->fields = list_make1(t->val + 1);
			return n;
		case T_BOOL:
			n = new_node(GN_BOOL, t);
			n->bval = strcmp(t->val, "true") == 0;
			return n;
		case T_NUMBER:
		case T_CHARCONST:
			return parse_number(p, t);
		case T_LPAREN:
			return parse_pipeline(p, "parenthesized pipeline", T_RPAREN);
		case T_STRING:
		case T_RAWSTRING:
			n = new_node(GN_STRING, t);
			n->text = unquote(p, t);
			return n;
		default:
			p->cur = save;
			return NULL;
	}
}

static GtNode *
operand(Parser *p)
{
	int			save = p->cur;
	GtNode	   *n = term(p);

	if (n == NULL)
	{
		p->cur = save;
		return NULL;
	}
	if (peek(p)->k == T_FIELD)
	{
		List	   *fields = NIL;

		while (peek(p)->k == T_FIELD)
			fields = lappend(fields, next(p)->val + 1);
		switch (n->kind)
		{
			case GN_FIELD:
				n->fields = list_concat(n->fields, fields);
				break;
			case GN_VARIABLE:
				n->fields = list_concat(n->fields, fields);
				break;
			case GN_BOOL:
			case GN_STRING:
			case GN_NUMBER:
			case GN_NIL:
			case GN_DOT:
				perr(p, n->line, "unexpected . after term %s", gofmt_quote(n->src));
				break;
			default:
				{
					GtNode	   *c = new_node(GN_CHAIN, NULL);

					c->pos = n->pos;
					c->line = n->line;
					c->node = n;
					c->fields = fields;
					n = c;
				}
		}
	}
	return n;
}

static GtNode *
command(Parser *p)
{
	GtNode	   *cmd = new_node(GN_COMMAND, peek_non_space(p));

	for (;;)
	{
		GtNode	   *o;
		Tok		   *t;

		(void) peek_non_space(p);
		o = operand(p);
		if (o)
			cmd->items = lappend(cmd->items, o);
		t = next(p);
		switch (t->k)
		{
			case T_SPACE:
				continue;
			case T_RDELIM:
			case T_RPAREN:
				p->cur--;
				break;
			case T_PIPE:
				break;
			default:
				unexpected(p, t, "operand");
		}
		break;
	}
	if (cmd->items == NIL)
		perr(p, cmd->line, "empty command");
	return cmd;
}

static GtNode *
parse_pipeline(Parser *p, const char *context, TokKind end)
{
	GtNode	   *pipe = new_node(GN_PIPE, peek_non_space(p));
	Tok		   *v;

	v = peek_non_space(p);
	if (v->k == T_VARIABLE)
	{
		int			save = p->cur;
		Tok		   *after;

decls:
		v = next_non_space(p);
		after = peek_non_space(p);
		if (after->k == T_ASSIGN || after->k == T_DECLARE)
		{
			pipe->is_assign = after->k == T_ASSIGN;
			next_non_space(p);
			pipe->decl = lappend(pipe->decl, v->val);
			if (after->k == T_ASSIGN)
			{
				if (!var_defined(p, v->val))
					perr(p, v->line, "undefined variable %s", gofmt_quote(v->val));
			}
			else
				p->vars = lappend(p->vars, v->val);
		}
		else if (after->k == T_CHAR && strcmp(after->val, ",") == 0)
		{
			next_non_space(p);
			pipe->decl = lappend(pipe->decl, v->val);
			p->vars = lappend(p->vars, v->val);
			if (strcmp(context, "range") == 0 && list_length(pipe->decl) < 2)
			{
				Tok		   *t2 = peek_non_space(p);

				if (t2->k == T_VARIABLE || t2->k == T_RDELIM || t2->k == T_RPAREN)
					goto decls;
				perr(p, t2->line, "range can only initialize variables");
			}
			perr(p, v->line, "too many declarations in %s", context);
		}
		else
			p->cur = save;
	}
	for (;;)
	{
		Tok		   *t = next_non_space(p);

		if (t->k == end)
		{
			ListCell   *lc;

			if (pipe->items == NIL)
				perr(p, t->line, "missing value for %s", context);
			foreach(lc, pipe->items)
			{
				GtNode	   *c = lfirst(lc);
				GtNode	   *first = linitial(c->items);

				if (foreach_current_index(lc) == 0)
					continue;
				if (first->kind == GN_BOOL || first->kind == GN_DOT || first->kind == GN_NIL ||
					first->kind == GN_NUMBER || first->kind == GN_STRING)
					perr(p, first->line, "non executable command in pipeline stage %d",
						 foreach_current_index(lc) + 1);
			}
			return pipe;
		}
		switch (t->k)
		{
			case T_BOOL:
			case T_CHARCONST:
			case T_DOT:
			case T_FIELD:
			case T_IDENT:
			case T_NIL:
			case T_NUMBER:
			case T_LPAREN:
			case T_STRING:
			case T_RAWSTRING:
			case T_VARIABLE:
				p->cur = (int) (t - p->toks);
				pipe->items = lappend(pipe->items, command(p));
				break;
			default:
				unexpected(p, t, context);
		}
	}
}

static void
expect_rdelim(Parser *p, const char *context)
{
	Tok		   *t = next_non_space(p);

	if (t->k != T_RDELIM)
		unexpected(p, t, context);
}

static GtNode *
parse_control(Parser *p, GtNodeKind kind, const char *context, Tok *start)
{
	GtNode	   *n = new_node(kind, start);
	GtNode	   *endnode;
	int			nvars = list_length(p->vars);

	n->node = parse_pipeline(p, context, T_RDELIM);
	if (kind == GN_RANGE)
		p->range_depth++;
	n->list = item_list(p, &endnode);
	if (kind == GN_RANGE)
		p->range_depth--;
	if (endnode->kind == GN_TEXT && strcmp(endnode->text, "else") == 0)
	{
		Tok		   *t = peek_non_space(p);

		if ((kind == GN_IF && t->k == T_IF) || (kind == GN_WITH && t->k == T_WITH))
		{
			/* {{else if}} / {{else with}}: a nested control that takes our {{end}} */
			GtNode	   *inner;

			next_non_space(p);
			inner = parse_control(p, kind, context, t);
			n->elselist = new_node(GN_LIST, t);
			n->elselist->items = list_make1(inner);
		}
		else
		{
			expect_rdelim(p, "else");
			n->elselist = item_list(p, &endnode);
			if (!(endnode->kind == GN_TEXT && strcmp(endnode->text, "end") == 0))
				perr(p, endnode->line, "expected end; found {{else}}");
		}
	}
	pop_vars(p, nvars);
	return n;
}

/* one {{...}} action or text; *endnode set for {{end}} / {{else}} */
static GtNode *
text_or_action(Parser *p, GtNode **endnode)
{
	Tok		   *t = next_non_space(p);
	GtNode	   *n;

	*endnode = NULL;
	if (t->k == T_TEXT)
	{
		n = new_node(GN_TEXT, t);
		n->text = t->val;
		return n;
	}
	if (t->k != T_LDELIM)
		unexpected(p, t, "input");
	t = peek_non_space(p);
	switch (t->k)
	{
		case T_BLOCK:
			{
				Tok		   *nt;
				GtNode	   *tn;
				GtDefine   *d;
				GtNode	   *endn;
				List	   *outer = p->vars;

				next_non_space(p);
				nt = next_non_space(p);
				if (nt->k != T_STRING && nt->k != T_RAWSTRING)
					unexpected(p, nt, "block clause");
				tn = new_node(GN_TEMPLATE, t);
				tn->text = unquote(p, nt);
				tn->node = parse_pipeline(p, "block clause", T_RDELIM);
				d = palloc0(sizeof(GtDefine));
				d->name = tn->text;
				p->vars = list_make1("$");
				d->root = item_list(p, &endn);
				if (!(endn->kind == GN_TEXT && strcmp(endn->text, "end") == 0))
					perr(p, endn->line, "unexpected {{else}} in block clause");
				p->vars = outer;
				p->defines = lappend(p->defines, d);
				return tn;
			}
		case T_BREAK:
		case T_CONTINUE:
			next_non_space(p);
			if (p->range_depth == 0)
				perr(p, t->line, "{{%s}} outside {{range}}", t->val);
			expect_rdelim(p, t->val);
			return new_node(t->k == T_BREAK ? GN_BREAK : GN_CONTINUE, t);
		case T_ELSE:
		case T_END:
			next_non_space(p);
			n = new_node(GN_TEXT, t);
			n->text = t->k == T_ELSE ? "else" : "end";
			if (t->k == T_END)
				expect_rdelim(p, "end");
			*endnode = n;
			return NULL;
		case T_IF:
			next_non_space(p);
			return parse_control(p, GN_IF, "if", t);
		case T_RANGE:
			next_non_space(p);
			return parse_control(p, GN_RANGE, "range", t);
		case T_WITH:
			next_non_space(p);
			return parse_control(p, GN_WITH, "with", t);
		case T_TEMPLATE:
			{
				Tok		   *nt;

				next_non_space(p);
				nt = next_non_space(p);
				if (nt->k != T_STRING && nt->k != T_RAWSTRING)
					unexpected(p, nt, "template clause");
				n = new_node(GN_TEMPLATE, t);
				n->text = unquote(p, nt);
				if (peek_non_space(p)->k != T_RDELIM)
					n->node = parse_pipeline(p, "template clause", T_RDELIM);
				else
					next_non_space(p);
				return n;
			}
		case T_DEFINE:
			perr(p, t->line, "unexpected <define> in command");
		default:
			n = new_node(GN_ACTION, t);
			n->node = parse_pipeline(p, "command", T_RDELIM);
			return n;
	}
}

static GtNode *
item_list(Parser *p, GtNode **endnode)
{
	GtNode	   *list = new_node(GN_LIST, peek(p));

	while (peek_non_space(p)->k != T_EOF)
	{
		GtNode	   *n = text_or_action(p, endnode);

		if (*endnode)
			return list;
		list->items = lappend(list->items, n);
	}
	perr(p, peek(p)->line, "unexpected EOF");
}

static GtTemplate *
parse_top(Parser *p)
{
	GtTemplate *t = palloc0(sizeof(GtTemplate));
	GtNode	   *root = new_node(GN_LIST, NULL);

	p->vars = list_make1("$");
	while (peek(p)->k != T_EOF)
	{
		GtNode	   *endnode;
		GtNode	   *n;

		/* {{define "x"}} ... {{end}} at top level */
		if (peek(p)->k == T_LDELIM)
		{
			int			save = p->cur;
			Tok		   *kw;

			next(p);
			kw = peek_non_space(p);
			if (kw->k == T_DEFINE)
			{
				Tok		   *nt;
				GtDefine   *d = palloc0(sizeof(GtDefine));
				GtNode	   *endn;
				List	   *outer = p->vars;

				next_non_space(p);
				nt = next_non_space(p);
				if (nt->k != T_STRING && nt->k != T_RAWSTRING)
					unexpected(p, nt, "define clause");
				d->name = unquote(p, nt);
				expect_rdelim(p, "define clause");
				p->vars = list_make1("$");
				d->root = item_list(p, &endn);
				if (!(endn->kind == GN_TEXT && strcmp(endn->text, "end") == 0))
					perr(p, endn->line, "unexpected {{else}} in define clause");
				p->vars = outer;
				p->defines = lappend(p->defines, d);
				continue;
			}
			p->cur = save;
		}
		n = text_or_action(p, &endnode);
		if (endnode)
			perr(p, endnode->line, "unexpected {{%s}}", endnode->text);
		root->items = lappend(root->items, n);
	}
	t->root = root;
	t->defines = p->defines;
	return t;
}

GtTemplate *
gt_parse(const char *name, const char *text, char **err)
{
	Parser		p;
	jmp_buf		jb;
	GtTemplate *t;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.text = text;
	p.len = strlen(text);
	p.fail_jmp = &jb;
	*err = NULL;
	if (setjmp(jb) != 0)
	{
		*err = p.err;
		return NULL;
	}
	lex(&p);
	t = parse_top(&p);
	t->name = name;
	t->text = text;
	return t;
}

/* The node as text.Template's String() shows it, for error contexts. */
char *
gt_node_string(GtNode *n)
{
	StringInfoData b;
	ListCell   *lc;

	initStringInfo(&b);
	switch (n->kind)
	{
		case GN_COMMAND:
			foreach(lc, n->items)
			{
				GtNode	   *a = lfirst(lc);

				if (foreach_current_index(lc) > 0)
					appendStringInfoChar(&b, ' ');
				if (a->kind == GN_PIPE)
					appendStringInfo(&b, "(%s)", gt_node_string(a));
				else
					appendStringInfoString(&b, gt_node_string(a));
			}
			break;
		case GN_PIPE:
			if (n->decl)
			{
				foreach(lc, n->decl)
				{
					if (foreach_current_index(lc) > 0)
						appendStringInfoString(&b, ", ");
					appendStringInfoString(&b, lfirst(lc));
				}
				appendStringInfoString(&b, n->is_assign ? " = " : " := ");
			}
			foreach(lc, n->items)
			{
				if (foreach_current_index(lc) > 0)
					appendStringInfoString(&b, " | ");
				appendStringInfoString(&b, gt_node_string(lfirst(lc)));
			}
			break;
		case GN_FIELD:
			foreach(lc, n->fields)
				appendStringInfo(&b, ".%s", (char *) lfirst(lc));
			break;
		case GN_VARIABLE:
			appendStringInfoString(&b, n->var);
			foreach(lc, n->fields)
				appendStringInfo(&b, ".%s", (char *) lfirst(lc));
			break;
		case GN_CHAIN:
			if (n->node->kind == GN_PIPE)
				appendStringInfo(&b, "(%s)", gt_node_string(n->node));
			else
				appendStringInfoString(&b, gt_node_string(n->node));
			foreach(lc, n->fields)
				appendStringInfo(&b, ".%s", (char *) lfirst(lc));
			break;
		case GN_DOT:
			appendStringInfoChar(&b, '.');
			break;
		case GN_IDENT:
			appendStringInfoString(&b, n->text);
			break;
		case GN_STRING:
		case GN_NUMBER:
		case GN_BOOL:
		case GN_NIL:
			appendStringInfoString(&b, n->src);
			break;
		case GN_ACTION:
			appendStringInfo(&b, "{{%s}}", gt_node_string(n->node));
			break;
		case GN_IF:
		case GN_RANGE:
		case GN_WITH:
			/* the start is what error contexts show (20 characters) */
			appendStringInfo(&b, "{{%s %s}}", n->kind == GN_IF ? "if" : n->kind == GN_RANGE ? "range" : "with",
							 gt_node_string(n->node));
			break;
		case GN_TEMPLATE:
			appendStringInfo(&b, "{{template %s", gofmt_quote(n->text));
			if (n->node)
				appendStringInfo(&b, " %s", gt_node_string(n->node));
			appendStringInfoString(&b, "}}");
			break;
		default:
			break;
	}
	return b.data;
}
