/* vmic: look into x86-64 virtual machines from outside. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"info", "driver, memory layout, vCPUs and registers of a target", cmd_info},
    {"read", "hexdump guest memory by physical or virtual address", cmd_read},
    {"translate", "translate a virtual address, showing the page walk", cmd_translate},
    {"pagetable", "list the mappings of a page-table root as ranges", cmd_pagetable},
    {"ps", "processes of a Linux guest (no profile needed)", cmd_ps},
    {"threads", "threads of one process", cmd_threads},
    {"pstree", "processes as a tree of parents and children", cmd_pstree},
    {"modules", "loaded kernel modules", cmd_modules},
    {"maps", "memory regions of a process, like /proc/PID/maps", cmd_maps},
    {"files", "open files of a process", cmd_files},
    {"netstat", "sockets the processes hold (TCP, UDP, UNIX), every namespace", cmd_netstat},
    {"mounts", "mounts of a mount namespace, like /proc/PID/mountinfo", cmd_mounts},
    {"env", "the environment of a process", cmd_env},
    {"files", "open files of a process, or of every process (lsof)", cmd_files},
    {"malfind", "executable memory no file backs, and RWX regions, disassembled", cmd_malfind},
    {"dump", "write a process's memory, its executable or a module to files", cmd_dump},
    {"dmesg", "the kernel log from the printk ring buffer", cmd_dmesg},
    {"banner", "kernel version, image, KASLR slide, symbol and type sources", cmd_banner},
    {"sym", "kernel symbols by name or address", cmd_sym},
    {"yara", "scan process or kernel memory with YARA rules", cmd_yara},
    {"check", "kernel integrity: hooked system-call table entries", cmd_check},
    {"type", "struct layouts and field offsets (BTF or profile)", cmd_type},
    {"isf", "a Volatility 3 symbol table (ISF) from the guest's BTF and kallsyms", cmd_isf},
    {"boot", "start a QEMU guest vmic can attach to (or --stop one)", cmd_boot},
    {"attach", "attach to a running QEMU by its endpoints and show it", cmd_attach},
    {"trace", "trace processes and system calls of a live Linux guest", cmd_trace},
    {"watch", "print each execution of an address, through vmic's QEMU plugin", cmd_watch},
    {"resume", "bring a live QEMU back to running, whatever was left on it", cmd_resume},
    {"detach", "remove every gdb breakpoint and client from a live QEMU", cmd_detach},
    {"run", "run a freestanding guest on /dev/kvm and trace its events", cmd_run},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vmic COMMAND [OPTIONS] TARGET ...\n\n"
                 "vmic looks into x86-64 virtual machines from outside: memory dumps\n"
                 "(raw, QEMU ELF cores, LiME), VMs it hosts on KVM and QEMU VMs.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'vmic COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    /* A dump that shrinks under vmic ends the command with a message, not a
     * crash: reads fail with VMIC_E_IO, other faults exit with EXIT_FAIL. */
    vmic_sigbus_guard_enable(EXIT_FAIL);
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            char *help_argv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0)
                    return commands[i].run(2, help_argv);
        }
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("vmic %s\n", vmic_version());
        return EXIT_OK;
    }
    /* A closed pipe (vmic ... | head) must not kill vmic with a live guest
     * paused: writes fail instead, and the command ends through its cleanup. */
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return cli_live_finish(name, commands[i].run(argc - 1, argv + 1));
    fprintf(stderr, "vmic: unknown command '%s'\n\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
