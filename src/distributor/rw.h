/*
 * rw.h — the decoded form of a remote-write request and the pure-C steps
 * that produce it on the HTTP thread: protobuf decoding (1.0 and 2.0, zero
 * copy: strings point into the decompressed body), Mimir's validation and
 * the series hash. Nothing here depends on PostgreSQL, so the unit tests and
 * the fuzzer link these files alone.
 */
#ifndef MIMIR_RW_H
#define MIMIR_RW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rw_str
{
	const char *p;
	uint32_t	len;
} rw_str;

typedef struct rw_label
{
	rw_str		name;
	rw_str		value;
} rw_label;

/* same layout as pc_sample */
typedef struct rw_sample
{
	int64_t		t;
	double		v;
} rw_sample;

typedef struct rw_exemplar
{
	uint32_t	first_label;	/* into rw_request.ex_labels */
	uint32_t	nlabels;
	double		v;
	int64_t		t;
} rw_exemplar;

/* Mimir's metadata types, as stored ("counter", ...) */
#define RW_MD_TYPES 8
extern const char *const rw_metadata_type_names[RW_MD_TYPES];

typedef struct rw_metadata
{
	int32_t		type;			/* 0..7, anything else is "unknown" */
	rw_str		family;
	rw_str		help;
	rw_str		unit;
	uint8_t		status;			/* RW_OK or an RW_E_* code (set by validation) */
} rw_metadata;

typedef struct rw_series
{
	uint32_t	first_label;	/* into rw_request.labels */
	uint32_t	nlabels;
	uint32_t	first_sample;	/* into rw_request.samples */
	uint32_t	nsamples;
	uint32_t	first_exemplar; /* into rw_request.exemplars */
	uint32_t	nexemplars;
	uint32_t	nhistograms;
	/* remote write 2.0 carries metadata per series */
	bool		has_md;
	int32_t		md_type;
	rw_str		md_help;
	rw_str		md_unit;
	/* set by validation */
	uint8_t		status;			/* RW_OK or an RW_E_* code */
	uint64_t	hash_hi;		/* hash of tenant + canonical labels */
	uint64_t	hash_lo;
} rw_series;

typedef struct rw_request
{
	int			version;		/* 1 or 2 */
	rw_series  *series;
	uint32_t	nseries,
				cap_series;
	rw_label   *labels;
	uint32_t	nlabels,
				cap_labels;
	rw_sample  *samples;
	uint32_t	nsamples,
				cap_samples;
	rw_exemplar *exemplars;
	uint32_t	nexemplars,
				cap_exemplars;
	rw_label   *ex_labels;
	uint32_t	nex_labels,
				cap_ex_labels;
	rw_metadata *metadata;
	uint32_t	nmetadata,
				cap_metadata;
	rw_str	   *symbols;		/* 2.0 */
	uint32_t	nsymbols,
				cap_symbols;
	uint64_t	nhistograms;
} rw_request;

/* rw_decode.c: 0 on success; on error -1 with a message in err */
extern int	rw_decode_v1(const uint8_t *buf, size_t len, rw_request *req, char *err, size_t errlen);
extern int	rw_decode_v2(const uint8_t *buf, size_t len, rw_request *req, char *err, size_t errlen);
extern void rw_request_free(rw_request *req);

/* Per-tenant limits the HTTP thread needs (Mimir's names). */
typedef struct rw_limits
{
	double		ingestion_rate;
	int64_t		ingestion_burst_size;
	int64_t		max_global_series_per_user;
	int64_t		max_global_series_per_metric;
	int32_t		max_label_names_per_series;
	int32_t		max_label_names_per_info_series;
	int32_t		max_label_name_length;
	int32_t		max_label_value_length;
	int32_t		max_metadata_length;
	int64_t		creation_grace_period_ms;
	int64_t		past_grace_period_ms;
	int64_t		out_of_order_time_window_ms;
	int64_t		max_global_exemplars_per_user;
	bool		accept_ha_samples;
	char		ha_cluster_label[128];
	char		ha_replica_label[128];
	int32_t		ha_max_clusters;
	int64_t		ha_failover_timeout_ms;
} rw_limits;

extern void rw_limits_default(rw_limits *l);

/* limits_store.c: the limits of every tenant, readable from the HTTP thread */
typedef struct LimitsTable
{
	rw_limits	def;			/* defaults + the '' overrides */
	int			n;
	char	  (*tenant)[152];
	rw_limits  *lim;
} LimitsTable;
extern void limits_store_publish(LimitsTable *t);	/* takes ownership */
extern void limits_store_get(const char *tenant, rw_limits *out);
extern bool limits_store_loaded(void);

/*
 * Reasons a series, sample, exemplar or metadata entry is rejected. Each has
 * Mimir's error id; the discarded-samples metric uses the id with '-' -> '_'.
 */
