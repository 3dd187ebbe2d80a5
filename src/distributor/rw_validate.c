/*
 * rw_validate.c — Mimir's distributor validation of a decoded remote-write
 * request, in Mimir's order and with its messages: labels are sorted and
 * empty-valued ones dropped, then each series is checked (metric name,
 * label count, each label, samples' time window), then exemplars and
 * metadata. An invalid series is dropped whole; the first problem becomes
 * the 400 message. Valid series get their hash here, on the HTTP thread, so
 * the backend only looks hashes up.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distributor/rw.h"

const char *const rw_metadata_type_names[RW_MD_TYPES] = {
	"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"
};

static const char *const reason_ids[RW_NREASONS] = {
	[RW_OK] = "ok",
	[RW_E_MISSING_METRIC_NAME] = "missing-metric-name",
	[RW_E_METRIC_NAME_INVALID] = "metric-name-invalid",
	[RW_E_MAX_LABEL_NAMES] = "max-label-names-per-series",
	[RW_E_MAX_LABEL_NAMES_INFO] = "max-label-names-per-info-series",
	[RW_E_LABEL_INVALID] = "label-invalid",
	[RW_E_LABEL_NAME_TOO_LONG] = "label-name-too-long",
	[RW_E_LABEL_VALUE_INVALID] = "label-value-invalid",
	[RW_E_LABEL_VALUE_TOO_LONG] = "label-value-too-long",
	[RW_E_DUPLICATE_LABEL_NAMES] = "duplicate-label-names",
	[RW_E_TOO_FAR_IN_FUTURE] = "too-far-in-future",
	[RW_E_TOO_FAR_IN_PAST] = "too-far-in-past",
	[RW_E_EXEMPLAR_LABELS_MISSING] = "exemplar-labels-missing",
	[RW_E_EXEMPLAR_TIMESTAMP_INVALID] = "exemplar-timestamp-invalid",
	[RW_E_EXEMPLAR_LABELS_TOO_LONG] = "exemplar-labels-too-long",
	[RW_E_METADATA_MISSING_NAME] = "metadata-missing-metric-name",
	[RW_E_METADATA_NAME_TOO_LONG] = "metric-name-too-long",
	[RW_E_METADATA_UNIT_TOO_LONG] = "unit-too-long",
	[RW_E_SAMPLE_OUT_OF_ORDER] = "sample-out-of-order",
	[RW_E_SAMPLE_TOO_OLD] = "sample-timestamp-too-old",
	[RW_E_SAMPLE_DUPLICATE_TIMESTAMP] = "sample-duplicate-timestamp",
	[RW_E_MAX_SERIES_PER_USER] = "max-series-per-user",
	[RW_E_MAX_SERIES_PER_METRIC] = "max-series-per-metric",
	[RW_E_EXEMPLAR_SERIES_MISSING] = "exemplar-series-missing",
	[RW_E_NATIVE_HISTOGRAMS_DISABLED] = "native-histograms-disabled",
};

static char reason_labels[RW_NREASONS][48];

const char *
rw_reason_id(int reason)
{
	return reason >= 0 && reason < RW_NREASONS && reason_ids[reason] ? reason_ids[reason] : "unknown";
}

const char *
rw_reason_label(int reason)
{
	const char *id = rw_reason_id(reason);
	char	   *out;

	if (reason < 0 || reason >= RW_NREASONS)
		return "unknown";
	out = reason_labels[reason];
	/* idempotent, so concurrent first calls are harmless */
	if (out[0] == '\0')
	{
		char		tmp[48];
		size_t		i;

		for (i = 0; id[i] && i < sizeof(tmp) - 1; i++)
			tmp[i] = id[i] == '-' ? '_' : id[i];
		tmp[i] = '\0';
		memcpy(out, tmp, i + 1);
	}
	return out;
}

