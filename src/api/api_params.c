/*
 * api_params.c — request parameters as Prometheus reads them: URL query and
 * form-encoded POST bodies (Go's r.Form: body values first), timestamps as
 * RFC 3339 or Unix seconds, durations as Prometheus durations or float
 * seconds, repeated match[] selectors, limit. Error texts are Prometheus'
 * ("invalid parameter \"start\": cannot parse \"x\" to a valid timestamp").
 */
#include "api/api.h"

#include <ctype.h>
#include <math.h>

#include "promql/promql_eval.h"


/* %XX-decoding (and '+' as space in query strings and forms); *ok = false on a bad escape. */
char *
api_url_decode(const char *s, int len, bool plus_is_space, bool *ok)
{
	char	   *out = palloc(len + 1);
	int			o = 0;

	*ok = true;
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int			h,
						l;

			if (i + 2 >= len)
			{
				*ok = false;
				break;
			}
			h = mimir_hex_digit(s[i + 1]);
			l = mimir_hex_digit(s[i + 2]);
			if (h < 0 || l < 0)
			{
				*ok = false;
				break;
			}
			out[o++] = (char) (h * 16 + l);
			i += 2;
		}
		else if (s[i] == '+' && plus_is_space)
			out[o++] = ' ';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

void
api_add_param(ApiRequest *req, const char *name, const char *value)
{
	req->params = req->params
		? repalloc(req->params, sizeof(ApiParam) * (req->nparams + 1))
		: palloc(sizeof(ApiParam));
	req->params[req->nparams].name = pstrdup(name);
	req->params[req->nparams].value = pstrdup(value);
	req->nparams++;
}

/* Parse "a=1&b=2" and add the pairs. Bad escapes are bad_data, as Go's ParseForm. */
static void
parse_pairs(ApiRequest *req, const char *qs, int len)
{
	int			i = 0;

	while (i < len)
	{
		int			j = i,
					eq = -1;
		char	   *name,
				   *value;
		bool		ok1,
					ok2 = true;

		while (j < len && qs[j] != '&')
		{
			if (qs[j] == '=' && eq < 0)
				eq = j;
			j++;
		}
		if (j > i)
		{
			if (memchr(qs + i, ';', j - i) != NULL)
				ereport(ERROR,
						(errcode(API_ERRCODE_BAD_DATA),
						 errmsg("error parsing form values: invalid semicolon separator in query")));
			if (eq < 0)
			{
				name = api_url_decode(qs + i, j - i, true, &ok1);
				value = "";
			}
			else
			{
				name = api_url_decode(qs + i, eq - i, true, &ok1);
				value = api_url_decode(qs + eq + 1, j - eq - 1, true, &ok2);
			}
			if (!ok1 || !ok2)
			{
				const char *p = memchr(qs + i, '%', j - i);
				char		esc[4] = {0};

				/* report the offending escape like Go: invalid URL escape "%zz" */
				for (; p && p < qs + j; p = memchr(p + 1, '%', qs + j - p - 1))
					if (p + 2 >= qs + j || mimir_hex_digit(p[1]) < 0 || mimir_hex_digit(p[2]) < 0)
						break;
				if (p)
					strlcpy(esc, p, Min((int) sizeof(esc), (int) (qs + j - p) + 1));
				ereport(ERROR,
						(errcode(API_ERRCODE_BAD_DATA),
						 errmsg("error parsing form values: invalid URL escape %s", mimir_go_quote(esc))));
			}
			mimir_check_utf8("parameter", name, strlen(name));
			mimir_check_utf8("parameter", value, strlen(value));
			api_add_param(req, name, value);
		}
		i = j + 1;
	}
}

void
api_parse_query_string(ApiRequest *req, const char *qs, int len)
{
	parse_pairs(req, qs, len);
}

/*
 * Form-encoded POST bodies (Grafana POSTs its range queries). Their values
 * go before the URL's, so r.FormValue-style lookups prefer them.
 */
void
api_parse_form_body(ApiRequest *req)
{
	int			nurl = req->nparams;
	ApiParam   *url = req->params;
	const char *ct = req->content_type;

	if (req->body == NULL || req->body_len == 0)
		return;
	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0 &&
		strcmp(req->method, "PATCH") != 0)
		return;
	if (ct == NULL || pg_strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return;
	req->params = NULL;
	req->nparams = 0;
	parse_pairs(req, req->body, (int) req->body_len);
	for (int i = 0; i < nurl; i++)
		api_add_param(req, url[i].name, url[i].value);
}