typedef enum rw_reason
{
	RW_OK = 0,
	RW_E_MISSING_METRIC_NAME,
	RW_E_METRIC_NAME_INVALID,
	RW_E_MAX_LABEL_NAMES,
	RW_E_MAX_LABEL_NAMES_INFO,
	RW_E_LABEL_INVALID,
	RW_E_LABEL_NAME_TOO_LONG,
	RW_E_LABEL_VALUE_INVALID,
	RW_E_LABEL_VALUE_TOO_LONG,
	RW_E_DUPLICATE_LABEL_NAMES,
	RW_E_TOO_FAR_IN_FUTURE,
	RW_E_TOO_FAR_IN_PAST,
	RW_E_EXEMPLAR_LABELS_MISSING,
	RW_E_EXEMPLAR_TIMESTAMP_INVALID,
	RW_E_EXEMPLAR_LABELS_TOO_LONG,
	RW_E_METADATA_MISSING_NAME,
	RW_E_METADATA_NAME_TOO_LONG,
	RW_E_METADATA_UNIT_TOO_LONG,
	/* ingester */
	RW_E_SAMPLE_OUT_OF_ORDER,
	RW_E_SAMPLE_TOO_OLD,
	RW_E_SAMPLE_DUPLICATE_TIMESTAMP,
	RW_E_MAX_SERIES_PER_USER,
	RW_E_MAX_SERIES_PER_METRIC,
	RW_E_EXEMPLAR_SERIES_MISSING,
	/* counted only */
	RW_E_NATIVE_HISTOGRAMS_DISABLED,
	RW_NREASONS
} rw_reason;

extern const char *rw_reason_id(int reason);		/* "metric-name-invalid" */
extern const char *rw_reason_label(int reason);		/* "metric_name_invalid" */

/* Outcome of validating a request (rw_validate.c). */
typedef struct rw_validation
{
	uint32_t	valid_series;
	uint64_t	valid_samples;
	uint64_t	valid_exemplars;
	uint32_t	valid_metadata;
	uint64_t	discarded[RW_NREASONS]; /* samples (or exemplars / metadata) per reason */
	uint32_t	rejected_series;
	uint32_t	rejected_metadata;
	char	   *first_error;	/* malloc'd Mimir message of the first problem, or NULL */
} rw_validation;

/*
 * Validate every series (sorting labels, dropping empty-valued ones, in
 * place), compute series hashes, validate exemplars and metadata, as
 * Mimir's distributor does. now_ms: the current time. The replica label
 * (HA) must already be removed.
 */
extern void rw_validate(rw_request *req, const char *tenant, const rw_limits *lim, int64_t now_ms,
						rw_validation *out);
extern void rw_validation_free(rw_validation *v);

/* Remove label `name` from every series (HA replica label). */
extern void rw_remove_label(rw_request *req, const char *name);
/* Value of label `name` of series s (before sorting: linear scan), or NULL. */
extern const rw_str *rw_series_label(const rw_request *req, const rw_series *s, const char *name);

/* Labels formatted as Prometheus does: {__name__="x", job="y"} (malloc'd). */
extern char *rw_labels_string(const rw_label *l, uint32_t n);

/* utf-8 and name checks (also used by the tenant parser) */
extern bool rw_valid_utf8(const char *p, size_t len);
extern bool rw_valid_metric_name(const char *p, size_t len);
extern bool rw_valid_label_name(const char *p, size_t len);

/* series_hash.c */
extern void series_hash128(const void *data, size_t len, uint64_t *hi, uint64_t *lo);

/*
 * Canonical series hash: tenant name and the sorted labels, separated by
 * 0xFF (a byte that occurs in neither UTF-8 nor label names). buf is scratch
 * space grown with realloc as needed.
 */
typedef struct rw_hashbuf
{
	uint8_t    *p;
	size_t		cap;
} rw_hashbuf;
extern void rw_series_hash(rw_hashbuf *b, const char *tenant, const rw_label *l, uint32_t n,
						   uint64_t *hi, uint64_t *lo);

/* push_parse.c: request-level parsing */
#define RW_CT_V1		1
#define RW_CT_V2		2
#define RW_CT_UNSUPPORTED	0	/* unknown proto=: 415 */
#define RW_CT_MALFORMED	(-1)	/* bad parameter syntax: 400 */
extern int	rw_content_type_version(const char *ct);
/*
 * Tenant from X-Scope-OrgID following dskit: 0 and the tenant in out
 * (size >= 151), or an HTTP status (400/401) with a message in err.
 */
extern int	rw_parse_tenant(const char *header, char *out, char *err, size_t errlen);

/*
 * Retry-After value in seconds for attempt `retry_attempt` (the request
 * header, NULL = 1): 6s * 2^(attempt-1), +-50% jitter from `rnd` in [0,1),
 * clamped to [6, 96].
 */
extern int	rw_retry_after(const char *retry_attempt, double rnd);

#endif
