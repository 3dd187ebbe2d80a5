/*
 * promql_lex.c — the PromQL lexer. It scans one token at a time with the
 * same states as Prometheus' lexer (outside braces, inside braces, right
 * after '[' where only a number or duration may follow) so that what is a
 * token, where a lexer error is reported and how it is worded all match
 * Prometheus. Positions are byte offsets into the query.
 *
 * Also here: Go-compatible quoting and unquoting (strconv.Quote, Prometheus'
 * strutil.Unquote), which the parser and the printer share.
 */
#include "promql/promql_lex.h"

#include "lib/stringinfo.h"

#define EOFCH (-1)

typedef struct Keyword
{
	const char *word;
	PqTok		tok;
} Keyword;

/* Prometheus' key map (lower case); "inf" and "nan" lex as numbers. */
static const Keyword keywords[] = {
	{"and", T_LAND}, {"or", T_LOR}, {"unless", T_LUNLESS}, {"atan2", T_ATAN2},
	{"sum", T_SUM}, {"avg", T_AVG}, {"count", T_COUNT}, {"min", T_MIN},
	{"max", T_MAX}, {"group", T_GROUP}, {"stddev", T_STDDEV}, {"stdvar", T_STDVAR},
	{"topk", T_TOPK}, {"bottomk", T_BOTTOMK}, {"count_values", T_COUNT_VALUES},
	{"quantile", T_QUANTILE}, {"limitk", T_LIMITK}, {"limit_ratio", T_LIMIT_RATIO},
	{"offset", T_OFFSET}, {"by", T_BY}, {"without", T_WITHOUT}, {"on", T_ON},
	{"ignoring", T_IGNORING}, {"group_left", T_GROUP_LEFT},
	{"group_right", T_GROUP_RIGHT}, {"bool", T_BOOL},
	{"start", T_START}, {"end", T_END},
	{"inf", T_NUMBER}, {"nan", T_NUMBER},
};

/* ---------------------------------------------------------------------
 * UTF-8 and Go quoting
 * ---------------------------------------------------------------------
 */

int32
pq_decode_rune(const char *s, int len, int *width)
{
	const unsigned char *u = (const unsigned char *) s;
	int32		r;
	int			n;

	if (len <= 0)
	{
		*width = 0;
		return 0xFFFD;
	}
	if (u[0] < 0x80)
	{
		*width = 1;
		return u[0];
	}
	if (u[0] >= 0xC2 && u[0] <= 0xDF)
		n = 2, r = u[0] & 0x1F;
	else if (u[0] >= 0xE0 && u[0] <= 0xEF)
		n = 3, r = u[0] & 0x0F;
	else if (u[0] >= 0xF0 && u[0] <= 0xF4)
		n = 4, r = u[0] & 0x07;
	else
	{
		*width = 1;
		return 0xFFFD;
	}
	if (len < n)
	{
		*width = 1;
		return 0xFFFD;
	}
	for (int i = 1; i < n; i++)
	{
		if ((u[i] & 0xC0) != 0x80)
		{
			*width = 1;
			return 0xFFFD;
		}
		r = (r << 6) | (u[i] & 0x3F);
	}
	/* overlong forms, surrogates and values past U+10FFFF are invalid */
	if ((n == 3 && r < 0x800) || (n == 4 && (r < 0x10000 || r > 0x10FFFF)) ||
		(r >= 0xD800 && r <= 0xDFFF))
	{
		*width = 1;
		return 0xFFFD;
	}
	*width = n;
	return r;
}

static void
append_utf8(StringInfo buf, int32 r)
{
	if (r < 0x80)
		appendStringInfoChar(buf, (char) r);
	else if (r < 0x800)
	{
		appendStringInfoChar(buf, (char) (0xC0 | (r >> 6)));
		appendStringInfoChar(buf, (char) (0x80 | (r & 0x3F)));
	}
	else if (r < 0x10000)
	{
		appendStringInfoChar(buf, (char) (0xE0 | (r >> 12)));
		appendStringInfoChar(buf, (char) (0x80 | ((r >> 6) & 0x3F)));
		appendStringInfoChar(buf, (char) (0x80 | (r & 0x3F)));
	}
	else
	{
		appendStringInfoChar(buf, (char) (0xF0 | (r >> 18)));
		appendStringInfoChar(buf, (char) (0x80 | ((r >> 12) & 0x3F)));
		appendStringInfoChar(buf, (char) (0x80 | ((r >> 6) & 0x3F)));
		appendStringInfoChar(buf, (char) (0x80 | (r & 0x3F)));
	}
}

