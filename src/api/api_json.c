/*
 * api_json.c — Prometheus' JSON conventions: the response envelope, sample
 * values as strings formatted like Go's strconv.FormatFloat(v, 'f', -1, 64),
 * timestamps as seconds with millisecond precision, strings escaped as Go's
 * encoding/json does (HTML characters included), and error types with their
 * HTTP statuses. Clients compare these byte for byte surprisingly often
 * (caches, golden files), so the details follow Prometheus exactly.
 */
#include "api/api.h"

#include <float.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

/*
 * The shortest digits by search: at a given precision printf's correctly
 * rounded digits are the closest candidate, so the first precision that
 * round-trips gives Go's digits. Slow (used only where Ryu below may not
 * give the shortest).
 */
static void
format_float_search(char *buf, size_t len, double v)
{
	char		e[40];
	char		digits[24];
	int			nd = 0,
				exp10,
				prec,
				pointpos;
	char	   *p;
	StringInfoData s;

	if (isnan(v))
	{
		strlcpy(buf, "NaN", len);
		return;
	}
	if (isinf(v))
	{
		strlcpy(buf, v > 0 ? "+Inf" : "-Inf", len);
		return;
	}
	if (v == 0)
	{
		strlcpy(buf, signbit(v) ? "-0" : "0", len);
		return;
	}
	/* integers print as such (the common case for counters and gauges) */
	if (fabs(v) < 1e15 && v == rint(v))
	{
		pg_lltoa((int64) v, buf);
		return;
	}

	/*
	 * If 15 significant digits round-trip, they are the shortest digits
	 * padded with zeros (15-digit steps are coarser than half an ulp), so
	 * at most three conversions are needed. Not so for subnormals, whose
	 * ulp is far coarser: they search from one digit up.
	 */
	for (prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++)
	{
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	p = e;
	initStringInfo(&s);
	if (*p == '-')
	{
		appendStringInfoChar(&s, '-');
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	pointpos = exp10 + 1;		/* digits before the decimal point */
	if (pointpos <= 0)
	{
		appendStringInfoString(&s, "0.");
		for (int i = 0; i < -pointpos; i++)
			appendStringInfoChar(&s, '0');
		appendStringInfoString(&s, digits);
	}
	else if (pointpos >= nd)
	{
		appendStringInfoString(&s, digits);
		for (int i = nd; i < pointpos; i++)
			appendStringInfoChar(&s, '0');
	}
	else
	{
		appendBinaryStringInfo(&s, digits, pointpos);
		appendStringInfoChar(&s, '.');
		appendStringInfoString(&s, digits + pointpos);
	}
	strlcpy(buf, s.data, len);
	pfree(s.data);
}

/*
 * Shortest decimal that reads back as v, laid out without an exponent, as
 * Go's strconv.FormatFloat(v, 'f', -1, 64). The digits come from
 * PostgreSQL's Ryu (common/shortest_dec.h): the shortest digit string that
 * round-trips, the one closest to v when several do, which is also what
 * Go's shortest formatting picks. Ryu writes them either positionally or
 * with an exponent; both are re-laid out positionally here.
 * buf must hold API_FLOAT_BUFLEN bytes; returns the length written.
 */
int
api_format_float_n(char *buf, double v)
{
	char		r[DOUBLE_SHORTEST_DECIMAL_LEN + 1];
	char		digits[DOUBLE_SHORTEST_DECIMAL_LEN];
	int			nd = 0,
				before = -1,	/* digits before Ryu's decimal point */
				exp10 = 0,
				pointpos,
				lead = 0,
				len;
	char	   *p,
			   *o = buf;

	if (isnan(v))
	{
		memcpy(buf, "NaN", 4);
		return 3;
	}
	if (isinf(v))
	{
		memcpy(buf, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	if (v == 0)
	{
		if (signbit(v))
		{
			memcpy(buf, "-0", 3);
			return 2;
		}
		memcpy(buf, "0", 2);
		return 1;
	}
	/* integers print as such (the common case for counters and gauges) */
	if (fabs(v) < 1e15 && v == rint(v))
		return pg_lltoa((int64) v, buf);

	/*
	 * PostgreSQL's Ryu never picks a decimal lying exactly on the boundary
	 * of v's rounding interval, where Go's does when v's mantissa is even.
	 * Such a boundary can only be a short decimal when it is an integer,
	 * i.e. from 2^53 up: search there.
	 */
	if (fabs(v) >= 9007199254740992.0)
	{
		format_float_search(buf, API_FLOAT_BUFLEN, v);
		return (int) strlen(buf);
	}
	len = double_to_shortest_decimal_bufn(v, r);
	r[len] = '\0';
	/* Ryu's positional form is already Go's; only its exponent form needs work */
	if (memchr(r, 'e', len) == NULL)
	{
		memcpy(buf, r, len + 1);
		return len;
	}
	p = r;
	if (*p == '-')
	{
		*o++ = '-';
		p++;
	}
	for (; *p && *p != 'e'; p++)
	{
		if (*p == '.')
			before = nd;
		else
			digits[nd++] = *p;
	}
	if (*p == 'e')
		exp10 = atoi(p + 1);
	if (before < 0)
		before = nd;
	pointpos = before + exp10;	/* digits before the decimal point */
	/* "0.000123": leading zeros only move the point */
	while (lead < nd - 1 && digits[lead] == '0')
	{
		lead++;
		pointpos--;
	}
	while (nd > lead + 1 && digits[nd - 1] == '0')
		nd--;
	if (pointpos <= 0)
	{
		*o++ = '0';
		*o++ = '.';
		memset(o, '0', -pointpos);
		o += -pointpos;
		memcpy(o, digits + lead, nd - lead);
		o += nd - lead;
	}
	else if (pointpos >= nd - lead)
	{
		memcpy(o, digits + lead, nd - lead);
		o += nd - lead;
		memset(o, '0', pointpos - (nd - lead));
		o += pointpos - (nd - lead);
	}
	else
	{
		memcpy(o, digits + lead, pointpos);
		o += pointpos;
		*o++ = '.';
		memcpy(o, digits + lead + pointpos, nd - lead - pointpos);
		o += nd - lead - pointpos;
	}
	*o = '\0';
	return (int) (o - buf);
}

void
api_format_float(char *buf, size_t len, double v)
{
	char		tmp[API_FLOAT_BUFLEN];

	api_format_float_n(tmp, v);
	strlcpy(buf, tmp, len);
}

/* Go's time.Duration.String() for a whole number of milliseconds. */
void
api_format_go_duration(char *buf, size_t len, int64 ms)
{
	StringInfoData s;
	uint64		u;

	if (ms == 0)
	{
		strlcpy(buf, "0s", len);
		return;
	}
	initStringInfo(&s);
	if (ms < 0)
	{
		appendStringInfoChar(&s, '-');
		u = (uint64) (-(ms + 1)) + 1;
	}
	else
		u = (uint64) ms;
	if (u < 1000)
		appendStringInfo(&s, UINT64_FORMAT "ms", u);
	else
	{
		uint64		h = u / 3600000,
					m = (u / 60000) % 60,
					sec = (u / 1000) % 60,
					frac = u % 1000;

		if (h > 0)
			appendStringInfo(&s, UINT64_FORMAT "h", h);
		if (h > 0 || m > 0)
			appendStringInfo(&s, UINT64_FORMAT "m", m);
		appendStringInfo(&s, UINT64_FORMAT, sec);
		if (frac > 0)
		{
			char		f[8];
			int			fl;

			snprintf(f, sizeof(f), "%03d", (int) frac);
			fl = 3;
			while (fl > 0 && f[fl - 1] == '0')
				f[--fl] = '\0';
			appendStringInfo(&s, ".%s", f);
		}
		appendStringInfoChar(&s, 's');
	}
	strlcpy(buf, s.data, len);
	pfree(s.data);
}

/* A JSON string as Go's encoding/json writes it. */
void
json_string_len(StringInfo s, const char *str, int len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) str;
	const unsigned char *end = p + len;

	appendStringInfoChar(s, '"');
	while (p < end)
	{
		unsigned char c;
		const unsigned char *run = p;

		/* runs of characters that need no escaping go in one copy */
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\' &&
			   *p != '<' && *p != '>' && *p != '&')
			p++;
		if (p > run)
			appendBinaryStringInfo(s, (const char *) run, p - run);
		if (p >= end)
			break;
		c = *p;
		if (c < 0x80)
		{
			switch (c)
			{
				case '"':
					appendStringInfoString(s, "\\\"");
					break;
				case '\\':
					appendStringInfoString(s, "\\\\");
					break;
				case '\n':
					appendStringInfoString(s, "\\n");
					break;
				case '\r':
					appendStringInfoString(s, "\\r");
					break;
				case '\t':
					appendStringInfoString(s, "\\t");
					break;
				case '<':
				case '>':
				case '&':
					appendStringInfo(s, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
					break;
				default:
					if (c < 0x20)
						appendStringInfo(s, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
					else
						appendStringInfoChar(s, (char) c);
			}
			p++;
			continue;
		}
		{
			int			l = pg_utf_mblen(p);

			if (p + l > end || !pg_utf8_islegal(p, l))
			{
				appendStringInfoString(s, "\\ufffd");
				p++;
				continue;
			}
			/* U+2028 and U+2029 break JavaScript parsers: Go escapes them */
			if (l == 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
				appendStringInfo(s, "\\u202%c", p[2] == 0xa8 ? '8' : '9');
			else
				appendBinaryStringInfo(s, (const char *) p, l);
			p += l;
		}
	}
	appendStringInfoChar(s, '"');
}

void
json_string(StringInfo s, const char *str)
{
	json_string_len(s, str, strlen(str));
}

void
json_float(StringInfo s, double v)
{
	int			n;

	enlargeStringInfo(s, API_FLOAT_BUFLEN + 2);
	s->data[s->len] = '"';
	n = api_format_float_n(s->data + s->len + 1, v);
	s->data[s->len + 1 + n] = '"';
	s->len += n + 2;
	s->data[s->len] = '\0';
}

/* Seconds with up to three decimals, as Prometheus' jsonutil.MarshalTimestamp. */
void
json_timestamp(StringInfo s, int64 ms)
{
	uint64		u;
	int			frac;

	if (ms < 0)
	{
		appendStringInfoChar(s, '-');
		u = (uint64) (-(ms + 1)) + 1;
	}
	else
		u = (uint64) ms;
	{
		char		num[24];
		int			len = pg_ulltoa_n(u / 1000, num);

		appendBinaryStringInfo(s, num, len);
	}
	frac = (int) (u % 1000);
	if (frac != 0)
	{
		char		f[4] = {'.', '0' + frac / 100, '0' + (frac / 10) % 10, '0' + frac % 10};

		appendBinaryStringInfo(s, f, 4);
	}
}

/* {"name":"value",...}; label sets are kept sorted by name. */
void
json_labels(StringInfo s, const MimirLabelSet *ls)
{
	appendStringInfoChar(s, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (i > 0)
			appendStringInfoChar(s, ',');
		json_string(s, ls->labels[i].name);
		appendStringInfoChar(s, ':');
		json_string(s, ls->labels[i].value);
	}
	appendStringInfoChar(s, '}');
}

void
json_string_list(StringInfo s, List *strings)
{
	ListCell   *lc;
	bool		first = true;

	appendStringInfoChar(s, '[');
	foreach(lc, strings)
	{
		if (!first)
			appendStringInfoChar(s, ',');
		first = false;
		json_string(s, (const char *) lfirst(lc));
	}
	appendStringInfoChar(s, ']');
}

void
api_success_begin(ApiResponse *resp)
{
	resp->status = 200;
	resp->content_type = "application/json";
	resetStringInfo(&resp->body);
	appendStringInfoString(&resp->body, "{\"status\":\"success\",\"data\":");
}

void
api_success_end(ApiResponse *resp, List *warnings, List *infos)
{
	if (warnings != NIL)
	{
		appendStringInfoString(&resp->body, ",\"warnings\":");
		json_string_list(&resp->body, warnings);
	}
	if (infos != NIL)
	{
		appendStringInfoString(&resp->body, ",\"infos\":");
		json_string_list(&resp->body, infos);
	}
	appendStringInfoChar(&resp->body, '}');
}

const char *
api_error_name(ApiErrorType type)
{
	switch (type)
	{
		case API_ERR_BAD_DATA:
			return "bad_data";
		case API_ERR_EXECUTION:
			return "execution";
		case API_ERR_CANCELED:
			return "canceled";
		case API_ERR_TIMEOUT:
			return "timeout";
		case API_ERR_INTERNAL:
			return "internal";
		case API_ERR_UNAVAILABLE:
			return "unavailable";
		case API_ERR_NOT_FOUND:
			return "not_found";
		case API_ERR_TOO_MANY_REQUESTS:
			return "too_many_requests";
		case API_ERR_TOO_LARGE:
			return "too_large_entry";
		case API_ERR_METHOD:
			return "method_not_allowed";
		case API_ERR_NONE:
			break;
	}
	return "internal";
}

int
api_error_status(ApiErrorType type)
{
	switch (type)
	{
		case API_ERR_BAD_DATA:
			return 400;
		case API_ERR_EXECUTION:
			return 422;
		case API_ERR_CANCELED:
		case API_ERR_TIMEOUT:
		case API_ERR_UNAVAILABLE:
			return 503;
		case API_ERR_NOT_FOUND:
			return 404;
		case API_ERR_TOO_MANY_REQUESTS:
			return 429;
		case API_ERR_TOO_LARGE:
			return 413;
		case API_ERR_METHOD:
			return 405;
		case API_ERR_INTERNAL:
		case API_ERR_NONE:
			break;
	}
	return 500;
}

/* {"status":"error","errorType":"...","error":"..."} with the type's status. */
void
api_error_va(ApiResponse *resp, ApiErrorType type, const char *fmt, va_list ap)
{
	StringInfoData msg;

	initStringInfo(&msg);
	for (;;)
	{
		va_list		copy;
		int			needed;

		va_copy(copy, ap);
		needed = appendStringInfoVA(&msg, fmt, copy);
		va_end(copy);
		if (needed == 0)
			break;
		enlargeStringInfo(&msg, needed);
	}
	resp->status = api_error_status(type);
	resp->content_type = "application/json";
	resetStringInfo(&resp->body);
	appendStringInfoString(&resp->body, "{\"status\":\"error\",\"errorType\":");
	json_string(&resp->body, api_error_name(type));
	appendStringInfoString(&resp->body, ",\"error\":");
	json_string(&resp->body, msg.data);
	appendStringInfoChar(&resp->body, '}');
	pfree(msg.data);
}

void
api_error(ApiResponse *resp, ApiErrorType type, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	api_error_va(resp, type, fmt, ap);
	va_end(ap);
}
