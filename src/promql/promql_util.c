/*
 * promql_util.c — numeric and string helpers whose exact behaviour PromQL
 * results depend on: Kahan(-Neumaier) summation, quantiles over values,
 * Go's shortest float formatting (count_values labels), Go's float parsing
 * (le labels), natural string order (sort_by_label), xxhash64 (label hashes
 * for limit_ratio), Go's small-input sort order, and a string hash table.
 */
#include "promql/promql_eval.h"

#include <math.h>

#include "common/hashfn.h"

/* ---- xxhash64 (seed 0), as used by Prometheus' labels.Hash ---- */

#define XXP1 UINT64CONST(0x9E3779B185EBCA87)
#define XXP2 UINT64CONST(0xC2B2AE3D27D4EB4F)
#define XXP3 UINT64CONST(0x165667B19E3779F9)
#define XXP4 UINT64CONST(0x85EBCA77C2B2AE63)
#define XXP5 UINT64CONST(0x27D4EB2F165667C5)

static inline uint64
rotl64(uint64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64
rd64(const uint8 *p)
{
	uint64		v;

	memcpy(&v, p, 8);
	return v;					/* little-endian hosts */
}

static inline uint32
rd32(const uint8 *p)
{
	uint32		v;

	memcpy(&v, p, 4);
	return v;
}

static inline uint64
xx_round(uint64 acc, uint64 in)
{
	acc += in * XXP2;
	acc = rotl64(acc, 31);
	return acc * XXP1;
}

static inline uint64
xx_merge(uint64 acc, uint64 val)
{
	acc ^= xx_round(0, val);
	return acc * XXP1 + XXP4;
}

uint64
pq_xxhash64(const void *data, size_t len)
{
	const uint8 *p = data;
	const uint8 *end = p + len;
	uint64		h;

	if (len >= 32)
	{
		uint64		v1 = XXP1 + XXP2,
					v2 = XXP2,
					v3 = 0,
					v4 = (uint64) 0 - XXP1;

		while (p + 32 <= end)
		{
			v1 = xx_round(v1, rd64(p));
			v2 = xx_round(v2, rd64(p + 8));
			v3 = xx_round(v3, rd64(p + 16));
			v4 = xx_round(v4, rd64(p + 24));
			p += 32;
		}
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xx_merge(h, v1);
		h = xx_merge(h, v2);
		h = xx_merge(h, v3);
		h = xx_merge(h, v4);
	}
	else
		h = XXP5;
	h += (uint64) len;
	while (p + 8 <= end)
	{
		h ^= xx_round(0, rd64(p));
		h = rotl64(h, 27) * XXP1 + XXP4;
		p += 8;
	}
	if (p + 4 <= end)
	{
		h ^= (uint64) rd32(p) * XXP1;
		h = rotl64(h, 23) * XXP2 + XXP3;
		p += 4;
	}
	while (p < end)
	{
		h ^= (uint64) (*p) * XXP5;
		h = rotl64(h, 11) * XXP1;
		p++;
	}
	h ^= h >> 33;
	h *= XXP2;
	h ^= h >> 29;
	h *= XXP3;
	h ^= h >> 32;
	return h;
}

/* ---- Kahan-Neumaier summation step, as Prometheus' kahansum.Inc ---- */
void
pq_kahan_inc(double inc, double *sum, double *c)
{
	double		t = *sum + inc;

	if (isinf(t))
		*c = 0;
	else if (fabs(*sum) >= fabs(inc))
		*c += (*sum - t) + inc;
	else
		*c += (inc - t) + *sum;
	*sum = t;
}

/* ---- quantile of values (sorts v in place; NaN sorts first) ---- */
static int
nan_first_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	if (isnan(x))
		return isnan(y) ? 0 : -1;
	if (isnan(y))
		return 1;
	return x < y ? -1 : x > y;
}

double
pq_quantile(double q, double *v, int n)
{
	double		rank,
				lo,
				hi,
				w;

	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(v, n, sizeof(double), nan_first_cmp);
	rank = q * (n - 1);
	lo = Max(0, floor(rank));
	hi = Min(n - 1, lo + 1);
	w = rank - floor(rank);
	return v[(int) lo] * (1 - w) + v[(int) hi] * w;
}

