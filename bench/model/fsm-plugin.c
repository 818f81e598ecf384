// SPDX-License-Identifier: GPL-2.0
/*
 * fsm-plugin.so - a QEMU TCG plugin that counts, per vCPU and only inside
 * phases the guest marks (fsm-mark.h), the instructions executed
 * (kernel/user), the memory accesses and the cache-line transfers between
 * vCPUs of a simple MSI-like coherence model over 64-byte lines of guest
 * physical memory. One JSON line per phase goes to the file named by out=.
 * Documentation/cost-model.md describes the model and its limits.
 *
 *   qemu-system-x86_64 ... -plugin file=fsm-plugin.so,out=/abs/path.jsonl
 *
 * Arguments:
 *   out=PATH        where the phase lines go (appended; required)
 *   track=always    keep the line states up to date outside phases too
 *                   (default; a phase starts from the true sharing state)
 *   track=phase     only inside phases (faster; stale state at a phase start)
 *   physmax=GIB     model physical addresses below GIB GiB (default 4);
 *                   accesses above are counted as "untracked"
 *   sites=N         also name, per phase, the N instructions (guest virtual
 *                   addresses) that caused the most transfers (default 0)
 *   modsites=N      and the N translation blocks in the module area that
 *                   executed the most instructions (default 0)
 *
 * Concurrency: with multi-threaded TCG every vCPU is a host thread, so all
 * callbacks run concurrently. Counters live in per-vCPU slots written only
 * by their vCPU's thread; a line's state is one 32-bit word updated with
 * compare-and-swap; the phase state changes under a mutex and is read with
 * an atomic load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "qemu-plugin-api.h"
#define FSM_MARK_PROTOCOL_ONLY
#include "fsm-mark.h"

#ifndef FSM_PLUGIN_API_VERSION
#define FSM_PLUGIN_API_VERSION FSM_QEMU_PLUGIN_API
#endif

FSM_EXPORT int qemu_plugin_version = FSM_PLUGIN_API_VERSION;

#define PFX "fsm-plugin: "
#define LINE_SHIFT 6
/* Line word: bits 0..23 the vCPUs holding a valid copy, 24..31 last writer + 1. */
#define MAX_VCPUS 24
#define HOLDERS_MASK 0x00ffffffu
#define WRITER_SHIFT 24

enum { USER = 0, KERNEL = 1 };

/* One vCPU's counters, written only by that vCPU's thread. */
struct counters {
	uint64_t insns[2];
	uint64_t loads[2];
	uint64_t stores[2];
	uint64_t xfers[2];	/* transfers: read misses on a line another vCPU wrote + writes invalidating others */
	uint64_t invals;	/* copies invalidated by this vCPU's writes */
	uint64_t io;		/* accesses to MMIO (not modelled) */
	uint64_t untracked;	/* RAM above physmax, or no translation reported */
	uint64_t pad[3];
} __attribute__((aligned(64)));

#define NCOUNTERS (sizeof(struct counters) / sizeof(uint64_t))

static struct counters *vcpu;	/* [nvcpus] */
static struct counters *snap;	/* [nvcpus], taken at phase begin */
static unsigned int nvcpus;

static uint32_t *lines;		/* line states, indexed by phys >> 6 */
static uint64_t nlines;
static int track_always = 1;

static FILE *out;
static const char *out_path;

/* Phase state: "active" is read by every callback; the rest under lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int active;
static unsigned int phase_id;
static unsigned int phase_seq;
static unsigned int phase_begin_vcpu;
static char phase_name[FSM_PHASE_NAME_MAX + 1];
static char pending_name[FSM_PHASE_NAME_MAX + 1];
static size_t pending_len;

static const unsigned char marker_insn[FSM_MARK_INSN_LEN] = FSM_MARK_INSN_BYTES;

/*
 * Counts per guest code address, to tell which code does the work:
 *  sites=N     transfers per accessing instruction;
 *  modsites=N  instructions per translation block in the module area
 *              (where the fastsocket module's code runs).
 * Each is an open-addressing table keyed by the address, filled with
 * compare-and-swap and cleared when a phase begins; an address that finds
 * no free slot within SITE_PROBES is counted lost. A phase's line names
 * the N addresses with the largest counts.
 */
