/*
 * The global symbols Volatility 3's Linux plugins take objects from, and
 * their types. BTF describes the types of per-CPU variables only (its
 * DATASEC has no other variables), so the types of these come from this
 * table, checked against the kernel's BTF: a symbol whose struct BTF lacks,
 * or that this kernel does not have, is written without a type. The ISF of
 * the debug package (make-isf.py, dwarf2json) types every variable; these
 * are the ones the plugins need (volatility3/framework/plugins/linux and
 * symbols/linux, object_from_symbol and get_symbol as of 2.x), and the few
 * namespaces' roots vmic's own commands start from.
 *
 *   symbol                  type                         used by
 *   init_task               struct task_struct           pslist, pstree, every task walk; the
 *                                                        stacker finds KASLR from its comm
 *   init_files              struct files_struct          the stacker: init_task.files - this
 *                                                        is the virtual (ASLR) shift
 *   init_mm                 struct mm_struct             the kernel's own mm
 *   init_pid_ns             struct pid_namespace         pidhashtable (its idr)
 *   init_nsproxy, init_fs, init_cred, init_user_ns, init_uts_ns, init_net
 *                           struct nsproxy, fs_struct, cred, user_namespace,
 *                           uts_namespace, net           the initial namespaces
 *   net_namespace_list      struct list_head             sockstat, netfilter (of struct net)
 *   modules                 struct list_head             lsmod, check_modules (of struct module)
 *   module_kset             struct kset *                check_modules
 *   mod_tree                struct mod_tree_root         hidden-module checks
 *   tty_drivers             struct list_head             tty_check
 *   keyboard_notifier_list  struct atomic_notifier_head  keyboard_notifiers
 *   prb                     struct printk_ringbuffer *   kmsg (5.10+)
 *   printk_rb_static, printk_rb_dynamic
 *                           struct printk_ringbuffer     the rings prb points to
 *   log_buf, log_buf_len    char *, unsigned int         kmsg
 *   prog_idr                struct idr                   ebpf
 *   idt_table               struct gate_struct [256]     check_idt
 *   sys_call_table, ia32_sys_call_table, x32_sys_call_table
 *                           function pointer [n]         check_syscall; n: the entries up to
 *                                                        the next symbol, less the zero
 *                                                        padding at the end
 *   socket_file_ops         struct file_operations       sockstat (is this file a socket)
 *   sockfs_dentry_operations struct dentry_operations    sockstat
 *   cap_last_cap            int                          capabilities
 *   page_offset_base, vmalloc_base, vmemmap_base, jiffies
 *                           unsigned long                address-space layout, page lookups
 *   __per_cpu_offset        unsigned long [n]            per-CPU areas; n from the extent
 *   nr_cpu_ids              unsigned int
 *   __cpu_online_mask       struct cpumask
 *   init_top_pgt            unsigned long [512]          the kernel's page-table root
 *   _text, _etext           char                         the kernel's text range (the plugins
 *                                                        take their addresses)
 *   linux_banner            char [strlen + 1]            with its bytes as constant_data: what
 *                                                        Volatility matches an image against
 */
#include <stdlib.h>
#include <string.h>

#include "isf_write.h"

#define MAX_EXTENT (1u << 20) /* a table longer than this is not one */
#define MAX_BANNER 511

typedef enum gkind {
    G_STRUCT,       /* struct or union `type` */
    G_PTR_STRUCT,   /* pointer to struct `type` */
    G_BASE,         /* base type `type` */
    G_PTR_BASE,     /* pointer to base type `type` */
    G_ARRAY_BASE,   /* `type` [count], 0: from the extent */
    G_ARRAY_STRUCT, /* struct `type` [count] */
    G_ARRAY_FNPTR,  /* function pointers [extent / 8] */
    G_BANNER,       /* char [strlen + 1], and the bytes */
} gkind;

