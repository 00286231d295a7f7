/*
 * vmic's device model, all of it: a serial console on COM1 (0x3f8) whose
 * lines are kept per vCPU so that two vCPUs printing at once do not mix
 * their lines, and an exit port (0x501) through which the guest ends with a
 * code. Any other port reads as all ones and ignores writes.
 */
#include <stdio.h>
#include <string.h>

#include "kvm.h"

#define SERIAL_LSR (PORT_SERIAL + 5)
#define LSR_THR_EMPTY 0x60

void console_append(kvm_vm *vm, const char *line, size_t len)
{
    if (vm->console_out) {
        fprintf(vm->console_out, "%.*s\n", (int)len, line);
        fflush(vm->console_out);
    }
    if (!vm->console)
        return;
    if (vm->console_len + len + 1 > KVM_CONSOLE_MAX) {
        /* Keep the newer half. */
        size_t drop = vm->console_len / 2 + len + 1;
        if (drop > vm->console_len)
            drop = vm->console_len;
        memmove(vm->console, vm->console + drop, vm->console_len - drop);
        vm->console_len -= drop;
    }
    if (len + 1 > KVM_CONSOLE_MAX - vm->console_len)
        return;
    memcpy(vm->console + vm->console_len, line, len);
    vm->console_len += len;
    vm->console[vm->console_len++] = '\n';
    vm->console[vm->console_len] = '\0';
}

static void serial_flush(kvm_vcpu *v)
{
    kvm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    console_append(vm, v->line, v->line_len);
    pthread_mutex_unlock(&vm->lock);
    v->line_len = 0;
}

static void serial_putc(kvm_vcpu *v, uint8_t c)
{
    if (c == '\r')
        return;
    if (c == '\n' || v->line_len == sizeof v->line) {
        serial_flush(v);
        if (c == '\n')
            return;
    }
    v->line[v->line_len++] = (char)c;
}

static void guest_exit(kvm_vcpu *v, uint32_t code)
{
    kvm_vm *vm = v->vm;
    if (v->line_len)
        serial_flush(v);
    pthread_mutex_lock(&vm->lock);
    vm_set_state(vm, VMIC_GUEST_EXITED, (int)code, "the guest exited with code %u (vCPU %u)",
                 code, v->index);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        vm->vcpus[i].finished = true;
    vcpus_kick(vm, v);
    pthread_cond_broadcast(&vm->gate_cond);
    pthread_mutex_unlock(&vm->lock);
    vm_notify_stopped(vm);
}

void device_io(kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    size_t n = (size_t)run->io.size * run->io.count;

    if (run->io.data_offset >= v->run_size || n > v->run_size - run->io.data_offset)
        return; /* KVM never does this */
    if (run->io.direction == KVM_EXIT_IO_IN) {
        uint8_t fill = run->io.port == SERIAL_LSR ? LSR_THR_EMPTY
                       : run->io.port >= PORT_SERIAL && run->io.port < PORT_SERIAL + 8 ? 0 : 0xff;
        memset(data, fill, n);
        return;
    }
    if (run->io.port == PORT_SERIAL) {
        for (size_t i = 0; i < n; i++)
            serial_putc(v, data[i]);
    } else if (run->io.port == PORT_EXIT) {
        uint32_t code = 0;
        memcpy(&code, data, run->io.size < sizeof code ? run->io.size : sizeof code);
        guest_exit(v, code);
    }
}
