/*
 * re2_regex.c — label matcher regexes are RE2 syntax (Go's regexp, as in
 * Prometheus) but run on PostgreSQL's ARE engine. This rewrites the RE2
 * constructs ARE lacks or reads differently into ARE:
 *   - flags anywhere, scoped to their group: (?i) (?s) (?m) (?-i) (?i:re);
 *     ARE only takes options at the very start, so case-insensitivity is
 *     spelled out ([pP][rR][oO]) and (?-s) / (?m) rewrite . ^ $;
 *   - \b \B \z (ARE: \y \Y \Z), \Q...\E, \x{hhhh}, \xhh (ARE's \x would eat
 *     every following hex digit), named groups (?P<n>re) (?<n>re);
 *   - a '{' that does not start a repetition is a literal in RE2.
 * Prometheus matches with "." spanning newlines ((?s) by default), which is
 * also ARE's default.
 */
#include "mimir.h"

#include <wctype.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

extern char *mimir_re2_to_are(const char *re);
extern char *mimir_re2_to_are_groups(const char *re, List **group_names);

typedef struct Re2Flags
{
	bool		i;				/* case-insensitive */
	bool		s;				/* . matches \n */
	bool		m;				/* ^ and $ match at line breaks */
} Re2Flags;

static void pg_attribute_noreturn()
unsupported(const char *re, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
			 errmsg("invalid regular expression \"%s\": %s", re, what)));
}

