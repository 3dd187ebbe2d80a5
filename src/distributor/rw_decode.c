/*
 * rw_decode.c — zero-copy protobuf decoding of remote-write requests (1.0
 * prometheus.WriteRequest and 2.0 io.prometheus.write.v2.Request, field
 * numbers as in remote_write.proto / remote_write_v2.proto). It is the hot
 * path of ingestion: strings are not copied but point into the decompressed
 * body, and everything lands in a few growable arrays, so a request costs a
 * handful of mallocs whatever its size. Wire-level rules follow protobuf:
 * unknown fields are skipped, repeated scalars may be packed or not, a known
 * field with the wrong wire type or any truncation is an error. The fuzzer
 * checks it against the protoc-c generated decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distributor/rw.h"

enum
{
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
	WT_I32 = 5
};

typedef struct pb
{
	const uint8_t *p;
	const uint8_t *end;
	char	   *err;
	size_t		errlen;
	const char *where;			/* message being decoded, for errors */
} pb;

static int	fail(pb *b, const char *fmt, uint64_t field) __attribute__((cold));

static int
fail(pb *b, const char *fmt, uint64_t field)
{
	if (b->err && b->err[0] == '\0')
	{
		char		what[160];

		snprintf(what, sizeof(what), fmt, (unsigned long long) field);
		snprintf(b->err, b->errlen, "malformed remote-write request: %s in %s", what, b->where);
	}
	return -1;
}

static inline int
rd_varint(pb *b, uint64_t *out)
{
	const uint8_t *p = b->p;
	uint64_t	v = 0;

	if (p < b->end && *p < 0x80)
	{
		*out = *p;
		b->p = p + 1;
		return 0;
	}
	v = 0;
	for (int shift = 0; shift < 70; shift += 7)
	{
		uint8_t		c;

		if (p >= b->end)
			return fail(b, "truncated varint%.0llu", 0);
		c = *p++;
		if (shift < 64)
			v |= (uint64_t) (c & 0x7f) << shift;
		if (c < 0x80)
		{
			*out = v;
			b->p = p;
			return 0;
		}
	}
	return fail(b, "varint longer than 10 bytes%.0llu", 0);
}

static inline int
rd_fixed64(pb *b, uint64_t *out)
{
	if (b->end - b->p < 8)
		return fail(b, "truncated fixed64%.0llu", 0);
	memcpy(out, b->p, 8);
	b->p += 8;
	return 0;
}

/*
 * reads a length-delimited payload; as protobuf-c: the length is a varint
 * of at most 5 bytes and at most INT_MAX
 */
static inline int
rd_bytes(pb *b, const uint8_t **data, size_t *len)
{
	const uint8_t *p = b->p;
	uint64_t	n = 0;
	int			i;

	for (i = 0; i < 5; i++)
	{
		if (p + i >= b->end)
			return fail(b, "truncated length%.0llu", 0);
		n |= (uint64_t) (p[i] & 0x7f) << (7 * i);
		if (p[i] < 0x80)
			break;
	}
	if (i == 5)
		return fail(b, "length longer than 5 bytes%.0llu", 0);
	p += i + 1;
	if (n > 0x7fffffff)
		return fail(b, "length %llu too large", n);
	if (n > (uint64_t) (b->end - p))
		return fail(b, "length %llu runs past the end of the message", n);
	*data = p;
	*len = (size_t) n;
	b->p = p + n;
	return 0;
}

/*
 * tag: field number and wire type. As protobuf-c: at most 5 bytes, and a
 * first byte without field bits is an error (field 0).
 */
static inline int
rd_tag(pb *b, uint32_t *field, int *wt)
{
	const uint8_t *p = b->p;
	size_t		avail = (size_t) (b->end - p);
	size_t		max = avail < 5 ? avail : 5;
	uint32_t	tag;
	int			shift = 4;

	if (avail == 0)
		return fail(b, "truncated tag%.0llu", 0);
	if ((p[0] & 0xf8) == 0)
		return fail(b, "invalid field number %llu", 0);
	*wt = p[0] & 7;
	tag = (uint32_t) (p[0] & 0x7f) >> 3;
	if (p[0] < 0x80)
	{
		*field = tag;
		b->p = p + 1;
		return 0;
	}
	for (size_t i = 1; i < max; i++)
	{
		if (p[i] & 0x80)
		{
			tag |= (uint32_t) (p[i] & 0x7f) << shift;
			shift += 7;
		}
		else
		{
			tag |= (uint32_t) p[i] << shift;
			*field = tag;
			b->p = p + i + 1;
			return 0;
		}
	}
	return fail(b, "bad tag%.0llu", 0);
}