void
rw_limits_default(rw_limits *l)
{
	memset(l, 0, sizeof(*l));
	l->max_label_names_per_series = 30;
	l->max_label_names_per_info_series = 80;
	l->max_label_name_length = 1024;
	l->max_label_value_length = 2048;
	l->max_metadata_length = 1024;
	l->creation_grace_period_ms = 10 * 60 * 1000;
	l->max_global_exemplars_per_user = 100000;
	strcpy(l->ha_cluster_label, "cluster");
	strcpy(l->ha_replica_label, "__replica__");
	l->ha_max_clusters = 100;
	l->ha_failover_timeout_ms = 30000;
}

/* ---- character classes ---- */

bool
rw_valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s,
			   *end = p + len;

	while (p < end)
	{
		/* ASCII fast path, 8 bytes at a time */
		while (end - p >= 8)
		{
			uint64_t	w;

			memcpy(&w, p, 8);
			if (w & 0x8080808080808080ULL)
				break;
			p += 8;
		}
		if (p >= end)
			break;
		if (*p < 0x80)
		{
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
		{
			if (end - p < 2 || (p[1] & 0xc0) != 0x80)
				return false;
			p += 2;
		}
		else if (*p >= 0xe0 && *p <= 0xef)
		{
			if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
				return false;
			if (*p == 0xe0 && p[1] < 0xa0)
				return false;	/* overlong */
			if (*p == 0xed && p[1] >= 0xa0)
				return false;	/* surrogates */
			p += 3;
		}
		else if (*p >= 0xf0 && *p <= 0xf4)
		{
			if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
				(p[3] & 0xc0) != 0x80)
				return false;
			if (*p == 0xf0 && p[1] < 0x90)
				return false;
			if (*p == 0xf4 && p[1] >= 0x90)
				return false;
			p += 4;
		}
		else
			return false;
	}
	return true;
}

/* 1: [a-zA-Z_], 2: also [0-9], 4: ':' */
static unsigned char cls[256];

static void
init_cls(void)
{
	if (cls['_'])
		return;
	for (int c = 'a'; c <= 'z'; c++)
		cls[c] = 3;
	for (int c = 'A'; c <= 'Z'; c++)
		cls[c] = 3;
	for (int c = '0'; c <= '9'; c++)
		cls[c] = 2;
	cls[':'] = 4;
	cls['_'] = 3;
}

bool
rw_valid_metric_name(const char *p, size_t len)
{
	init_cls();
	if (len == 0 || !(cls[(unsigned char) p[0]] & 5))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!cls[(unsigned char) p[i]])
			return false;
	return true;
}

bool
rw_valid_label_name(const char *p, size_t len)
{
	init_cls();
	if (len == 0 || !(cls[(unsigned char) p[0]] & 1))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!(cls[(unsigned char) p[i]] & 3))
			return false;
	return true;
}

/* ---- strings for messages ---- */

typedef struct sbuf
{
	char	   *p;
	size_t		len,
				cap;
} sbuf;