const char *
api_param(ApiRequest *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

List *
api_param_all(ApiRequest *req, const char *name)
{
	List	   *l = NIL;

	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			l = lappend(l, req->params[i].value);
	return l;
}

static int
days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static bool
digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* RFC 3339 (Go's time.RFC3339Nano layout), to milliseconds (truncated). */
static bool
parse_rfc3339(const char *s, int64 *ms)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				fracms = 0,
				off = 0;
	const char *p;
	int64		days,
				total;

	if (strlen(s) < 20)
		return false;
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
		!digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
		!digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		!digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return false;
	p = s + 19;
	if (*p == '.')
	{
		int			nd = 0;

		p++;
		while (*p >= '0' && *p <= '9')
		{
			if (nd < 3)
				fracms = fracms * 10 + (*p - '0');
			nd++;
			p++;
		}
		if (nd == 0)
			return false;
		for (int i = nd; i < 3; i++)
			fracms *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh,
					om;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
		p += 6;
	}
	else
		return false;
	if (*p != '\0')
		return false;
	days = pq_days_from_civil(y, mo, d);
	total = ((days * 24 + h) * 60 + mi) * 60 + sec - off;
	*ms = total * 1000 + fracms;
	return true;
}

/*
 * Prometheus' parseTime: Unix seconds as a float (rounded to the
 * millisecond), RFC 3339, or the formatted min/max times its own clients
 * send for "unbounded".
 */
bool
api_parse_time(const char *s, int64 *ms)
{
	char	   *end;
	double		t;

	if (s == NULL || *s == '\0')
		return false;
	if (!isspace((unsigned char) s[0]))
	{
		errno = 0;
		t = strtod(s, &end);
		if (end != s && *end == '\0')
		{
			double		ip,
						fp;

			if (isnan(t) || isinf(t) || fabs(t) > 9.2e15)
				return false;
			fp = modf(t, &ip);
			*ms = (int64) ip * 1000 + (int64) rint(fp * 1000);
			return true;
		}
	}
	if (strcmp(s, "-292273086-05-16T16:47:06Z") == 0)
	{
		*ms = API_MIN_TIME_MS;
		return true;
	}
	if (strcmp(s, "292277025-08-18T07:12:54.999999999Z") == 0)
	{
		*ms = API_MAX_TIME_MS;
		return true;
	}
	return parse_rfc3339(s, ms);
}

/* Prometheus' parseDuration: float seconds or a Prometheus duration. */
bool
api_parse_duration(const char *s, int64 *ms, bool *overflow)
{
	char	   *end;
	double		d;

	*overflow = false;
	if (s == NULL || *s == '\0')
		return false;
	if (!isspace((unsigned char) s[0]))
	{
		d = strtod(s, &end);
		if (end != s && *end == '\0' && !isnan(d))
		{
			double		ns = d * 1e9;

			if (ns >= 9223372036854775807.0 || ns <= -9223372036854775808.0)
			{
				*overflow = true;
				return false;
			}
			*ms = ((int64) ns) / 1000000;
			return true;
		}
	}
	return mimir_parse_duration(s, ms);
}

int64
api_time_param(ApiRequest *req, const char *name, int64 dflt)
{
	const char *v = api_param(req, name);
	int64		ms;

	if (v == NULL || *v == '\0')
		return dflt;
	if (!api_parse_time(v, &ms))
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter %s: cannot parse %s to a valid timestamp",
						mimir_go_quote(name), mimir_go_quote(v))));
	return ms;
}

int64
api_required_time_param(ApiRequest *req, const char *name)
{
	const char *v = api_param(req, name);
	int64		ms;

	if (v == NULL)
		v = "";
	if (!api_parse_time(v, &ms))
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter %s: cannot parse %s to a valid timestamp",
						mimir_go_quote(name), mimir_go_quote(v))));
	return ms;
}

