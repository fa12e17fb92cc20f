// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* No programs: the record layouts of nettrail.h alone, compiled as every
 * object is. Its BTF describes each ring record exactly as the programs write
 * it, without the kernel types the programs' own BTF carries (task_struct and
 * all it reaches: about 100 KB an object). The recorder stores this BTF in the
 * capture (record_btf), so a later analyzer can read the layouts or refuse them. */
#include "vmlinux.h"
#include "nettrail.h"

/* A global of each type puts it in the BTF. */
enum nt_kind nt_abi_kind;
struct nt_proc_event *nt_abi_proc;
struct nt_exec_event *nt_abi_exec;
struct nt_cgroup_event *nt_abi_cgroup;
struct nt_ct_event *nt_abi_ct;
struct nt_tcp_event *nt_abi_tcp;
struct nt_udp_event *nt_abi_udp;
struct nt_dns_event *nt_abi_dns;
struct nt_lib_event *nt_abi_lib;
struct nt_exec_notice *nt_abi_notice;
