/*
 * ps: the processes of a Linux guest, from outside, with vmic's public API.
 *
 *   usage: ps TARGET
 *
 * TARGET is a memory dump (raw, ELF core, LiME) or a live QEMU: qemu:DIR as
 * `vmic boot` prints it. No profile is needed: vmic finds the kernel's
 * kallsyms and BTF in guest memory. A live guest is paused while its
 * process list is read, and resumed afterwards.
 */
#include <stdio.h>

#include <vmic/vmic.h>

static int show(void *arg, const vmic_process_t *p)
{
    vmic_os *os = arg;
    char cmdline[256];
    size_t len = 0;

    /* The command line is read from the process's own memory. */
    if (!p->kernel_thread)
        vmic_os_process_cmdline(os, p, cmdline, sizeof cmdline, &len);
    for (size_t i = 0; i < len; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    if (len == 0)
        snprintf(cmdline, sizeof cmdline, "[%s]", p->comm);
    printf("%6d %6d %c  %s\n", (int)p->tgid, (int)p->ppid, p->state, cmdline);
    return 0; /* go on */
}

int main(int argc, char **argv)
{
    /* A live guest paused: memory holds still and the registers can be read. */
    vmic_qemu_config_t live = {.stay_paused = true};
    vmic_target_options_t opt = {.live = &live};
    vmic_driver *drv;
    vmic_core *core;
    vmic_os *os;

    if (argc != 2) {
        fprintf(stderr, "usage: %s TARGET\n", argv[0]);
        return 2;
    }
    if (vmic_open_target(argv[1], &opt, &drv) || vmic_core_open(drv, NULL, &core)) {
        fprintf(stderr, "%s: %s\n", argv[1], vmic_errmsg());
        return 1;
    }
    if (vmic_os_open(core, NULL, &os)) {
        fprintf(stderr, "no Linux kernel found: %s\n", vmic_errmsg());
        vmic_core_close(core);
        return 1;
    }
    printf("%6s %6s %c  %s\n", "PID", "PPID", 'S', "COMMAND");
    vmic_status s = vmic_os_processes(os, show, os);
    if (s)
        fprintf(stderr, "process list incomplete: %s\n", vmic_errmsg());
    vmic_os_close(os);
    vmic_core_close(core); /* a live guest runs on */
    return s ? 1 : 0;
}
