/*
 * rw_compare.h — shared by the unit tests and the fuzzer: decodes a body with
 * both the zero-copy decoder (rw_decode.c) and the protoc-c generated one,
 * and checks that they agree: the same success, and the same content.
 */
#ifndef RW_COMPARE_H
#define RW_COMPARE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distributor/rw.h"
#include "remote_write.pb-c.h"
#include "remote_write_v2.pb-c.h"

/* protobuf-c strings are NUL-terminated: compare up to the first NUL */
static int
same_str(rw_str a, const char *b)
{
	size_t		bl = strlen(b);
	size_t		al = strnlen(a.p, a.len);

	return al == bl && memcmp(a.p, b, bl) == 0;
}

static int
same_double(double a, double b)
{
	return memcmp(&a, &b, 8) == 0;
}

/* 0 = agree; otherwise a description in why */
static int
compare_v1(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	rw_request	r;
	char		err[256];
	int			rc = rw_decode_v1(buf, len, &r, err, sizeof(err));
	Prometheus__WriteRequest *m = prometheus__write_request__unpack(NULL, len, buf);
	int			bad = 0;

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); bad = 1; goto out; } while (0)
	if ((rc == 0) != (m != NULL))
		BAD("v1: rw_decode %s (%s), protobuf-c %s", rc == 0 ? "ok" : "failed", rc == 0 ? "" : err,
			m ? "ok" : "failed");
	if (m == NULL)
		goto out;
	if (r.nseries != m->n_timeseries)
		BAD("v1: %u series vs %zu", r.nseries, m->n_timeseries);
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Prometheus__TimeSeries *t = m->timeseries[i];
		rw_series  *s = &r.series[i];

		if (s->nlabels != t->n_labels || s->nsamples != t->n_samples ||
			s->nexemplars != t->n_exemplars || s->nhistograms != t->n_histograms)
			BAD("v1: series %zu counts differ", i);
		for (size_t j = 0; j < t->n_labels; j++)
			if (!same_str(r.labels[s->first_label + j].name, t->labels[j]->name) ||
				!same_str(r.labels[s->first_label + j].value, t->labels[j]->value))
				BAD("v1: series %zu label %zu differs", i, j);
		for (size_t j = 0; j < t->n_samples; j++)
			if (r.samples[s->first_sample + j].t != t->samples[j]->timestamp ||
				!same_double(r.samples[s->first_sample + j].v, t->samples[j]->value))
				BAD("v1: series %zu sample %zu differs", i, j);
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			rw_exemplar *e = &r.exemplars[s->first_exemplar + j];
			Prometheus__Exemplar *x = t->exemplars[j];

			if (e->t != x->timestamp || !same_double(e->v, x->value) || e->nlabels != x->n_labels)
				BAD("v1: series %zu exemplar %zu differs", i, j);
			for (size_t k = 0; k < x->n_labels; k++)
				if (!same_str(r.ex_labels[e->first_label + k].name, x->labels[k]->name) ||
					!same_str(r.ex_labels[e->first_label + k].value, x->labels[k]->value))
					BAD("v1: exemplar label differs");
		}
	}
	if (r.nmetadata != m->n_metadata)
		BAD("v1: %u metadata vs %zu", r.nmetadata, m->n_metadata);
	for (size_t i = 0; i < m->n_metadata; i++)
	{
		Prometheus__MetricMetadata *x = m->metadata[i];
		rw_metadata *y = &r.metadata[i];

		if (y->type != (int32_t) x->type || !same_str(y->family, x->metric_family_name) ||
			!same_str(y->help, x->help) || !same_str(y->unit, x->unit))
			BAD("v1: metadata %zu differs", i);
	}
out:
	if (m)
		prometheus__write_request__free_unpacked(m, NULL);
	rw_request_free(&r);		/* also after a failure */
	return bad;
#undef BAD
}

/* remote write 2.0 rules protobuf-c does not know: symbol references */
static int
v2_refs_ok(const Io__Prometheus__Write__V2__Request *m)
{
	if (m->n_symbols > 0 && m->symbols[0][0] != '\0')
		return 0;
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Io__Prometheus__Write__V2__TimeSeries *t = m->timeseries[i];

		if (t->n_labels_refs % 2 != 0)
			return 0;
		for (size_t j = 0; j < t->n_labels_refs; j++)
			if (t->labels_refs[j] >= m->n_symbols)
				return 0;
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			Io__Prometheus__Write__V2__Exemplar *e = t->exemplars[j];

			if (e->n_labels_refs % 2 != 0)
				return 0;
			for (size_t k = 0; k < e->n_labels_refs; k++)
				if (e->labels_refs[k] >= m->n_symbols)
					return 0;
		}
		if (t->metadata && (t->metadata->help_ref >= m->n_symbols || t->metadata->unit_ref >= m->n_symbols))
			return 0;
	}
	return 1;
}

/* a varint at *p (< end); 0 on truncation */
static int
raw_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7)
	{
		uint8_t		c = *(*p)++;

		*v |= (uint64_t) (c & 0x7f) << shift;
		if (!(c & 0x80))
			return 1;
	}
	return 0;
}

