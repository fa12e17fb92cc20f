#ifndef NETTRAIL_ABI_H
#define NETTRAIL_ABI_H
/* The event ABI (bpf/nettrail.h) for Swift, without libbpf: the decoders and
 * the analyzer read records with it; the recorder's glue includes it too, so
 * there is one module, and one definition, of every shared struct. */
#include <stdint.h>
#include "../../../bpf/nettrail.h"
#endif
