/* The recorded state of qemu_stub.c: what the plugin registered. */
#ifndef VMIC_QEMU_STUB_H
#define VMIC_QEMU_STUB_H

#include "qemu_api.h"

struct qemu_plugin_insn {
    uint64_t vaddr;
    void *haddr;
};

#define STUB_MAX_INSNS 8
struct qemu_plugin_tb {
    size_t n;
    struct qemu_plugin_insn insn[STUB_MAX_INSNS];
};

struct stub_exec {
    qemu_plugin_vcpu_udata_cb_t cb;
    void *userdata;
    uint64_t vaddr;
};

#define STUB_MAX_EXEC 64
struct stub {
    qemu_plugin_vcpu_simple_cb_t idle, resume;
    qemu_plugin_vcpu_tb_trans_cb_t trans;
    qemu_plugin_udata_cb_t atexit;
    struct stub_exec exec[STUB_MAX_EXEC];
    int nexec, resets;
    char last_message[512];
};

extern struct stub stub;

/* The files a plugin under test works on: a new directory made from a
 * mkdtemp template, a 1 MiB RAM file in it (mapped shared at ram) and the
 * path the control block will take, with the plugin arguments naming both. */
struct stub_files {
    char dir[128];
    char ram_path[256], ctl_path[256], ram_arg[300], ctl_arg[300];
    char *ram;
};

/* 0, or -1 with the failing call said on stderr. */
int stub_files_make(struct stub_files *f, const char *dir_template);

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

#endif