static int
skip(pb *b, int wt, uint32_t field)
{
	uint64_t	v = 0;
	const uint8_t *d = NULL;
	size_t		l = 0;

	switch (wt)
	{
		case WT_VARINT:
			return rd_varint(b, &v);
		case WT_I64:
			return rd_fixed64(b, &v);
		case WT_LEN:
			return rd_bytes(b, &d, &l);
		case WT_I32:
			if (b->end - b->p < 4)
				return fail(b, "truncated fixed32 in field %llu", field);
			b->p += 4;
			return 0;
		default:
			return fail(b, "unsupported wire type in field %llu", field);
	}
}

static int
wrong_type(pb *b, uint32_t field)
{
	return fail(b, "wrong wire type for field %llu", field);
}

/* a field that must be length-delimited (a message, string or packed array) */
static inline int
rd_len_field(pb *b, int wt, uint32_t field, const uint8_t **data, size_t *len)
{
	if (wt != WT_LEN)
		return wrong_type(b, field);
	return rd_bytes(b, data, len);
}

/* growable arrays */
#define GROW(arr, n, cap, min) \
	do { \
		if ((n) == (cap)) { \
			uint32_t nc_ = (cap) ? (cap) * 2 : (min); \
			void *np_; \
			if (nc_ <= (cap)) return fail(b, "too many elements%.0llu", 0); \
			np_ = realloc((arr), sizeof(*(arr)) * (size_t) nc_); \
			if (np_ == NULL) return fail(b, "out of memory%.0llu", 0); \
			(arr) = np_; (cap) = nc_; \
		} \
	} while (0)

static void
sub(pb *parent, pb *child, const uint8_t *data, size_t len, const char *where)
{
	child->p = data;
	child->end = data + len;
	child->err = parent->err;
	child->errlen = parent->errlen;
	child->where = where;
}

/* Label { string name = 1; string value = 2; } */
static int
decode_label(pb *parent, const uint8_t *data, size_t len, rw_label *l)
{
	pb			m,
			   *b = &m;

	sub(parent, b, data, len, "Label");
	l->name.p = l->value.p = "";
	l->name.len = l->value.len = 0;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1 || f == 2)
		{
			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
			if (n > UINT32_MAX)
				return fail(b, "string too long in field %llu", f);
			if (f == 1)
			{
				l->name.p = (const char *) d;
				l->name.len = (uint32_t) n;
			}
			else
			{
				l->value.p = (const char *) d;
				l->value.len = (uint32_t) n;
			}
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	return 0;
}

/* Sample { double value = 1; int64 timestamp = 2; (2.0: int64 start_timestamp = 3) } */
static int
decode_sample(pb *parent, const uint8_t *data, size_t len, rw_sample *s, bool v2)
{
	pb			m,
			   *b = &m;

	/* the common encoding: 09 <8 bytes> 10 <varint>, exactly */
	if (len >= 11 && data[0] == 0x09 && data[9] == 0x10)
	{
		const uint8_t *p = data + 10,
				   *end = data + len;
		uint64_t	t = 0;
		int			shift = 0;

		while (p < end && shift < 64)
		{
			t |= (uint64_t) (*p & 0x7f) << shift;
			if (*p++ < 0x80)
			{
				if (p == end)
				{
					memcpy(&s->v, data + 1, 8);
					s->t = (int64_t) t;
					return 0;
				}
				break;
			}
			shift += 7;
		}
		/* anything else: the general path */
	}
	sub(parent, b, data, len, "Sample");
	s->t = 0;
	s->v = 0;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		uint64_t	v = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1)
		{
			if (wt != WT_I64)
				return wrong_type(b, f);
			if (rd_fixed64(b, &v) < 0)
				return -1;
			memcpy(&s->v, &v, 8);
		}
		else if (f == 2 || (f == 3 && v2))
		{
			if (wt != WT_VARINT)
				return wrong_type(b, f);
			if (rd_varint(b, &v) < 0)
				return -1;
			if (f == 2)
				s->t = (int64_t) v;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	return 0;
}

