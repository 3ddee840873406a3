/* corral: entering a container's network namespace. */
#ifndef CORRAL_NETNS_H
#define CORRAL_NETNS_H

#include <sys/types.h>

#include "base/error.h"

/* Move the calling thread into the network namespace of process pid. */
int netns_enter (pid_t pid, corral_error_t *err);

#endif
