/*
 * chunk_codec.h — the sample codec behind the promchunk type: encodes the
 * (timestamp, float64) samples of one series, in time order, into a
 * self-describing byte string and back. Pure C with no PostgreSQL
 * dependency, so the codec tests, fuzzers and benchmarks link it alone.
 */
#ifndef MIMIR_CHUNK_CODEC_H
#define MIMIR_CHUNK_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* One sample: milliseconds since the Unix epoch, and the value's bits. */
typedef struct pc_sample
{
	int64_t		t;
	double		v;
} pc_sample;

typedef enum pc_status
{
	PC_OK = 0,
	PC_ERR_TRUNCATED,			/* input ends inside the encoding */
	PC_ERR_VERSION,				/* unknown format version or encoding kind */
	PC_ERR_CORRUPT,				/* inconsistent content (count, header, bits) */
	PC_ERR_TRAILING,			/* bytes left after the last sample */
	PC_ERR_ORDER,				/* encoder input not strictly increasing in time */
	PC_ERR_TOO_MANY,			/* more than PC_MAX_SAMPLES samples */
	PC_ERR_NOSPACE				/* output buffer too small */
} pc_status;

/* Upper bound on samples per chunk (keeps every size computation in range). */
#define PC_MAX_SAMPLES		(1 << 24)

/* Bytes pc_encode may need for n samples. */
extern size_t pc_encode_bound(size_t n);

/*
 * Encode n samples, strictly increasing in t (n may be 0). Every float64 bit
 * pattern (NaN payloads, -0.0, infinities, subnormals) round-trips exactly,
 * as does every int64 timestamp.
 */
extern pc_status pc_encode(const pc_sample *s, size_t n, uint8_t *out, size_t cap,
						   size_t *len);

/* Read the header only: sample count, first and last timestamp (0 if n == 0). */
extern pc_status pc_header(const uint8_t *data, size_t len, uint32_t *n,
						   int64_t *mint, int64_t *maxt);

/*
 * Decode into out (room for cap samples). Validates everything: never reads
 * outside [data, data + len) nor writes past out[cap - 1], whatever the input.
 */
extern pc_status pc_decode(const uint8_t *data, size_t len, pc_sample *out,
						   size_t cap, size_t *nout);

extern const char *pc_strerror(pc_status st);

#ifdef PC_COVERAGE
/* test builds only: how often the encoder produced each encoding */
enum
{
	PC_COV_RAW, PC_COV_XOR, PC_COV_DEC, PC_COV_CONST,
	PC_COV_ORDER0, PC_COV_ORDER1, PC_COV_ORDER2,
	PC_COV_PACKED, PC_COV_SPARSE, PC_COV_GCD, PC_COV_MULTIBLOCK, PC_COV_MULTISPARSE,
	PC_COV_WIDE, PC_COV_EXC_RAW, PC_COV_EXC_STALE, PC_COV_N
};
extern long pc_coverage[PC_COV_N];
#endif

#endif							/* MIMIR_CHUNK_CODEC_H */
