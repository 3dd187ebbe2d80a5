/*
 * gotmpl_funcs.c — the functions alert templates can call: Go's builtins
 * (executed by gotmpl_exec.c) and Prometheus' template functions (query,
 * first, label, value, humanize*, reReplaceAll, match, title, graphLink ...)
 * with Prometheus' results and error messages.
 */
#include "ruler/gotmpl_int.h"

#include <math.h>
#include <wctype.h>

#include "catalog/pg_collation_d.h"
#include "mb/pg_wchar.h"
#include "regex/regex.h"

/* ---------------------------------------------------------------------
 * regular expressions (RE2 syntax mapped onto PostgreSQL's engine)
 * --------------------------------------------------------------------- */
typedef struct GtRegex
{
	regex_t		re;
	pg_wchar   *w;				/* the subject, as wide chars */
	int		   *byteoff;		/* byte offset of each wide char (+1 for the end) */
	int			wlen;
} GtRegex;

static char *
re2_to_are(const char *re)
{
	StringInfoData b;

	initStringInfo(&b);
	/* ARE accepts embedded options only at the start, as RE2 code usually writes them */
	if (re[0] == '(' && re[1] == '?' && strchr(re, ')'))
	{
		const char *close = strchr(re, ')');
		bool		flags_only = close > re + 2;

		for (const char *q = re + 2; q < close; q++)
			if (!strchr("imsU", *q))
				flags_only = false;
		if (flags_only)
		{
			StringInfoData f;

			initStringInfo(&f);
			for (const char *q = re + 2; q < close; q++)
				if (*q == 'i')
					appendStringInfoChar(&f, 'i');
				else if (*q == 'm')
					appendStringInfoChar(&f, 'n');
			if (f.len > 0)
				appendStringInfo(&b, "(?%s)", f.data);
			re = close + 1;
		}
	}
	appendStringInfoString(&b, re);
	return b.data;
}

static bool
regex_compile(GtRegex *r, const char *pattern, char **err)
{
	char	   *are = re2_to_are(pattern);
	int			len = strlen(are);
	pg_wchar   *w = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(are, w, len);
	int			rc = pg_regcomp(&r->re, w, wlen, REG_ADVANCED, C_COLLATION_OID);

	if (rc != REG_OKAY)
	{
		char		msg[256];

		pg_regerror(rc, &r->re, msg, sizeof(msg));
		*err = psprintf("error parsing regexp: %s: `%s`", msg, pattern);
		return false;
	}
	return true;
}

static void
regex_subject(GtRegex *r, const char *s)
{
	int			len = strlen(s);
	int			i = 0,
				k = 0;

	r->w = palloc((len + 1) * sizeof(pg_wchar));
	r->byteoff = palloc((len + 2) * sizeof(int));
	while (i < len)
	{
		int			l = pg_utf_mblen((const unsigned char *) s + i);

		if (l > len - i)
			l = len - i;
		r->byteoff[k] = i;
		pg_mb2wchar_with_len(s + i, r->w + k, l);
		k++;
		i += l;
	}
	r->byteoff[k] = len;
	r->wlen = k;
}

/* next match at or after wide position from; false if none */
static bool
regex_next(GtRegex *r, int from, regmatch_t *m, int nmatch)
{
	int			rc;

	if (from > r->wlen)
		return false;
	rc = pg_regexec(&r->re, r->w, r->wlen, from, NULL, nmatch, m, 0);
	if (rc == REG_NOMATCH)
		return false;
	if (rc != REG_OKAY)
	{
		char		msg[256];

		pg_regerror(rc, &r->re, msg, sizeof(msg));
		gt_fail("regular expression failed: %s", msg);
	}
	return true;
}

