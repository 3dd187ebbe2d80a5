/*
 * gofmt.c — Go's fmt and strconv formatting as alert templates and the
 * Prometheus API show numbers, strings and times: shortest round-trip floats
 * (%v), Sprintf verbs with Go's error notation (%!d(float64=1.5)),
 * strconv.Quote, url.QueryEscape and time/duration strings.
 */
#include "ruler/gotmpl_int.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/datetime.h"

/* ---------------------------------------------------------------------
 * floats
 * --------------------------------------------------------------------- */

/* shortest decimal digits that read back as v (v finite, not zero): digits, exponent of the first */
static void
shortest(double v, char *digits, int *nd, int *exp10)
{
	char		buf[64];
	int			p;

	for (p = 1; p <= 17; p++)
	{
		snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (p > 17)
		snprintf(buf, sizeof(buf), "%.16e", v);
	{
		const char *s = buf;
		int			n = 0;

		if (*s == '-')
			s++;
		for (; *s && *s != 'e'; s++)
			if (*s >= '0' && *s <= '9')
				digits[n++] = *s;
		while (n > 1 && digits[n - 1] == '0')
			n--;
		digits[n] = '\0';
		*nd = n;
		*exp10 = atoi(s + 1);
	}
}

static void
append_e(StringInfo out, const char *digits, int nd, int exp10, char e)
{
	appendStringInfoChar(out, digits[0]);
	if (nd > 1)
	{
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, digits + 1, nd - 1);
	}
	appendStringInfo(out, "%c%c%02d", e, exp10 < 0 ? '-' : '+', abs(exp10));
}

static void
append_f(StringInfo out, const char *digits, int nd, int exp10)
{
	int			dp = exp10 + 1;	/* digits before the decimal point */

	if (dp <= 0)
	{
		appendStringInfoString(out, "0.");
		for (int i = 0; i < -dp; i++)
			appendStringInfoChar(out, '0');
		appendBinaryStringInfo(out, digits, nd);
		return;
	}
	for (int i = 0; i < dp; i++)
		appendStringInfoChar(out, i < nd ? digits[i] : '0');
	if (nd > dp)
	{
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, digits + dp, nd - dp);
	}
}

/* strconv.FormatFloat(v, fmt, -1, 64) for fmt 'g' (as %v), 'e' or 'f' */
void
gofmt_float_shortest(StringInfo out, double v, char fmt)
{
	char		digits[32];
	int			nd,
				exp10;

	if (isnan(v))
	{
		appendStringInfoString(out, "NaN");
		return;
	}
	if (isinf(v))
	{
		appendStringInfoString(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (signbit(v))
		appendStringInfoChar(out, '-');
	if (v == 0)
	{
		appendStringInfoString(out, fmt == 'e' ? "0e+00" : "0");
		return;
	}
	shortest(fabs(v), digits, &nd, &exp10);
	if (fmt == 'e')
		append_e(out, digits, nd, exp10, 'e');
	else if (fmt == 'f')
		append_f(out, digits, nd, exp10);
	else if (exp10 < -4 || exp10 >= 6)	/* strconv: shortest %g decides with precision 6 */
		append_e(out, digits, nd, exp10, 'e');
	else
		append_f(out, digits, nd, exp10);
}

/* one float verb with precision (-1: Go's default for the verb) */
void
gofmt_float(StringInfo out, double v, char verb, int prec)
{
	char		spec[16];

	if (isnan(v) || isinf(v))
	{
		appendStringInfoString(out, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
		return;
	}
	switch (verb)
	{
		case 'v':
		case 'g':
		case 'G':
			if (prec < 0)
			{
				StringInfoData t;

				initStringInfo(&t);
				gofmt_float_shortest(&t, v, 'g');
				if (verb == 'G')
					for (char *c = t.data; *c; c++)
						*c = (char) pg_toupper((unsigned char) *c);
				appendStringInfoString(out, t.data);
				return;
			}
			snprintf(spec, sizeof(spec), "%%.%d%c", prec == 0 ? 1 : prec, verb == 'G' ? 'G' : 'g');
			break;
		case 'e':
		case 'E':
			if (prec < 0)
				prec = 6;
			snprintf(spec, sizeof(spec), "%%.%d%c", prec, verb);
			break;
		default:				/* f, F */
			if (prec < 0)
				prec = 6;
			snprintf(spec, sizeof(spec), "%%.%df", prec);
			break;
	}
	appendStringInfo(out, spec, v);
}

/* ---------------------------------------------------------------------
 * strings
 * --------------------------------------------------------------------- */
char *
gofmt_quote(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendStringInfoString(&b, "\\\"");
				break;
			case '\\':
				appendStringInfoString(&b, "\\\\");
				break;
			case '\n':
				appendStringInfoString(&b, "\\n");
				break;
			case '\t':
				appendStringInfoString(&b, "\\t");
				break;
			case '\r':
				appendStringInfoString(&b, "\\r");
				break;
			case '\a':
				appendStringInfoString(&b, "\\a");
				break;
			case '\b':
				appendStringInfoString(&b, "\\b");
				break;
			case '\f':
				appendStringInfoString(&b, "\\f");
				break;
			case '\v':
				appendStringInfoString(&b, "\\v");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(&b, "\\x%02x", *p);
				else
					appendStringInfoChar(&b, (char) *p);
		}
	}
	appendStringInfoChar(&b, '"');
	return b.data;
}

void
gofmt_query_escape(StringInfo out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			appendStringInfoChar(out, (char) *p);
		else if (*p == ' ')
			appendStringInfoChar(out, '+');
		else
			appendStringInfo(out, "%%%02X", *p);
	}
}

