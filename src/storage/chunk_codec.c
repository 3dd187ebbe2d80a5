/*
 * chunk_codec.c — the sample codec behind the promchunk type (see
 * chunk_codec.h). Pure C: no PostgreSQL headers, so tests, fuzzers and
 * benchmarks link this file alone.
 *
 * Format (version 1), all multi-byte integers LEB128 varints (canonical:
 * no overlong encodings), signed ones zigzagged:
 *   byte 0    version (1)
 *   byte 1    kind: timestamp coding (low nibble) | value coding << 4
 *   varint    n, the sample count (<= PC_MAX_SAMPLES)
 *   if n > 0:
 *     zvarint mint (first timestamp)
 *     varint  maxt - mint
 *     timestamp section, then value section (per kind)
 * An empty chunk is exactly 01 00 00.
 *
 * Timestamp coding 0: n - 1 varints, the deltas t[i] - t[i-1] (>= 1).
 * Value coding 0: n raw little-endian float64 bit patterns.
 */
#include "chunk_codec.h"

#include <string.h>

#define PC_VERSION		1

#define TK_VARINT		0		/* timestamps as varint deltas */
#define VK_RAW			0		/* values as raw 8-byte patterns */

/* ---------- varints ---------- */

static inline size_t
put_uvarint(uint8_t *p, uint64_t v)
{
	size_t		i = 0;

	while (v >= 0x80)
	{
		p[i++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t) v;
	return i;
}

static inline size_t
uvarint_len(uint64_t v)
{
	size_t		n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint64_t
zigzag(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static inline int64_t
unzigzag(uint64_t v)
{
	return (int64_t) ((v >> 1) ^ (~(v & 1) + 1));
}

/*
 * Read a canonical varint from [*p, end). Overlong encodings and values
 * beyond 64 bits are corruption, so every value has one encoding.
 */
static inline pc_status
get_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t	v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8_t		b;

		if (p >= end)
			return PC_ERR_TRUNCATED;
		b = *p++;
		if (shift == 63 && b > 1)
			return PC_ERR_CORRUPT;
		v |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
		{
			if (b == 0 && shift > 0)
				return PC_ERR_CORRUPT;	/* overlong */
			break;
		}
		shift += 7;
	}
	*pp = p;
	*out = v;
	return PC_OK;
}

/* ---------- public API ---------- */

size_t
pc_encode_bound(size_t n)
{
	/* header + at most 10 bytes per timestamp delta + 8 per value */
	return 2 + 10 + 10 + 10 + n * 18 + 16;
}

pc_status
pc_encode(const pc_sample *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t    *p = out;

	*len = 0;
	if (n > PC_MAX_SAMPLES)
		return PC_ERR_TOO_MANY;
	for (size_t i = 1; i < n; i++)
		if (s[i].t <= s[i - 1].t)
			return PC_ERR_ORDER;
	{
		size_t		need = 3 + 8 * n;

		if (n > 0)
		{
			need += uvarint_len(n) - 1 + uvarint_len(zigzag(s[0].t)) +
				uvarint_len((uint64_t) s[n - 1].t - (uint64_t) s[0].t);
			for (size_t i = 1; i < n; i++)
				need += uvarint_len((uint64_t) s[i].t - (uint64_t) s[i - 1].t);
		}
		if (cap < need)
			return PC_ERR_NOSPACE;
	}

	*p++ = PC_VERSION;
	*p++ = (uint8_t) (TK_VARINT | VK_RAW << 4);
	p += put_uvarint(p, n);
	if (n > 0)
	{
		p += put_uvarint(p, zigzag(s[0].t));
		p += put_uvarint(p, (uint64_t) s[n - 1].t - (uint64_t) s[0].t);
		for (size_t i = 1; i < n; i++)
			p += put_uvarint(p, (uint64_t) s[i].t - (uint64_t) s[i - 1].t);
		for (size_t i = 0; i < n; i++)
		{
			uint64_t	b;

			memcpy(&b, &s[i].v, 8);
			for (int k = 0; k < 8; k++)
				*p++ = (uint8_t) (b >> (8 * k));
		}
	}
	*len = (size_t) (p - out);
	return PC_OK;
}

/* Parse and check the header; *body points past it. */
static pc_status
read_header(const uint8_t *data, size_t len, int *tkind, int *vkind,
			uint32_t *n, int64_t *mint, int64_t *maxt, const uint8_t **body)
{
	const uint8_t *p = data,
			   *end = data + len;
	uint64_t	cnt,
				zmin,
				span;
	pc_status	st;

	if (len < 2)
		return PC_ERR_TRUNCATED;
	if (p[0] != PC_VERSION)
		return PC_ERR_VERSION;
	*tkind = p[1] & 15;
	*vkind = p[1] >> 4;
	if (*tkind != TK_VARINT || *vkind != VK_RAW)
		return PC_ERR_VERSION;
	p += 2;
	if ((st = get_uvarint(&p, end, &cnt)) != PC_OK)
		return st;
	if (cnt > PC_MAX_SAMPLES)
		return PC_ERR_CORRUPT;
	*n = (uint32_t) cnt;
	*mint = *maxt = 0;
	if (cnt == 0 && data[1] != 0)
		return PC_ERR_CORRUPT;
	if (cnt > 0)
	{
		if ((st = get_uvarint(&p, end, &zmin)) != PC_OK ||
			(st = get_uvarint(&p, end, &span)) != PC_OK)
			return st;
		*mint = unzigzag(zmin);
		/* maxt - mint must be representable and leave room for n samples */
		if (span < cnt - 1 || (cnt == 1 && span != 0) ||
			span > (uint64_t) INT64_MAX - (uint64_t) *mint)
			return PC_ERR_CORRUPT;
		*maxt = (int64_t) ((uint64_t) *mint + span);
	}
	*body = p;
	return PC_OK;
}

pc_status
pc_header(const uint8_t *data, size_t len, uint32_t *n, int64_t *mint, int64_t *maxt)
{
	int			tk,
				vk;
	const uint8_t *body;
	uint32_t	cnt;
	int64_t		a,
				b;
	pc_status	st;

	st = read_header(data, len, &tk, &vk, &cnt, &a, &b, &body);
	if (st != PC_OK)
		return st;
	*n = cnt;
	*mint = a;
	*maxt = b;
	return PC_OK;
}

pc_status
pc_decode(const uint8_t *data, size_t len, pc_sample *out, size_t cap, size_t *nout)
{
	int			tk,
				vk;
	const uint8_t *p,
			   *end = data + len;
	uint32_t	n;
	int64_t		mint,
				maxt;
	pc_status	st;

	*nout = 0;
	st = read_header(data, len, &tk, &vk, &n, &mint, &maxt, &p);
	if (st != PC_OK)
		return st;
	if (n == 0)
		return p == end ? PC_OK : PC_ERR_TRAILING;
	if (n > cap)
		return PC_ERR_NOSPACE;

	/* timestamps: varint deltas, each >= 1, never passing maxt */
	{
		uint64_t	t = (uint64_t) mint;

		out[0].t = mint;
		for (uint32_t i = 1; i < n; i++)
		{
			uint64_t	d;

			if ((st = get_uvarint(&p, end, &d)) != PC_OK)
				return st;
			if (d == 0 || d > (uint64_t) maxt - t)
				return PC_ERR_CORRUPT;
			t += d;
			out[i].t = (int64_t) t;
		}
		if (t != (uint64_t) maxt)
			return PC_ERR_CORRUPT;
	}
	/* values: raw */
	if ((size_t) (end - p) < (size_t) n * 8)
		return PC_ERR_TRUNCATED;
	for (uint32_t i = 0; i < n; i++)
	{
		uint64_t	b = 0;

		for (int k = 0; k < 8; k++)
			b |= (uint64_t) p[k] << (8 * k);
		p += 8;
		memcpy(&out[i].v, &b, 8);
	}
	if (p != end)
		return PC_ERR_TRAILING;
	*nout = n;
	return PC_OK;
}

const char *
pc_strerror(pc_status st)
{
	switch (st)
	{
		case PC_OK:
			return "no error";
		case PC_ERR_TRUNCATED:
			return "chunk data is truncated";
		case PC_ERR_VERSION:
			return "unknown chunk format version or encoding";
		case PC_ERR_CORRUPT:
			return "chunk data is corrupt";
		case PC_ERR_TRAILING:
			return "unexpected bytes after the last sample";
		case PC_ERR_ORDER:
			return "sample timestamps are not strictly increasing";
		case PC_ERR_TOO_MANY:
			return "too many samples for one chunk";
		case PC_ERR_NOSPACE:
			return "output buffer too small";
	}
	return "unknown chunk codec error";
}