/* Go's Regexp.ReplaceAllString with $1 / ${1} / $$ expansion */
static char *
re_replace_all(const char *pattern, const char *repl, const char *text, char **err)
{
	GtRegex		r;
	StringInfoData out;
	regmatch_t	m[10];
	int			pos = 0;
	int			last_end = -1;
	int			copied = 0;		/* wide position copied so far */

	if (!regex_compile(&r, pattern, err))
		return NULL;
	regex_subject(&r, text);
	initStringInfo(&out);
	while (pos <= r.wlen && regex_next(&r, pos, m, 10))
	{
		int			ms = (int) m[0].rm_so,
					me = (int) m[0].rm_eo;

		/* an empty match right after the previous match is ignored */
		if (ms == me && ms == last_end)
		{
			pos = ms + 1;
			continue;
		}
		appendBinaryStringInfo(&out, text + r.byteoff[copied], r.byteoff[ms] - r.byteoff[copied]);
		for (const char *t = repl; *t;)
		{
			if (*t != '$')
			{
				appendStringInfoChar(&out, *t++);
				continue;
			}
			if (t[1] == '$')
			{
				appendStringInfoChar(&out, '$');
				t += 2;
				continue;
			}
			{
				const char *nstart,
						   *nend;
				const char *after;

				if (t[1] == '{')
				{
					nstart = t + 2;
					nend = strchr(nstart, '}');
					if (!nend || nend == nstart)
					{
						appendStringInfoChar(&out, *t++);
						continue;
					}
					after = nend + 1;
				}
				else
				{
					nstart = nend = t + 1;
					while (*nend && (isalnum((unsigned char) *nend) || *nend == '_'))
						nend++;
					if (nend == nstart)
					{
						appendStringInfoChar(&out, *t++);
						continue;
					}
					after = nend;
				}
				{
					bool		digits = true;
					int			g = 0;

					for (const char *q = nstart; q < nend; q++)
					{
						if (!isdigit((unsigned char) *q))
							digits = false;
						else if (g < 1000)
							g = g * 10 + (*q - '0');
					}
					if (digits && g < 10 && g <= (int) r.re.re_nsub && m[g].rm_so >= 0)
						appendBinaryStringInfo(&out, text + r.byteoff[m[g].rm_so],
											   r.byteoff[m[g].rm_eo] - r.byteoff[m[g].rm_so]);
				}
				t = after;
			}
		}
		copied = me;
		last_end = me;
		pos = me > ms ? me : me + 1;
	}
	if (copied < r.wlen)
		appendBinaryStringInfo(&out, text + r.byteoff[copied], r.byteoff[r.wlen] - r.byteoff[copied]);
	pg_regfree(&r.re);
	return out.data;
}

/* ---------------------------------------------------------------------
 * helpers
 * --------------------------------------------------------------------- */
static GtValue
html_value(const char *s)
{
	GtValue		v = gv_string(s);

	v.kind = GV_HTML;
	return v;
}

static bool
arg_float(GtCall *c, GtValue *args, int i, double *v)
{
	return gt_to_float(&args[i], v, &c->err);
}

static char *
pct4g(double v, const char *suffix)
{
	StringInfoData b;

	initStringInfo(&b);
	gofmt_float(&b, v, 'g', 4);
	appendStringInfoString(&b, suffix);
	return b.data;
}

static char *
case_map(const char *s, int mode)	/* 0 lower, 1 upper, 2 title */
{
	StringInfoData b;
	bool		prev_sep = true;

	initStringInfo(&b);
	while (*s)
	{
		int			l = pg_utf_mblen((const unsigned char *) s);
		pg_wchar	c;
		unsigned char utf[8];
		bool		sep;

		if (l > (int) strlen(s))
			l = strlen(s);
		c = utf8_to_unicode((const unsigned char *) s);
		if (c < 0x80)
			sep = !(isalnum((int) c) || c == '_');
		else
			sep = iswspace((wint_t) c);
		if (mode == 1 || (mode == 2 && prev_sep))
			c = (pg_wchar) towupper((wint_t) c);
		else if (mode == 0)
			c = (pg_wchar) towlower((wint_t) c);
		prev_sep = sep;
		unicode_to_utf8(c, utf);
		appendBinaryStringInfo(&b, (char *) utf, pg_utf_mblen(utf));
		s += l;
	}
	return b.data;
}

/* net.SplitHostPort; false when hostport has no valid port part */
static bool
split_host_port(const char *hp, char **host, char **port)
{
	const char *colon;

	if (hp[0] == '[')
	{
		const char *end = strchr(hp, ']');

		if (!end || end[1] != ':')
			return false;
		*host = pnstrdup(hp + 1, end - hp - 1);
		*port = pstrdup(end + 2);
		return true;
	}
	colon = strrchr(hp, ':');
	if (!colon || strchr(hp, ':') != colon)
		return false;
	*host = pnstrdup(hp, colon - hp);
	*port = pstrdup(colon + 1);
	return true;
}

