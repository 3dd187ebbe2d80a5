/*
 * push.h — state of one remote-write request between its two halves: what
 * the HTTP thread decoded and validated (push_http.c) and what the backend
 * stored (push.c).
 */
#ifndef MIMIR_PUSH_H
#define MIMIR_PUSH_H

#include "api/http.h"
#include "distributor/rw.h"

typedef struct PushPrep
{
	char		tenant[152];
	int			version;		/* 1 or 2; 0 before the Content-Type is known */
	uint8_t    *body;			/* decompressed; strings of req point into it */
	bool		decoded;
	rw_request	req;
	rw_validation val;
	rw_limits	lim;
	char	   *ha_cluster;		/* set when HA dedup applies to the request */
	char	   *ha_replica;
	int64_t		now_ms;

	/* filled by the backend */
	bool		ingested;		/* reached storage (not deduped, not rate limited) */
	bool		deduped;
	bool		rate_limited;
	uint64_t	stored_samples;
	uint64_t	stored_exemplars;
	uint64_t	stored_metadata;
	uint64_t	ingester_discarded[RW_NREASONS];
} PushPrep;

extern void push_prep_free(void *p);
/* adds Retry-After (Mimir's backoff) to a 429/5xx answer */
extern void push_add_retry_after(HttpJob *job);

#endif