#define SITE_PROBES 64
#define MODULE_AREA 0xffffffffc0000000ull	/* x86-64 MODULES_VADDR */
struct site {
	uint64_t pc;
	uint64_t n;
};
struct site_table {
	const char *name;	/* the JSON key */
	unsigned int bits;
	unsigned int top;	/* N: 0 when off */
	struct site *slots;
	uint64_t lost;
};
static struct site_table xfer_sites = { .name = "sites", .bits = 16 };
static struct site_table mod_sites = { .name = "modsites", .bits = 12 };

static void site_add(struct site_table *t, uint64_t pc, uint64_t n)
{
	uint64_t h = (pc * 0x9e3779b97f4a7c15ull) >> (64 - t->bits);
	unsigned int i;

	for (i = 0; i < SITE_PROBES; i++) {
		struct site *s = &t->slots[(h + i) & ((1u << t->bits) - 1)];
		uint64_t cur = __atomic_load_n(&s->pc, __ATOMIC_RELAXED);

		if (!cur && __atomic_compare_exchange_n(&s->pc, &cur, pc, 0,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			cur = pc;
		if (cur == pc) {
			__atomic_fetch_add(&s->n, n, __ATOMIC_RELAXED);
			return;
		}
	}
	__atomic_fetch_add(&t->lost, n, __ATOMIC_RELAXED);
}

static void site_clear(struct site_table *t)
{
	if (!t->slots)
		return;
	memset(t->slots, 0, sizeof(*t->slots) << t->bits);
	__atomic_store_n(&t->lost, 0, __ATOMIC_RELAXED);
}

static int site_cmp(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* ,"NAME":[{"pc":..,"n":..}...],"NAME_lost":..,"NAME_seen":..: largest first */
static void site_print(struct site_table *t)
{
	struct site *all = malloc(sizeof(*all) << t->bits);
	size_t i, n = 0;

	if (!t->slots)
		return;
	fprintf(out, ",\"%s\":[", t->name);
	for (i = 0; all && i < (1u << t->bits); i++) {
		all[n].pc = __atomic_load_n(&t->slots[i].pc, __ATOMIC_RELAXED);
		all[n].n = __atomic_load_n(&t->slots[i].n, __ATOMIC_RELAXED);
		n += all[n].n != 0;
	}
	if (all)
		qsort(all, n, sizeof(*all), site_cmp);
	for (i = 0; all && i < n && i < t->top; i++)
		fprintf(out, "%s{\"pc\":\"0x%" PRIx64 "\",\"n\":%" PRIu64 "}",
			i ? "," : "", all[i].pc, all[i].n);
	fprintf(out, "],\"%s_lost\":%" PRIu64 ",\"%s_seen\":%zu", t->name,
		__atomic_load_n(&t->lost, __ATOMIC_RELAXED), t->name, n);
	if (!all)
		fprintf(stderr, PFX "out of memory; %s of phase %u not written\n",
			t->name, phase_id);
	free(all);
}

static int site_init(struct site_table *t)
{
	if (!t->top)
		return 0;
	t->slots = calloc(1u << t->bits, sizeof(*t->slots));
	return t->slots ? 0 : -1;
}

/* Owner-only increment, but readable by the thread that ends a phase. */
static inline void bump(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline int is_active(void)
{
	return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

static void read_counters(struct counters *dst)
{
	unsigned int v;
	size_t i;

	for (v = 0; v < nvcpus; v++) {
		const uint64_t *s = (const uint64_t *)&vcpu[v];
		uint64_t *d = (uint64_t *)&dst[v];

		for (i = 0; i < NCOUNTERS; i++)
			d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	}
}

static void print_counts(const struct counters *c)
{
	fprintf(out,
		"\"insns\":%" PRIu64 ",\"insns_kernel\":%" PRIu64 ",\"insns_user\":%" PRIu64
		",\"loads\":%" PRIu64 ",\"loads_kernel\":%" PRIu64 ",\"loads_user\":%" PRIu64
		",\"stores\":%" PRIu64 ",\"stores_kernel\":%" PRIu64 ",\"stores_user\":%" PRIu64
		",\"transfers\":%" PRIu64 ",\"transfers_kernel\":%" PRIu64 ",\"transfers_user\":%" PRIu64
		",\"invalidations\":%" PRIu64 ",\"io\":%" PRIu64 ",\"untracked\":%" PRIu64,
		c->insns[KERNEL] + c->insns[USER], c->insns[KERNEL], c->insns[USER],
		c->loads[KERNEL] + c->loads[USER], c->loads[KERNEL], c->loads[USER],
		c->stores[KERNEL] + c->stores[USER], c->stores[KERNEL], c->stores[USER],
		c->xfers[KERNEL] + c->xfers[USER], c->xfers[KERNEL], c->xfers[USER],
		c->invals, c->io, c->untracked);
}

static void json_string(const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* Called with lock held and the phase just made inactive. */
static void write_phase(unsigned int end_vcpu, int complete)
{
	struct counters *now = calloc(nvcpus, sizeof(*now));
	struct counters total;
	unsigned int v;
	size_t i;

	if (!now) {
		fprintf(stderr, PFX "out of memory; phase %u lost\n", phase_id);
		return;
	}
	read_counters(now);
	memset(&total, 0, sizeof(total));
	for (v = 0; v < nvcpus; v++) {
		uint64_t *n = (uint64_t *)&now[v];
		const uint64_t *s = (const uint64_t *)&snap[v];
		uint64_t *t = (uint64_t *)&total;

		for (i = 0; i < NCOUNTERS; i++) {
			n[i] -= s[i];
			t[i] += n[i];
		}
	}
	fprintf(out, "{\"phase\":");
	json_string(phase_name);
	fprintf(out, ",\"id\":%u,\"seq\":%u,\"complete\":%s,\"begin_vcpu\":%u,",
		phase_id, phase_seq, complete ? "true" : "false", phase_begin_vcpu);
	if (complete)
		fprintf(out, "\"end_vcpu\":%u,", end_vcpu);
	fprintf(out, "\"model\":{\"line\":64,\"track\":\"%s\",\"physmax\":%" PRIu64 "},",
		track_always ? "always" : "phase", nlines << LINE_SHIFT);
	fprintf(out, "\"vcpus\":[");
	for (v = 0; v < nvcpus; v++) {
		fprintf(out, "%s{\"vcpu\":%u,", v ? "," : "", v);
		print_counts(&now[v]);
		fputc('}', out);
	}
	fprintf(out, "],\"total\":{");
	print_counts(&total);
	fputc('}', out);
	site_print(&xfer_sites);
	site_print(&mod_sites);
	fprintf(out, "}\n");
	if (fflush(out))
		fprintf(stderr, PFX "writing %s: %s\n", out_path, strerror(errno));
	free(now);
}

static void marker(unsigned int vcpu_index, unsigned int w)
{
	unsigned int op = FSM_MARK_OP(w), arg = FSM_MARK_ARG(w);

	pthread_mutex_lock(&lock);
	switch (op) {
	case FSM_OP_NAME_RESET:
		pending_len = 0;
		pending_name[0] = '\0';
		break;
	case FSM_OP_NAME_CHAR:
		if (pending_len < FSM_PHASE_NAME_MAX && arg >= 0x20 && arg < 0x7f) {
			pending_name[pending_len++] = (char)arg;
			pending_name[pending_len] = '\0';
		}
		break;
	case FSM_OP_BEGIN:
		if (active) {
			fprintf(stderr, PFX "phase %u (%s) begun while phase %u (%s) is active; "
				"ending that one first (marked incomplete)\n",
				arg, pending_name, phase_id, phase_name);
			__atomic_store_n(&active, 0, __ATOMIC_RELEASE);
			write_phase(vcpu_index, 0);
		}
		phase_id = arg;
		phase_seq++;
		phase_begin_vcpu = vcpu_index;
		memcpy(phase_name, pending_name, sizeof(phase_name));
		pending_len = 0;
		pending_name[0] = '\0';
		read_counters(snap);
		site_clear(&xfer_sites);
		site_clear(&mod_sites);
		__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
		break;
	case FSM_OP_END:
		if (!active || arg != phase_id) {
			fprintf(stderr, PFX "end of phase %u ignored: %s\n", arg,
				active ? "another phase is active" : "no phase is active");
			break;
		}
		__atomic_store_n(&active, 0, __ATOMIC_RELEASE);
		write_phase(vcpu_index, 1);
		break;
	default:
		fprintf(stderr, PFX "unknown marker word 0x%04x ignored\n", w);
		break;
	}
	pthread_mutex_unlock(&lock);
}

/* udata: instruction count << 1 | KERNEL; the whole block is one or the other. */
static void tb_exec(unsigned int vcpu_index, void *udata)
{
	uintptr_t u = (uintptr_t)udata;

	if (!is_active() || vcpu_index >= nvcpus)
		return;
	bump(&vcpu[vcpu_index].insns[u & 1], u >> 1);
}

/*
 * A block in the module area (modsites=N): its address and instruction
 * count, allocated at translation and never freed (QEMU 7.2's API has no
 * callback when a block is dropped; the area's blocks are few).
 */
struct mod_tb {
	uint64_t pc;
	uint64_t n;
};

static void tb_exec_mod(unsigned int vcpu_index, void *udata)
{
	const struct mod_tb *tb = udata;

	if (!is_active() || vcpu_index >= nvcpus)
		return;
	bump(&vcpu[vcpu_index].insns[KERNEL], tb->n);
	site_add(&mod_sites, tb->pc, tb->n);
}

/*
 * The MSI-like model. A line's word holds the set of vCPUs with a valid
 * copy and the last vCPU that wrote it. A read by a vCPU without a copy of a
 * line some other vCPU wrote is a transfer (the data comes from that
 * vCPU's cache); a write to a line other vCPUs hold is a transfer (their
 * copies are invalidated and ownership moves). Returns the number of copies
 * invalidated, or -1 for a transfer without invalidation, 0 for none.
 */
static int line_access(uint64_t idx, unsigned int v, int store)
{
	uint32_t *p = &lines[idx];
	uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED), new;
	uint32_t me = 1u << v;
	int ret;

	do {
		uint32_t holders = old & HOLDERS_MASK;

		if (store) {
			uint32_t others = holders & ~me;

			new = me | ((v + 1) << WRITER_SHIFT);
			ret = others ? __builtin_popcount(others) : 0;
		} else {
			if (holders & me)
				return 0;	/* a hit: nothing changes */
			new = old | me;
			/* written since we last held it, by someone else */
			ret = (old >> WRITER_SHIFT) ? -1 : 0;
		}
		if (new == old)
			return ret;
	} while (!__atomic_compare_exchange_n(p, &old, new, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return ret;
}

/* udata: the accessing instruction's address (bit 63: kernel). */
static void mem_access(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
		       uint64_t vaddr, void *udata)
{
	uint64_t pc = (uint64_t)(uintptr_t)udata;
	int k = (pc >> 63) ? KERNEL : USER;
	int store = qemu_plugin_mem_is_store(info);
	int on = is_active();
	struct counters *c;
	struct qemu_plugin_hwaddr *hw;
	uint64_t phys;
	int r;

	if (vcpu_index >= nvcpus || (!on && !track_always))
		return;
	c = &vcpu[vcpu_index];
	if (on)
		bump(store ? &c->stores[k] : &c->loads[k], 1);
	hw = qemu_plugin_get_hwaddr(info, vaddr);
	if (!hw) {
		if (on)
			bump(&c->untracked, 1);
		return;
	}
	if (qemu_plugin_hwaddr_is_io(hw)) {
		if (on)
			bump(&c->io, 1);
		return;
	}
	phys = qemu_plugin_hwaddr_phys_addr(hw);
	if ((phys >> LINE_SHIFT) >= nlines) {
		if (on)
			bump(&c->untracked, 1);
		return;
	}
	r = line_access(phys >> LINE_SHIFT, vcpu_index, store);
	if (r && on) {
		bump(&c->xfers[k], 1);
		if (r > 0)
			bump(&c->invals, (uint64_t)r);
		if (xfer_sites.slots)
			site_add(&xfer_sites, pc, 1);
	}
}

static void mark_access(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
			uint64_t vaddr, void *udata)
{
	(void)info;
	(void)udata;
	marker(vcpu_index, (unsigned int)(vaddr & 0xffff));
}

static int is_marker(const struct qemu_plugin_insn *insn)
{
	return qemu_plugin_insn_size(insn) == FSM_MARK_INSN_LEN &&
	       !memcmp(qemu_plugin_insn_data(insn), marker_insn, FSM_MARK_INSN_LEN);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);
	uint64_t start = qemu_plugin_tb_vaddr(tb);
	int k = (start >> 63) ? KERNEL : USER;
	struct mod_tb *mt;

	(void)id;
	if (mod_sites.slots && start >= MODULE_AREA && (mt = malloc(sizeof(*mt)))) {
		mt->pc = start;
		mt->n = n;
		qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec_mod, QEMU_PLUGIN_CB_NO_REGS, mt);
	} else {
		qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS,
						     (void *)(uintptr_t)((n << 1) | (size_t)k));
	}
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint64_t pc = qemu_plugin_insn_vaddr(insn);

		/*
		 * Always MEM_RW: Debian's QEMU 7.2 never called a callback
		 * registered for QEMU_PLUGIN_MEM_R alone on this load.
		 */
		if (is_marker(insn))
			qemu_plugin_register_vcpu_mem_cb(insn, mark_access,
							 QEMU_PLUGIN_CB_NO_REGS,
							 QEMU_PLUGIN_MEM_RW, NULL);
		else
			qemu_plugin_register_vcpu_mem_cb(insn, mem_access,
							 QEMU_PLUGIN_CB_NO_REGS,
							 QEMU_PLUGIN_MEM_RW,
							 (void *)(uintptr_t)pc);
	}
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	(void)id;
	(void)udata;
	pthread_mutex_lock(&lock);
	if (active) {
		fprintf(stderr, PFX "phase %u (%s) still active at exit; written as incomplete\n",
			phase_id, phase_name);
		__atomic_store_n(&active, 0, __ATOMIC_RELEASE);
		write_phase(0, 0);
	}
	if (out)
		fclose(out);
	out = NULL;
	pthread_mutex_unlock(&lock);
}

static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		char *end;

		if (!strncmp(a, "out=", 4) && a[4]) {
			out_path = a + 4;
		} else if (!strcmp(a, "track=always")) {
			track_always = 1;
		} else if (!strcmp(a, "track=phase")) {
			track_always = 0;
		} else if (!strncmp(a, "physmax=", 8)) {
			unsigned long gib = strtoul(a + 8, &end, 10);

			if (*end || !gib || gib > 1024) {
				fprintf(stderr, PFX "physmax wants GiB in 1..1024, not '%s'\n", a + 8);
				return -1;
			}
			nlines = ((uint64_t)gib << 30) >> LINE_SHIFT;
		} else if (!strncmp(a, "sites=", 6) || !strncmp(a, "modsites=", 9)) {
			struct site_table *t = a[0] == 's' ? &xfer_sites : &mod_sites;
			const char *v = strchr(a, '=') + 1;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || !*v || n > 1000) {
				fprintf(stderr, PFX "%s wants a count in 0..1000, not '%s'\n",
					t->name, v);
				return -1;
			}
			t->top = (unsigned int)n;
		} else {
			fprintf(stderr, PFX "unknown argument '%s' (want out=PATH, "
				"track=always|phase, physmax=GIB, sites=N, modsites=N)\n", a);
			return -1;
		}
	}
	if (!out_path) {
		fprintf(stderr, PFX "no out=PATH given\n");
		return -1;
	}
	return 0;
}