/* ---------------------------------------------------------------------
 * Prometheus' functions
 * --------------------------------------------------------------------- */
static GtValue
fn_query(GtCall *c, int n, GtValue *a)
{
	const char *q = gt_arg_string(a, 0);
	GtValue		v = gv_invalid();
	int			cnt = 0;
	GtSample   *res;

	if (c->env->query == NULL)
	{
		c->err = pstrdup("query is not available here");
		return v;
	}
	res = c->env->query(c->env->query_arg, q, c->env->t_ms, &cnt);
	if (cnt < 0)
	{
		/* the callback reports failures as cnt < 0 with the message in res->labels */
		c->err = res && res->labels.n > 0 ? res->labels.labels[0].value : pstrdup("query failed");
		return v;
	}
	v.kind = GV_SLICE;
	v.nsamples = cnt;
	v.samples = palloc(sizeof(GtSample *) * Max(cnt, 1));
	for (int i = 0; i < cnt; i++)
		v.samples[i] = &res[i];
	return v;
}

static GtValue
fn_first(GtCall *c, int n, GtValue *a)
{
	GtValue		s = gt_arg_slice(a, 0);
	GtValue		v = gv_invalid();

	if (s.nsamples == 0)
	{
		c->err = pstrdup("first() called on vector with no elements");
		return v;
	}
	v.kind = GV_SAMPLE;
	v.sample = s.samples[0];
	return v;
}

static const char *
sample_label(GtSample *s, const char *name)
{
	for (int i = 0; i < s->labels.n; i++)
		if (strcmp(s->labels.labels[i].name, name) == 0)
			return s->labels.labels[i].value;
	return "";
}

static GtValue
fn_label(GtCall *c, int n, GtValue *a)
{
	const char *name = gt_arg_string(a, 0);
	GtSample   *s = gt_arg_sample(a, 1);

	if (s == NULL)
	{
		c->err = pstrdup("runtime error: invalid memory address or nil pointer dereference");
		return gv_invalid();
	}
	return gv_string(sample_label(s, name));
}

static GtValue
fn_value(GtCall *c, int n, GtValue *a)
{
	GtSample   *s = gt_arg_sample(a, 0);

	if (s == NULL)
	{
		c->err = pstrdup("runtime error: invalid memory address or nil pointer dereference");
		return gv_invalid();
	}
	return gv_float(s->value);
}

static GtValue
fn_strvalue(GtCall *c, int n, GtValue *a)
{
	GtSample   *s = gt_arg_sample(a, 0);

	if (s == NULL)
	{
		c->err = pstrdup("runtime error: invalid memory address or nil pointer dereference");
		return gv_invalid();
	}
	return gv_string(sample_label(s, "__value__"));
}

static GtValue
fn_args(GtCall *c, int n, GtValue *a)
{
	GtValue		v = gv_invalid();
	GtMap	   *m = palloc0(sizeof(GtMap));

	m->n = n;
	m->keys = palloc(sizeof(char *) * Max(n, 1));
	m->vals = palloc(sizeof(GtValue) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		m->keys[i] = psprintf("arg%d", i);
		m->vals[i] = a[i];
	}
	/* keys sort as Go prints maps: arg0, arg1, arg10, arg2 ... */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && strcmp(m->keys[j - 1], m->keys[j]) > 0; j--)
		{
			char	   *tk = m->keys[j];
			GtValue		tv = m->vals[j];

			m->keys[j] = m->keys[j - 1];
			m->vals[j] = m->vals[j - 1];
			m->keys[j - 1] = tk;
			m->vals[j - 1] = tv;
		}
	v.kind = GV_MAP;
	v.map = m;
	return v;
}

