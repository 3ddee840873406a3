/* corral: the log sink, in runc's format so engines show corral's errors.
 * Text: time="…" level=error msg="…"; JSON: {"level":"error","msg":"…","time":"…"}. */
#ifndef CORRAL_LOG_H
#define CORRAL_LOG_H

#include <stdbool.h>

enum log_level
{
  LOG_LEVEL_ERROR,
  LOG_LEVEL_WARNING,
  LOG_LEVEL_INFO,
  LOG_LEVEL_DEBUG,
};

/* path may be NULL (stderr only).  Failing to open the log file is reported
 * on stderr and is not fatal: the engine still sees stderr. */
void log_init (const char *path, bool json, bool debug);
void log_close (void);
bool log_debug_enabled (void);

void log_msg (enum log_level level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Format one log line (no trailing newline) into *ret; pure, for unit tests. */
void log_format_line (char **ret, enum log_level level, bool json, const char *time, const char *msg);

#define log_error(...) log_msg (LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg (LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg (LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg (LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
