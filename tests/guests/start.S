/*
 * Entry of every test guest. vmic enters at _start in long mode on its own
 * page tables (rdi = vCPU number, rsi = RAM size); the guest then loads its
 * own GDT, page tables and IDT, takes its vCPU's stack and calls
 * guest_start(vcpu). Its page tables are kernel-like: the image in the higher
 * half (0xffffffff80000000 -> pa 0) and a direct map of the first GiB at
 * 0xffff888000000000, nothing at low addresses.
 */
#define KERNEL_VMA 0xffffffff80000000
#define STACK_SHIFT 14

    .section .text.entry, "ax"
    .code64
    .global _start
_start:
    cli
    lgdt gdt_ptr(%rip)
    leaq 1f(%rip), %rax
    pushq $0x08
    pushq %rax
    lretq
1:  movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    leaq pml4(%rip), %rax
    movabsq $KERNEL_VMA, %rcx
    subq %rcx, %rax
    movq %rax, %cr3
    lidt idt_ptr(%rip)
    leaq stacks(%rip), %rsp
    movq %rdi, %rax
    incq %rax
    shlq $STACK_SHIFT, %rax
    addq %rax, %rsp
    xorl %ebp, %ebp
    call guest_start
2:  hlt
    jmp 2b

/* Exception stubs: the same frame for every vector (a 0 error code where the
 * CPU pushes none), then trap(frame) in C. */
    .macro isr vec, err
isr\vec:
    .if \err == 0
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
    .endm

    isr 0,0; isr 1,0; isr 2,0; isr 3,0; isr 4,0; isr 5,0; isr 6,0; isr 7,0
    isr 8,1; isr 9,0; isr 10,1; isr 11,1; isr 12,1; isr 13,1; isr 14,1; isr 15,0
    isr 16,0; isr 17,1; isr 18,0; isr 19,0; isr 20,0; isr 21,1; isr 22,0; isr 23,0
    isr 24,0; isr 25,0; isr 26,0; isr 27,0; isr 28,0; isr 29,1; isr 30,1; isr 31,0
    isr 32,0; isr 33,0; isr 34,0; isr 35,0

isr_common:
    pushq %rax; pushq %rbx; pushq %rcx; pushq %rdx; pushq %rsi; pushq %rdi; pushq %rbp
    pushq %r8; pushq %r9; pushq %r10; pushq %r11; pushq %r12; pushq %r13; pushq %r14; pushq %r15
    movq %rsp, %rdi
    call trap
    popq %r15; popq %r14; popq %r13; popq %r12; popq %r11; popq %r10; popq %r9; popq %r8
    popq %rbp; popq %rdi; popq %rsi; popq %rdx; popq %rcx; popq %rbx; popq %rax
    addq $16, %rsp
    iretq

    .section .rodata
    .balign 8
    .global isr_table
isr_table:
    .quad isr0, isr1, isr2, isr3, isr4, isr5, isr6, isr7, isr8, isr9, isr10, isr11
    .quad isr12, isr13, isr14, isr15, isr16, isr17, isr18, isr19, isr20, isr21, isr22
    .quad isr23, isr24, isr25, isr26, isr27, isr28, isr29, isr30, isr31, isr32, isr33
    .quad isr34, isr35

    .balign 16
gdt:
    .quad 0
    .quad 0x00af9b000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf93000000ffff    /* 0x10: data */
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt

    .section .data.pagetables, "aw"
    .balign 4096
pml4:
    .fill 273, 8, 0
    .quad pdpt_direct - KERNEL_VMA + 3     /* 0xffff888000000000 */
    .fill 237, 8, 0
    .quad pdpt_kernel - KERNEL_VMA + 3     /* 0xffffff8000000000 */
pdpt_direct:
    .quad pd - KERNEL_VMA + 3
    .fill 511, 8, 0
pdpt_kernel:
    .fill 510, 8, 0
    .quad pd - KERNEL_VMA + 3              /* 0xffffffff80000000 */
    .quad 0
pd:                                        /* the first GiB in 2 MiB pages */
    .set page, 0
    .rept 512
    .quad (page << 21) | 0x83
    .set page, page + 1
    .endr

    .section .note.GNU-stack, "", @progbits