/*
 * Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
 * ASCII space. Without Unicode tables this knows the control, separator,
 * format and private-use ranges; unassigned code points count as printable.
 */
static bool
go_is_print(int32 r)
{
	static const int32 notprint[][2] = {
		{0x7F, 0xA0}, {0xAD, 0xAD}, {0x600, 0x605}, {0x61C, 0x61C},
		{0x6DD, 0x6DD}, {0x70F, 0x70F}, {0x890, 0x891}, {0x8E2, 0x8E2},
		{0x180E, 0x180E}, {0x1680, 0x1680}, {0x2000, 0x200F},
		{0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F},
		{0x3000, 0x3000}, {0xD800, 0xF8FF}, {0xFEFF, 0xFEFF},
		{0xFFF9, 0xFFFB}, {0xFFFE, 0xFFFF}, {0x110BD, 0x110BD},
		{0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3},
		{0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
		{0xF0000, 0x10FFFF},
	};

	if (r < 0x20)
		return false;
	if (r < 0x7F)
		return true;
	for (int i = 0; i < lengthof(notprint); i++)
		if (r >= notprint[i][0] && r <= notprint[i][1])
			return false;
	return r <= 0x10FFFF;
}

/* One rune of a Go-quoted literal (quote is '"' or '\''). */
static void
append_escaped_rune(StringInfo buf, int32 r, char quote)
{
	if (r == quote || r == '\\')
	{
		appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, (char) r);
		return;
	}
	if (go_is_print(r))
	{
		append_utf8(buf, r);
		return;
	}
	switch (r)
	{
		case '\a':
			appendStringInfoString(buf, "\\a");
			return;
		case '\b':
			appendStringInfoString(buf, "\\b");
			return;
		case '\f':
			appendStringInfoString(buf, "\\f");
			return;
		case '\n':
			appendStringInfoString(buf, "\\n");
			return;
		case '\r':
			appendStringInfoString(buf, "\\r");
			return;
		case '\t':
			appendStringInfoString(buf, "\\t");
			return;
		case '\v':
			appendStringInfoString(buf, "\\v");
			return;
	}
	if (r < ' ' || r == 0x7F)
		appendStringInfo(buf, "\\x%02x", r);
	else if (r < 0x10000)
		appendStringInfo(buf, "\\u%04x", r);
	else
		appendStringInfo(buf, "\\U%08x", r);
}

void
pq_append_go_quoted(StringInfo buf, const char *s, int len)
{
	int			i = 0;

	appendStringInfoChar(buf, '"');
	while (i < len)
	{
		int			w;
		int32		r = pq_decode_rune(s + i, len - i, &w);

		if (r == 0xFFFD && w == 1)
			appendStringInfo(buf, "\\x%02x", (unsigned char) s[i]);
		else
			append_escaped_rune(buf, r, '"');
		i += w;
	}
	appendStringInfoChar(buf, '"');
}

/* Go's %q of a NUL-terminated string, palloc'd (for messages Prometheus formats with %q) */
char *
mimir_go_quote(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	pq_append_go_quoted(&b, s, strlen(s));
	return b.data;
}

void
pq_append_go_quoted_rune(StringInfo buf, int32 r)
{
	if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
		r = 0xFFFD;
	appendStringInfoChar(buf, '\'');
	append_escaped_rune(buf, r, '\'');
	appendStringInfoChar(buf, '\'');
}

/* Go's %.Nq of a string: quote at most n runes. */
static void
append_go_quoted_prefix(StringInfo buf, const char *s, int len, int nrunes)
{
	int			i = 0;

	for (int k = 0; k < nrunes && i < len; k++)
	{
		int			w;

		pq_decode_rune(s + i, len - i, &w);
		i += w;
	}
	pq_append_go_quoted(buf, s, i);
}