/*
 * Messages we only count (native histograms) are still checked at the
 * wire level against their schema, as a full decoder would.
 * kinds: 'v' varint, 'd' fixed64, 'm' message (BucketSpan),
 * 'V' repeated varint (packable), 'D' repeated fixed64 (packable).
 */
static int	check_schema(pb *parent, const uint8_t *data, size_t len, const char *kinds,
						 const char *where);

static const char histogram_kinds[] = "?vddvdvdmVDmVDvvD";	/* index = field number */
static const char bucketspan_kinds[] = "?vv";

static int
check_schema(pb *parent, const uint8_t *data, size_t len, const char *kinds, const char *where)
{
	pb			m,
			   *b = &m;
	size_t		nk = strlen(kinds);

	sub(parent, b, data, len, where);
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		char		k;
		uint64_t	v = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		k = f < nk ? kinds[f] : '?';
		switch (k)
		{
			case 'v':
				if (wt != WT_VARINT)
					return wrong_type(b, f);
				if (rd_varint(b, &v) < 0)
					return -1;
				break;
			case 'd':
				if (wt != WT_I64)
					return wrong_type(b, f);
				if (rd_fixed64(b, &v) < 0)
					return -1;
				break;
			case 'm':
				if (rd_len_field(b, wt, f, &d, &n) < 0 ||
					check_schema(b, d, n, bucketspan_kinds, "BucketSpan") < 0)
					return -1;
				break;
			case 'V':
				if (wt == WT_VARINT)
				{
					if (rd_varint(b, &v) < 0)
						return -1;
				}
				else if (wt == WT_LEN)
				{
					pb			pk;

					if (rd_bytes(b, &d, &n) < 0)
						return -1;
					sub(b, &pk, d, n, where);
					while (pk.p < pk.end)
						if (rd_varint(&pk, &v) < 0)
							return -1;
				}
				else
					return wrong_type(b, f);
				break;
			case 'D':
				if (wt == WT_I64)
				{
					if (rd_fixed64(b, &v) < 0)
						return -1;
				}
				else if (wt == WT_LEN)
				{
					if (rd_bytes(b, &d, &n) < 0)
						return -1;
					if (n % 8 != 0)
						return fail(b, "packed doubles of odd length in field %llu", f);
				}
				else
					return wrong_type(b, f);
				break;
			default:
				if (skip(b, wt, f) < 0)
					return -1;
		}
	}
	return 0;
}

/* 1.0 Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; } */
static int
decode_exemplar_v1(pb *parent, rw_request *req, const uint8_t *data, size_t len)
{
	pb			m,
			   *b = &m;
	rw_exemplar *e;

	sub(parent, b, data, len, "Exemplar");
	GROW(req->exemplars, req->nexemplars, req->cap_exemplars, 16);
	e = &req->exemplars[req->nexemplars];
	e->first_label = req->nex_labels;
	e->nlabels = 0;
	e->v = 0;
	e->t = 0;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		uint64_t	v = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1)
		{
			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
			GROW(req->ex_labels, req->nex_labels, req->cap_ex_labels, 16);
			if (decode_label(b, d, n, &req->ex_labels[req->nex_labels]) < 0)
				return -1;
			req->nex_labels++;
			e->nlabels++;
		}
		else if (f == 2)
		{
			if (wt != WT_I64)
				return wrong_type(b, f);
			if (rd_fixed64(b, &v) < 0)
				return -1;
			memcpy(&e->v, &v, 8);
		}
		else if (f == 3)
		{
			if (wt != WT_VARINT)
				return wrong_type(b, f);
			if (rd_varint(b, &v) < 0)
				return -1;
			e->t = (int64_t) v;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	req->nexemplars++;
	return 0;
}

static rw_series *
new_series(pb *b, rw_request *req)
{
	rw_series  *s;

	if (req->nseries == req->cap_series)
	{
		uint32_t	nc = req->cap_series ? req->cap_series * 2 : 64;
		void	   *np;

		if (nc <= req->cap_series)
			return NULL;
		np = realloc(req->series, sizeof(rw_series) * (size_t) nc);
		if (np == NULL)
		{
			fail(b, "out of memory%.0llu", 0);
			return NULL;
		}
		req->series = np;
		req->cap_series = nc;
	}
	s = &req->series[req->nseries];
	memset(s, 0, sizeof(*s));
	s->first_label = req->nlabels;
	s->first_sample = req->nsamples;
	s->first_exemplar = req->nexemplars;
	return s;
}

