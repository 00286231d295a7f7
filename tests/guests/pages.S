/*
 * Code and data on pages of their own (see guest.ld), so that tests can
 * remove access, remap or break on exactly them. The instruction sequences
 * are fixed so that tests can predict every RIP.
 */
    .section .counter, "awx"
    .global counter_fn, counter_word
counter_fn:                     /* returns COUNTER_FN_RESULT, touches no memory */
    movl $0x1234, %eax
    ret
    .global patch_fn
patch_fn:                       /* returns its imm32 (at +1), which taps.elf patches */
    movl $0x1234, %eax
    ret
    .balign 2048
counter_word:
    .quad 0x1111111111111111
    .balign 256
    .global cpu_words
cpu_words:                      /* one counter per vCPU (smp) */
    .fill 4, 8, 0

    .section .shadow, "ax"
    .global shadow_fn
shadow_fn:                      /* returns SHADOW_FN_RESULT; tests patch the imm32 at +1 */
    movl $0x1111, %eax
    ret

    .section .exec, "ax"
    .global exec_fn, step_target, bp_target, hw_target, work_fn
exec_fn:                        /* one instruction: the cheapest execute trap */
    ret
    .balign 64
step_target:                    /* returns edi + 8 in ten 2-byte steps */
    movl %edi, %eax
    incl %eax
    incl %eax
    incl %eax
    incl %eax
    incl %eax
    incl %eax
    incl %eax
    incl %eax
    ret
    .balign 64
bp_target:                      /* the guest's own breakpoint */
    int3
    movl $1, %eax
    ret
    .balign 64
hw_target:                      /* returns edi + 10 */
    leal 10(%rdi), %eax
    ret
    .balign 64
work_fn:                        /* returns edi * 3 + 1 */
    leal 1(%rdi,%rdi,2), %eax
    ret

    .section .text
    .global io_loop
io_loop:                        /* OUT to the tick port edi times (bench) */
    movl %edi, %ecx
1:  movw $0x513, %dx
    outl %eax, %dx
    decl %ecx
    jnz 1b
    ret

    .section .note.GNU-stack, "", @progbits