/* ---- Go strconv.FormatFloat(v, 'f', -1, 64) ---- */
char *
pq_format_float(double v)
{
	char		buf[64];
	char		digits[32];
	int			nd = 0,
				exp10;
	char	   *e;
	StringInfoData out;
	bool		neg;

	if (isnan(v))
		return pstrdup("NaN");
	if (isinf(v))
		return pstrdup(v > 0 ? "+Inf" : "-Inf");
	neg = signbit(v);
	if (v == 0)
		return pstrdup(neg ? "-0" : "0");
	/* shortest digit string that round-trips */
	for (int prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, fabs(v));
		if (strtod(buf, NULL) == fabs(v))
			break;
	}
	e = strchr(buf, 'e');
	exp10 = atoi(e + 1);
	for (char *p = buf; p < e; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	/* value = 0.d1d2d3... * 10^(exp10+1) */
	initStringInfo(&out);
	if (neg)
		appendStringInfoChar(&out, '-');
	if (exp10 < 0)
	{
		appendStringInfoString(&out, "0.");
		for (int i = 0; i < -exp10 - 1; i++)
			appendStringInfoChar(&out, '0');
		appendStringInfoString(&out, digits);
	}
	else
	{
		for (int i = 0; i <= exp10; i++)
			appendStringInfoChar(&out, i < nd ? digits[i] : '0');
		if (nd > exp10 + 1)
		{
			appendStringInfoChar(&out, '.');
			appendStringInfoString(&out, digits + exp10 + 1);
		}
	}
	return out.data;
}

/* Go's %g-like shortest formatting for messages (strconv 'g', -1). */
char *
pq_format_g(double v)
{
	char		buf[64];

	if (isnan(v))
		return pstrdup("NaN");
	if (isinf(v))
		return pstrdup(v > 0 ? "+Inf" : "-Inf");
	for (int prec = 1; prec <= 17; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return pstrdup(buf);
}

/* ---- Go strconv.ParseFloat(s, 64), strictly ---- */
bool
pq_parse_float(const char *s, double *out)
{
	const char *p = s;
	char	   *end;

	if (*p == '+' || *p == '-')
		p++;
	if (pg_strcasecmp(p, "inf") == 0 || pg_strcasecmp(p, "infinity") == 0)
	{
		*out = (*s == '-') ? -INFINITY : INFINITY;
		return true;
	}
	if (pg_strcasecmp(p, "nan") == 0)
	{
		*out = NAN;
		return true;
	}
	/* digits, '.', hex digits, exponents only: no spaces, no nan(...) */
	if (*p == '\0')
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
	{
		/* Go requires a p exponent on hex floats */
		if (strchr(p, 'p') == NULL && strchr(p, 'P') == NULL)
			return false;
	}
	else
	{
		for (const char *q = p; *q; q++)
			if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' ||
				  *q == '+' || *q == '-'))
				return false;
	}
	errno = 0;
	*out = strtod(s, &end);
	if (*end != '\0' || end == s)
		return false;
	/* Go returns ±Inf with an error on overflow */
	if (errno == ERANGE && isinf(*out))
		return false;
	return true;
}

/* ---- natural order (github.com/facette/natsort Compare) ---- */
typedef struct Chunk
{
	const char *p;
	int			len;
	bool		digits;
} Chunk;

static int
chunkify(const char *s, Chunk *out, int max)
{
	int			n = 0;

	while (*s && n < max)
	{
		bool		d = (*s >= '0' && *s <= '9');
		const char *st = s;

		while (*s && ((*s >= '0' && *s <= '9') == d))
			s++;
		out[n].p = st;
		out[n].len = (int) (s - st);
		out[n].digits = d;
		n++;
	}
	return n;
}

static bool
chunk_int(const Chunk *c, int64 *v)
{
	int64		r = 0;

	if (!c->digits)
		return false;
	for (int i = 0; i < c->len; i++)
	{
		if (r > (PG_INT64_MAX - 9) / 10)
			return false;
		r = r * 10 + (c->p[i] - '0');
	}
	*v = r;
	return true;
}

static int
chunk_cmp(const Chunk *a, const Chunk *b)
{
	int			n = Min(a->len, b->len);
	int			c = memcmp(a->p, b->p, n);

	if (c != 0)
		return c;
	return a->len - b->len;
}

bool
pq_natsort_less(const char *a, const char *b)
{
	int			maxa = (int) strlen(a) + 1,
				maxb = (int) strlen(b) + 1;
	Chunk	   *ca = palloc(sizeof(Chunk) * maxa);
	Chunk	   *cb = palloc(sizeof(Chunk) * maxb);
	int			na = chunkify(a, ca, maxa);
	int			nb = chunkify(b, cb, maxb);
	bool		res = false;

	for (int i = 0; i < na; i++)
	{
		int64		ai,
					bi;

		if (i >= nb)
		{
			res = false;
			goto done;
		}
		if (chunk_int(&ca[i], &ai) && chunk_int(&cb[i], &bi))
		{
			if (ai == bi)
			{
				if (i == na - 1)
				{
					res = true;
					goto done;
				}
				else if (i == nb - 1)
				{
					res = false;
					goto done;
				}
				continue;
			}
			res = ai < bi;
			goto done;
		}
		if (chunk_cmp(&ca[i], &cb[i]) == 0)
		{
			if (i == na - 1)
			{
				res = true;
				goto done;
			}
			else if (i == nb - 1)
			{
				res = false;
				goto done;
			}
			continue;
		}
		res = chunk_cmp(&ca[i], &cb[i]) < 0;
		goto done;
	}
done:
	pfree(ca);
	pfree(cb);
	return res;
}

