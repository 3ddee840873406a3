/* corral: secrets recognised by their value (credentials inside URLs,
 * well-known token formats, private keys), whatever the variable is named. */
#ifndef CORRAL_SECRETS_H
#define CORRAL_SECRETS_H

/* The name of the rule a value matches ("url-credentials", "github-token",
 * ...), or NULL.  Never returns or logs any part of the value. */
const char *secrets_value_rule (const char *value);

#endif