static GtValue
fn_reReplaceAll(GtCall *c, int n, GtValue *a)
{
	const char *pattern = gt_arg_string(a, 0);
	const char *repl = gt_arg_string(a, 1);
	const char *text = gt_arg_string(a, 2);
	char	   *err = NULL;
	char	   *r = re_replace_all(pattern, repl, text, &err);

	if (r == NULL)
	{
		/* regexp.MustCompile panics; text/template reports the panic as the call's error */
		c->err = strchr(pattern, '`') ? psprintf("regexp: Compile(%s): %s", gofmt_quote(pattern), err)
			: psprintf("regexp: Compile(`%s`): %s", pattern, err);
		return gv_invalid();
	}
	return gv_string(r);
}

static GtValue
fn_match(GtCall *c, int n, GtValue *a)
{
	const char *pattern = gt_arg_string(a, 0);
	const char *s = gt_arg_string(a, 1);
	GtRegex		r;
	regmatch_t	m[1];
	bool		found;

	if (!regex_compile(&r, pattern, &c->err))
		return gv_invalid();
	regex_subject(&r, s);
	found = regex_next(&r, 0, m, 1);
	pg_regfree(&r.re);
	return gv_bool(found);
}

static GtValue
fn_safeHtml(GtCall *c, int n, GtValue *a)
{
	return html_value(gt_arg_string(a, 0));
}

static GtValue
fn_title(GtCall *c, int n, GtValue *a)
{
	return gv_string(case_map(gt_arg_string(a, 0), 2));
}

static GtValue
fn_toUpper(GtCall *c, int n, GtValue *a)
{
	return gv_string(case_map(gt_arg_string(a, 0), 1));
}

static GtValue
fn_toLower(GtCall *c, int n, GtValue *a)
{
	return gv_string(case_map(gt_arg_string(a, 0), 0));
}

static GtValue
link_for(GtValue *a, int tab)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "/graph?g0.expr=");
	gofmt_query_escape(&b, gt_arg_string(a, 0));
	appendStringInfo(&b, "&g0.tab=%d", tab);
	return gv_string(b.data);
}

static GtValue
fn_graphLink(GtCall *c, int n, GtValue *a)
{
	return link_for(a, 0);
}

static GtValue
fn_tableLink(GtCall *c, int n, GtValue *a)
{
	return link_for(a, 1);
}

static GtValue
fn_sortByLabel(GtCall *c, int n, GtValue *a)
{
	const char *label = gt_arg_string(a, 0);
	GtValue		v = gt_arg_slice(a, 1);

	/* insertion sort: stable, as sort.Stable */
	for (int i = 1; i < v.nsamples; i++)
		for (int j = i; j > 0 &&
			 strcmp(sample_label(v.samples[j - 1], label), sample_label(v.samples[j], label)) > 0; j--)
		{
			GtSample   *t = v.samples[j];

			v.samples[j] = v.samples[j - 1];
			v.samples[j - 1] = t;
		}
	return v;
}

static GtValue
fn_stripPort(GtCall *c, int n, GtValue *a)
{
	const char *hp = gt_arg_string(a, 0);
	char	   *host,
			   *port;

	if (!split_host_port(hp, &host, &port))
		return gv_string(hp);
	return gv_string(host);
}

static GtValue
fn_stripDomain(GtCall *c, int n, GtValue *a)
{
	const char *hp = gt_arg_string(a, 0);
	char	   *host = (char *) hp,
			   *port = NULL;
	char	   *dot;

	if (!split_host_port(hp, &host, &port))
	{
		host = (char *) hp;
		port = NULL;
	}
	/* IP addresses stay as they are */
	if (strchr(host, ':') || strspn(host, "0123456789.") == strlen(host))
		return gv_string(hp);
	dot = strchr(host, '.');
	if (dot)
		host = pnstrdup(host, dot - host);
	return gv_string(port ? psprintf("%s:%s", host, port) : host);
}

static GtValue
fn_humanize(GtCall *c, int n, GtValue *a)
{
	static const char *big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
	static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
	double		v;
	const char *prefix = "";

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	if (v == 0 || isnan(v) || isinf(v))
		return gv_string(pct4g(v, ""));
	if (fabs(v) >= 1)
	{
		for (int i = 0; i < lengthof(big); i++)
		{
			if (fabs(v) < 1000)
				break;
			prefix = big[i];
			v /= 1000;
		}
		return gv_string(pct4g(v, prefix));
	}
	for (int i = 0; i < lengthof(small); i++)
	{
		if (fabs(v) >= 1)
			break;
		prefix = small[i];
		v *= 1000;
	}
	return gv_string(pct4g(v, prefix));
}

