/*
 * From a host pointer (qemu_plugin_insn_haddr) to a guest-physical address.
 *
 * API v1 gives no guest-physical address of an instruction, only a host
 * pointer into QEMU's memory. Guest RAM is the memory-backend-file the
 * plugin was told about (ram=PATH), so the pointer is in QEMU's own mapping
 * of that file, found in /proc/self/maps: pointer -> file offset -> pa, with
 * the pc machine's split (offsets from below_4g on are at 4 GiB and up, as
 * src/drivers/qemu/memory.c reads from "info mtree").
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin_internal.h"

#define FOUR_GIB 0x100000000ull

/* Same file: compared by device and inode, not by spelling. */
static bool same_file(const char *a, const struct stat *b)
{
    struct stat st;
    return stat(a, &st) == 0 && st.st_dev == b->st_dev && st.st_ino == b->st_ino;
}

/* Where QEMU 7.2 splits RAM at the PCI hole when not told otherwise
 * (max-ram-below-4g): i440fx keeps up to 3.5 GiB below 4 GiB and, once RAM
 * reaches that, splits at 3 GiB; q35 splits at 2 GiB from 2.75 GiB on. */
static uint64_t pc_below_4g(uint64_t ram, bool q35)
{
    if (q35)
        return ram >= 0xb0000000ull ? 0x80000000ull : ram;
    return ram >= 0xe0000000ull ? 0xc0000000ull : ram;
}

bool vp_ram_find(struct plugin *p)
{
    /* Translation asks for every instruction: no lock once found. */
    if (__atomic_load_n(&p->ram_found, __ATOMIC_ACQUIRE))
        return true;
    pthread_mutex_lock(&p->ram_lock);
    if (p->ram_found) {
        pthread_mutex_unlock(&p->ram_lock);
        return true;
    }
    struct stat want;
    FILE *f = fopen("/proc/self/maps", "re");
    if (stat(p->ram_path, &want) != 0 || !f) {
        if (f)
            fclose(f);
        pthread_mutex_unlock(&p->ram_lock);
        return false;
    }
    char line[4096 + 256];
    int n = 0;
    while (n < RAM_MAX_RANGES && fgets(line, sizeof line, f)) {
        uintptr_t start, end;
        uint64_t off;
        int path_at = 0;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %" SCNx64 " %*s %*s %n", &start, &end,
                   &off, &path_at) < 3 || path_at == 0)
            continue;
        char *path = line + path_at;
        path[strcspn(path, "\n")] = 0;
        if (path[0] != '/' || !same_file(path, &want))
            continue;
        p->ram[n++] = (struct ram_range){start, end, off};
    }
    fclose(f);
    p->nram = n;
    if (n > 0) {
        p->ram_file_size = (uint64_t)want.st_size;
        if (!p->below_4g_given)
            p->below_4g = pc_below_4g(p->ram_file_size, p->q35);
        p->ctl->ram_size = p->ram_file_size;
        p->ctl->ram_below_4g = p->below_4g;
        __atomic_store_n(&p->ram_found, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&p->ram_lock);
    return n > 0;
}

bool vp_host_to_pa(struct plugin *p, const void *host, uint64_t *pa)
{
    if (!host || !vp_ram_find(p))
        return false;
    uintptr_t h = (uintptr_t)host;
    for (int i = 0; i < p->nram; i++) {
        if (h < p->ram[i].start || h >= p->ram[i].end)
            continue;
        uint64_t off = p->ram[i].file_offset + (h - p->ram[i].start);
        *pa = off < p->below_4g ? off : FOUR_GIB + (off - p->below_4g);
        return true;
    }
    return false;
}

/* The other way: where guest-physical pa is in this process, and how many
 * bytes from there are (to the end of its page at least, when found). */
const uint8_t *vp_pa_to_host(struct plugin *p, uint64_t pa, uint64_t *avail)
{
    if (!vp_ram_find(p))
        return NULL;
    uint64_t off;
    if (pa < p->below_4g)
        off = pa;
    else if (pa >= FOUR_GIB && pa - FOUR_GIB < p->ram_file_size - p->below_4g)
        off = p->below_4g + (pa - FOUR_GIB);
    else
        return NULL; /* the PCI hole, or past RAM */
    for (int i = 0; i < p->nram; i++) {
        uint64_t len = p->ram[i].end - p->ram[i].start;
        if (off < p->ram[i].file_offset || off - p->ram[i].file_offset >= len)
            continue;
        uint64_t in = off - p->ram[i].file_offset;
        *avail = len - in;
        return (const uint8_t *)(p->ram[i].start + in);
    }
    return NULL;
}
