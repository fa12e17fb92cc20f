// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* No programs: the record layouts of nettrail.h alone, compiled as every
 * object is. Its BTF describes each ring record exactly as the programs write
 * it, without the kernel types the programs' own BTF carries (task_struct and
 * all it reaches: about 100 KB an object). The recorder stores this BTF in the
 * capture (record_btf), so a later analyzer can read the layouts or refuse them. */
#include "vmlinux.h"
#define NT_ABI_LAYOUTS
#include "nettrail.h"

/* A global of each type puts it in the BTF: the kinds here, each record at its
 * NT_RECORD mark in nettrail.h. */
enum nt_kind nt_abi_kind;
