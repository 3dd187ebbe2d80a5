/*
 * test_rw.c — C-level tests of the remote-write request layer (pure C, run
 * under AddressSanitizer): the zero-copy decoder against the protoc-c
 * generated one on random and mutated requests, Mimir's validation messages,
 * the series hash, Content-Type / tenant parsing and Retry-After.
 * Prints "N passed, N failed".
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rw_compare.h"

static int	passed,
			failed;

static void
check(int ok, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		passed++;
		return;
	}
	failed++;
	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static char *
rnd_str(int maxlen)
{
	int			n = (int) (rnd() % (maxlen + 1));
	char	   *s = malloc(n + 1);
	static const char alphabet[] = "abcxyz_ABC019:-/.\"\\\n\xc3\xa9";

	for (int i = 0; i < n; i++)
		s[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
	s[n] = '\0';
	return s;
}

static double
rnd_double(void)
{
	static const uint64_t specials[] = {0x7ff0000000000002ULL, 0x7ff8000000000001ULL, 0x8000000000000000ULL,
	0x7ff0000000000000ULL, 0xfff0000000000000ULL, 1ULL, 0};
	uint64_t	b = rnd() % 4 == 0 ? specials[rnd() % 7] : rnd();
	double		d;

	memcpy(&d, &b, 8);
	return d;
}

static int64_t
rnd_ts(void)
{
	switch (rnd() % 4)
	{
		case 0:
			return (int64_t) rnd();
		case 1:
			return -(int64_t) (rnd() % 100000000000LL);
		default:
			return 1700000000000LL + (int64_t) (rnd() % 100000000);
	}
}

/* ---- random 1.0 requests built with protobuf-c ---- */

static Prometheus__Label *
mk_label(void)
{
	Prometheus__Label *l = malloc(sizeof(*l));

	prometheus__label__init(l);
	l->name = rnd_str(12);
	l->value = rnd_str(20);
	return l;
}

static Prometheus__WriteRequest *
random_v1(void)
{
	Prometheus__WriteRequest *m = malloc(sizeof(*m));

	prometheus__write_request__init(m);
	m->n_timeseries = rnd() % 6;
	m->timeseries = calloc(m->n_timeseries + 1, sizeof(void *));
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Prometheus__TimeSeries *t = malloc(sizeof(*t));

		prometheus__time_series__init(t);
		t->n_labels = rnd() % 5;
		t->labels = calloc(t->n_labels + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_labels; j++)
			t->labels[j] = mk_label();
		t->n_samples = rnd() % 4;
		t->samples = calloc(t->n_samples + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_samples; j++)
		{
			Prometheus__Sample *s = malloc(sizeof(*s));

			prometheus__sample__init(s);
			s->value = rnd_double();
			s->timestamp = rnd_ts();
			t->samples[j] = s;
		}
		t->n_exemplars = rnd() % 3 == 0 ? rnd() % 3 : 0;
		t->exemplars = calloc(t->n_exemplars + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			Prometheus__Exemplar *e = malloc(sizeof(*e));

			prometheus__exemplar__init(e);
			e->n_labels = rnd() % 3;
			e->labels = calloc(e->n_labels + 1, sizeof(void *));
			for (size_t k = 0; k < e->n_labels; k++)
				e->labels[k] = mk_label();
			e->value = rnd_double();
			e->timestamp = rnd_ts();
			t->exemplars[j] = e;
		}
		t->n_histograms = rnd() % 5 == 0 ? 1 : 0;
		t->histograms = calloc(t->n_histograms + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_histograms; j++)
		{
			Prometheus__Histogram *h = malloc(sizeof(*h));
			static int64_t deltas[] = {1, -2, 3};
			static double counts[] = {1.5, 2.5};

			prometheus__histogram__init(h);
			h->count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
			h->count_int = rnd() % 100;
			h->sum = rnd_double();
			h->schema = (int32_t) (rnd() % 9) - 4;
			h->n_positive_deltas = 3;
			h->positive_deltas = deltas;
			h->n_negative_counts = 2;
			h->negative_counts = counts;
			h->timestamp = rnd_ts();
			t->histograms[j] = h;
		}
		m->timeseries[i] = t;
	}
	m->n_metadata = rnd() % 3;
	m->metadata = calloc(m->n_metadata + 1, sizeof(void *));
	for (size_t i = 0; i < m->n_metadata; i++)
	{
		Prometheus__MetricMetadata *md = malloc(sizeof(*md));

		prometheus__metric_metadata__init(md);
		md->type = rnd() % 8;
		md->metric_family_name = rnd_str(10);
		md->help = rnd_str(30);
		md->unit = rnd_str(5);
		m->metadata[i] = md;
	}
	return m;
}

