/* libFuzzer target: the DNS guard's message parser (spec/dns.c), fed what
 * a container or an upstream could send, and the name matcher on whatever
 * name comes out. */
#include "config.h"

#include "base/util.h"
#include "spec/dns.h"
#include "spec/egress.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static egress_rule_t rules[2];
  static bool init;
  dns_question_t q;
  dns_answer_t a = { 0 };

  if (!init)
    {
      if (egress_rule_parse ("*.allowed.test:443/tcp", &rules[0], NULL) < 0
          || egress_rule_parse ("api.example.test", &rules[1], NULL) < 0)
        abort ();
      init = true;
    }
  if (dns_parse_question (data, size, &q) == 0)
    {
      uint8_t out[DNS_MSG_MAX];
      size_t n;

      if (strlen (q.name) >= sizeof (q.name) || q.end > size)
        abort ();
      for (size_t i = 0; i < 2; i++)
        if (egress_rule_matches_name (&rules[i], q.name) && !q.hostname)
          abort (); /* an escaped name must never match */
      n = dns_build_error (data, &q, DNS_RCODE_REFUSED, out, sizeof (out));
      if (n != q.end)
        abort ();
      /* The reply is a well-formed message with the same question. */
      {
        dns_question_t r;
        if (dns_parse_question (out, n, &r) < 0 || strcmp (r.name, q.name) != 0 || r.qtype != q.qtype)
          abort ();
      }
    }
  if (dns_parse_answer (data, size, &a) == 0)
    {
      dns_chain_t c = { 0 };
      dns_answer_chain (&a, a.n ? a.rrs[0].owner : "x.test", &c);
      if (c.n_names == 0 || c.n_names > 17)
        abort ();
      dns_chain_release (&c);
    }
  dns_answer_release (&a);
  return 0;
}