static GtValue
fn_humanize1024(GtCall *c, int n, GtValue *a)
{
	static const char *big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
	double		v;
	const char *prefix = "";

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	if (fabs(v) <= 1 || isnan(v) || isinf(v))
		return gv_string(pct4g(v, ""));
	for (int i = 0; i < lengthof(big); i++)
	{
		if (fabs(v) < 1024)
			break;
		prefix = big[i];
		v /= 1024;
	}
	return gv_string(pct4g(v, prefix));
}

static GtValue
fn_humanizeDuration(GtCall *c, int n, GtValue *a)
{
	static const char *small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
	double		v;
	const char *prefix = "";

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	if (isnan(v) || isinf(v))
		return gv_string(pct4g(v, ""));
	if (v == 0)
		return gv_string(pct4g(v, "s"));
	if (fabs(v) >= 1)
	{
		const char *sign = "";
		int64		d,
					secs,
					mins,
					hours,
					days;

		if (v < 0)
		{
			sign = "-";
			v = -v;
		}
		d = (int64) v;
		secs = d % 60;
		mins = (d / 60) % 60;
		hours = (d / 60 / 60) % 24;
		days = d / 60 / 60 / 24;
		if (days != 0)
			return gv_string(psprintf("%s" INT64_FORMAT "d " INT64_FORMAT "h " INT64_FORMAT "m " INT64_FORMAT "s",
									  sign, days, hours, mins, secs));
		if (hours != 0)
			return gv_string(psprintf("%s" INT64_FORMAT "h " INT64_FORMAT "m " INT64_FORMAT "s",
									  sign, hours, mins, secs));
		if (mins != 0)
			return gv_string(psprintf("%s" INT64_FORMAT "m " INT64_FORMAT "s", sign, mins, secs));
		return gv_string(psprintf("%s%s", sign, pct4g(v, "s")));
	}
	for (int i = 0; i < lengthof(small); i++)
	{
		if (fabs(v) >= 1)
			break;
		prefix = small[i];
		v *= 1000;
	}
	return gv_string(pct4g(v, psprintf("%ss", prefix)));
}

static GtValue
fn_humanizePercentage(GtCall *c, int n, GtValue *a)
{
	double		v;

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	return gv_string(pct4g(v * 100, "%"));
}

/* seconds -> ns, truncated to milliseconds as model.TimeFromUnixNano does */
static bool
float_to_time_ns(GtCall *c, double v, int64 *ns)
{
	double		t = v * 1e9;

	if (isnan(v) || isinf(v))
	{
		c->err = pstrdup("value is NaN or Inf");
		return false;
	}
	if (t > 9.2233720368547758e18 || t < -9.2233720368547758e18)
	{
		StringInfoData b;

		initStringInfo(&b);
		gofmt_float_shortest(&b, v, 'g');
		c->err = psprintf("%s cannot be represented as a nanoseconds timestamp since it overflows int64", b.data);
		return false;
	}
	*ns = ((int64) t / 1000000) * 1000000;
	return true;
}

static GtValue
fn_humanizeTimestamp(GtCall *c, int n, GtValue *a)
{
	double		v;
	int64		ns;
	StringInfoData b;

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	if (isnan(v) || isinf(v))
		return gv_string(pct4g(v, ""));
	if (!float_to_time_ns(c, v, &ns))
		return gv_invalid();
	initStringInfo(&b);
	gofmt_time(&b, ns);
	return gv_string(b.data);
}

static GtValue
fn_toTime(GtCall *c, int n, GtValue *a)
{
	double		v;
	GtValue		r = gv_invalid();

	if (!arg_float(c, a, 0, &v) || !float_to_time_ns(c, v, &r.i))
		return gv_invalid();
	r.kind = GV_TIME;
	return r;
}