static const struct global {
    const char *symbol;
    gkind kind;
    const char *type;
    uint32_t count;
} globals[] = {
    {"init_task", G_STRUCT, "task_struct", 0},
    {"init_files", G_STRUCT, "files_struct", 0},
    {"init_mm", G_STRUCT, "mm_struct", 0},
    {"init_pid_ns", G_STRUCT, "pid_namespace", 0},
    {"init_nsproxy", G_STRUCT, "nsproxy", 0},
    {"init_fs", G_STRUCT, "fs_struct", 0},
    {"init_cred", G_STRUCT, "cred", 0},
    {"init_user_ns", G_STRUCT, "user_namespace", 0},
    {"init_uts_ns", G_STRUCT, "uts_namespace", 0},
    {"init_net", G_STRUCT, "net", 0},
    {"net_namespace_list", G_STRUCT, "list_head", 0},
    {"modules", G_STRUCT, "list_head", 0},
    {"module_kset", G_PTR_STRUCT, "kset", 0},
    {"mod_tree", G_STRUCT, "mod_tree_root", 0},
    {"tty_drivers", G_STRUCT, "list_head", 0},
    {"keyboard_notifier_list", G_STRUCT, "atomic_notifier_head", 0},
    {"prb", G_PTR_STRUCT, "printk_ringbuffer", 0},
    {"printk_rb_static", G_STRUCT, "printk_ringbuffer", 0},
    {"printk_rb_dynamic", G_STRUCT, "printk_ringbuffer", 0},
    {"log_buf", G_PTR_BASE, "char", 0},
    {"log_buf_len", G_BASE, "unsigned int", 0},
    {"prog_idr", G_STRUCT, "idr", 0},
    {"idt_table", G_ARRAY_STRUCT, "gate_struct", 256},
    {"sys_call_table", G_ARRAY_FNPTR, NULL, 0},
    {"ia32_sys_call_table", G_ARRAY_FNPTR, NULL, 0},
    {"x32_sys_call_table", G_ARRAY_FNPTR, NULL, 0},
    {"socket_file_ops", G_STRUCT, "file_operations", 0},
    {"sockfs_dentry_operations", G_STRUCT, "dentry_operations", 0},
    {"cap_last_cap", G_BASE, "int", 0},
    {"page_offset_base", G_BASE, "unsigned long", 0},
    {"vmalloc_base", G_BASE, "unsigned long", 0},
    {"vmemmap_base", G_BASE, "unsigned long", 0},
    {"jiffies", G_BASE, "unsigned long", 0},
    {"__per_cpu_offset", G_ARRAY_BASE, "unsigned long", 0},
    {"nr_cpu_ids", G_BASE, "unsigned int", 0},
    {"__cpu_online_mask", G_STRUCT, "cpumask", 0},
    {"init_top_pgt", G_ARRAY_BASE, "unsigned long", 512},
    {"_text", G_BASE, "char", 0},
    {"_etext", G_BASE, "char", 0},
    {"linux_banner", G_BANNER, NULL, 0},
};

#define NGLOBALS (sizeof globals / sizeof globals[0])

/* What the plugins use beyond the globals' own types: the objects they
 * reach from them and cast to (scripts/make-isf.py's roots are among them). */
static const char *const root_types[] = {
    "task_struct", "mm_struct", "vm_area_struct", "file", "path", "dentry", "qstr", "inode",
    "super_block", "vfsmount", "mount", "mnt_namespace", "files_struct", "fdtable", "fs_struct",
    "cred", "signal_struct", "sighand_struct", "module", "module_memory", "module_layout",
    "module_kobject", "module_sect_attr", "module_sect_attrs", "kobject", "kset", "list_head",
    "hlist_head", "hlist_node", "rb_root", "rb_node", "maple_tree", "maple_node",
    "maple_range_64", "maple_arange_64", "maple_metadata", "printk_ringbuffer",
    "prb_desc_ring", "prb_data_ring", "prb_desc", "prb_data_blk_lpos", "printk_info",
    "vm_special_mapping", "cpuinfo_x86", "pid", "upid", "pid_namespace", "idr", "xarray",
    "radix_tree_root", "kuid_t", "kgid_t", "nsproxy", "net", "ns_common", "socket", "sock",
    "sock_common", "inet_sock", "inet_connection_sock", "tcp_sock", "udp_sock", "raw_sock",
    "unix_sock", "unix_address", "netlink_sock", "packet_sock", "ipv6_pinfo", "net_device",
    "netns_nf", "nf_hook_entries", "nf_hook_entry", "sk_buff", "address_space", "page",
    "user_namespace", "uts_namespace", "new_utsname", "tty_driver", "tty_struct",
    "bpf_prog", "bpf_prog_aux", "file_operations", "dentry_operations", "seq_operations",
    "atomic_notifier_head", "notifier_block", "gate_struct", "resource", "pt_regs",
    "linux_binprm", "kernel_cap_struct", "pcpu_hot", "syscall_metadata", "timekeeper",
    /* Named by Volatility 3.11's plugins, reached from nothing above:
     * linux.pidhashtable (xa_node), linux.sockstat (socket_alloc, the
     * seq_afinfo structs, xdp_sock), linux.netfilter (nf_hook_ops). */
    "xa_node", "socket_alloc", "tcp_seq_afinfo", "udp_seq_afinfo", "xdp_sock", "nf_hook_ops",
};

static const char *const root_enums[] = {
    "maple_type", "mod_mem_type", "module_state", "pid_type", "socket_state", "sock_type",
    "pageflags", "bpf_prog_type", "bpf_map_type",
};

void isfw_globals_roots(isfw_types *t)
{
    for (size_t i = 0; i < NGLOBALS; i++)
        if (globals[i].kind == G_STRUCT || globals[i].kind == G_PTR_STRUCT ||
            globals[i].kind == G_ARRAY_STRUCT)
            isfw_types_root(t, globals[i].type);
    for (size_t i = 0; i < sizeof root_types / sizeof root_types[0]; i++)
        isfw_types_root(t, root_types[i]);
    for (size_t i = 0; i < sizeof root_enums / sizeof root_enums[0]; i++)
        isfw_types_enum_root(t, root_enums[i]);
}