/*
 * 1.0 TimeSeries { repeated Label labels = 1; repeated Sample samples = 2;
 *   repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
 * A series' elements must stay contiguous in the request arrays, which they
 * do because series are decoded one after the other.
 */
static int
decode_series_v1(pb *parent, rw_request *req, const uint8_t *data, size_t len)
{
	pb			m,
			   *b = &m;
	rw_series  *s;

	sub(parent, b, data, len, "TimeSeries");
	s = new_series(b, req);
	if (s == NULL)
		return -1;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		/* single-byte tags are the rule; rd_tag handles the rest */
		if (b->p[0] < 0x80)
		{
			f = b->p[0] >> 3;
			wt = b->p[0] & 7;
			if (f == 0)
				return fail(b, "invalid field number %llu", 0);
			b->p++;
		}
		else if (rd_tag(b, &f, &wt) < 0)
			return -1;
		switch (f)
		{
			case 1:
				if (rd_len_field(b, wt, f, &d, &n) < 0)
					return -1;
				GROW(req->labels, req->nlabels, req->cap_labels, 256);
				if (decode_label(b, d, n, &req->labels[req->nlabels]) < 0)
					return -1;
				req->nlabels++;
				s->nlabels++;
				break;
			case 2:
				if (rd_len_field(b, wt, f, &d, &n) < 0)
					return -1;
				GROW(req->samples, req->nsamples, req->cap_samples, 256);
				if (decode_sample(b, d, n, &req->samples[req->nsamples], false) < 0)
					return -1;
				req->nsamples++;
				s->nsamples++;
				break;
			case 3:
				if (rd_len_field(b, wt, f, &d, &n) < 0 || decode_exemplar_v1(b, req, d, n) < 0)
					return -1;
				s->nexemplars++;
				break;
			case 4:
				if (rd_len_field(b, wt, f, &d, &n) < 0 || check_schema(b, d, n, histogram_kinds, "Histogram") < 0)
					return -1;
				s->nhistograms++;
				req->nhistograms++;
				break;
			default:
				if (skip(b, wt, f) < 0)
					return -1;
		}
	}
	req->nseries++;
	return 0;
}

/* MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; } */
static int
decode_metadata_v1(pb *parent, rw_request *req, const uint8_t *data, size_t len)
{
	pb			m,
			   *b = &m;
	rw_metadata *md;

	sub(parent, b, data, len, "MetricMetadata");
	GROW(req->metadata, req->nmetadata, req->cap_metadata, 16);
	md = &req->metadata[req->nmetadata];
	memset(md, 0, sizeof(*md));
	md->family.p = md->help.p = md->unit.p = "";
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		uint64_t	v = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1)
		{
			if (wt != WT_VARINT)
				return wrong_type(b, f);
			if (rd_varint(b, &v) < 0)
				return -1;
			md->type = (int32_t) (uint32_t) v;
		}
		else if (f == 2 || f == 4 || f == 5)
		{
			rw_str	   *str = f == 2 ? &md->family : f == 4 ? &md->help : &md->unit;

			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
			if (n > UINT32_MAX)
				return fail(b, "string too long in field %llu", f);
			str->p = (const char *) d;
			str->len = (uint32_t) n;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	req->nmetadata++;
	return 0;
}

static void
init_request(rw_request *req, int version, char *err)
{
	memset(req, 0, sizeof(*req));
	req->version = version;
	if (err)
		err[0] = '\0';
}

int
rw_decode_v1(const uint8_t *buf, size_t len, rw_request *req, char *err, size_t errlen)
{
	pb			m,
			   *b = &m;

	init_request(req, 1, err);
	b->p = buf;
	b->end = buf + len;
	b->err = err;
	b->errlen = errlen;
	b->where = "WriteRequest";
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1 || f == 3)
		{
			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
			if ((f == 1 ? decode_series_v1(b, req, d, n) : decode_metadata_v1(b, req, d, n)) < 0)
				return -1;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	return 0;
}

/* ---- remote write 2.0 ---- */

static int
symbol(pb *b, rw_request *req, uint64_t ref, rw_str *out)
{
	if (ref >= req->nsymbols)
		return fail(b, "symbol reference %llu out of range", ref);
	*out = req->symbols[ref];
	return 0;
}