/* ---- sorting with Go's order for small inputs ---- */
void
pq_sort(void *base, int n, size_t size,
		bool (*less) (const void *a, const void *b, void *arg), void *arg)
{
	char	   *b = base;
	char	   *tmp = palloc(size);

	if (n <= 12)
	{
		/* Go's insertionSort, used by sort.Sort below 13 elements */
		for (int i = 1; i < n; i++)
			for (int j = i; j > 0 && less(b + j * size, b + (j - 1) * size, arg); j--)
			{
				memcpy(tmp, b + j * size, size);
				memcpy(b + j * size, b + (j - 1) * size, size);
				memcpy(b + (j - 1) * size, tmp, size);
			}
	}
	else
	{
		/* stable merge sort */
		char	   *src = b;
		char	   *dst = palloc(size * n);

		for (int width = 1; width < n; width *= 2)
		{
			for (int lo = 0; lo < n; lo += 2 * width)
			{
				int			mid = Min(lo + width, n),
							hi = Min(lo + 2 * width, n),
							i = lo,
							j = mid,
							k = lo;

				while (i < mid && j < hi)
				{
					if (less(src + j * size, src + i * size, arg))
						memcpy(dst + (k++) * size, src + (j++) * size, size);
					else
						memcpy(dst + (k++) * size, src + (i++) * size, size);
				}
				while (i < mid)
					memcpy(dst + (k++) * size, src + (i++) * size, size);
				while (j < hi)
					memcpy(dst + (k++) * size, src + (j++) * size, size);
			}
			{
				char	   *t = src;

				src = dst;
				dst = t;
			}
		}
		if (src != b)
		{
			memcpy(b, src, size * n);
			pfree(src);
		}
		else
			pfree(dst);
	}
	pfree(tmp);
}

/* ---- string -> int hash table ---- */
typedef struct StrEntry
{
	uint32		hash;
	int			len;
	char	   *key;			/* NULL: empty slot */
	int			value;
} StrEntry;

struct PqStrMap
{
	int			size;			/* power of two */
	int			used;
	StrEntry   *e;
};

PqStrMap *
pq_strmap_new(int size_hint)
{
	PqStrMap   *m = palloc(sizeof(PqStrMap));

	m->size = 16;
	while (m->size < size_hint * 2)
		m->size *= 2;
	m->used = 0;
	m->e = palloc0(sizeof(StrEntry) * m->size);
	return m;
}

static StrEntry *
strmap_slot(PqStrMap *m, const char *key, int len, uint32 h)
{
	uint32		mask = m->size - 1;
	uint32		i = h & mask;

	for (;;)
	{
		StrEntry   *e = &m->e[i];

		if (e->key == NULL)
			return e;
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
		i = (i + 1) & mask;
	}
}

int
pq_strmap_get(PqStrMap *m, const char *key, int len)
{
	StrEntry   *e = strmap_slot(m, key, len, hash_bytes((const unsigned char *) key, len));

	return e->key ? e->value : -1;
}

/* Insert if absent; returns the value stored for key. */
int
pq_strmap_put(PqStrMap *m, const char *key, int len, int value)
{
	uint32		h = hash_bytes((const unsigned char *) key, len);
	StrEntry   *e = strmap_slot(m, key, len, h);

	if (e->key)
		return e->value;
	if ((m->used + 1) * 2 > m->size)
	{
		StrEntry   *old = m->e;
		int			oldsize = m->size;

		m->size *= 2;
		m->e = palloc0(sizeof(StrEntry) * m->size);
		for (int i = 0; i < oldsize; i++)
			if (old[i].key)
				*strmap_slot(m, old[i].key, old[i].len, old[i].hash) = old[i];
		pfree(old);
		e = strmap_slot(m, key, len, h);
	}
	e->hash = h;
	e->len = len;
	e->key = palloc(len + 1);
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	e->value = value;
	m->used++;
	return value;
}

void
pq_strmap_free(PqStrMap *m)
{
	for (int i = 0; i < m->size; i++)
		if (m->e[i].key)
			pfree(m->e[i].key);
	pfree(m->e);
	pfree(m);
}