int isfw_globals_index(isfw_set *s)
{
    for (uint32_t i = 0; i < NGLOBALS; i++)
        if (isfw_set_add(s, globals[i].symbol, i) < 0)
            return -1;
    return (int)NGLOBALS;
}

/* The struct's BTF id (a typedef of one answers too: kuid_t). */
static bool struct_id(isfw_types *t, const char *name, uint32_t *id)
{
    return lx_types_find_id(t->src, name, LX_STRUCT, id);
}

static void base_desc(isfw_out *o, const char *name)
{
    isfw_raw(o, "{\"kind\":\"base\",\"name\":");
    isfw_str(o, name);
    isfw_raw(o, "}");
}

/* Bytes from addr to the next symbol: how long a table is. */
static uint64_t extent(vmic_os *os, uint64_t addr)
{
    uint64_t next = lx_next_symbol(os, addr);
    return next > addr && next - addr <= MAX_EXTENT ? next - addr : 0;
}

/* Entries of a table of function pointers: its extent, less the zero words
 * the linker's alignment left after the last one (a 6.1 table of 451
 * calls spans 452 words). */
static uint64_t pointer_entries(vmic_os *os, uint64_t addr)
{
    uint64_t n = extent(os, addr) / 8;
    uint64_t *v = n ? malloc(n * 8) : NULL;
    if (!v)
        return 0;
    if (lx_read(os, addr, v, n * 8) != VMIC_OK) {
        vmic_clear_error();
        free(v);
        return 0;
    }
    while (n && v[n - 1] == 0)
        n--;
    free(v);
    return n;
}

static bool banner(vmic_os *os, isfw_out *o, uint64_t addr)
{
    char text[MAX_BANNER + 1];
    size_t len = 0;
    if (vmic_read_str_va(os->core, os->kctx, vmic_va(addr), text, MAX_BANNER, &len) != VMIC_OK) {
        vmic_clear_error();
        return false;
    }
    /* The symbol's bytes are the string and its NUL, as the image has them. */
    isfw_raw(o, ",\"type\":{\"kind\":\"array\",\"count\":");
    isfw_u64(o, len + 1);
    isfw_raw(o, ",\"subtype\":{\"kind\":\"base\",\"name\":\"char\"}},\"constant_data\":");
    isfw_base64(o, (const uint8_t *)text, len + 1);
    return true;
}

bool isfw_globals_type(vmic_os *os, isfw_types *t, isfw_out *o, uint32_t g, uint64_t addr)
{
    if (g >= NGLOBALS)
        return false;
    const struct global *e = &globals[g];
    uint32_t id;
    lx_tinfo ti;
    uint64_t count = e->count;
    switch (e->kind) {
    case G_STRUCT:
        if (!struct_id(t, e->type, &id))
            return false;
        isfw_raw(o, ",\"type\":");
        isfw_desc(t, o, id);
        return true;
    case G_PTR_STRUCT:
        if (!struct_id(t, e->type, &id))
            return false;
        isfw_raw(o, ",\"type\":{\"kind\":\"pointer\",\"subtype\":");
        isfw_desc(t, o, id);
        isfw_raw(o, "}");
        return true;
    case G_BASE:
        isfw_raw(o, ",\"type\":");
        base_desc(o, e->type);
        return true;
    case G_PTR_BASE:
        isfw_raw(o, ",\"type\":{\"kind\":\"pointer\",\"subtype\":");
        base_desc(o, e->type);
        isfw_raw(o, "}");
        return true;
    case G_ARRAY_BASE:
        if (!count && !(count = extent(os, addr) / 8))
            return false;
        isfw_raw(o, ",\"type\":{\"kind\":\"array\",\"count\":");
        isfw_u64(o, count);
        isfw_raw(o, ",\"subtype\":");
        base_desc(o, e->type);
        isfw_raw(o, "}");
        return true;
    case G_ARRAY_STRUCT:
        if (!struct_id(t, e->type, &id) || !lx_types_info(t->src, id, &ti) || !ti.size)
            return false;
        if (!count && !(count = extent(os, addr) / ti.size))
            return false;
        isfw_raw(o, ",\"type\":{\"kind\":\"array\",\"count\":");
        isfw_u64(o, count);
        isfw_raw(o, ",\"subtype\":");
        isfw_desc(t, o, id);
        isfw_raw(o, "}");
        return true;
    case G_ARRAY_FNPTR:
        if (!(count = pointer_entries(os, addr)))
            return false;
        isfw_raw(o, ",\"type\":{\"kind\":\"array\",\"count\":");
        isfw_u64(o, count);
        isfw_raw(o, ",\"subtype\":{\"kind\":\"pointer\",\"subtype\":{\"kind\":\"function\"}}}");
        return true;
    case G_BANNER:
        return banner(os, o, addr);
    }
    return false;
}