/* a hex digit's value, 16 for anything else (never below a base) */
static inline int
hexval16(int c)
{
	int			d = c >= 0 && c <= 0x7F ? mimir_hex_digit((char) c) : -1;

	return d < 0 ? 16 : d;
}

char *
pq_unquote(const char *s, int slen, int *len)
{
	StringInfoData buf;
	char		q = s[0];
	const char *p = s + 1;
	const char *e = s + slen - 1;

	initStringInfo(&buf);
	if (q == '`')
	{
		/* raw strings: verbatim, except that carriage returns are dropped */
		for (; p < e; p++)
			if (*p != '\r')
				appendStringInfoChar(&buf, *p);
		*len = buf.len;
		return buf.data;
	}
	while (p < e)
	{
		int32		v = 0;
		int			n = 0,
					base = 16;
		bool		rune = false;

		if (*p != '\\')
		{
			appendStringInfoChar(&buf, *p++);
			continue;
		}
		p++;
		switch (*p)
		{
			case 'a':
				appendStringInfoChar(&buf, '\a');
				p++;
				continue;
			case 'b':
				appendStringInfoChar(&buf, '\b');
				p++;
				continue;
			case 'f':
				appendStringInfoChar(&buf, '\f');
				p++;
				continue;
			case 'n':
				appendStringInfoChar(&buf, '\n');
				p++;
				continue;
			case 'r':
				appendStringInfoChar(&buf, '\r');
				p++;
				continue;
			case 't':
				appendStringInfoChar(&buf, '\t');
				p++;
				continue;
			case 'v':
				appendStringInfoChar(&buf, '\v');
				p++;
				continue;
			case 'x':
				n = 2, p++;
				break;
			case 'u':
				n = 4, rune = true, p++;
				break;
			case 'U':
				n = 8, rune = true, p++;
				break;
			case '0':
			case '1':
			case '2':
			case '3':
			case '4':
			case '5':
			case '6':
			case '7':
				n = 3, base = 8;
				break;
			default:
				/* \\, \" or \' (the lexer allowed only valid escapes) */
				appendStringInfoChar(&buf, *p++);
				continue;
		}
		for (int i = 0; i < n && p < e; i++, p++)
			v = v * base + hexval16(*p);
		if (rune)
			append_utf8(&buf, v);
		else
			appendStringInfoChar(&buf, (char) v);
	}
	*len = buf.len;
	return buf.data;
}

/* ---------------------------------------------------------------------
 * The scanner
 * ---------------------------------------------------------------------
 */

void
pq_lex_init(PqLexer *l, const char *input)
{
	memset(l, 0, sizeof(*l));
	l->input = input;
	l->inputlen = strlen(input);
}

