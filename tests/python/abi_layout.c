/*
 * The layout of every struct the Python package mirrors (python/vmic/_structs.py),
 * as the C compiler sees the headers in include/vmic: one line per struct ("S name size")
 * and per field ("F name.field offset"). tests/python/test_abi.py compares
 * them with ctypes, so a header change the mirrors miss fails the test.
 */
#include <stddef.h>
#include <stdio.h>

#include <vmic/vmic.h>

#define S(t) printf("S %s %zu\n", #t, sizeof(t))
#define F(t, f) printf("F %s.%s %zu\n", #t, #f, offsetof(t, f))

int main(void)
{
    S(vmic_paging_t); F(vmic_paging_t, maxphyaddr); F(vmic_paging_t, nxe);
    F(vmic_paging_t, reserved);
    S(vmic_amd64_segment_t); F(vmic_amd64_segment_t, selector); F(vmic_amd64_segment_t, attr);
    S(vmic_amd64_dtable_t); F(vmic_amd64_dtable_t, limit);
    S(vmic_amd64_regs_t); F(vmic_amd64_regs_t, rax); F(vmic_amd64_regs_t, rip);
    F(vmic_amd64_regs_t, cs); F(vmic_amd64_regs_t, gdtr); F(vmic_amd64_regs_t, cr3);
    F(vmic_amd64_regs_t, efer); F(vmic_amd64_regs_t, kernel_gs_base);
    F(vmic_amd64_regs_t, tsc_aux); F(vmic_amd64_regs_t, reserved);

    S(vmic_driver_info_t); F(vmic_driver_info_t, caps); F(vmic_driver_info_t, vcpu_count);
    F(vmic_driver_info_t, regions); F(vmic_driver_info_t, nregions);
    F(vmic_driver_info_t, plugin); F(vmic_driver_info_t, reserved);
    S(vmic_qemu_end_t); F(vmic_qemu_end_t, holder); F(vmic_qemu_end_t, found_running);
    F(vmic_qemu_end_t, gone_why); F(vmic_qemu_end_t, status); F(vmic_qemu_end_t, reserved);
    S(vmic_qemu_config_t); F(vmic_qemu_config_t, timeout_ms); F(vmic_qemu_config_t, stay_paused);
    F(vmic_qemu_config_t, guard); F(vmic_qemu_config_t, shared_ok); F(vmic_qemu_config_t, end);
    F(vmic_qemu_config_t, reserved);
    S(vmic_target_options_t); F(vmic_target_options_t, live); F(vmic_target_options_t, reserved);

    S(vmic_event_t); F(vmic_event_t, view); F(vmic_event_t, seq); F(vmic_event_t, regs);
    F(vmic_event_t, memory.va); F(vmic_event_t, memory.value); F(vmic_event_t, interrupt.pa);
    F(vmic_event_t, breakpoint.pa); F(vmic_event_t, breakpoint.slot); F(vmic_event_t, capture);
    F(vmic_event_t, reserved);

    S(vmic_os_config_t); F(vmic_os_config_t, root); F(vmic_os_config_t, paging);
    F(vmic_os_config_t, reserved);
    S(vmic_os_kernel_t); F(vmic_os_kernel_t, root_source); F(vmic_os_kernel_t, paging);
    F(vmic_os_kernel_t, pti); F(vmic_os_kernel_t, banner); F(vmic_os_kernel_t, nsymbols);
    F(vmic_os_kernel_t, btf_size); F(vmic_os_kernel_t, page_offset_base);
    F(vmic_os_kernel_t, modules_end); F(vmic_os_kernel_t, layout_source);
    F(vmic_os_kernel_t, degraded);
    S(vmic_symbol_t); F(vmic_symbol_t, addr); F(vmic_symbol_t, type); F(vmic_symbol_t, module);
    S(vmic_field_t); F(vmic_field_t, bit_size); F(vmic_field_t, size); F(vmic_field_t, kind);
    F(vmic_field_t, count); F(vmic_field_t, type_name);
    S(vmic_member_t); F(vmic_member_t, depth); F(vmic_member_t, field);
    S(vmic_process_t); F(vmic_process_t, pid); F(vmic_process_t, ppid); F(vmic_process_t, comm);
    F(vmic_process_t, uid); F(vmic_process_t, state); F(vmic_process_t, state_raw);
    F(vmic_process_t, start_ns); F(vmic_process_t, nthreads); F(vmic_process_t, kernel_thread);
    F(vmic_process_t, mm); F(vmic_process_t, root); F(vmic_process_t, user_root);
    F(vmic_process_t, partial); F(vmic_process_t, reserved);
    S(vmic_module_range_t); F(vmic_module_range_t, size);
    S(vmic_module_t); F(vmic_module_t, name); F(vmic_module_t, base); F(vmic_module_t, size);
    F(vmic_module_t, state); F(vmic_module_t, nranges); F(vmic_module_t, ranges);
    F(vmic_module_t, refcount); F(vmic_module_t, reserved32);
    F(vmic_module_t, reserved);
    S(vmic_socket_t); F(vmic_socket_t, fd); F(vmic_socket_t, inode); F(vmic_socket_t, netns);
    F(vmic_socket_t, state); F(vmic_socket_t, local_addr); F(vmic_socket_t, remote_port);
    F(vmic_socket_t, path); F(vmic_socket_t, partial); F(vmic_socket_t, reserved);
    S(vmic_mount_t); F(vmic_mount_t, mount); F(vmic_mount_t, sb_flags); F(vmic_mount_t, point);
    F(vmic_mount_t, fstype); F(vmic_mount_t, options); F(vmic_mount_t, propagation);
    F(vmic_mount_t, visible); F(vmic_mount_t, reserved);
    S(vmic_region_t); F(vmic_region_t, start); F(vmic_region_t, access); F(vmic_region_t, shared);
    F(vmic_region_t, offset); F(vmic_region_t, dev_minor); F(vmic_region_t, inode);
    F(vmic_region_t, path); F(vmic_region_t, path_truncated); F(vmic_region_t, reserved);
    S(vmic_open_file_t); F(vmic_open_file_t, file); F(vmic_open_file_t, flags);
    F(vmic_open_file_t, pos); F(vmic_open_file_t, inode); F(vmic_open_file_t, path);
    F(vmic_open_file_t, path_truncated); F(vmic_open_file_t, reserved);
    S(vmic_syscall_hook_t); F(vmic_syscall_hook_t, name); F(vmic_syscall_hook_t, handler);
    F(vmic_syscall_hook_t, module); F(vmic_syscall_hook_t, reserved);
    S(vmic_check_finding_t); F(vmic_check_finding_t, nr); F(vmic_check_finding_t, name);
    F(vmic_check_finding_t, addr); F(vmic_check_finding_t, module);
    F(vmic_check_finding_t, detail); F(vmic_check_finding_t, reserved);
    S(vmic_log_record_t); F(vmic_log_record_t, level); F(vmic_log_record_t, facility);
    F(vmic_log_record_t, caller_id); F(vmic_log_record_t, text); F(vmic_log_record_t, len);

    S(vmic_tap_options_t); F(vmic_tap_options_t, visible); F(vmic_tap_options_t, reserved);
    S(vmic_breakpoint_t); F(vmic_breakpoint_t, root); F(vmic_breakpoint_t, global);
    F(vmic_breakpoint_t, view); F(vmic_breakpoint_t, key); F(vmic_breakpoint_t, tag);
    F(vmic_breakpoint_t, reserved);
    S(vmic_bp_state_t); F(vmic_bp_state_t, active); F(vmic_bp_state_t, pa);
    F(vmic_bp_state_t, tap_view); F(vmic_bp_state_t, reserved);
    S(vmic_bpm_stats_t); F(vmic_bpm_stats_t, activation_failures); F(vmic_bpm_stats_t, pages);
    F(vmic_bpm_stats_t, reserved);
    S(vmic_bpm_handler_t); F(vmic_bpm_handler_t, on_page); F(vmic_bpm_handler_t, should_stop);
    F(vmic_bpm_handler_t, on_timeout); F(vmic_bpm_handler_t, arg); F(vmic_bpm_handler_t, reserved);

    S(vmic_trace_task_t); F(vmic_trace_task_t, pid); F(vmic_trace_task_t, tgid);
    F(vmic_trace_task_t, comm);
    S(vmic_trace_value_t); F(vmic_trace_value_t, raw); F(vmic_trace_value_t, kind);
    F(vmic_trace_value_t, truncated); F(vmic_trace_value_t, hidden); F(vmic_trace_value_t, text);
    S(vmic_trace_event_t); F(vmic_trace_event_t, seq); F(vmic_trace_event_t, time_ns);
    F(vmic_trace_event_t, task); F(vmic_trace_event_t, syscall.nr);
    F(vmic_trace_event_t, syscall.name); F(vmic_trace_event_t, syscall.nargs);
    F(vmic_trace_event_t, syscall.args); F(vmic_trace_event_t, syscall.returned);
    F(vmic_trace_event_t, syscall.entry_seen); F(vmic_trace_event_t, syscall.ret);
    F(vmic_trace_event_t, syscall.ret_text); F(vmic_trace_event_t, syscall.error);
    F(vmic_trace_event_t, syscall.duration_ns); F(vmic_trace_event_t, fork.child);
    F(vmic_trace_event_t, fork.thread); F(vmic_trace_event_t, fork.kernel);
    F(vmic_trace_event_t, exec.old_comm); F(vmic_trace_event_t, exec.filename);
    F(vmic_trace_event_t, exec.cmdline); F(vmic_trace_event_t, exec.cmdline_truncated);
    F(vmic_trace_event_t, exit.code); F(vmic_trace_event_t, exit.status);
    F(vmic_trace_event_t, exit.signal); F(vmic_trace_event_t, exit.core_dumped);
    F(vmic_trace_event_t, exit.thread);
    S(vmic_trace_options_t); F(vmic_trace_options_t, pid); F(vmic_trace_options_t, follow);
    F(vmic_trace_options_t, comm); F(vmic_trace_options_t, syscalls);
    F(vmic_trace_options_t, string_max); F(vmic_trace_options_t, duration_ms);
    F(vmic_trace_options_t, tap); F(vmic_trace_options_t, reserved);
    S(vmic_trace_stats_t); F(vmic_trace_stats_t, read_errors);
    F(vmic_trace_stats_t, late_reads); F(vmic_trace_stats_t, reserved);
    return 0;
}