static void
sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		size_t		c = b->cap ? b->cap : 256;
		char	   *np;

		while (c < b->len + n + 1)
			c *= 2;
		np = realloc(b->p, c);
		if (np == NULL)
			return;
		b->p = np;
		b->cap = c;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(sbuf *b, const char *fmt,...)
{
	char		tmp[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		sb_put(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

/* Go's %.<max>s: at most max characters (runes) of s; sets *cut if shortened */
static void
sb_prec(sbuf *b, const char *s, size_t len, size_t max, bool *cut)
{
	size_t		i = 0,
				runes = 0;

	while (i < len && runes < max)
	{
		unsigned char c = (unsigned char) s[i];
		size_t		l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

		if (i + l > len)
			l = len - i;
		i += l;
		runes++;
	}
	sb_put(b, s, i);
	if (cut)
		*cut = i < len;
}

/* Prometheus' labels.String(): {a="b", c="d"} with Go string escaping */
static void
sb_labels(sbuf *b, const rw_label *l, uint32_t n)
{
	sb_str(b, "{");
	for (uint32_t i = 0; i < n; i++)
	{
		if (i > 0)
			sb_str(b, ", ");
		sb_put(b, l[i].name.p, l[i].name.len);
		sb_str(b, "=\"");
		for (uint32_t j = 0; j < l[i].value.len; j++)
		{
			char		c = l[i].value.p[j];

			if (c == '"' || c == '\\')
			{
				char		e[2] = {'\\', c};

				sb_put(b, e, 2);
			}
			else if (c == '\n')
				sb_str(b, "\\n");
			else
				sb_put(b, &c, 1);
		}
		sb_str(b, "\"");
	}
	sb_str(b, "}");
}

char *
rw_labels_string(const rw_label *l, uint32_t n)
{
	sbuf		b = {0};

	sb_labels(&b, l, n);
	return b.p ? b.p : strdup("{}");
}

/* the series as text, cut to 200 characters */
static void
sb_series(sbuf *b, const rw_label *l, uint32_t n, bool *cut)
{
	sbuf		t = {0};

	sb_labels(&t, l, n);
	if (t.p)
		sb_prec(b, t.p, t.len, 200, cut);
	free(t.p);
}

static void
sb_limit_hint(sbuf *b, const char *flag)
{
	sb_printf(b, ". To adjust the related per-tenant limit, configure -%s, or contact your service administrator.", flag);
}

static void
sb_id(sbuf *b, int reason)
{
	sb_printf(b, " (err-mimir-%s)", rw_reason_id(reason));
}

/* The error body must be valid UTF-8: invalid bytes become U+FFFD. */
static char *
sanitize_utf8(sbuf *b)
{
	sbuf		o = {0};
	size_t		i = 0;

	if (b->p == NULL)
		return NULL;
	if (rw_valid_utf8(b->p, b->len))
		return b->p;
	while (i < b->len)
	{
		size_t		j = i + 1;

		while (j <= b->len && j - i <= 4 && !rw_valid_utf8(b->p + i, j - i))
			j++;
		if (j <= b->len && j - i <= 4)
		{
			sb_put(&o, b->p + i, j - i);
			i = j;
		}
		else
		{
			sb_str(&o, "\xef\xbf\xbd");
			i++;
		}
	}
	free(b->p);
	return o.p;
}

/* ---- validation ---- */

static int
label_cmp(const rw_label *a, const rw_label *b)
{
	uint32_t	n = a->name.len < b->name.len ? a->name.len : b->name.len;
	int			c = memcmp(a->name.p, b->name.p, n);

	if (c != 0)
		return c;
	return a->name.len < b->name.len ? -1 : a->name.len > b->name.len;
}

static void
sort_labels(rw_label *l, uint32_t n)
{
	bool		sorted = true;

	for (uint32_t i = 1; i < n && sorted; i++)
		if (label_cmp(&l[i - 1], &l[i]) > 0)
			sorted = false;
	if (sorted)
		return;
	/* insertion sort: stable, and label sets are small */
	for (uint32_t i = 1; i < n; i++)
	{
		rw_label	x = l[i];
		uint32_t	j = i;

		while (j > 0 && label_cmp(&l[j - 1], &x) > 0)
		{
			l[j] = l[j - 1];
			j--;
		}
		l[j] = x;
	}
}

static bool
str_eq(rw_str s, const char *c)
{
	size_t		n = strlen(c);

	return s.len == n && memcmp(s.p, c, n) == 0;
}

const rw_str *
rw_series_label(const rw_request *req, const rw_series *s, const char *name)
{
	for (uint32_t i = 0; i < s->nlabels; i++)
		if (str_eq(req->labels[s->first_label + i].name, name))
			return &req->labels[s->first_label + i].value;
	return NULL;
}

void
rw_remove_label(rw_request *req, const char *name)
{
	for (uint32_t k = 0; k < req->nseries; k++)
	{
		rw_series  *s = &req->series[k];
		rw_label   *l = req->labels + s->first_label;
		uint32_t	out = 0;

		for (uint32_t i = 0; i < s->nlabels; i++)
			if (!str_eq(l[i].name, name))
				l[out++] = l[i];
		s->nlabels = out;
	}
}

static void
set_first(rw_validation *v, sbuf *msg)
{
	if (v->first_error == NULL)
		v->first_error = sanitize_utf8(msg);
	else
		free(msg->p);
	msg->p = NULL;
}

/* Mimir's validateLabels: returns RW_OK or the reason, with the message in msg */
static int
validate_labels(const rw_label *l, uint32_t n, const rw_limits *lim, sbuf *msg)
{
	const rw_label *name = NULL;
	bool		cut;
	int			maxn;

	for (uint32_t i = 0; i < n; i++)
		if (str_eq(l[i].name, "__name__"))
		{
			name = &l[i];
			break;
		}
	if (name == NULL)
	{
		sb_str(msg, "received series has no metric name");
		sb_id(msg, RW_E_MISSING_METRIC_NAME);
		return RW_E_MISSING_METRIC_NAME;
	}
	if (!rw_valid_metric_name(name->value.p, name->value.len))
	{
		sb_str(msg, "received a series with invalid metric name: '");
		sb_prec(msg, name->value.p, name->value.len, 200, NULL);
		sb_str(msg, "'");
		sb_id(msg, RW_E_METRIC_NAME_INVALID);
		return RW_E_METRIC_NAME_INVALID;
	}
	{
		bool		info = name->value.len >= 5 &&
			memcmp(name->value.p + name->value.len - 5, "_info", 5) == 0;

		maxn = info ? lim->max_label_names_per_info_series : lim->max_label_names_per_series;
		if (maxn > 0 && (int64_t) n > maxn)
		{
			int			r = info ? RW_E_MAX_LABEL_NAMES_INFO : RW_E_MAX_LABEL_NAMES;

			sb_printf(msg, "received a series whose number of labels exceeds the limit (actual: %u, limit: %d) series: '",
					  n, maxn);
			sb_series(msg, l, n, &cut);
			sb_str(msg, cut ? "\xe2\x80\xa6'" : "'");
			sb_id(msg, r);
			sb_limit_hint(msg, info ? "validation.max-label-names-per-info-series" : "validation.max-label-names-per-series");
			return r;
		}
	}
	for (uint32_t i = 0; i < n; i++)
	{
		const rw_label *x = &l[i];

		if (!rw_valid_label_name(x->name.p, x->name.len))
		{
			sb_str(msg, "received a series with an invalid label: '");
			sb_prec(msg, x->name.p, x->name.len, 200, NULL);
			sb_str(msg, "' series: '");
			sb_series(msg, l, n, NULL);
			sb_str(msg, "'");
			sb_id(msg, RW_E_LABEL_INVALID);
			return RW_E_LABEL_INVALID;
		}
		if (lim->max_label_name_length > 0 && x->name.len > (uint32_t) lim->max_label_name_length)
		{
			sb_str(msg, "received a series whose label name length exceeds the limit, label: '");
			sb_prec(msg, x->name.p, x->name.len, 200, NULL);
			sb_str(msg, "' series: '");
			sb_series(msg, l, n, NULL);
			sb_str(msg, "'");
			sb_id(msg, RW_E_LABEL_NAME_TOO_LONG);
			sb_limit_hint(msg, "validation.max-length-label-name");
			return RW_E_LABEL_NAME_TOO_LONG;
		}
		if (!rw_valid_utf8(x->value.p, x->value.len))
		{
			sb_str(msg, "received a series with invalid value in label '");
			sb_prec(msg, x->name.p, x->name.len, 200, NULL);
			sb_str(msg, "': '");
			sb_prec(msg, x->value.p, x->value.len, 200, NULL);
			sb_str(msg, "' metric: '");
			sb_prec(msg, name->value.p, name->value.len, 200, NULL);
			sb_str(msg, "'");
			sb_id(msg, RW_E_LABEL_VALUE_INVALID);
			return RW_E_LABEL_VALUE_INVALID;
		}
		if (lim->max_label_value_length > 0 && x->value.len > (uint32_t) lim->max_label_value_length)
		{
			sb_str(msg, "received a series whose label value length exceeds the limit, label: '");
			sb_put(msg, x->name.p, x->name.len);
			sb_str(msg, "', value: '");
			sb_prec(msg, x->value.p, x->value.len, 200, NULL);
			sb_str(msg, "' (truncated) series: '");
			sb_series(msg, l, n, NULL);
			sb_str(msg, "'");
			sb_id(msg, RW_E_LABEL_VALUE_TOO_LONG);
			sb_limit_hint(msg, "validation.max-length-label-value");
			return RW_E_LABEL_VALUE_TOO_LONG;
		}
		if (i > 0 && label_cmp(&l[i - 1], x) == 0)
		{
			sb_str(msg, "received a series with duplicate label name, label: '");
			sb_prec(msg, x->name.p, x->name.len, 200, NULL);
			sb_str(msg, "' series: '");
			sb_series(msg, l, n, NULL);
			sb_str(msg, "'");
			sb_id(msg, RW_E_DUPLICATE_LABEL_NAMES);
			return RW_E_DUPLICATE_LABEL_NAMES;
		}
	}
	return RW_OK;
}

static size_t
rune_count(rw_str s)
{
	size_t		n = 0;

	for (uint32_t i = 0; i < s.len; i++)
		if (((unsigned char) s.p[i] & 0xc0) != 0x80)
			n++;
	return n;
}

#define EXEMPLAR_MAX_LABEL_SET_LENGTH 128

static int
validate_exemplar(const rw_request *req, const rw_exemplar *e, const rw_label *sl, uint32_t sn,
				  sbuf *msg)
{
	const rw_label *el = req->ex_labels + e->first_label;
	size_t		total = 0;
	int			r = RW_OK;

	if (e->nlabels == 0)
		r = RW_E_EXEMPLAR_LABELS_MISSING;
	else if (e->t == 0)
		r = RW_E_EXEMPLAR_TIMESTAMP_INVALID;
	else
	{
		bool		any = false;

		for (uint32_t i = 0; i < e->nlabels; i++)
		{
			if (el[i].name.len > 0 && el[i].value.len > 0)
				any = true;
			total += rune_count(el[i].name) + rune_count(el[i].value);
		}
		if (!any)
			r = RW_E_EXEMPLAR_LABELS_MISSING;
		else if (total > EXEMPLAR_MAX_LABEL_SET_LENGTH)
			r = RW_E_EXEMPLAR_LABELS_TOO_LONG;
	}
	if (r == RW_OK)
		return r;
	if (r == RW_E_EXEMPLAR_LABELS_MISSING)
		sb_str(msg, "received an exemplar with no valid labels");
	else if (r == RW_E_EXEMPLAR_TIMESTAMP_INVALID)
		sb_str(msg, "received an exemplar with no timestamp");
	else
		sb_printf(msg, "received an exemplar where the size of its combined labels exceeds the limit of %d characters",
				  EXEMPLAR_MAX_LABEL_SET_LENGTH);
	sb_printf(msg, ", timestamp: %lld series: ", (long long) e->t);
	sb_series(msg, sl, sn, NULL);
	sb_str(msg, " labels: ");
	sb_labels(msg, el, e->nlabels);
	sb_id(msg, r);
	return r;
}

void
rw_validate(rw_request *req, const char *tenant, const rw_limits *lim, int64_t now_ms,
			rw_validation *v)
{
	rw_hashbuf	hb = {0};
	int64_t		maxt = now_ms + lim->creation_grace_period_ms;
	int64_t		mint = lim->past_grace_period_ms > 0 ?
		now_ms - lim->out_of_order_time_window_ms - lim->past_grace_period_ms : INT64_MIN;
	int64_t		earliest = INT64_MAX;
	bool		exemplars = lim->max_global_exemplars_per_user > 0;

	memset(v, 0, sizeof(*v));
	for (uint32_t k = 0; k < req->nseries; k++)
	{
		rw_series  *s = &req->series[k];
		rw_label   *l = req->labels + s->first_label;
		const rw_sample *smp = req->samples + s->first_sample;
		uint32_t	out = 0;
		sbuf		msg = {0};
		int			r;

		/* Prometheus drops empty label values; so does Mimir before validating */
		for (uint32_t i = 0; i < s->nlabels; i++)
			if (l[i].value.len > 0)
				l[out++] = l[i];
		s->nlabels = out;
		sort_labels(l, s->nlabels);
		if (s->nhistograms > 0)
			v->discarded[RW_E_NATIVE_HISTOGRAMS_DISABLED] += s->nhistograms;

		r = validate_labels(l, s->nlabels, lim, &msg);
		for (uint32_t i = 0; r == RW_OK && i < s->nsamples; i++)
		{
			if (smp[i].t > maxt)
			{
				r = RW_E_TOO_FAR_IN_FUTURE;
				sb_printf(&msg, "received a sample whose timestamp is too far in the future, timestamp: %lld series: '",
						  (long long) smp[i].t);
			}
			else if (smp[i].t < mint)
			{
				r = RW_E_TOO_FAR_IN_PAST;
				sb_printf(&msg, "received a sample whose timestamp is too far in the past, timestamp: %lld series: '",
						  (long long) smp[i].t);
			}
			if (r != RW_OK)
			{
				sb_series(&msg, l, s->nlabels, NULL);
				sb_str(&msg, "'");
				sb_id(&msg, r);
				sb_limit_hint(&msg, r == RW_E_TOO_FAR_IN_FUTURE ? "validation.create-grace-period"
							  : "validation.past-grace-period");
			}
		}
		if (r == RW_OK && exemplars)
		{
			/* exemplars are validated against the request's earliest sample */
			for (uint32_t i = 0; i < s->nsamples; i++)
				if (smp[i].t < earliest)
					earliest = smp[i].t;
		}
		s->status = (uint8_t) r;
		if (r != RW_OK)
		{
			v->rejected_series++;
			v->discarded[r] += s->nsamples;
			set_first(v, &msg);
			continue;
		}
		free(msg.p);
		rw_series_hash(&hb, tenant, l, s->nlabels, &s->hash_hi, &s->hash_lo);
		v->valid_series++;
		v->valid_samples += s->nsamples;
	}

	/*
	 * Exemplars: dropped unless enabled; silently dropped outside [earliest
	 * sample - 5m, now + grace]; an invalid one rejects its series (Prometheus
	 * never sends samples and exemplars in one series object).
	 */
	for (uint32_t k = 0; k < req->nseries; k++)
	{
		rw_series  *s = &req->series[k];
		rw_exemplar *e = req->exemplars + s->first_exemplar;
		uint32_t	out = 0;

		if (!exemplars || s->status != RW_OK)
		{
			s->nexemplars = 0;
			continue;
		}
		for (uint32_t i = 0; i < s->nexemplars; i++)
		{
			sbuf		msg = {0};
			int			r;
			int64_t		lo = earliest == INT64_MAX ? now_ms - 5 * 60000 : earliest - 5 * 60000;

			if (e[i].t != 0 && (e[i].t < lo || e[i].t > maxt))
				continue;
			r = validate_exemplar(req, &e[i], req->labels + s->first_label, s->nlabels, &msg);
			if (r != RW_OK)
			{
				s->status = (uint8_t) r;
				v->rejected_series++;
				v->valid_series--;
				v->valid_samples -= s->nsamples;
				v->discarded[r] += s->nsamples;
				set_first(v, &msg);
				out = 0;
				break;
			}
			e[out++] = e[i];
		}
		s->nexemplars = out;
		v->valid_exemplars += out;
	}

	for (uint32_t k = 0; k < req->nmetadata; k++)
	{
		rw_metadata *m = &req->metadata[k];
		sbuf		msg = {0};
		int			r = RW_OK;

		if (m->family.len == 0)
		{
			r = RW_E_METADATA_MISSING_NAME;
			sb_str(&msg, "received a metric metadata with no metric name");
			sb_id(&msg, r);
		}
		else if (lim->max_metadata_length > 0 && m->family.len > (uint32_t) lim->max_metadata_length)
		{
			r = RW_E_METADATA_NAME_TOO_LONG;
			sb_str(&msg, "received a metric metadata whose metric name length exceeds the limit, metric name: '");
			sb_prec(&msg, m->family.p, m->family.len, 200, NULL);
			sb_str(&msg, "'");
			sb_id(&msg, r);
			sb_limit_hint(&msg, "validation.max-metadata-length");
		}
		else if (lim->max_metadata_length > 0 && m->unit.len > (uint32_t) lim->max_metadata_length)
		{
			r = RW_E_METADATA_UNIT_TOO_LONG;
			sb_str(&msg, "received a metric metadata whose unit name length exceeds the limit, unit: '");
			sb_prec(&msg, m->unit.p, m->unit.len, 200, NULL);
			sb_str(&msg, "' metric name: '");
			sb_prec(&msg, m->family.p, m->family.len, 200, NULL);
			sb_str(&msg, "'");
			sb_id(&msg, r);
			sb_limit_hint(&msg, "validation.max-metadata-length");
		}
		m->status = (uint8_t) r;
		if (r != RW_OK)
		{
			v->rejected_metadata++;
			set_first(v, &msg);
			continue;
		}
		free(msg.p);
		/* HELP is truncated, not rejected */
		if (lim->max_metadata_length > 0 && m->help.len > (uint32_t) lim->max_metadata_length)
		{
			uint32_t	n = (uint32_t) lim->max_metadata_length;

			/* never cut inside a UTF-8 sequence */
			while (n > 0 && ((unsigned char) m->help.p[n] & 0xc0) == 0x80)
				n--;
			m->help.len = n;
		}
		v->valid_metadata++;
	}
	free(hb.p);
}

void
rw_validation_free(rw_validation *v)
{
	free(v->first_error);
	v->first_error = NULL;
}

void
rw_series_hash(rw_hashbuf *b, const char *tenant, const rw_label *l, uint32_t n,
			   uint64_t *hi, uint64_t *lo)
{
	size_t		tl = strlen(tenant);
	size_t		need = tl + 1;
	uint8_t    *p;

	for (uint32_t i = 0; i < n; i++)
		need += (size_t) l[i].name.len + l[i].value.len + 2;
	if (need > b->cap)
	{
		size_t		c = b->cap ? b->cap : 1024;
		uint8_t    *np;

		while (c < need)
			c *= 2;
		np = realloc(b->p, c);
		if (np == NULL)
		{
			/* out of memory: (0, 0) is never a real hash; the caller fails the request */
			*hi = *lo = 0;
			return;
		}
		b->p = np;
		b->cap = c;
	}
	p = b->p;
	memcpy(p, tenant, tl);
	p += tl;
	*p++ = 0xff;
	for (uint32_t i = 0; i < n; i++)
	{
		memcpy(p, l[i].name.p, l[i].name.len);
		p += l[i].name.len;
		*p++ = 0xff;
		memcpy(p, l[i].value.p, l[i].value.len);
		p += l[i].value.len;
		*p++ = 0xff;
	}
	series_hash128(b->p, (size_t) (p - b->p), hi, lo);
}