/* skip one field of wire type wt; 0 if it does not parse */
static int
raw_skip(const uint8_t **p, const uint8_t *end, int wt)
{
	uint64_t	v;

	switch (wt)
	{
		case 0:
			return raw_varint(p, end, &v);
		case 1:
			if (end - *p < 8)
				return 0;
			*p += 8;
			return 1;
		case 2:
			if (!raw_varint(p, end, &v) || v > (uint64_t) (end - *p))
				return 0;
			*p += v;
			return 1;
		case 5:
			if (end - *p < 4)
				return 0;
			*p += 4;
			return 1;
	}
	return 0;
}

/*
 * Does a TimeSeries carry its (singular) Metadata field more than once?
 * The protobuf spec, Go (Prometheus) and rw_decode merge such fields;
 * protobuf-c keeps the last one, so it is no oracle for those inputs.
 */
static int
v2_repeated_metadata(const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf,
			   *end = buf + len;
	uint64_t	tag;

	while (p < end && raw_varint(&p, end, &tag))
	{
		if (tag == ((5 << 3) | 2))
		{
			uint64_t	n;
			const uint8_t *q,
					   *qend;
			int			seen = 0;

			if (!raw_varint(&p, end, &n) || n > (uint64_t) (end - p))
				return 0;
			q = p;
			qend = p + n;
			p = qend;
			while (q < qend && raw_varint(&q, qend, &tag))
			{
				if (tag == ((5 << 3) | 2) && ++seen > 1)
					return 1;
				if (!raw_skip(&q, qend, (int) (tag & 7)))
					break;
			}
		}
		else if (!raw_skip(&p, end, (int) (tag & 7)))
			return 0;
	}
	return 0;
}

static int
compare_v2(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	rw_request	r;
	char		err[256];
	int			rc = rw_decode_v2(buf, len, &r, err, sizeof(err));
	Io__Prometheus__Write__V2__Request *m = io__prometheus__write__v2__request__unpack(NULL, len, buf);
	int			bad = 0;
	int			expect_ok = m != NULL && v2_refs_ok(m);

#define BAD(...) do { snprintf(why, whylen, __VA_ARGS__); bad = 1; goto out; } while (0)
	if (v2_repeated_metadata(buf, len))
		goto out;
	/* protobuf-c strings end at a NUL: it cannot see a first symbol "\0..." */
	if (rc != 0 && expect_ok && r.nsymbols > 0 && r.symbols[0].len > 0 && m->symbols[0][0] == '\0')
		goto out;
	if ((rc == 0) != expect_ok)
		BAD("v2: rw_decode %s (%s), protobuf-c %s%s", rc == 0 ? "ok" : "failed", rc == 0 ? "" : err,
			m ? "ok" : "failed", m && !expect_ok ? " with bad references" : "");
	if (!expect_ok)
		goto out;
	if (r.nseries != m->n_timeseries)
		BAD("v2: %u series vs %zu", r.nseries, m->n_timeseries);
	for (size_t i = 0; i < m->n_timeseries; i++)
	{
		Io__Prometheus__Write__V2__TimeSeries *t = m->timeseries[i];
		rw_series  *s = &r.series[i];

		if (s->nlabels * 2 != t->n_labels_refs || s->nsamples != t->n_samples ||
			s->nexemplars != t->n_exemplars || s->nhistograms != t->n_histograms)
			BAD("v2: series %zu counts differ", i);
		for (size_t j = 0; j < s->nlabels; j++)
			if (!same_str(r.labels[s->first_label + j].name, m->symbols[t->labels_refs[2 * j]]) ||
				!same_str(r.labels[s->first_label + j].value, m->symbols[t->labels_refs[2 * j + 1]]))
				BAD("v2: series %zu label %zu differs", i, j);
		for (size_t j = 0; j < t->n_samples; j++)
			if (r.samples[s->first_sample + j].t != t->samples[j]->timestamp ||
				!same_double(r.samples[s->first_sample + j].v, t->samples[j]->value))
				BAD("v2: series %zu sample %zu differs", i, j);
		for (size_t j = 0; j < t->n_exemplars; j++)
		{
			rw_exemplar *e = &r.exemplars[s->first_exemplar + j];
			Io__Prometheus__Write__V2__Exemplar *x = t->exemplars[j];

			if (e->t != x->timestamp || !same_double(e->v, x->value) || e->nlabels * 2 != x->n_labels_refs)
				BAD("v2: series %zu exemplar %zu differs", i, j);
			for (size_t k = 0; k < e->nlabels; k++)
				if (!same_str(r.ex_labels[e->first_label + k].name, m->symbols[x->labels_refs[2 * k]]) ||
					!same_str(r.ex_labels[e->first_label + k].value, m->symbols[x->labels_refs[2 * k + 1]]))
					BAD("v2: exemplar label differs");
		}
		if (s->has_md != (t->metadata != NULL))
			BAD("v2: series %zu metadata presence differs", i);
		if (t->metadata && (s->md_type != (int32_t) t->metadata->type ||
							!same_str(s->md_help, m->symbols[t->metadata->help_ref]) ||
							!same_str(s->md_unit, m->symbols[t->metadata->unit_ref])))
			BAD("v2: series %zu metadata differs", i);
	}
out:
	if (m)
		io__prometheus__write__v2__request__free_unpacked(m, NULL);
	rw_request_free(&r);		/* also after a failure */
	return bad;
#undef BAD
}

#endif