static int
peekc(PqLexer *l)
{
	return l->pos < l->inputlen ? (unsigned char) l->input[l->pos] : EOFCH;
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_alpha(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

/* Consume the next byte if it is one of valid (all ASCII). */
static bool
accept(PqLexer *l, const char *valid)
{
	int			c = peekc(l);

	if (c != EOFCH && c < 0x80 && strchr(valid, c) != NULL)
	{
		l->pos++;
		return true;
	}
	return false;
}

static void
accept_run(PqLexer *l, const char *valid)
{
	while (accept(l, valid))
		;
}

/* The rune at the current position (for messages), without consuming it. */
static int32
cur_rune(PqLexer *l, int *width)
{
	return pq_decode_rune(l->input + l->pos, l->inputlen - l->pos, width);
}

static void
emit(PqLexer *l, PqToken *tok, PqTok type)
{
	tok->type = type;
	tok->pos = l->start;
	tok->end = l->pos;
	tok->text = l->input + l->start;
	tok->len = l->pos - l->start;
}

static void pg_attribute_printf(3, 4)
lex_error(PqLexer *l, PqToken *tok, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	tok->type = T_ERROR;
	tok->pos = l->start;
	tok->end = l->inputlen;
	tok->text = buf.data;
	tok->len = buf.len;
	l->done = true;
}

/* A message fragment: Go's %q of a rune. */
static char *
qrune(int32 r)
{
	StringInfoData buf;

	initStringInfo(&buf);
	pq_append_go_quoted_rune(&buf, r);
	return buf.data;
}

/* A message fragment: Go's %q of input[start:pos]. */
static char *
qspan(PqLexer *l)
{
	StringInfoData buf;

	initStringInfo(&buf);
	pq_append_go_quoted(&buf, l->input + l->start, l->pos - l->start);
	return buf.data;
}

/*
 * Prometheus' scanNumber: decimal, hexadecimal (0x...), octal by leading 0,
 * fractions, exponents and '_' digit separators. It only decides the extent;
 * the parser converts (and may still reject) the text.
 */
static bool
scan_number(PqLexer *l)
{
	int			initial = l->pos;
	const char *digits = "0123456789";
	bool		hex = false;
	bool		dot = false;
	bool		expo = false;

	if (accept(l, "0") && accept(l, "xX"))
	{
		accept(l, "_");
		digits = "0123456789abcdefABCDEF";
		hex = true;
	}
	accept(l, ".");
	accept(l, digits);
	for (;;)
	{
		int			c = peekc(l);

		if (!(c != EOFCH && c < 0x80 && (strchr(digits, c) || strchr("._eE", c))))
			break;
		if (c == '.' && dot)
		{
			l->pos++;
			return false;
		}
		if ((c == 'e' || c == 'E') && expo)
		{
			l->pos++;
			return false;
		}
		if (accept(l, "."))
		{
			dot = true;
			if (accept(l, "_."))
				return false;
			if (hex)
				return false;
			continue;
		}
		if (accept(l, "eE"))
		{
			expo = true;
			accept(l, "+-");
			if (accept(l, "._eE") || peekc(l) == EOFCH)
				return false;
			continue;
		}
		if (accept(l, "_"))
		{
			if (accept(l, "._eE") || peekc(l) == EOFCH)
				return false;
			continue;
		}
		accept_run(l, digits);
	}
	if (l->pos == initial)
		return false;
	return !is_alnum(peekc(l));
}

/* Prometheus' acceptRemainingDuration: unit letters and more number+unit
 * pairs; the parser validates the whole duration. */
static bool
accept_remaining_duration(PqLexer *l)
{
	if (!accept(l, "smhdwy"))
		return false;
	accept(l, "s");
	while (accept(l, "0123456789"))
	{
		accept_run(l, "0123456789");
		if (!accept(l, "smhdw"))
			return false;
		accept(l, "s");
	}
	/* Prometheus consumes this rune, then backs up on success */
	if (is_alnum(peekc(l)))
	{
		l->pos++;
		return false;
	}
	return true;
}

static void
lex_number_or_duration(PqLexer *l, PqToken *tok)
{
	if (scan_number(l))
	{
		emit(l, tok, T_NUMBER);
		return;
	}
	if (accept_remaining_duration(l))
	{
		emit(l, tok, T_DURATION);
		return;
	}
	lex_error(l, tok, "bad number or duration syntax: %s", qspan(l));
}

/* Prometheus' lexEscape; the backslash has been consumed. Returns false
 * (having set an error token) on an invalid escape. */
static bool
lex_escape(PqLexer *l, PqToken *tok, char quote)
{
	int			n;
	uint32		base,
				maxval;
	int32		ch;
	int			w;
	uint32		x = 0;

	ch = cur_rune(l, &w);
	if (w == 0)
	{
		lex_error(l, tok, "escape sequence not terminated");
		return false;
	}
	l->pos += w;
	switch (ch)
	{
		case 'a':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
		case 'v':
		case '\\':
			return true;
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
			n = 3, base = 8, maxval = 255;
			break;
		case 'x':
		case 'u':
		case 'U':
			n = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
			base = 16;
			maxval = ch == 'x' ? 255 : 0x10FFFF;
			ch = cur_rune(l, &w);
			l->pos += w;
			if (w == 0)
				ch = EOFCH;
			break;
		default:
			if (ch == quote)
				return true;
			lex_error(l, tok, "unknown escape sequence U+%04X%s%s", ch,
					  go_is_print(ch) ? " " : "", go_is_print(ch) ? qrune(ch) : "");
			return false;
	}
	while (n > 0)
	{
		uint32		d = (ch == EOFCH || ch > 0x7F) ? 16 : hexval16(ch);

		if (d >= base)
		{
			if (ch == EOFCH)
				lex_error(l, tok, "escape sequence not terminated");
			else
				lex_error(l, tok, "illegal character U+%04X%s%s in escape sequence", ch,
						  go_is_print(ch) ? " " : "", go_is_print(ch) ? qrune(ch) : "");
			return false;
		}
		x = x * base + d;
		n--;
		if (n > 0)
		{
			ch = cur_rune(l, &w);
			l->pos += w;
			if (w == 0)
				ch = EOFCH;
		}
	}
	if (x > maxval || (x >= 0xD800 && x < 0xE000))
	{
		lex_error(l, tok, "escape sequence is an invalid Unicode code point");
		return false;
	}
	return true;
}

/* A quoted string; the opening quote has been consumed. */
static void
lex_string(PqLexer *l, PqToken *tok, char quote)
{
	for (;;)
	{
		int			w;
		int32		r = cur_rune(l, &w);

		if (w == 0)
		{
			lex_error(l, tok, "unterminated quoted string");
			return;
		}
		l->pos += w;
		if (r == '\\')
		{
			if (!lex_escape(l, tok, quote))
				return;
			continue;
		}
		/* Go cannot tell an invalid byte from a literal U+FFFD here */
		if (r == 0xFFFD)
		{
			lex_error(l, tok, "invalid UTF-8 rune");
			return;
		}
		if (r == '\n')
		{
			lex_error(l, tok, "unterminated quoted string");
			return;
		}
		if (r == quote)
			break;
	}
	emit(l, tok, T_STRING);
}

static void
lex_raw_string(PqLexer *l, PqToken *tok)
{
	for (;;)
	{
		int			w;
		int32		r = cur_rune(l, &w);

		if (w == 0)
		{
			lex_error(l, tok, "unterminated raw string");
			return;
		}
		l->pos += w;
		if (r == 0xFFFD)
		{
			lex_error(l, tok, "invalid UTF-8 rune");
			return;
		}
		if (r == '`')
			break;
	}
	emit(l, tok, T_STRING);
}

static void
lex_keyword_or_identifier(PqLexer *l, PqToken *tok)
{
	char		lower[32];
	int			len;
	bool		colon = false;

	while (is_alnum(peekc(l)) || peekc(l) == ':')
	{
		if (peekc(l) == ':')
			colon = true;
		l->pos++;
	}
	len = l->pos - l->start;
	if (len < (int) sizeof(lower))
	{
		for (int i = 0; i < len; i++)
			lower[i] = pg_ascii_tolower(l->input[l->start + i]);
		lower[len] = '\0';
		for (int i = 0; i < lengthof(keywords); i++)
			if (strcmp(lower, keywords[i].word) == 0)
			{
				emit(l, tok, keywords[i].tok);
				return;
			}
	}
	emit(l, tok, colon ? T_METRIC_IDENTIFIER : T_IDENTIFIER);
}

static void
skip_line_comment(PqLexer *l)
{
	while (l->pos < l->inputlen && l->input[l->pos] != '\n' && l->input[l->pos] != '\r')
		l->pos++;
}

/* Inside {...}: keywords are plain identifiers. */
static void
lex_inside_braces(PqLexer *l, PqToken *tok)
{
	for (;;)
	{
		int			c;
		int			w;
		int32		r;

		l->start = l->pos;
		c = peekc(l);
		if (c == '#')
		{
			skip_line_comment(l);
			continue;
		}
		if (c == EOFCH)
		{
			lex_error(l, tok, "unexpected end of input inside braces");
			return;
		}
		if (is_space(c))
		{
			l->pos++;
			continue;
		}
		if (is_alpha(c))
		{
			while (is_alnum(peekc(l)))
				l->pos++;
			emit(l, tok, T_IDENTIFIER);
			return;
		}
		r = cur_rune(l, &w);
		l->pos += w;
		switch (c)
		{
			case ',':
				emit(l, tok, T_COMMA);
				return;
			case '"':
			case '\'':
				lex_string(l, tok, (char) c);
				return;
			case '`':
				lex_raw_string(l, tok);
				return;
			case '=':
				if (accept(l, "~"))
					emit(l, tok, T_EQL_REGEX);
				else
					emit(l, tok, T_EQL);
				return;
			case '!':
				if (accept(l, "~"))
					emit(l, tok, T_NEQ_REGEX);
				else if (accept(l, "="))
					emit(l, tok, T_NEQ);
				else
				{
					int32		nr = cur_rune(l, &w);

					l->pos += w;
					lex_error(l, tok, "unexpected character after '!' inside braces: %s",
							  qrune(w == 0 ? EOFCH : nr));
				}
				return;
			case '{':
				lex_error(l, tok, "unexpected left brace %s", qrune(r));
				return;
			case '}':
				emit(l, tok, T_RIGHT_BRACE);
				l->brace_open = false;
				return;
			default:
				lex_error(l, tok, "unexpected character inside braces: %s", qrune(r));
				return;
		}
	}
}

void
pq_lex_next(PqLexer *l, PqToken *tok)
{
	if (l->done)
	{
		l->start = l->pos;
		emit(l, tok, T_EOF);
		return;
	}
	if (l->brace_open)
	{
		lex_inside_braces(l, tok);
		return;
	}
	if (l->after_bracket)
	{
		/* right after '[' only a number or a duration may come */
		l->after_bracket = false;
		while (is_space(peekc(l)))
			l->pos++;
		l->start = l->pos;
		lex_number_or_duration(l, tok);
		return;
	}
	for (;;)
	{
		int			c;
		int			w;
		int32		r;

		l->start = l->pos;
		c = peekc(l);

		if (c == '#')
		{
			skip_line_comment(l);
			continue;
		}
		if (c == EOFCH)
		{
			if (l->paren_depth != 0)
				lex_error(l, tok, "unclosed left parenthesis");
			else if (l->bracket_open)
				lex_error(l, tok, "unclosed left bracket");
			else
			{
				emit(l, tok, T_EOF);
				l->done = true;
			}
			return;
		}
		if (is_space(c))
		{
			l->pos++;
			continue;
		}
		if (is_digit(c) || (c == '.' && l->pos + 1 < l->inputlen && is_digit(l->input[l->pos + 1])))
		{
			lex_number_or_duration(l, tok);
			return;
		}
		r = cur_rune(l, &w);
		l->pos += w;
		switch (c)
		{
			case ',':
				emit(l, tok, T_COMMA);
				return;
			case '*':
				emit(l, tok, T_MUL);
				return;
			case '/':
				emit(l, tok, T_DIV);
				return;
			case '%':
				emit(l, tok, T_MOD);
				return;
			case '+':
				emit(l, tok, T_ADD);
				return;
			case '-':
				emit(l, tok, T_SUB);
				return;
			case '^':
				emit(l, tok, T_POW);
				return;
			case '=':
				if (accept(l, "="))
					emit(l, tok, T_EQLC);
				else if (peekc(l) == '~')
					lex_error(l, tok, "unexpected character after '=': %s", qrune('~'));
				else
					emit(l, tok, T_EQL);
				return;
			case '!':
				if (accept(l, "="))
					emit(l, tok, T_NEQ);
				else
				{
					int32		nr = cur_rune(l, &w);

					l->pos += w;
					lex_error(l, tok, "unexpected character after '!': %s",
							  qrune(w == 0 ? EOFCH : nr));
				}
				return;
			case '<':
				emit(l, tok, accept(l, "=") ? T_LTE : T_LSS);
				return;
			case '>':
				emit(l, tok, accept(l, "=") ? T_GTE : T_GTR);
				return;
			case '"':
			case '\'':
				lex_string(l, tok, (char) c);
				return;
			case '`':
				lex_raw_string(l, tok);
				return;
			case '(':
				emit(l, tok, T_LEFT_PAREN);
				l->paren_depth++;
				return;
			case ')':
				emit(l, tok, T_RIGHT_PAREN);
				l->paren_depth--;
				if (l->paren_depth < 0)
				{
					l->start = l->pos;
					lex_error(l, tok, "unexpected right parenthesis %s", qrune(')'));
				}
				return;
			case '{':
				emit(l, tok, T_LEFT_BRACE);
				l->brace_open = true;
				return;
			case '[':
				if (l->bracket_open)
				{
					lex_error(l, tok, "unexpected left bracket %s", qrune('['));
					return;
				}
				l->got_colon = false;
				emit(l, tok, T_LEFT_BRACKET);
				l->bracket_open = true;
				l->after_bracket = true;
				return;
			case ']':
				if (!l->bracket_open)
				{
					lex_error(l, tok, "unexpected right bracket %s", qrune(']'));
					return;
				}
				emit(l, tok, T_RIGHT_BRACKET);
				l->bracket_open = false;
				return;
			case '@':
				emit(l, tok, T_AT);
				return;
			default:
				if (is_alpha(c) || c == ':')
				{
					if (!l->bracket_open)
					{
						l->pos = l->start;
						lex_keyword_or_identifier(l, tok);
						return;
					}
					if (c == ':')
					{
						if (l->got_colon)
						{
							lex_error(l, tok, "unexpected colon %s", qrune(':'));
							return;
						}
						emit(l, tok, T_COLON);
						l->got_colon = true;
						return;
					}
					if (l->got_colon)
						lex_error(l, tok, "unexpected character: %s", qrune(r));
					else
						lex_error(l, tok, "unexpected character: %s, expected %s", qrune(r), qrune(':'));
					return;
				}
				lex_error(l, tok, "unexpected character: %s", qrune(w == 0 ? EOFCH : r));
				return;
		}
	}
}

/* ---------------------------------------------------------------------
 * Token descriptions (Prometheus' Item.desc)
 * ---------------------------------------------------------------------
 */

/* Item.String for tokens without a special form: %q, or %.10q... if long */
static void
append_item_string(StringInfo buf, const PqToken *tok)
{
	if (tok->len > 10)
	{
		append_go_quoted_prefix(buf, tok->text, tok->len, 10);
		appendStringInfoString(buf, "...");
	}
	else
		pq_append_go_quoted(buf, tok->text, tok->len);
}

char *
pq_token_desc(const PqToken *tok)
{
	StringInfoData buf;

	initStringInfo(&buf);
	switch (tok->type)
	{
		case T_EOF:
			appendStringInfoString(&buf, "end of input");
			break;
		case T_ERROR:
			appendBinaryStringInfo(&buf, tok->text, tok->len);
			break;
		case T_IDENTIFIER:
			appendStringInfoString(&buf, "identifier ");
			pq_append_go_quoted(&buf, tok->text, tok->len);
			break;
		case T_METRIC_IDENTIFIER:
			appendStringInfoString(&buf, "metric identifier ");
			pq_append_go_quoted(&buf, tok->text, tok->len);
			break;
		case T_NUMBER:
			appendStringInfoString(&buf, "number ");
			append_item_string(&buf, tok);
			break;
		case T_DURATION:
			appendStringInfoString(&buf, "duration ");
			append_item_string(&buf, tok);
			break;
		case T_STRING:
			appendStringInfoString(&buf, "string ");
			append_item_string(&buf, tok);
			break;
		default:
			if (PQ_TOK_IS_KEYWORD(tok->type))
				appendStringInfo(&buf, "<%.*s>", tok->len, tok->text);
			else if (PQ_TOK_IS_OPERATOR(tok->type))
				appendStringInfo(&buf, "<op:%.*s>", tok->len, tok->text);
			else if (PQ_TOK_IS_AGGREGATOR(tok->type))
				appendStringInfo(&buf, "<aggr:%.*s>", tok->len, tok->text);
			else
				append_item_string(&buf, tok);
			break;
	}
	return buf.data;
}
