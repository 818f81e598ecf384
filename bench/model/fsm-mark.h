/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Phase markers for the cost-model plugin (bench/model/fsm-plugin.c), for
 * programs running in the QEMU guest. See Documentation/cost-model.md.
 *
 * A marker is one instruction, a byte load with a magic displacement:
 *
 *	movzbl FSM_MARK_DISP(%rbx),%eax		0f b6 83 00 4d 53 46
 *
 * with %rbx = B - FSM_MARK_DISP + w, where B is a 64 KiB-aligned buffer of
 * this program's and w the 16-bit marker word. The plugin recognises the
 * instruction by its bytes when it is translated and watches its access:
 * QEMU 7.2's plugin API can read neither guest registers nor guest memory,
 * but it reports the virtual address of every access, and the word
 * travels in the low 16 bits of that address. No compiler emits a load
 * 1.1 GiB past a pointer into %eax, and being a single instruction the
 * marker survives a page fault on the load (QEMU restarts a faulting
 * access in a new translation block, which starts at that instruction).
 *
 * A marker word is 4 bits of operation and 12 bits of argument:
 *	FSM_OP_NAME_RESET	forget the pending phase name
 *	FSM_OP_NAME_CHAR	append the argument (a byte) to the pending name
 *	FSM_OP_BEGIN		start phase <arg> with the pending name
 *	FSM_OP_END		end phase <arg>
 * The pending name and the current phase are global, not per vCPU: a phase
 * may begin on one vCPU and end on another. Only one phase is active at a
 * time, and one program at a time should send markers.
 *
 * Outside the guest (or without the plugin) a marker is a few harmless
 * instructions.
 */
#ifndef FSM_MARK_H
#define FSM_MARK_H

#define FSM_MARK_DISP 0x46534d00	/* "\0MSF" */
#define FSM_MARK_INSN_LEN 7
#define FSM_MARK_INSN_BYTES { 0x0f, 0xb6, 0x83, 0x00, 0x4d, 0x53, 0x46 }

#define FSM_OP_NAME_RESET 0x1
#define FSM_OP_NAME_CHAR 0x2
#define FSM_OP_BEGIN 0x3
#define FSM_OP_END 0x4

#define FSM_MARK_WORD(op, arg) ((((op) & 0xfu) << 12) | ((arg) & 0xfffu))
#define FSM_MARK_OP(w) (((w) >> 12) & 0xfu)
#define FSM_MARK_ARG(w) ((w) & 0xfffu)
#define FSM_PHASE_ID_MAX 0xfff
#define FSM_PHASE_NAME_MAX 63

#ifndef FSM_MARK_PROTOCOL_ONLY

#include <string.h>

static unsigned char fsm_mark_buf[1 << 16] __attribute__((aligned(1 << 16)));

static inline void fsm_mark_word(unsigned int w)
{
	unsigned long base = (unsigned long)fsm_mark_buf + (w & 0xffffu) -
			     FSM_MARK_DISP;
	unsigned int tmp;

	/* spelled out in bytes: the assembler must not pick another encoding */
	__asm__ volatile(".byte 0x0f, 0xb6, 0x83, 0x00, 0x4d, 0x53, 0x46"
			 : "=a"(tmp)
			 : "b"(base)
			 : "memory");
	(void)tmp;
}

static inline void fsm_phase_begin(unsigned int id, const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n > FSM_PHASE_NAME_MAX)
		n = FSM_PHASE_NAME_MAX;
	fsm_mark_word(FSM_MARK_WORD(FSM_OP_NAME_RESET, 0));
	for (i = 0; i < n; i++)
		fsm_mark_word(FSM_MARK_WORD(FSM_OP_NAME_CHAR, (unsigned char)name[i]));
	fsm_mark_word(FSM_MARK_WORD(FSM_OP_BEGIN, id));
}

static inline void fsm_phase_end(unsigned int id)
{
	fsm_mark_word(FSM_MARK_WORD(FSM_OP_END, id));
}

#endif /* FSM_MARK_PROTOCOL_ONLY */
#endif /* FSM_MARK_H */
