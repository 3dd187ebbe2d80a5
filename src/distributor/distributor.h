/*
 * distributor.h — the remote-write endpoint: routes, the push handler's two
 * halves (HTTP thread / backend), per-tenant limits, HA dedup, rate
 * limiting and the endpoint's metrics.
 */
#ifndef MIMIR_DISTRIBUTOR_H
#define MIMIR_DISTRIBUTOR_H

#include "api/http.h"
#include "distributor/rw.h"

extern char *mimir_http_listen_address;
extern int	mimir_http_port;
extern int	mimir_ingest_workers;
extern int	mimir_max_recv_msg_size;
extern bool mimir_multitenancy_enabled;

extern const HttpRoute mimir_http_routes[];
extern const int mimir_http_nroutes;

extern void mimir_register_ingest_workers(void);

/* push_http.c (HTTP thread) and push.c (backend): POST /api/v1/push, /api/v1/write */
extern void push_pre(HttpJob *job);
extern void push_run(HttpJob *job);
extern void push_publish(HttpJob *job, bool committed);

/* http_routes.c */
extern void http_routes_set_ready(bool ready);

/* limits_store.c: per-tenant limits readable from the HTTP thread (pure C) */
/* (declared in rw.h) */

/* distributor.c (backend) */
extern void distributor_load_limits(void);
extern void distributor_maybe_reload_limits(void);
extern void distributor_limits_for(const char *tenant, rw_limits *out);

/* rate_limit.c: token buckets per tenant in shared memory */
extern void rate_limit_init(void);
/* 0 = allowed; 1 = over the rate; 2 = more than the burst in one request */
extern int	rate_limit_take(const char *tenant, double rate, int64_t burst, int64_t n);

/* distributor_metrics.c */
extern void distributor_metrics_init(void);
extern void distributor_count(const char *tenant, uint64_t requests, uint64_t samples,
							  uint64_t exemplars, uint64_t metadata, uint64_t deduped);
extern void distributor_count_ingested(const char *tenant, uint64_t n);
extern void distributor_count_discarded(const char *tenant, const char *reason, uint64_t n);
extern void distributor_observe_duration(const char *method, const char *route, int status,
										 double seconds);
extern void distributor_observe(HttpJob *job);
extern char *distributor_metrics_text(void);
extern void distributor_limits_changed(void);
extern uint64_t distributor_limits_generation(void);

/* ha_tracker.c */
#define HA_ACCEPT				0
#define HA_DEDUPE				1
#define HA_TOO_MANY_CLUSTERS	2
extern int	ha_check_replica(int32_t tenant_id, const char *cluster, const char *replica,
							 const rw_limits *limits, char **elected);

#endif