static void
free_v1(Prometheus__WriteRequest *m)
{
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Prometheus__TimeSeries *t = m->timeseries[i];

		for (size_t j = 0; j < t->n_labels; j++)
		{
			free(t->labels[j]->name);
			free(t->labels[j]->value);
			free(t->labels[j]);
		}
		for (size_t j = 0; j < t->n_samples; j++)
			free(t->samples[j]);
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			for (size_t k = 0; k < t->exemplars[j]->n_labels; k++)
			{
				free(t->exemplars[j]->labels[k]->name);
				free(t->exemplars[j]->labels[k]->value);
				free(t->exemplars[j]->labels[k]);
			}
			free(t->exemplars[j]->labels);
			free(t->exemplars[j]);
		}
		for (size_t j = 0; j < t->n_histograms; j++)
			free(t->histograms[j]);
		free(t->labels);
		free(t->samples);
		free(t->exemplars);
		free(t->histograms);
		free(t);
	}
	for (size_t i = 0; i < m->n_metadata; i++)
	{
		free(m->metadata[i]->metric_family_name);
		free(m->metadata[i]->help);
		free(m->metadata[i]->unit);
		free(m->metadata[i]);
	}
	free(m->timeseries);
	free(m->metadata);
	free(m);
}

/* ---- random 2.0 requests ---- */

static Io__Prometheus__Write__V2__Request *
random_v2(int valid_refs)
{
	Io__Prometheus__Write__V2__Request *m = malloc(sizeof(*m));
	size_t		nsym = 1 + rnd() % 8;

	io__prometheus__write__v2__request__init(m);
	m->n_symbols = nsym;
	m->symbols = calloc(nsym, sizeof(char *));
	m->symbols[0] = strdup("");
	for (size_t i = 1; i < nsym; i++)
		m->symbols[i] = rnd_str(10);
	m->n_timeseries = rnd() % 5;
	m->timeseries = calloc(m->n_timeseries + 1, sizeof(void *));
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Io__Prometheus__Write__V2__TimeSeries *t = malloc(sizeof(*t));

		io__prometheus__write__v2__time_series__init(t);
		t->n_labels_refs = 2 * (rnd() % 4);
		if (!valid_refs && rnd() % 4 == 0)
			t->n_labels_refs++;
		t->labels_refs = calloc(t->n_labels_refs + 1, sizeof(uint32_t));
		for (size_t j = 0; j < t->n_labels_refs; j++)
			t->labels_refs[j] = (uint32_t) (rnd() % (valid_refs ? nsym : nsym + 2));
		t->n_samples = rnd() % 4;
		t->samples = calloc(t->n_samples + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_samples; j++)
		{
			Io__Prometheus__Write__V2__Sample *s = malloc(sizeof(*s));

			io__prometheus__write__v2__sample__init(s);
			s->value = rnd_double();
			s->timestamp = rnd_ts();
			s->start_timestamp = rnd() % 2 ? rnd_ts() : 0;
			t->samples[j] = s;
		}
		t->n_exemplars = rnd() % 3 == 0 ? 1 : 0;
		t->exemplars = calloc(t->n_exemplars + 1, sizeof(void *));
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			Io__Prometheus__Write__V2__Exemplar *e = malloc(sizeof(*e));

			io__prometheus__write__v2__exemplar__init(e);
			e->n_labels_refs = 2;
			e->labels_refs = calloc(2, sizeof(uint32_t));
			e->labels_refs[0] = (uint32_t) (rnd() % nsym);
			e->labels_refs[1] = (uint32_t) (rnd() % nsym);
			e->value = rnd_double();
			e->timestamp = rnd_ts();
			t->exemplars[j] = e;
		}
		if (rnd() % 2)
		{
			t->metadata = malloc(sizeof(*t->metadata));
			io__prometheus__write__v2__metadata__init(t->metadata);
			t->metadata->type = rnd() % 8;
			t->metadata->help_ref = (uint32_t) (rnd() % nsym);
			t->metadata->unit_ref = (uint32_t) (rnd() % nsym);
		}
		m->timeseries[i] = t;
	}
	return m;
}

