/*
 * query_pool.h — the pool of query workers that evaluate query API requests
 * handed over by the HTTP workers (see query_pool.c).
 */
#ifndef MIMIR_QUERY_POOL_H
#define MIMIR_QUERY_POOL_H

#include "api/http.h"

extern int	mimir_query_workers;
extern int	mimir_query_queue_timeout_ms;

/* _PG_init while preloading (after the HTTP GUCs are defined) */
extern void query_pool_init(void);

/* HTTP worker backend: run or defer a query API job; true = deferred */
extern bool query_http_run(HttpJob *job);
/* whether the HTTP worker must leave the job to the pool */
extern bool query_pool_owns(HttpJob *job);
/* the routes table's run step for the query API */
extern void query_route_run(HttpJob *job);
/* HTTP worker main loop: answer finished queries, dispatch queued ones */
extern void query_pool_poll(void);
/* HTTP worker main loop: how long it may sleep */
extern long query_pool_wait_ms(long dflt);

extern void query_pool_stats(int *workers, int *busy, uint64 *dispatched, uint64 *queued,
							 uint64 *rejected);

#endif							/* MIMIR_QUERY_POOL_H */
