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

/* Subscribe nl (a netfilter socket of the caller's network namespace, still
 * the caller's to close) to NFLOG group and leave a detached process that
 * appends one JSON line per denied packet to log_path until the container's
 * init (container_pid) exits.  The process keeps its copy of nl. */
struct mnl_socket;
int nflog_start_logger (struct mnl_socket *nl, const state_record_t *rec, uint16_t group, pid_t container_pid,
                        const char *log_path, corral_error_t *err);

/* Describe one logged packet (an IPv4/IPv6 header and what follows) as the
 * members of its record (event, container, family, destination, protocol,
 * port); pure, for unit tests.  NULL if it is not a packet. */
json_t *nflog_describe_packet (const char *id, const uint8_t *pkt, size_t len);

#endif