static void
free_v2(Io__Prometheus__Write__V2__Request *m)
{
	for (size_t i = 0; i < m->n_symbols; i++)
		free(m->symbols[i]);
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Io__Prometheus__Write__V2__TimeSeries *t = m->timeseries[i];

		for (size_t j = 0; j < t->n_samples; j++)
			free(t->samples[j]);
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			free(t->exemplars[j]->labels_refs);
			free(t->exemplars[j]);
		}
		free(t->metadata);
		free(t->labels_refs);
		free(t->samples);
		free(t->exemplars);
		free(t);
	}
	free(m->symbols);
	free(m->timeseries);
	free(m);
}

static void
mutate(uint8_t *b, size_t *len, size_t cap)
{
	switch (rnd() % 5)
	{
		case 0:
			if (*len)
				b[rnd() % *len] ^= (uint8_t) (1 << (rnd() % 8));
			break;
		case 1:
			if (*len)
				*len = rnd() % *len;
			break;
		case 2:
			if (*len)
				b[rnd() % *len] = (uint8_t) rnd();
			break;
		case 3:
			if (*len < cap)
			{
				size_t		at = *len ? rnd() % *len : 0;

				memmove(b + at + 1, b + at, *len - at);
				b[at] = (uint8_t) rnd();
				(*len)++;
			}
			break;
		default:
			if (*len > 1)
			{
				size_t		at = rnd() % *len;

				memmove(b + at, b + at + 1, *len - at - 1);
				(*len)--;
			}
	}
}

static void
test_differential(void)
{
	char		why[512];
	int			bad1 = 0,
				bad2 = 0,
				badm = 0;

	for (int iter = 0; iter < 20000; iter++)
	{
		Prometheus__WriteRequest *m1 = random_v1();
		size_t		len = prometheus__write_request__get_packed_size(m1);
		uint8_t    *buf = malloc(len + 64);

		prometheus__write_request__pack(m1, buf);
		if (compare_v1(buf, len, why, sizeof(why)) && bad1++ < 5)
			printf("  %s\n", why);
		for (int k = 0; k < 8; k++)
		{
			size_t		l = len;
			uint8_t    *c = malloc(len + 64);

			memcpy(c, buf, len);
			for (int x = 0, nm = 1 + (int) (rnd() % 3); x < nm; x++)
				mutate(c, &l, len + 64);
			if (compare_v1(c, l, why, sizeof(why)) && badm++ < 5)
				printf("  mutated: %s\n", why);
			free(c);
		}
		free(buf);
		free_v1(m1);
	}
	check(bad1 == 0, "1.0: zero-copy decoder agrees with protobuf-c on 20000 random requests (%d differ)", bad1);
	for (int iter = 0; iter < 20000; iter++)
	{
		Io__Prometheus__Write__V2__Request *m2 = random_v2(iter % 4 != 0);
		size_t		len = io__prometheus__write__v2__request__get_packed_size(m2);
		uint8_t    *buf = malloc(len + 64);

		io__prometheus__write__v2__request__pack(m2, buf);
		if (compare_v2(buf, len, why, sizeof(why)) && bad2++ < 5)
			printf("  %s\n", why);
		for (int k = 0; k < 8; k++)
		{
			size_t		l = len;
			uint8_t    *c = malloc(len + 64);

			memcpy(c, buf, len);
			mutate(c, &l, len + 64);
			if (compare_v2(c, l, why, sizeof(why)) && badm++ < 5)
				printf("  mutated v2: %s\n", why);
			free(c);
		}
		free(buf);
		free_v2(m2);
	}
	check(bad2 == 0, "2.0: zero-copy decoder agrees with protobuf-c on 20000 random requests (%d differ)", bad2);
	check(badm == 0, "mutated requests: both decoders agree on success and content (%d differ)", badm);
}