FSM_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
				   int argc, char **argv)
{
	size_t bytes;
	void *m;

	if (info->version.cur < FSM_PLUGIN_API_VERSION ||
	    info->version.min > FSM_PLUGIN_API_VERSION) {
		fprintf(stderr, PFX "written for QEMU plugin API version %d; this QEMU "
			"supports versions %d..%d\n", FSM_PLUGIN_API_VERSION,
			info->version.min, info->version.cur);
		return -1;
	}
	if (!info->system_emulation || strcmp(info->target_name, "x86_64")) {
		fprintf(stderr, PFX "needs qemu-system-x86_64 (this is %s%s)\n",
			info->system_emulation ? "system " : "user-mode ", info->target_name);
		return -1;
	}
	nlines = (4ull << 30) >> LINE_SHIFT;
	if (parse_args(argc, argv))
		return -1;
	if (info->system.max_vcpus > MAX_VCPUS) {
		fprintf(stderr, PFX "at most %d vCPUs are modelled, not %d\n",
			MAX_VCPUS, info->system.max_vcpus);
		return -1;
	}
	nvcpus = info->system.max_vcpus > 0 ? (unsigned int)info->system.max_vcpus : 1;
	vcpu = aligned_alloc(64, nvcpus * sizeof(*vcpu));
	snap = calloc(nvcpus, sizeof(*snap));
	if (!vcpu || !snap) {
		fprintf(stderr, PFX "out of memory\n");
		return -1;
	}
	memset(vcpu, 0, nvcpus * sizeof(*vcpu));
	/* Pages are only backed once touched: a 1 GiB guest uses 64 MiB. */
	bytes = nlines * sizeof(*lines);
	m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, PFX "cannot map %zu MiB of line state: %s\n",
			bytes >> 20, strerror(errno));
		return -1;
	}
	lines = m;
	if (site_init(&xfer_sites) || site_init(&mod_sites)) {
		fprintf(stderr, PFX "out of memory\n");
		return -1;
	}
	out = fopen(out_path, "a");
	if (!out) {
		fprintf(stderr, PFX "cannot open %s: %s\n", out_path, strerror(errno));
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
