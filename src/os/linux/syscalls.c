/*
 * The guest's system-call table for the OS layer's callers: where the
 * tables are (kallsyms: sys_call_table and its extent, syscalls_metadata;
 * BTF: struct syscall_metadata), handed to the parser (syscall_table.c)
 * with guest memory and kallsyms as its source. Built on first use.
 *
 * Debian's 6.1 and 6.12 kernels both have CONFIG_FTRACE_SYSCALLS and
 * CONFIG_KALLSYMS_ALL, so the static syscalls_metadata is in kallsyms and
 * every implemented syscall gets its argument names and types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os_internal.h"
#include "syscalls.h"

static bool source_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    if (lx_read(ctx, va, buf, len) == VMIC_OK)
        return true;
    vmic_clear_error();
    return false;
}

static bool source_symbol(void *ctx, uint64_t va, char *name, size_t size)
{
    vmic_symbol_t sym;
    uint64_t off;
    if (vmic_os_symbol_at(ctx, vmic_va(va), &sym, &off) != VMIC_OK || off != 0) {
        vmic_clear_error();
        return false;
    }
    snprintf(name, size, "%s", sym.name);
    return true;
}

static bool field_offset(vmic_os *os, const char *path, uint32_t *off)
{
    vmic_field_t f;
    if (vmic_os_field(os, path, &f) != VMIC_OK || f.offset > UINT32_MAX) {
        vmic_clear_error();
        return false;
    }
    *off = (uint32_t)f.offset;
    return true;
}

/* The metadata's layout from the kernel's types; false if any is missing. */
static bool metadata_layout(vmic_os *os, lx_sc_layout *l)
{
    uint64_t size;
    if (vmic_os_type_size(os, "syscall_metadata", &size) != VMIC_OK || size > 4096) {
        vmic_clear_error();
        return false;
    }
    l->meta_size = (uint32_t)size;
    return field_offset(os, "syscall_metadata.name", &l->off_name) &&
           field_offset(os, "syscall_metadata.syscall_nr", &l->off_nr) &&
           field_offset(os, "syscall_metadata.nb_args", &l->off_nb_args) &&
           field_offset(os, "syscall_metadata.types", &l->off_types) &&
           field_offset(os, "syscall_metadata.args", &l->off_args);
}

static vmic_status build(vmic_os *os)
{
    lx_sc_layout l = {0};
    vmic_status s = lx_need_sym(os, "sys_call_table", &l.table);
    if (s)
        return s;
    uint64_t end = lx_next_symbol(os, l.table);
    uint64_t room = end > l.table ? (end - l.table) / 8 : VMIC_SYSCALL_MAX_NR;
    l.entries = room < VMIC_SYSCALL_MAX_NR ? (uint32_t)room : VMIC_SYSCALL_MAX_NR;
    if (!lx_sym(os, "syscalls_metadata", &l.metadata) || !metadata_layout(os, &l))
        l.metadata = 0;

    vmic_syscall_t *table = calloc(l.entries ? l.entries : 1, sizeof *table);
    if (!table)
        return vmic_fail(VMIC_E_NOMEM, "syscalls: no memory for %u entries", l.entries);
    lx_sc_source src = {.read = source_read, .symbol = source_symbol, .ctx = os,
                        .kernel_half = os->layout.kernel_half};
    size_t count;
    if ((s = lx_syscalls_parse(&l, &src, table, &count))) {
        free(table);
        return s;
    }
    os->syscalls = table;
    os->nsyscalls = count;
    return VMIC_OK;
}

vmic_status vmic_os_syscalls(vmic_os *os, const vmic_syscall_t **table, size_t *count)
{
    if (!os->syscalls) {
        vmic_status s = build(os);
        if (s)
            return s;
    }
    *table = os->syscalls;
    *count = os->nsyscalls;
    return VMIC_OK;
}

vmic_status vmic_os_syscall(vmic_os *os, uint32_t nr, const vmic_syscall_t **sc)
{
    const vmic_syscall_t *table;
    size_t count;
    vmic_status s = vmic_os_syscalls(os, &table, &count);
    if (s)
        return s;
    if (nr >= count)
        return vmic_fail(VMIC_E_RANGE, "syscall %u: the table has %zu entries", nr, count);
    *sc = &table[nr];
    return VMIC_OK;
}

vmic_status vmic_os_syscall_by_name(vmic_os *os, const char *name, const vmic_syscall_t **sc)
{
    const vmic_syscall_t *table;
    size_t count;
    vmic_status s = vmic_os_syscalls(os, &table, &count);
    if (s)
        return s;
    for (size_t i = 0; i < count; i++) {
        if (table[i].implemented && strcmp(table[i].name, name) == 0) {
            *sc = &table[i];
            return VMIC_OK;
        }
    }
    return vmic_fail(VMIC_E_NOTFOUND, "this kernel has no system call named '%s'", name);
}
