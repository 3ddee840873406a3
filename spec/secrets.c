/* corral: secret values by shape (see secrets.h).  Each rule names a format
 * whose tokens are long and random enough that a match is not an accident;
 * a prefix counts only at the start of a word. */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "spec/secrets.h"

struct token_rule_s
{
  const char *prefix;
  size_t min_tail; /* token characters that must follow the prefix */
  const char *rule;
};

/* Formats documented by their issuers: GitHub (ghp_, gho_, ghu_, ghs_,
 * ghr_, github_pat_), GitLab (glpat-), Slack (xoxb-, xoxp-, xoxa-, xoxs-,
 * xoxe-), AWS access key ids (AKIA/ASIA + 16), OpenAI/Anthropic (sk-),
 * npm (npm_), Hugging Face (hf_), PyPI (pypi-). */
static const struct token_rule_s token_rules[] = {
  { "github_pat_", 22, "github-token" }, { "ghp_", 30, "github-token" },     { "gho_", 30, "github-token" },
  { "ghu_", 30, "github-token" },        { "ghs_", 30, "github-token" },     { "ghr_", 30, "github-token" },
  { "glpat-", 20, "gitlab-token" },      { "xoxb-", 10, "slack-token" },     { "xoxp-", 10, "slack-token" },
  { "xoxa-", 10, "slack-token" },        { "xoxs-", 10, "slack-token" },     { "xoxe-", 10, "slack-token" },
  { "AKIA", 16, "aws-access-key" },      { "ASIA", 16, "aws-access-key" },   { "sk-", 20, "api-key-sk" },
  { "npm_", 36, "npm-token" },           { "hf_", 30, "huggingface-token" }, { "pypi-", 50, "pypi-token" },
};

static bool
token_char (char c)
{
  return isalnum ((unsigned char) c) || c == '_' || c == '-';
}

static size_t
token_len (const char *s)
{
  size_t n = 0;
  while (token_char (s[n]))
    n++;
  return n;
}

static bool
word_start (const char *value, const char *p)
{
  return p == value || !isalnum ((unsigned char) p[-1]);
}

/* scheme://user:password@host or scheme://:password@host */
static bool
url_has_credentials (const char *value)
{
  for (const char *p = strstr (value, "://"); p; p = strstr (p + 3, "://"))
    {
      const char *auth = p + 3;
      size_t end = strcspn (auth, "/?# \t\n");
      const char *at = memchr (auth, '@', end);
      const char *colon;

      if (at == NULL)
        continue;
      colon = memchr (auth, ':', (size_t) (at - auth));
      if (colon && colon + 1 < at)
        return true;
    }
  return false;
}

/* eyJ… . eyJ… . signature: a JSON Web Token (base64url header and claims
 * of a JSON object). */
static bool
looks_like_jwt (const char *value)
{
  for (const char *p = strstr (value, "eyJ"); p; p = strstr (p + 1, "eyJ"))
    {
      size_t a, b, c;

      if (!word_start (value, p))
        continue;
      a = token_len (p);
      if (a < 10 || p[a] != '.')
        continue;
      b = token_len (p + a + 1);
      if (b < 10 || p[a + 1 + b] != '.')
        continue;
      c = token_len (p + a + 1 + b + 1);
      if (c >= 10)
        return true;
    }
  return false;
}

const char *
secrets_value_rule (const char *value)
{
  if (value == NULL || *value == '\0')
    return NULL;
  if (strstr (value, "-----BEGIN ") && strstr (value, "PRIVATE KEY"))
    return "private-key";
  if (url_has_credentials (value))
    return "url-credentials";
  if (looks_like_jwt (value))
    return "jwt";
  for (size_t i = 0; i < sizeof (token_rules) / sizeof (token_rules[0]); i++)
    {
      const struct token_rule_s *r = &token_rules[i];
      size_t plen = strlen (r->prefix);

      for (const char *p = strstr (value, r->prefix); p; p = strstr (p + 1, r->prefix))
        if (word_start (value, p) && token_len (p + plen) >= r->min_tail)
          return r->rule;
    }
  return NULL;
}
