/*
 * http.h — the HTTP layer shared by the distributor and the query API:
 * jobs created on libmicrohttpd threads and handed to the worker backend's
 * own thread, which alone may touch PostgreSQL (SPI, palloc, ereport).
 */
#ifndef MIMIR_HTTP_H
#define MIMIR_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct MHD_Connection;
typedef struct HttpJob HttpJob;

typedef struct HttpRoute
{
	const char *path;
	const char *methods;		/* e.g. "POST" or "GET,POST" */
	/* runs on the HTTP thread: pure C, no PostgreSQL calls; may answer the job */
	void		(*pre) (HttpJob *job);
	/*
	 * runs in the backend, inside a subtransaction of the batch's transaction
	 * (NULL: pre always answers). Jobs that pre answered still pass through
	 * the backend (run is skipped) so that `done` sees every job.
	 */
	void		(*run) (HttpJob *job);
	/* backend, after the batch's commit (committed = false if it failed); may be NULL */
	void		(*done) (HttpJob *job, bool committed);
} HttpRoute;

#define HTTP_MAX_ARGS		64
#define HTTP_MAX_RESP_HDRS	8

struct HttpJob
{
	/* request; all strings malloc'd */
	char	   *method;
	char	   *path;
	char	   *content_type;
	char	   *content_encoding;
	char	   *org_id;
	char	   *retry_attempt;
	int			nargs;
	char	   *arg_name[HTTP_MAX_ARGS];
	char	   *arg_value[HTTP_MAX_ARGS];
	uint8_t    *body;
	size_t		body_len;
	size_t		body_cap;
	bool		body_too_large;
	uint64_t	content_length;
	double		start;			/* seconds, for request duration */

	const HttpRoute *route;
	void	   *data;			/* route's state between pre and run */
	void		(*free_data) (void *data);

	/* response; answered when status != 0 */
	int			status;
	char	   *resp;
	size_t		resp_len;
	const char *resp_type;
	int			nhdrs;
	char	   *hdr_name[HTTP_MAX_RESP_HDRS];
	char	   *hdr_value[HTTP_MAX_RESP_HDRS];

	/* plumbing */
	int			state;
	struct MHD_Connection *conn;
	HttpJob    *next;
};

/* Answer a job (usable on either thread: malloc only). */
extern void http_respond(HttpJob *job, int status, const char *type, const char *body, size_t len);
extern void http_respondf(HttpJob *job, int status, const char *fmt,...) __attribute__((format(printf, 3, 4)));
extern void http_add_header(HttpJob *job, const char *name, const char *value);
extern const char *http_arg(HttpJob *job, const char *name);

/*
 * Listening sockets, created by the postmaster so that they outlive worker
 * restarts and are closed when it exits: n sockets sharing the port
 * (SO_REUSEPORT, so the kernel spreads connections over the workers), after
 * checking that nothing else listens there. Returns false with a message.
 */
extern bool http_listen(const char *addr, int port, int n, int *fds, char *errbuf, size_t errlen);

/* server lifecycle, called by the worker backend; listen_fd from http_listen */
extern bool http_server_start(int listen_fd, const HttpRoute *routes, int nroutes,
							  char *errbuf, size_t errlen);
/* largest accepted request body (compressed); may change at any time */
extern void http_server_set_max_body(size_t max_body);
extern size_t http_server_max_body(void);
extern void http_server_stop(void);
extern int	http_server_wakeup_fd(void);
/* take all queued jobs (a linked list in arrival order) */
extern HttpJob *http_server_take_jobs(void);
/* hand a finished job back to the HTTP thread */
extern void http_server_finish(HttpJob *job);
extern double http_now(void);

#endif
