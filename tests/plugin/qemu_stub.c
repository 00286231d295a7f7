/*
 * A stand-in for QEMU's side of the plugin API, so the plugin's handling of
 * its control block can be driven without a guest: registrations are
 * recorded, a reset calls its callback at once (as QEMU does once every
 * vCPU is out of guest code), a translation block is a list of fake
 * instructions whose host addresses the test chooses.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qemu_stub.h"

struct stub stub;

void qemu_plugin_reset(qemu_plugin_id_t id, qemu_plugin_simple_cb_t cb)
{
    /* QEMU drops every callback, then calls cb. */
    stub.idle = stub.resume = NULL;
    stub.trans = NULL;
    stub.nexec = 0;
    stub.resets++;
    cb(id);
}

void qemu_plugin_register_vcpu_idle_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb)
{
    stub.idle = cb;
}

void qemu_plugin_register_vcpu_resume_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_simple_cb_t cb)
{
    stub.resume = cb;
}

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb)
{
    stub.trans = cb;
}

void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata)
{
    if (stub.nexec < STUB_MAX_EXEC)
        stub.exec[stub.nexec++] = (struct stub_exec){cb, userdata, insn->vaddr};
}

void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata)
{
    stub.atexit = cb;
}

size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb)
{
    return tb->n;
}

struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx)
{
    return idx < tb->n ? (struct qemu_plugin_insn *)&tb->insn[idx] : NULL;
}

uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn)
{
    return insn->vaddr;
}

void *qemu_plugin_insn_haddr(const struct qemu_plugin_insn *insn)
{
    return insn->haddr;
}

void qemu_plugin_outs(const char *string)
{
    snprintf(stub.last_message, sizeof stub.last_message, "%s", string);
}

int stub_files_make(struct stub_files *f, const char *dir_template)
{
    snprintf(f->dir, sizeof f->dir, "%s", dir_template);
    if (!mkdtemp(f->dir))
        return perror("mkdtemp"), -1;
    snprintf(f->ram_path, sizeof f->ram_path, "%s/ram", f->dir);
    snprintf(f->ctl_path, sizeof f->ctl_path, "%s/ctl", f->dir);
    snprintf(f->ram_arg, sizeof f->ram_arg, "ram=%s", f->ram_path);
    snprintf(f->ctl_arg, sizeof f->ctl_arg, "ctl=%s", f->ctl_path);
    int fd = open(f->ram_path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20) != 0)
        return perror(f->ram_path), -1;
    f->ram = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (f->ram == MAP_FAILED)
        return perror(f->ram_path), -1;
    return 0;
}