/* reads a repeated uint32 field occurrence (packed or not) into refs */
static int
read_refs(pb *b, int wt, uint32_t f, uint32_t **refs, uint32_t *n, uint32_t *cap)
{
	uint64_t	v = 0;

	if (wt == WT_VARINT)
	{
		if (rd_varint(b, &v) < 0)
			return -1;
		GROW(*refs, *n, *cap, 32);
		(*refs)[(*n)++] = (uint32_t) v;
		return 0;
	}
	if (wt == WT_LEN)
	{
		const uint8_t *d = NULL;
		size_t		len = 0;
		pb			pk;

		if (rd_bytes(b, &d, &len) < 0)
			return -1;
		sub(b, &pk, d, len, b->where);
		while (pk.p < pk.end)
		{
			if (rd_varint(&pk, &v) < 0)
				return -1;
			GROW(*refs, *n, *cap, 32);
			(*refs)[(*n)++] = (uint32_t) v;
		}
		return 0;
	}
	return wrong_type(b, f);
}

/* resolves label refs (name, value pairs) into labels */
static int
resolve_refs(pb *b, rw_request *req, const uint32_t *refs, uint32_t n, bool exemplar)
{
	if (n % 2 != 0)
		return fail(b, "odd number (%llu) of label references", n);
	for (uint32_t i = 0; i < n; i += 2)
	{
		rw_label	l;

		if (symbol(b, req, refs[i], &l.name) < 0 || symbol(b, req, refs[i + 1], &l.value) < 0)
			return -1;
		if (exemplar)
		{
			GROW(req->ex_labels, req->nex_labels, req->cap_ex_labels, 16);
			req->ex_labels[req->nex_labels++] = l;
		}
		else
		{
			GROW(req->labels, req->nlabels, req->cap_labels, 256);
			req->labels[req->nlabels++] = l;
		}
	}
	return 0;
}

/* 2.0 Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; } */
static int
decode_exemplar_v2(pb *parent, rw_request *req, const uint8_t *data, size_t len,
				   uint32_t **refs, uint32_t *cap)
{
	pb			m,
			   *b = &m;
	uint32_t	nrefs = 0;
	rw_exemplar e = {0};

	sub(parent, b, data, len, "Exemplar");
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		uint64_t	v = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1)
		{
			if (read_refs(b, wt, f, refs, &nrefs, cap) < 0)
				return -1;
		}
		else if (f == 2)
		{
			if (wt != WT_I64)
				return wrong_type(b, f);
			if (rd_fixed64(b, &v) < 0)
				return -1;
			memcpy(&e.v, &v, 8);
		}
		else if (f == 3)
		{
			if (wt != WT_VARINT)
				return wrong_type(b, f);
			if (rd_varint(b, &v) < 0)
				return -1;
			e.t = (int64_t) v;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	e.first_label = req->nex_labels;
	if (resolve_refs(b, req, *refs, nrefs, true) < 0)
		return -1;
	e.nlabels = nrefs / 2;
	GROW(req->exemplars, req->nexemplars, req->cap_exemplars, 16);
	req->exemplars[req->nexemplars++] = e;
	return 0;
}

/*
 * 2.0 Metadata { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
 * A message field seen twice is merged, so references are resolved once the
 * series is complete.
 */
static int
decode_metadata_v2(pb *parent, const uint8_t *data, size_t len, rw_series *s,
				   uint32_t *help_ref, uint32_t *unit_ref)
{
	pb			m,
			   *b = &m;

	sub(parent, b, data, len, "Metadata");
	s->has_md = true;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		uint64_t	v = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 1 || f == 3 || f == 4)
		{
			if (wt != WT_VARINT)
				return wrong_type(b, f);
			if (rd_varint(b, &v) < 0)
				return -1;
			if (f == 1)
				s->md_type = (int32_t) (uint32_t) v;
			else if (f == 3)
				*help_ref = (uint32_t) v;
			else
				*unit_ref = (uint32_t) v;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	return 0;
}

/*
 * 2.0 TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2;
 *   repeated Histogram histograms = 3; repeated Exemplar exemplars = 4;
 *   Metadata metadata = 5; int64 created_timestamp = 6; }
 */
