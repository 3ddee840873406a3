/* corral: the one error type threaded through every fallible call. */
#ifndef CORRAL_ERROR_H
#define CORRAL_ERROR_H

struct corral_error_s
{
  int status; /* errno at the point of failure, 0 if not a system error */
  char *msg;
};
typedef struct corral_error_s *corral_error_t;

/* Record an error (if *err is still empty) and return -1.  When errno_ is
 * non-zero its strerror text is appended: "open `x`: No such file". */
int corral_error_make (corral_error_t *err, int errno_, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* Prefix context to an existing error: "bundle `/b`: <old message>". */
int corral_error_wrap (corral_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

void corral_error_release (corral_error_t *err);

#define cleanup_error __attribute__ ((cleanup (corral_error_release)))

#endif