static GtValue
fn_toDuration(GtCall *c, int n, GtValue *a)
{
	double		v;
	GtValue		r = gv_invalid();

	if (!arg_float(c, a, 0, &v))
		return gv_invalid();
	if (isnan(v) || isinf(v))
	{
		c->err = pstrdup("value is NaN or Inf");
		return gv_invalid();
	}
	r.kind = GV_DURATION;
	r.i = (int64) (v * 1e9);
	return r;
}

static GtValue
fn_parseDuration(GtCall *c, int n, GtValue *a)
{
	const char *s = gt_arg_string(a, 0);
	int64		ms;

	if (*s == '\0')
	{
		c->err = pstrdup("empty duration string");
		return gv_invalid();
	}
	if (!mimir_parse_duration(s, &ms))
	{
		c->err = psprintf("not a valid duration string: %s", gofmt_quote(s));
		return gv_invalid();
	}
	return gv_float((double) ms / 1000.0);
}

static GtValue
fn_now(GtCall *c, int n, GtValue *a)
{
	return gv_float((double) c->env->t_ms / 1000.0);
}

static GtValue
fn_pathPrefix(GtCall *c, int n, GtValue *a)
{
	const char *u = c->env->external_url ? c->env->external_url : "";
	const char *p = strstr(u, "://");

	if (p == NULL)
		return gv_string("");
	p = strchr(p + 3, '/');
	return gv_string(p ? pstrdup(p) : "");
}

static GtValue
fn_externalURL(GtCall *c, int n, GtValue *a)
{
	return gv_string(c->env->external_url ? c->env->external_url : "");
}

/* fn = NULL: one of Go's builtins, executed by gotmpl_exec.c */
static const GtFuncDef funcs[] = {
	{"and", NULL, -1, 1},
	{"call", NULL, -1, 1},
	{"eq", NULL, -1, 1},
	{"ge", NULL, 2, 2},
	{"gt", NULL, 2, 2},
	{"html", NULL, -1, 0},
	{"index", NULL, -1, 1},
	{"js", NULL, -1, 0},
	{"le", NULL, 2, 2},
	{"len", NULL, 1, 1},
	{"lt", NULL, 2, 2},
	{"ne", NULL, 2, 2},
	{"not", NULL, 1, 1},
	{"or", NULL, -1, 1},
	{"print", NULL, -1, 0},
	{"printf", NULL, -1, 1},
	{"println", NULL, -1, 0},
	{"slice", NULL, -1, 1},
	{"urlquery", NULL, -1, 0},
	{"args", fn_args, -1, 0},
	{"externalURL", fn_externalURL, 0, 0},
	{"first", fn_first, 1, 1},
	{"graphLink", fn_graphLink, 1, 1},
	{"humanize", fn_humanize, 1, 1},
	{"humanize1024", fn_humanize1024, 1, 1},
	{"humanizeDuration", fn_humanizeDuration, 1, 1},
	{"humanizePercentage", fn_humanizePercentage, 1, 1},
	{"humanizeTimestamp", fn_humanizeTimestamp, 1, 1},
	{"label", fn_label, 2, 2},
	{"match", fn_match, 2, 2},
	{"now", fn_now, 0, 0},
	{"parseDuration", fn_parseDuration, 1, 1},
	{"pathPrefix", fn_pathPrefix, 0, 0},
	{"query", fn_query, 1, 1},
	{"reReplaceAll", fn_reReplaceAll, 3, 3},
	{"safeHtml", fn_safeHtml, 1, 1},
	{"sortByLabel", fn_sortByLabel, 2, 2},
	{"strvalue", fn_strvalue, 1, 1},
	{"stripDomain", fn_stripDomain, 1, 1},
	{"stripPort", fn_stripPort, 1, 1},
	{"tableLink", fn_tableLink, 1, 1},
	{"title", fn_title, 1, 1},
	{"toDuration", fn_toDuration, 1, 1},
	{"toLower", fn_toLower, 1, 1},
	{"toTime", fn_toTime, 1, 1},
	{"toUpper", fn_toUpper, 1, 1},
	{"value", fn_value, 1, 1},
};

const GtFuncDef *
gt_lookup_func(const char *name)
{
	for (int i = 0; i < lengthof(funcs); i++)
		if (strcmp(funcs[i].name, name) == 0)
			return &funcs[i];
	return NULL;
}