/* a tiny encoder for hand-made cases */
typedef struct enc
{
	uint8_t		b[65536];
	size_t		n;
} enc;

static void
put_varint(enc *e, uint64_t v)
{
	while (v >= 0x80)
	{
		e->b[e->n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	e->b[e->n++] = (uint8_t) v;
}

static void
put_bytes(enc *e, int field, const void *p, size_t n)
{
	put_varint(e, (uint64_t) field << 3 | 2);
	put_varint(e, n);
	memcpy(e->b + e->n, p, n);
	e->n += n;
}

static void
put_sub(enc *e, int field, enc *sub)
{
	put_bytes(e, field, sub->b, sub->n);
}

static void
label(enc *ts, const char *n, const char *v)
{
	enc			l = {.n = 0};

	put_bytes(&l, 1, n, strlen(n));
	put_bytes(&l, 2, v, strlen(v));
	put_sub(ts, 1, &l);
}

static void
sample(enc *ts, int64_t t, double v)
{
	enc			s = {.n = 0};

	put_varint(&s, 1 << 3 | 1);
	memcpy(s.b + s.n, &v, 8);
	s.n += 8;
	put_varint(&s, 2 << 3);
	put_varint(&s, (uint64_t) t);
	put_sub(ts, 2, &s);
}

#define NOW 1700000000000LL

/* decode + validate a request with one series given as name,value pairs */
static char *
validate_one(const char **labels, int n, int64_t t, const rw_limits *lim, int *status)
{
	static enc	req;
	enc			ts = {.n = 0};
	rw_request	r;
	rw_validation v;
	char		err[256];
	char	   *res;

	req.n = 0;
	for (int i = 0; i < n; i++)
		label(&ts, labels[2 * i], labels[2 * i + 1]);
	sample(&ts, t, 1.0);
	put_sub(&req, 1, &ts);
	if (rw_decode_v1(req.b, req.n, &r, err, sizeof(err)) != 0)
	{
		rw_request_free(&r);
		*status = -1;
		return strdup(err);
	}
	rw_validate(&r, "anonymous", lim, NOW, &v);
	*status = r.series[0].status;
	res = v.first_error ? strdup(v.first_error) : NULL;
	rw_validation_free(&v);
	rw_request_free(&r);
	return res;
}

static void
expect_msg(const char *what, const char **labels, int n, int64_t t, const rw_limits *lim,
		   int want_status, const char *want)
{
	int			st;
	char	   *msg = validate_one(labels, n, t, lim, &st);

	check(st == want_status && ((want == NULL && msg == NULL) || (want && msg && strcmp(msg, want) == 0)),
		  "%s: status %d (want %d), message\n    got:  %s\n    want: %s", what, st, want_status,
		  msg ? msg : "(none)", want ? want : "(none)");
	free(msg);
}

static void
test_validation(void)
{
	rw_limits	lim;
	char		many[40][2][16];
	const char *ml[80];

	rw_limits_default(&lim);
	expect_msg("valid series", (const char *[]) {"__name__", "up", "job", "a"}, 2, NOW, &lim, RW_OK, NULL);
	expect_msg("missing metric name", (const char *[]) {"job", "a"}, 1, NOW, &lim, RW_E_MISSING_METRIC_NAME,
			   "received series has no metric name (err-mimir-missing-metric-name)");
	expect_msg("empty metric name is missing", (const char *[]) {"__name__", "", "job", "a"}, 2, NOW, &lim,
			   RW_E_MISSING_METRIC_NAME, "received series has no metric name (err-mimir-missing-metric-name)");
	expect_msg("invalid metric name", (const char *[]) {"__name__", "bad-name"}, 1, NOW, &lim, RW_E_METRIC_NAME_INVALID,
			   "received a series with invalid metric name: 'bad-name' (err-mimir-metric-name-invalid)");
	expect_msg("invalid label name", (const char *[]) {"__name__", "up", "a-b", "x"}, 2, NOW, &lim, RW_E_LABEL_INVALID,
			   "received a series with an invalid label: 'a-b' series: '{__name__=\"up\", a-b=\"x\"}' (err-mimir-label-invalid)");
	expect_msg("unsorted labels are sorted", (const char *[]) {"z", "1", "__name__", "up", "a", "2"}, 3, NOW, &lim, RW_OK, NULL);
	expect_msg("duplicate label", (const char *[]) {"__name__", "up", "a", "1", "a", "2"}, 3, NOW, &lim,
			   RW_E_DUPLICATE_LABEL_NAMES,
			   "received a series with duplicate label name, label: 'a' series: '{__name__=\"up\", a=\"1\", a=\"2\"}' (err-mimir-duplicate-label-names)");
	expect_msg("non-UTF-8 value", (const char *[]) {"__name__", "up", "a", "\xff"}, 2, NOW, &lim, RW_E_LABEL_VALUE_INVALID,
			   "received a series with invalid value in label 'a': '\xef\xbf\xbd' metric: 'up' (err-mimir-label-value-invalid)");
	expect_msg("too far in the future", (const char *[]) {"__name__", "up"}, 1, NOW + 11 * 60000, &lim, RW_E_TOO_FAR_IN_FUTURE,
			   "received a sample whose timestamp is too far in the future, timestamp: 1700000660000 series: '{__name__=\"up\"}' "
			   "(err-mimir-too-far-in-future). To adjust the related per-tenant limit, configure -validation.create-grace-period, "
			   "or contact your service administrator.");
	expect_msg("within the grace period", (const char *[]) {"__name__", "up"}, 1, NOW + 9 * 60000, &lim, RW_OK, NULL);
	lim.past_grace_period_ms = 3600000;
	expect_msg("too far in the past", (const char *[]) {"__name__", "up"}, 1, NOW - 3600001, &lim, RW_E_TOO_FAR_IN_PAST,
			   "received a sample whose timestamp is too far in the past, timestamp: 1699996399999 series: '{__name__=\"up\"}' "
			   "(err-mimir-too-far-in-past). To adjust the related per-tenant limit, configure -validation.past-grace-period, "
			   "or contact your service administrator.");
	rw_limits_default(&lim);
	lim.max_label_name_length = 8;
	expect_msg("label name too long", (const char *[]) {"__name__", "up", "abcdefghi", "x"}, 2, NOW, &lim, RW_E_LABEL_NAME_TOO_LONG,
			   "received a series whose label name length exceeds the limit, label: 'abcdefghi' series: '{__name__=\"up\", abcdefghi=\"x\"}' "
			   "(err-mimir-label-name-too-long). To adjust the related per-tenant limit, configure -validation.max-length-label-name, "
			   "or contact your service administrator.");
	rw_limits_default(&lim);
	lim.max_label_value_length = 3;
	expect_msg("label value too long", (const char *[]) {"__name__", "up", "a", "wxyz"}, 2, NOW, &lim, RW_E_LABEL_VALUE_TOO_LONG,
			   "received a series whose label value length exceeds the limit, label: 'a', value: 'wxyz' (truncated) series: "
			   "'{__name__=\"up\", a=\"wxyz\"}' (err-mimir-label-value-too-long). To adjust the related per-tenant limit, "
			   "configure -validation.max-length-label-value, or contact your service administrator.");
	expect_msg("metric name counts as a value", (const char *[]) {"__name__", "long"}, 1, NOW, &lim, RW_E_LABEL_VALUE_TOO_LONG,
			   "received a series whose label value length exceeds the limit, label: '__name__', value: 'long' (truncated) series: "
			   "'{__name__=\"long\"}' (err-mimir-label-value-too-long). To adjust the related per-tenant limit, "
			   "configure -validation.max-length-label-value, or contact your service administrator.");
	rw_limits_default(&lim);
	ml[0] = "__name__";
	ml[1] = "m";
	for (int i = 0; i < 30; i++)
	{
		snprintf(many[i][0], 16, "l%02d", i);
		snprintf(many[i][1], 16, "v");
		ml[2 + 2 * i] = many[i][0];
		ml[3 + 2 * i] = many[i][1];
	}
	{
		int			st;
		char	   *msg = validate_one(ml, 31, NOW, &lim, &st);

		check(st == RW_E_MAX_LABEL_NAMES && msg &&
			  strncmp(msg, "received a series whose number of labels exceeds the limit (actual: 31, limit: 30) series: '{__name__=\"m\", l00=\"v\"", 110) == 0 &&
			  strstr(msg, "\xe2\x80\xa6' (err-mimir-max-label-names-per-series). To adjust the related per-tenant limit, configure -validation.max-label-names-per-series") != NULL,
			  "too many labels: %s", msg ? msg : "(none)");
		free(msg);
		ml[1] = "m_info";
		msg = validate_one(ml, 31, NOW, &lim, &st);
		check(st == RW_OK && msg == NULL, "_info series have their own limit (80): %s", msg ? msg : "ok");
		free(msg);
	}
	/* the first problem of a request wins; valid series stay valid */
	{
		enc			req = {.n = 0},
					a = {.n = 0},
					b = {.n = 0},
					c = {.n = 0};
		rw_request	r;
		rw_validation v;
		char		err[128];

		label(&a, "__name__", "ok1");
		sample(&a, NOW, 1);
		label(&b, "__name__", "bad-1");
		sample(&b, NOW, 1);
		sample(&b, NOW + 1, 1);
		label(&c, "job", "x");
		sample(&c, NOW, 1);
		put_sub(&req, 1, &a);
		put_sub(&req, 1, &b);
		put_sub(&req, 1, &c);
		rw_decode_v1(req.b, req.n, &r, err, sizeof(err));
		rw_validate(&r, "t", &lim, NOW, &v);
		check(v.valid_series == 1 && v.rejected_series == 2 && v.valid_samples == 1 &&
			  v.discarded[RW_E_METRIC_NAME_INVALID] == 2 && v.discarded[RW_E_MISSING_METRIC_NAME] == 1 &&
			  v.first_error && strstr(v.first_error, "bad-1"),
			  "partial request: counts and first error (%s)", v.first_error ? v.first_error : "");
		rw_validation_free(&v);
		rw_request_free(&r);
	}
	check(strcmp(rw_reason_label(RW_E_SAMPLE_OUT_OF_ORDER), "sample_out_of_order") == 0,
		  "discarded reason label is the id with _");
}

static void
series_hash_of(const char *tenant, const char **l, int n, uint64_t *hi, uint64_t *lo)
{
	rw_label	ls[16];
	rw_hashbuf	hb = {0};

	for (int i = 0; i < n; i++)
	{
		ls[i].name.p = l[2 * i];
		ls[i].name.len = (uint32_t) strlen(l[2 * i]);
		ls[i].value.p = l[2 * i + 1];
		ls[i].value.len = (uint32_t) strlen(l[2 * i + 1]);
	}
	rw_series_hash(&hb, tenant, ls, (uint32_t) n, hi, lo);
	free(hb.p);
}

static int
cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static void
test_hash(void)
{
	uint64_t	h1,
				l1,
				h2,
				l2;
	int			collisions = 0;
	uint64_t	parts[128] = {0};

	/* the hash is stored (mimir.series.lhash): it must never change */
	series_hash128("", 0, &h1, &l1);
	series_hash128("up", 2, &h2, &l2);
	check(h1 == 0x68c4b4f4d1be8be6ULL && l1 == 0xd576421025b0636aULL && h2 == 0xec6f9cfbdd6fd555ULL &&
		  l2 == 0x52b58bf655b10de9ULL,
		  "known hash values (got %016llx %016llx, %016llx %016llx)", (unsigned long long) h1,
		  (unsigned long long) l1, (unsigned long long) h2, (unsigned long long) l2);
	series_hash_of("t", (const char *[]) {"__name__", "up", "job", "a"}, 2, &h1, &l1);
	series_hash_of("u", (const char *[]) {"__name__", "up", "job", "a"}, 2, &h2, &l2);
	check(h1 != h2 || l1 != l2, "the tenant is part of the series identity");
	series_hash_of("t", (const char *[]) {"__name__", "up", "jo", "ba"}, 2, &h2, &l2);
	check(h1 != h2 || l1 != l2, "label boundaries are part of the hash");
	/* no collisions and even partitions on a million similar label sets */
	{
		size_t		n = 1000000;
		uint64_t   *keys = malloc(sizeof(uint64_t) * 2 * n);

		for (size_t i = 0; i < n; i++)
		{
			char		inst[32],
						cpu[8];

			snprintf(inst, sizeof(inst), "host-%05zu:9100", i / 8);
			snprintf(cpu, sizeof(cpu), "%zu", i % 8);
			series_hash_of("anonymous", (const char *[]) {"__name__", "node_cpu", "cpu", cpu, "instance", inst}, 3,
						   &keys[2 * i], &keys[2 * i + 1]);
			parts[keys[2 * i + 1] % 128]++;
		}
		/* sort pairs to find duplicates */
		qsort(keys, n, 16, cmp16);
		for (size_t i = 1; i < n; i++)
			if (memcmp(&keys[2 * i], &keys[2 * i - 2], 16) == 0)
				collisions++;
		free(keys);
		check(collisions == 0, "no collisions among 1M similar series (%d)", collisions);
		{
			uint64_t	mn = parts[0],
						mx = parts[0];

			for (int i = 1; i < 128; i++)
			{
				mn = parts[i] < mn ? parts[i] : mn;
				mx = parts[i] > mx ? parts[i] : mx;
			}
			check(mn > 7000 && mx < 8600, "series spread evenly over map partitions (%llu..%llu)",
				  (unsigned long long) mn, (unsigned long long) mx);
		}
	}
}

static void
test_parsing(void)
{
	char		t[160],
				err[256];

	check(rw_content_type_version(NULL) == RW_CT_V1, "no Content-Type: 1.0");
	check(rw_content_type_version("application/x-protobuf") == RW_CT_V1, "x-protobuf: 1.0");
	check(rw_content_type_version("text/plain") == RW_CT_V1, "other media type: 1.0 (as Mimir)");
	check(rw_content_type_version("application/x-protobuf;proto=prometheus.WriteRequest") == RW_CT_V1, "proto=1.0");
	check(rw_content_type_version("application/x-protobuf;proto=io.prometheus.write.v2.Request") == RW_CT_V2, "proto=2.0");
	check(rw_content_type_version("application/x-protobuf; proto=io.prometheus.write.v2.Request") == RW_CT_V2, "proto=2.0 with a space");
	check(rw_content_type_version("application/x-protobuf;proto=foo.Bar") == RW_CT_UNSUPPORTED, "unknown proto: 415");
	check(rw_content_type_version("application/x-protobuf;garbage") == RW_CT_MALFORMED, "malformed parameter: 400");
	check(rw_parse_tenant(NULL, t, err, sizeof(err)) == 401 && strcmp(err, "no org id") == 0, "missing org id: 401");
	check(rw_parse_tenant("team-a", t, err, sizeof(err)) == 0 && strcmp(t, "team-a") == 0, "valid tenant");
	check(rw_parse_tenant("a/b", t, err, sizeof(err)) == 400 &&
		  strcmp(err, "tenant ID 'a/b' contains unsupported character '/'") == 0, "bad character: %s", err);
	check(rw_parse_tenant("..", t, err, sizeof(err)) == 400 && strcmp(err, "tenant ID is '.' or '..'") == 0, "..");
	{
		char		longid[200];

		memset(longid, 'x', 151);
		longid[151] = '\0';
		check(rw_parse_tenant(longid, t, err, sizeof(err)) == 400 &&
			  strcmp(err, "tenant ID is too long: max 150 characters") == 0, "too long tenant");
	}
	check(rw_parse_tenant("a|b", t, err, sizeof(err)) == 400 && strcmp(err, "multiple org IDs present") == 0,
		  "several tenants");
	check(rw_parse_tenant("a|a", t, err, sizeof(err)) == 0 && strcmp(t, "a") == 0, "the same tenant twice");
	check(rw_retry_after(NULL, 0.0) == 6 && rw_retry_after(NULL, 0.999) == 9, "Retry-After, first attempt: 6..9 s");
	check(rw_retry_after("3", 0.5) == 24 && rw_retry_after("30", 0.999) == 96 && rw_retry_after("x", 0.5) == 6,
		  "Retry-After grows with Retry-Attempt, clamped to 96 s");
}

int
main(void)
{
	test_parsing();
	test_validation();
	test_hash();
	test_differential();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
