/* corral: the per-container logger of denied packets (NFLOG). */
#ifndef CORRAL_NFLOG_H
#define CORRAL_NFLOG_H

#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "base/json.h"
#include "services/state.h"

#ifndef CORRAL_LOG_DIR
#define CORRAL_LOG_DIR "/var/log/corral"
#endif
#define EGRESS_LOG_NAME "egress.log"

/* Start the logger (`corral daemon egress-logger`) of the container whose
 * init is container_pid: it appends one JSON line per denied packet of the
 * container's network namespace to the egress log, and to the audit log,
 * until that init exits.  Returns once it is subscribed. */
int nflog_start (const char *state_dir, pid_t container_pid, corral_error_t *err);
/* `corral daemon egress-logger`: set up, say so on DAEMON_READY_FD, and log
 * until the container ends.  Returns (an exit status) only on failure, or 0
 * when another logger has the namespace's group. */
int nflog_daemon (const char *state_dir, pid_t container_pid);

/* Describe one logged packet (an IPv4/IPv6 header and what follows) as the
 * members of its record (event, container, family, destination, protocol,
 * port); pure, for unit tests.  NULL if it is not a packet. */
json_t *nflog_describe_packet (const char *id, const uint8_t *pkt, size_t len);

#endif