/* ---------------------------------------------------------------------
 * times
 * --------------------------------------------------------------------- */
static void
split_time(int64 ns, struct pg_tm *tm, int64 *frac_ns)
{
	int64		secs = ns / 1000000000;
	int64		frac = ns % 1000000000;
	int64		days;
	int64		rem;
	int			y,
				m,
				d;

	if (frac < 0)
	{
		frac += 1000000000;
		secs--;
	}
	days = secs / 86400;
	rem = secs % 86400;
	if (rem < 0)
	{
		rem += 86400;
		days--;
	}
	j2date((int) (days + UNIX_EPOCH_JDATE), &y, &m, &d);
	tm->tm_year = y;
	tm->tm_mon = m;
	tm->tm_mday = d;
	tm->tm_hour = (int) (rem / 3600);
	tm->tm_min = (int) (rem / 60 % 60);
	tm->tm_sec = (int) (rem % 60);
	*frac_ns = frac;
}

static void
append_frac(StringInfo out, int64 frac, int digits)
{
	char		buf[16];
	int			n;

	if (frac == 0)
		return;
	snprintf(buf, sizeof(buf), "%09lld", (long long) frac);
	n = Min(digits, 9);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0)
		appendStringInfo(out, ".%s", buf);
}

/* time.Time.String() of a UTC time */
void
gofmt_time(StringInfo out, int64 ns)
{
	struct pg_tm tm;
	int64		frac;

	split_time(ns, &tm, &frac);
	appendStringInfo(out, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
	append_frac(out, frac, 9);
	appendStringInfoString(out, " +0000 UTC");
}

/* RFC 3339 (UTC, "Z"): with nanos, Go's RFC3339Nano (fraction trimmed) */
char *
gofmt_rfc3339(int64 ms, bool nanos)
{
	StringInfoData b;
	struct pg_tm tm;
	int64		frac;

	initStringInfo(&b);
	split_time(ms * 1000000, &tm, &frac);
	appendStringInfo(&b, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year, tm.tm_mon, tm.tm_mday,
					 tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (nanos)
		append_frac(&b, frac, 9);
	appendStringInfoChar(&b, 'Z');
	return b.data;
}

/* time.Duration.String() */
void
gofmt_duration(StringInfo out, int64 ns)
{
	uint64		u = ns < 0 ? -(uint64) ns : (uint64) ns;

	if (ns < 0)
		appendStringInfoChar(out, '-');
	if (u == 0)
	{
		appendStringInfoString(out, "0s");
		return;
	}
	if (u < 1000000000)
	{
		/* ns, µs or ms with a fraction */
		const char *unit;
		uint64		div;

		if (u < 1000)
		{
			appendStringInfo(out, UINT64_FORMAT "ns", u);
			return;
		}
		if (u < 1000000)
			unit = "\xc2\xb5s", div = 1000;
		else
			unit = "ms", div = 1000000;
		appendStringInfo(out, UINT64_FORMAT, u / div);
		{
			uint64		f = u % div;
			char		buf[16];
			int			w = div == 1000 ? 3 : 6;
			int			n = w;

			if (f)
			{
				snprintf(buf, sizeof(buf), "%0*llu", w, (unsigned long long) f);
				while (n > 0 && buf[n - 1] == '0')
					buf[--n] = '\0';
				appendStringInfo(out, ".%s", buf);
			}
		}
		appendStringInfoString(out, unit);
		return;
	}
	{
		uint64		h = u / 3600000000000ULL;
		uint64		m = u / 60000000000ULL % 60;
		uint64		s = u / 1000000000ULL % 60;
		uint64		f = u % 1000000000ULL;

		if (h)
			appendStringInfo(out, UINT64_FORMAT "h", h);
		if (h || m)
			appendStringInfo(out, UINT64_FORMAT "m", m);
		appendStringInfo(out, UINT64_FORMAT, s);
		append_frac(out, (int64) f, 9);
		appendStringInfoChar(out, 's');
	}
}

/* ---------------------------------------------------------------------
 * Sprintf
 * --------------------------------------------------------------------- */
typedef struct Spec
{
	bool		minus,
				plus,
				sharp,
				zero,
				space;
	int			width;			/* -1: none */
	int			prec;			/* -1: none */
	char		verb;
} Spec;

static void
pad(StringInfo out, const Spec *sp, const char *s, bool numeric)
{
	int			len = pg_mbstrlen(s);
	int			fill = sp->width > len ? sp->width - len : 0;

	if (sp->minus)
	{
		appendStringInfoString(out, s);
		appendStringInfoSpaces(out, fill);
		return;
	}
	if (sp->zero && numeric && fill > 0)
	{
		/* zeros go after the sign */
		if (*s == '-' || *s == '+' || *s == ' ')
			appendStringInfoChar(out, *s++);
		for (int i = 0; i < fill; i++)
			appendStringInfoChar(out, '0');
		appendStringInfoString(out, s);
		return;
	}
	appendStringInfoSpaces(out, fill);
	appendStringInfoString(out, s);
}

static void
bad_verb(StringInfo out, char verb, const GtValue *v)
{
	appendStringInfo(out, "%%!%c(", verb);
	if (v->kind == GV_INVALID || v->kind == GV_NIL)
	{
		appendStringInfoString(out, "<nil>)");
		return;
	}
	appendStringInfo(out, "%s=", gv_type_name(v));
	gv_print(out, v);
	appendStringInfoChar(out, ')');
}

static void
fmt_int(StringInfo out, const Spec *sp, int64 i, const GtValue *v)
{
	char		spec[32];
	char		buf[128];
	int			n = 0;

	switch (sp->verb)
	{
		case 'v':
		case 'd':
		case 'x':
		case 'X':
		case 'o':
		case 'b':
			break;
		case 'c':
			{
				unsigned char utf[8];

				unicode_to_utf8((pg_wchar) i, utf);
				utf[pg_utf_mblen(utf)] = 0;
				pad(out, sp, (char *) utf, false);
				return;
			}
		case 'q':
			{
				unsigned char utf[8];

				unicode_to_utf8((pg_wchar) i, utf);
				utf[pg_utf_mblen(utf)] = 0;
				pad(out, sp, psprintf("'%s'", utf), false);
				return;
			}
		default:
			bad_verb(out, sp->verb, v);
			return;
	}
	if (sp->verb == 'b')
	{
		uint64		u = i < 0 ? -(uint64) i : (uint64) i;
		char		bits[80];
		int			k = 0;

		do
			bits[k++] = (char) ('0' + (u & 1));
		while ((u >>= 1) != 0);
		if (i < 0)
			buf[n++] = '-';
		else if (sp->plus)
			buf[n++] = '+';
		while (k > 0)
			buf[n++] = bits[--k];
		buf[n] = 0;
		pad(out, sp, buf, true);
		return;
	}
	spec[n++] = '%';
	if (sp->plus)
		spec[n++] = '+';
	if (sp->space)
		spec[n++] = ' ';
	if (sp->sharp && sp->verb != 'v' && sp->verb != 'd')
		spec[n++] = '#';
	if (sp->prec >= 0)
		n += snprintf(spec + n, sizeof(spec) - n, ".%d", sp->prec);
	snprintf(spec + n, sizeof(spec) - n, "ll%c", sp->verb == 'v' ? 'd' : sp->verb);
	/* Go prints negative hex/octal with a sign, not two's complement */
	if ((sp->verb == 'x' || sp->verb == 'X' || sp->verb == 'o') && i < 0)
	{
		char		tmp[128];

		snprintf(tmp, sizeof(tmp), spec, (long long) -(uint64) i);
		snprintf(buf, sizeof(buf), "-%s", tmp);
	}
	else
		snprintf(buf, sizeof(buf), spec, (long long) i);
	pad(out, sp, buf, sp->prec < 0);
}

static void
fmt_float(StringInfo out, const Spec *sp, double f, const GtValue *v)
{
	StringInfoData b;

	if (!strchr("vgGeEfF", sp->verb))
	{
		bad_verb(out, sp->verb, v);
		return;
	}
	initStringInfo(&b);
	if ((sp->plus || sp->space) && !signbit(f) && !isnan(f))
		appendStringInfoChar(&b, sp->plus ? '+' : ' ');
	if (isinf(f) && f > 0 && (sp->plus || sp->space))
		appendStringInfoString(&b, "Inf");
	else
		gofmt_float(&b, f, sp->verb, sp->prec);
	if (sp->sharp && !strchr(b.data, '.') && !isnan(f) && !isinf(f))
		appendStringInfoChar(&b, '.');
	pad(out, sp, b.data, !isnan(f) && !isinf(f));
}

static void
fmt_string(StringInfo out, const Spec *sp, const char *s, const GtValue *v)
{
	switch (sp->verb)
	{
		case 'v':
		case 's':
			if (sp->prec >= 0)
			{
				int			bytes = pg_mbcharcliplen(s, strlen(s), sp->prec);

				pad(out, sp, pnstrdup(s, bytes), false);
			}
			else
				pad(out, sp, s, false);
			return;
		case 'q':
			pad(out, sp, gofmt_quote(s), false);
			return;
		case 'x':
		case 'X':
			{
				StringInfoData b;

				initStringInfo(&b);
				for (const unsigned char *p = (const unsigned char *) s; *p; p++)
					appendStringInfo(&b, sp->verb == 'x' ? "%02x" : "%02X", *p);
				pad(out, sp, b.data, false);
				return;
			}
		default:
			bad_verb(out, sp->verb, v);
	}
}

static void
fmt_value(StringInfo out, const Spec *sp, const GtValue *v)
{
	switch (v->kind)
	{
		case GV_INT:
			fmt_int(out, sp, v->i, v);
			return;
		case GV_FLOAT:
			fmt_float(out, sp, v->f, v);
			return;
		case GV_STRING:
		case GV_HTML:
			fmt_string(out, sp, v->s, v);
			return;
		case GV_BOOL:
			if (sp->verb == 'v' || sp->verb == 't')
				pad(out, sp, v->b ? "true" : "false", false);
			else
				bad_verb(out, sp->verb, v);
			return;
		case GV_INVALID:
		case GV_NIL:
			if (sp->verb == 'v')
				pad(out, sp, "<nil>", false);
			else
				bad_verb(out, sp->verb, v);
			return;
		case GV_DURATION:
			if (sp->verb == 'd')
			{
				fmt_int(out, sp, v->i, v);
				return;
			}
			/* FALLTHROUGH */
		default:
			if (sp->verb == 'v' || sp->verb == 's')
			{
				StringInfoData b;

				initStringInfo(&b);
				gv_print(&b, v);
				pad(out, sp, b.data, false);
			}
			else
				bad_verb(out, sp->verb, v);
	}
}

void
gofmt_sprintf(StringInfo out, const char *format, int nargs, GtValue *args)
{
	int			argi = 0;
	const char *p = format;

	while (*p)
	{
		Spec		sp;

		if (*p != '%')
		{
			appendStringInfoChar(out, *p++);
			continue;
		}
		p++;
		if (*p == '%')
		{
			appendStringInfoChar(out, '%');
			p++;
			continue;
		}
		memset(&sp, 0, sizeof(sp));
		sp.width = -1;
		sp.prec = -1;
		for (;; p++)
		{
			if (*p == '-')
				sp.minus = true;
			else if (*p == '+')
				sp.plus = true;
			else if (*p == '#')
				sp.sharp = true;
			else if (*p == '0')
				sp.zero = !sp.minus;
			else if (*p == ' ')
				sp.space = true;
			else
				break;
		}
		if (*p == '*')
		{
			p++;
			if (argi < nargs && args[argi].kind == GV_INT)
				sp.width = (int) args[argi++].i;
			else
			{
				appendStringInfoString(out, "%!(BADWIDTH)");
				if (argi < nargs)
					argi++;
			}
		}
		else if (*p >= '0' && *p <= '9')
		{
			sp.width = 0;
			while (*p >= '0' && *p <= '9')
				sp.width = sp.width * 10 + (*p++ - '0');
		}
		if (*p == '.')
		{
			p++;
			sp.prec = 0;
			if (*p == '*')
			{
				p++;
				if (argi < nargs && args[argi].kind == GV_INT)
					sp.prec = (int) args[argi++].i;
				else
				{
					appendStringInfoString(out, "%!(BADPREC)");
					if (argi < nargs)
						argi++;
				}
			}
			else
				while (*p >= '0' && *p <= '9')
					sp.prec = sp.prec * 10 + (*p++ - '0');
		}
		if (!*p)
		{
			appendStringInfoString(out, "%!(NOVERB)");
			break;
		}
		sp.verb = *p++;
		if (argi >= nargs)
		{
			appendStringInfo(out, "%%!%c(MISSING)", sp.verb);
			continue;
		}
		fmt_value(out, &sp, &args[argi++]);
	}
	if (argi < nargs)
	{
		appendStringInfoString(out, "%!(EXTRA ");
		for (int i = argi; i < nargs; i++)
		{
			if (i > argi)
				appendStringInfoString(out, ", ");
			if (args[i].kind == GV_INVALID || args[i].kind == GV_NIL)
				appendStringInfoString(out, "<nil>");
			else
			{
				appendStringInfo(out, "%s=", gv_type_name(&args[i]));
				gv_print(out, &args[i]);
			}
		}
		appendStringInfoChar(out, ')');
	}
}