/* A duration parameter; dflt when absent (pass -1 to make it required). */
int64
api_duration_param(ApiRequest *req, const char *name, int64 dflt)
{
	const char *v = api_param(req, name);
	int64		ms;
	bool		overflow;

	if ((v == NULL || *v == '\0') && dflt >= 0)
		return dflt;
	if (v == NULL)
		v = "";
	if (!api_parse_duration(v, &ms, &overflow))
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter %s: cannot parse %s to a valid duration%s",
						mimir_go_quote(name), mimir_go_quote(v),
						overflow ? ". It overflows int64" : "")));
	return ms;
}

/* Prometheus' parseLimitParam: 0 (or absent) = no limit. */
int
api_limit_param(ApiRequest *req, const char *name)
{
	const char *v = api_param(req, name);
	const char *p;
	int64		n = 0;
	bool		neg = false;

	if (v == NULL || *v == '\0')
		return 0;
	p = v;
	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');
	if (*p == '\0')
		goto syntax;
	for (; *p; p++)
	{
		if (*p < '0' || *p > '9')
			goto syntax;
		n = n * 10 + (*p - '0');
		if (n > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("invalid parameter %s: strconv.Atoi: parsing %s: value out of range",
							mimir_go_quote(name), mimir_go_quote(v))));
	}
	if (neg && n > 0)
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("invalid parameter %s: limit must be non-negative", mimir_go_quote(name))));
	return (int) n;
syntax:
	ereport(ERROR,
			(errcode(API_ERRCODE_BAD_DATA),
			 errmsg("invalid parameter %s: strconv.Atoi: parsing %s: invalid syntax",
					mimir_go_quote(name), mimir_go_quote(v))));
	return 0;
}

/*
 * Parses PromQL text; a syntax error becomes a bad_data error reading
 * "<prefix>: <parser message>" (prefix NULL: the parser's error as it is).
 */
PqNode *
api_parse_promql(const char *text, const char *prefix)
{
	MemoryContext cxt = CurrentMemoryContext;
	PqNode	   *n = NULL;

	PG_TRY();
	{
		n = promql_parse(text);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		if (ed->sqlerrcode != ERRCODE_SYNTAX_ERROR || prefix == NULL)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(API_ERRCODE_BAD_DATA),
				 errmsg("%s: %s", prefix, ed->message)));
	}
	PG_END_TRY();
	return n;
}

/*
 * The match[] selectors: a List of matcher Lists. Parsed by the PromQL
 * parser so that error positions and texts are Prometheus'. With wrap the
 * error reads `invalid parameter "match[]": ...` (as /series says it).
 */
List *
api_match_params(ApiRequest *req, const char *name, bool wrap)
{
	List	   *values = api_param_all(req, name);
	List	   *sets = NIL;
	ListCell   *lc;

	foreach(lc, values)
	{
		const char *sel = lfirst(lc);
		PqNode	   *n;
		ListCell   *mc;
		bool		nonempty = false;

		n = api_parse_promql(sel, wrap ? psprintf("invalid parameter %s", mimir_go_quote(name)) : NULL);
		if (n->kind != PQ_VECTOR_SELECTOR)
		{
			/* ParseMetricSelector accepts nothing but a plain selector */
			char	   *msg = psprintf("1:%d: parse error: unexpected %s, expected a series selector such as up{job=\"x\"}",
									   n->pos.start + 1, pq_type_name(pq_node_type(n)));

			if (wrap)
				ereport(ERROR,
						(errcode(API_ERRCODE_BAD_DATA),
						 errmsg("invalid parameter %s: %s", mimir_go_quote(name), msg)));
			ereport(ERROR, (errcode(API_ERRCODE_BAD_DATA), errmsg("%s", msg)));
		}
		foreach(mc, n->u.vs.matchers)
			if (!mimir_matcher_matches_empty((MimirMatcher *) lfirst(mc)))
				nonempty = true;
		if (!nonempty)
		{
			if (wrap)
				ereport(ERROR,
						(errcode(API_ERRCODE_BAD_DATA),
						 errmsg("invalid parameter %s: match[] must contain at least one non-empty matcher",
								mimir_go_quote(name))));
			ereport(ERROR,
					(errcode(API_ERRCODE_BAD_DATA),
					 errmsg("match[] must contain at least one non-empty matcher")));
		}
		sets = lappend(sets, n->u.vs.matchers);
	}
	return sets;
}