static bool
is_ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
other_case(char c)
{
	return (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c - 'A' + 'a';
}


/*
 * A non-ASCII character at p (UTF-8) under case-insensitivity: appends it
 * and its other case (as the C library knows it) and returns its length.
 */
static int
emit_folded_mb(StringInfo out, const char *p)
{
	int			len = pg_utf_mblen((const unsigned char *) p);
	pg_wchar	w;
	pg_wchar	o;
	unsigned char other[8];

	if (strnlen(p, len) < (size_t) len || !pg_utf8_islegal((const unsigned char *) p, len))
	{
		appendStringInfoChar(out, *p);
		return 1;
	}
	w = utf8_to_unicode((const unsigned char *) p);
	o = towupper((wint_t) w);
	if (o == w)
		o = towlower((wint_t) w);
	appendBinaryStringInfo(out, p, len);
	if (o != w && o > 0x7F)
	{
		unicode_to_utf8(o, other);
		appendBinaryStringInfo(out, (char *) other, pg_utf_mblen(other));
	}
	return len;
}

/* A literal byte outside brackets. */
static void
emit_literal(StringInfo out, char c, const Re2Flags *f)
{
	if (f->i && is_ascii_letter(c))
		appendStringInfo(out, "[%c%c]", c, other_case(c));
	else if (strchr("\\^$.|?*+()[]{}", c))
		appendStringInfo(out, "\\%c", c);
	else
		appendStringInfoChar(out, c);
}

/* \x{hhhh} or \xhh at p (pointing after "\x"); returns the code point and
 * advances *p. */
static uint32
read_hex_escape(const char *re, const char **p)
{
	uint32		v = 0;
	const char *q = *p;

	if (*q == '{')
	{
		int			n = 0;

		for (q++; *q && *q != '}'; q++, n++)
		{
			if (mimir_hex_digit(*q) < 0 || n >= 8)
				unsupported(re, "invalid \\x{...} escape");
			v = v * 16 + mimir_hex_digit(*q);
		}
		if (*q != '}' || n == 0)
			unsupported(re, "invalid \\x{...} escape");
		*p = q + 1;
	}
	else
	{
		if (mimir_hex_digit(q[0]) < 0 || mimir_hex_digit(q[1]) < 0)
			unsupported(re, "invalid \\x escape");
		v = mimir_hex_digit(q[0]) * 16 + mimir_hex_digit(q[1]);
		*p = q + 2;
	}
	if (v > 0x10FFFF || v == 0)
		unsupported(re, "invalid \\x escape");
	return v;
}

/* A bracket expression starting at *p ('['); advances *p past it. */
static void
translate_bracket(StringInfo out, const char *re, const char **p, const Re2Flags *f)
{
	const char *q = *p + 1;
	StringInfoData body;
	bool		first = true;

	initStringInfo(&body);
	appendStringInfoChar(out, '[');
	if (*q == '^')
	{
		appendStringInfoChar(out, '^');
		q++;
	}
	for (;;)
	{
		char		c = *q;

		if (c == '\0')
			unsupported(re, "missing closing ]");
		if (c == ']' && !first)
			break;
		first = false;
		if (c == '[' && q[1] == ':')
		{
			const char *end = strstr(q + 2, ":]");

			if (end == NULL)
				unsupported(re, "invalid character class");
			appendBinaryStringInfo(&body, q, end + 2 - q);
			q = end + 2;
			continue;
		}
		if (c == '\\')
		{
			char		e = q[1];

			if (e == 'x')
			{
				const char *h = q + 2;
				uint32		v = read_hex_escape(re, &h);

				appendStringInfo(&body, "\\U%08X", v);
				q = h;
				continue;
			}
			if (e == 'p' || e == 'P')
				unsupported(re, "Unicode classes \\p are not supported");
			if (e == '\0')
				unsupported(re, "trailing backslash");
			appendStringInfoChar(&body, '\\');
			appendStringInfoChar(&body, e);
			q += 2;
			continue;
		}
		/* a range x-y of letters also gets its other-case range */
		if (f->i && is_ascii_letter(c) && q[1] == '-' && is_ascii_letter(q[2]) &&
			((c >= 'a') == (q[2] >= 'a')))
		{
			appendStringInfo(&body, "%c-%c%c-%c", c, q[2], other_case(c), other_case(q[2]));
			q += 3;
			continue;
		}
		if (f->i && is_ascii_letter(c))
		{
			appendStringInfo(&body, "%c%c", c, other_case(c));
			q++;
			continue;
		}
		if (f->i && (unsigned char) c >= 0x80 && q[1] != '-')
		{
			q += emit_folded_mb(&body, q);
			continue;
		}
		appendStringInfoChar(&body, c);
		q++;
	}
	appendBinaryStringInfo(out, body.data, body.len);
	appendStringInfoChar(out, ']');
	*p = q + 1;
}

/* Whether p (at '{') starts a repetition {n}, {n,} or {n,m}. */
static bool
is_repetition(const char *p)
{
	const char *q = p + 1;

	if (!isdigit((unsigned char) *q))
		return false;
	while (isdigit((unsigned char) *q))
		q++;
	if (*q == ',')
		for (q++; isdigit((unsigned char) *q); q++)
			;
	return *q == '}';
}

/*
 * The translation. When names is not NULL it receives the capture groups'
 * names in group order (group 1 first): the name of (?P<name>re) or
 * (?<name>re), "" for plain groups. The translation keeps the groups'
 * numbering: everything it adds is non-capturing.
 */
static char *
translate(const char *re, List **names)
{
	StringInfoData out;
	Re2Flags	f = {false, true, false};
	Re2Flags	stack[256];
	int			depth = 0;
	const char *p = re;

	initStringInfo(&out);
	while (*p)
	{
		char		c = *p;

		switch (c)
		{
			case '\\':
				{
					char		e = p[1];

					switch (e)
					{
						case '\0':
							unsupported(re, "trailing backslash");
						case 'b':
							appendStringInfoString(&out, "\\y");
							p += 2;
							break;
						case 'B':
							appendStringInfoString(&out, "\\Y");
							p += 2;
							break;
						case 'z':
							appendStringInfoString(&out, "\\Z");
							p += 2;
							break;
						case 'p':
						case 'P':
							unsupported(re, "Unicode classes \\p are not supported");
						case '1':
						case '2':
						case '3':
						case '4':
						case '5':
						case '6':
						case '7':
							/* RE2 has no backreferences: a lone digit is an error */
							if (p[2] < '0' || p[2] > '7')
								unsupported(re, "invalid escape sequence");
							/* FALLTHROUGH */
						case '0':
							{
								/* octal: the digit and up to two more */
								int			v = e - '0';
								const char *q = p + 2;

								for (int k = 1; k < 3 && *q >= '0' && *q <= '7'; k++, q++)
									v = v * 8 + (*q - '0');
								if (v > 0 && v < 0x80)
									emit_literal(&out, (char) v, &f);
								else
									appendStringInfo(&out, "\\U%08X", v);
								p = q;
								break;
							}
						case '8':
						case '9':
							unsupported(re, "invalid escape sequence");
						case 'Q':
							{
								const char *end = strstr(p + 2, "\\E");
								const char *stop = end ? end : p + strlen(p);

								for (const char *q = p + 2; q < stop; q++)
									emit_literal(&out, *q, &f);
								p = end ? end + 2 : stop;
								break;
							}
						case 'x':
							{
								const char *h = p + 2;
								uint32		v = read_hex_escape(re, &h);

								if (v < 0x80)
									emit_literal(&out, (char) v, &f);
								else
									appendStringInfo(&out, "\\U%08X", v);
								p = h;
								break;
							}
						default:
							/* escaped punctuation, \d \s \w, \n \t ...: same in ARE */
							appendStringInfoChar(&out, '\\');
							appendStringInfoChar(&out, e);
							p += 2;
							break;
					}
					break;
				}
			case '(':
				if (depth >= lengthof(stack))
					unsupported(re, "too deeply nested");
				stack[depth++] = f;
				if (p[1] != '?')
				{
					if (names)
						*names = lappend(*names, pstrdup(""));
					appendStringInfoChar(&out, '(');
					p++;
					break;
				}
				if ((p[2] == 'P' && p[3] == '<') ||
					(p[2] == '<' && p[3] != '=' && p[3] != '!'))
				{
					/* named group: a plain capturing group; the caller keeps its name */
					const char *name = p + (p[2] == 'P' ? 4 : 3);
					const char *end = strchr(p, '>');

					if (end == NULL || end == name)
						unsupported(re, "invalid named capture");
					for (const char *q = name; q < end; q++)
						if (!(is_ascii_letter(*q) || (*q >= '0' && *q <= '9') || *q == '_'))
							unsupported(re, "invalid named capture");
					if (names)
						*names = lappend(*names, pnstrdup(name, end - name));
					appendStringInfoChar(&out, '(');
					p = end + 1;
					break;
				}
				if (strchr("imsU-", p[2]) && p[2] != '\0')
				{
					const char *q = p + 2;
					bool		neg = false;
					Re2Flags	nf = f;

					for (; *q && *q != ')' && *q != ':'; q++)
					{
						if (*q == '-')
							neg = true;
						else if (*q == 'i')
							nf.i = !neg;
						else if (*q == 's')
							nf.s = !neg;
						else if (*q == 'm')
							nf.m = !neg;
						else if (*q == 'U')
							unsupported(re, "the U flag is not supported");
						else
							unsupported(re, "invalid or unsupported Perl syntax");
					}
					if (*q == ')')
					{
						/* (?flags): for the rest of the enclosing group */
						depth--;
						f = nf;
						p = q + 1;
						break;
					}
					if (*q != ':')
						unsupported(re, "missing closing )");
					f = nf;
					appendStringInfoString(&out, "(?:");
					p = q + 1;
					break;
				}
				/* (?: and the lookarounds RE2 would reject anyway */
				appendStringInfoString(&out, "(?");
				p += 2;
				break;
			case ')':
				if (depth > 0)
					f = stack[--depth];
				appendStringInfoChar(&out, ')');
				p++;
				break;
			case '[':
				translate_bracket(&out, re, &p, &f);
				break;
			case '.':
				appendStringInfoString(&out, f.s ? "." : "[^\\n]");
				p++;
				break;
			case '^':
				appendStringInfoString(&out, f.m ? "(?:^|(?<=\\n))" : "^");
				p++;
				break;
			case '$':
				appendStringInfoString(&out, f.m ? "(?:$|(?=\\n))" : "$");
				p++;
				break;
			case '{':
				if (is_repetition(p))
				{
					const char *end = strchr(p, '}');

					appendBinaryStringInfo(&out, p, end + 1 - p);
					p = end + 1;
				}
				else
				{
					appendStringInfoString(&out, "\\{");
					p++;
				}
				break;
			default:
				if (f.i && is_ascii_letter(c))
					appendStringInfo(&out, "[%c%c]", c, other_case(c));
				else if (f.i && (unsigned char) c >= 0x80)
				{
					appendStringInfoChar(&out, '[');
					p += emit_folded_mb(&out, p);
					appendStringInfoChar(&out, ']');
					break;
				}
				else
					appendStringInfoChar(&out, c);
				p++;
				break;
		}
	}
	return out.data;
}

char *
mimir_re2_to_are(const char *re)
{
	return translate(re, NULL);
}

char *
mimir_re2_to_are_groups(const char *re, List **group_names)
{
	*group_names = NIL;
	return translate(re, group_names);
}