static int
decode_series_v2(pb *parent, rw_request *req, const uint8_t *data, size_t len,
				 uint32_t **refs, uint32_t *cap, uint32_t **exrefs, uint32_t *excap)
{
	pb			m,
			   *b = &m;
	rw_series  *s;
	uint32_t	nrefs = 0;
	uint32_t	ex_first = req->nexemplars;
	uint32_t	help_ref = 0,
				unit_ref = 0;

	sub(parent, b, data, len, "TimeSeries");
	s = new_series(b, req);
	if (s == NULL)
		return -1;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		switch (f)
		{
			case 1:
				if (read_refs(b, wt, f, refs, &nrefs, cap) < 0)
					return -1;
				break;
			case 2:
				if (rd_len_field(b, wt, f, &d, &n) < 0)
					return -1;
				GROW(req->samples, req->nsamples, req->cap_samples, 256);
				if (decode_sample(b, d, n, &req->samples[req->nsamples], true) < 0)
					return -1;
				req->nsamples++;
				s->nsamples++;
				break;
			case 3:
				/* 2.0 adds start_timestamp = 17 (varint) to the histogram */
				if (rd_len_field(b, wt, f, &d, &n) < 0 ||
					check_schema(b, d, n, "?vddvdvdmVDmVDvvDv", "Histogram") < 0)
					return -1;
				s->nhistograms++;
				req->nhistograms++;
				break;
			case 4:
				if (rd_len_field(b, wt, f, &d, &n) < 0 || decode_exemplar_v2(b, req, d, n, exrefs, excap) < 0)
					return -1;
				break;
			case 5:
				if (rd_len_field(b, wt, f, &d, &n) < 0 || decode_metadata_v2(b, d, n, s, &help_ref, &unit_ref) < 0)
					return -1;
				break;
			case 6:
				{
					uint64_t	v = 0;

					if (wt != WT_VARINT)
						return wrong_type(b, f);
					if (rd_varint(b, &v) < 0)
						return -1;
					break;
				}
			default:
				if (skip(b, wt, f) < 0)
					return -1;
		}
	}
	if (resolve_refs(b, req, *refs, nrefs, false) < 0)
		return -1;
	if (s->has_md && (symbol(b, req, help_ref, &s->md_help) < 0 || symbol(b, req, unit_ref, &s->md_unit) < 0))
		return -1;
	s->nlabels = nrefs / 2;
	s->first_exemplar = ex_first;
	s->nexemplars = req->nexemplars - ex_first;
	req->nseries++;
	return 0;
}

int
rw_decode_v2(const uint8_t *buf, size_t len, rw_request *req, char *err, size_t errlen)
{
	pb			m,
			   *b = &m;
	uint32_t   *refs = NULL,
			   *exrefs = NULL;
	uint32_t	cap = 0,
				excap = 0;
	int			rc = 0;

	init_request(req, 2, err);
	b->err = err;
	b->errlen = errlen;
	b->where = "Request";

	/* symbols first: they may come after the series that use them */
	b->p = buf;
	b->end = buf + len;
	while (b->p < b->end)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			return -1;
		if (f == 4)
		{
			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
			if (n > UINT32_MAX)
				return fail(b, "string too long in field %llu", f);
			GROW(req->symbols, req->nsymbols, req->cap_symbols, 64);
			req->symbols[req->nsymbols].p = (const char *) d;
			req->symbols[req->nsymbols].len = (uint32_t) n;
			req->nsymbols++;
		}
		else if (f == 5)
		{
			if (rd_len_field(b, wt, f, &d, &n) < 0)
				return -1;
		}
		else if (skip(b, wt, f) < 0)
			return -1;
	}
	if (req->nsymbols > 0 && req->symbols[0].len != 0)
		return fail(b, "the first symbol must be the empty string%.0llu", 0);

	b->p = buf;
	while (b->p < b->end && rc == 0)
	{
		uint32_t	f = 0;
		int			wt = 0;
		const uint8_t *d = NULL;
		size_t		n = 0;

		if (rd_tag(b, &f, &wt) < 0)
			rc = -1;
		else if (f == 5)
		{
			if (rd_bytes(b, &d, &n) < 0 ||
				decode_series_v2(b, req, d, n, &refs, &cap, &exrefs, &excap) < 0)
				rc = -1;
		}
		else if (skip(b, wt, f) < 0)
			rc = -1;
	}
	free(refs);
	free(exrefs);
	return rc;
}

void
rw_request_free(rw_request *req)
{
	free(req->series);
	free(req->labels);
	free(req->samples);
	free(req->exemplars);
	free(req->ex_labels);
	free(req->metadata);
	free(req->symbols);
	memset(req, 0, sizeof(*req));
}
