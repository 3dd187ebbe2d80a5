/*
 * series_hash.c — the 128-bit hash that identifies a series (tenant and
 * canonical label set). It is stored with the series (mimir.series.lhash)
 * and keys the shared-memory series map, so it must never change. 128 bits
 * make an accidental collision between two series of a server negligible
 * (about 2^-64 even with billions of series); it is not meant to resist an
 * adversary choosing label values.
 *
 * Construction: 16-byte blocks are folded into two 64-bit lanes with
 * 64x64->128 multiplications (each lane mixes the block with different
 * constants and the other lane), the tail is zero-padded (the length is part
 * of the seed), and a final cross-mixing round spreads every input bit over
 * both halves.
 */
#include <string.h>

#include "distributor/rw.h"

#define K0 0xa0761d6478bd642fULL
#define K1 0xe7037ed1a0b428dbULL
#define K2 0x8ebc6af09c88c6e3ULL
#define K3 0x589965cc75374cc3ULL
#define K4 0x1d8e4e27c47d124fULL
#define K5 0xbf58476d1ce4e5b9ULL

static inline uint64_t
fold(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t) a * b;

	return (uint64_t) r ^ (uint64_t) (r >> 64);
}

static inline uint64_t
rd64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

void
series_hash128(const void *data, size_t len, uint64_t *hi, uint64_t *lo)
{
	const uint8_t *p = data;
	uint64_t	a = K0 ^ (uint64_t) len,
				b = K1 + (uint64_t) len * K2;
	size_t		n = len;

	while (n >= 16)
	{
		uint64_t	x = rd64(p),
					y = rd64(p + 8);
		uint64_t	na = fold(x ^ a ^ K2, y ^ K3) + rotl(b, 23);
		uint64_t	nb = fold(y ^ b ^ K4, x ^ K5) + rotl(a, 41);

		a = na;
		b = nb;
		p += 16;
		n -= 16;
	}
	if (n > 0)
	{
		uint8_t		t[16] = {0};
		uint64_t	x,
					y,
					na,
					nb;

		memcpy(t, p, n);
		x = rd64(t);
		y = rd64(t + 8);
		na = fold(x ^ a ^ K2, y ^ K3) + rotl(b, 23);
		nb = fold(y ^ b ^ K4, x ^ K5) + rotl(a, 41);
		a = na;
		b = nb;
	}
	/* final avalanche: each half depends on both lanes */
	{
		uint64_t	h = fold(a ^ K5, b ^ K0) ^ rotl(a, 17);
		uint64_t	l = fold(b ^ K3, a ^ K1) ^ rotl(b, 47);

		h = fold(h ^ K4, l ^ K2) ^ h;
		l = fold(l ^ K1, h ^ K5) ^ l;
		if (h == 0 && l == 0)
			l = 1;
		*hi = h;
		*lo = l;
	}
}
