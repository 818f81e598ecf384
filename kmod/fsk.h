/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces between the files of the fastsocket module.
 * Each file owns one mechanism; this header is the seam between them.
 *
 * Layers, each calling only the ones below it:
 *   main.c                 module and netns setup, parameters
 *   ioctl.c                /dev/fastsocket: the ABI edge (copy in/out,
 *                          argument checks, fd -> listening socket)
 *   spawn.c register.c park.c   one command each, on kernel types
 *   cpu.c pin.c clone.c    CPU choice, pinned workers, copying a socket
 *   listen_table.c         the per-netns table of local listeners
 *   steer.c close_watch.c proc.c   readers and watchers of the table
 *   rfd.c                  the netns's RFD port layout (ioctl.c, proc.c)
 */
#ifndef _FASTSOCKET_FSK_H
#define _FASTSOCKET_FSK_H

#include <linux/types.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/in6.h>
#include <linux/uidgid.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/sock_reuseport.h>

struct socket;
struct file;
struct seq_file;

/*
 * main.c: module parameters, read with READ_ONCE() (writable at runtime).
 * fsk_listen_spawn is the value a netns starts with (and the initial
 * netns's, see main.c); a netns's own is fsk_net->listen_spawn.
 */
extern int fsk_listen_spawn;
extern int fsk_fast_epoll;
extern int fsk_receive_flow_deliver;
extern int fsk_unwatched_grace_ms;

/* Largest unwatched_grace_ms, parameter and sysctl alike. */
#define FSK_GRACE_MS_MAX	60000

/*
 * Counters of one netns on one CPU (proc.c shows them, steer.c, rfd.c and
 * rfd_steer.c bump them); u64 members only (proc.c zeroes them as such).
 */
struct fsk_stats {
	u64 steered;	/* SYNs assigned to this CPU's local listener */
	u64 no_local;	/* SYNs for a served address on a CPU without one */
	u64 existing;	/* SYNs of a flow the kernel knows (TIME_WAIT...) */
	u64 parked;	/* SYNs on a CPU whose local listener is parked */
	u64 skipped;	/* SYNs left to a BPF program or a socket filter */
	u64 unwatched;	/* SYNs kept from a local listener nobody waits on */
	/*
	 * TCP segments to a port in a CPU's RFD block (rfd.c) processed on
	 * this CPU: when this CPU owns the block, and when another does.
	 */
	u64 rfd_owner;
	u64 rfd_foreign;
	/*
	 * Steering by the module (rfd_steer.c): segments this CPU received
	 * and queued for their owner CPU, or processed itself because the
	 * owner was offline or its queue full; and segments this CPU took
	 * from its queue and processed, or dropped (device or netns gone).
	 */
	u64 rfd_steered;
	u64 rfd_offline;
	u64 rfd_overflow;
	u64 rfd_delivered;
	u64 rfd_dropped;
};

/* One netns's receive flow deliver port blocks (rfd.c). */
struct fsk_rfd_layout {
	u16 lo;		/* the first port of CPU 0's block */
	u32 block;	/* ports per block */
	u32 ncpus;	/* blocks: CPUs 0 .. ncpus - 1 */
};

enum { FSK_RFD_UNSET, FSK_RFD_CUT, FSK_RFD_NONE };

#define FSK_PORT_BUCKETS 64
#define FSK_SK_BUCKETS 64
#define FSK_USER_BUCKETS 16

/*
 * net.fastsocket.max_local_listeners and max_local_listeners_per_user:
 * their defaults and the largest value either takes (sysctl.c).
 */
#define FSK_MAX_LOCAL_DEFAULT		65536
#define FSK_MAX_LOCAL_PER_USER_DEFAULT	16384
#define FSK_MAX_LOCAL_LIMIT		1048576

/*
 * Per-netns state (net_generic). Lives exactly as long as the netns:
 * allocated by the pernet core before fsk_net_init(), freed after
 * fsk_net_exit(), which empties the table first.
 *
 * Two locks, always taken in this order when both are needed:
 *  - mutex: serialises the commands that place a listener in this netns
 *    (spawn, register): CPU choice, slot check and insert are one step.
 *    Never held across user memory access; taken killable.
 *  - lock: the table's writers (insert, unlink, park). A raw spinlock,
 *    because the close probe takes it in tracepoint context (preemption
 *    off), which must not sleep on PREEMPT_RT. Never taken in softirq or
 *    hard irq context; readers (the steering hook) use RCU only.
 */
struct fsk_net {
	struct mutex mutex;		/* placing listeners, see above */
	raw_spinlock_t lock;		/* the table's writers */
	struct hlist_head buckets[FSK_PORT_BUCKETS];	/* fsk_group by port, RCU */
	struct hlist_head by_sk[FSK_SK_BUCKETS];	/* fsk_local by socket */
	/*
	 * Local listeners linked, in all and per owner (fsk_user by uid,
	 * RCU): written under lock, read locklessly by /proc.
	 */
	unsigned int nr_local;
	struct hlist_head users[FSK_USER_BUCKETS];
	/*
	 * net.fastsocket.max_local_listeners{,_per_user} of this netns:
	 * written by their sysctls, read with READ_ONCE() at each insert.
	 */
	int max_local;
	int max_local_per_user;
	struct fsk_stats __percpu *stats;
	/*
	 * net.fastsocket.listen_spawn of this netns (FASTSOCKET_SPAWN_*):
	 * written by its sysctl (and, in the initial netns, the parameter),
	 * read with READ_ONCE() by the hook and the commands.
	 */
	int listen_spawn;
	struct ctl_table_header *sysctl;	/* sysctl.c owns it */
	/*
	 * The RFD port layout (rfd.c): rfd_state goes once from UNSET to CUT
	 * or NONE, under mutex, published with release; rfd is written
	 * before and never after.
	 */
	int rfd_state;
	struct fsk_rfd_layout rfd;
};

/* NULL while the netns is still being set up (see close_watch.c). */
struct fsk_net *fsk_net(const struct net *net);

/* An IPv4 or IPv6 TCP socket: the only kind with local listeners. */
static inline bool fsk_sk_is_tcp(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       sk->sk_type == SOCK_STREAM && sk->sk_protocol == IPPROTO_TCP;
}

/*
 * Are @a and @b members of one SO_REUSEPORT group? reuseport_id, not the
 * pointer: a group that grows moves to a new sock_reuseport, keeping its
 * id, and a reader may see one member moved and the other not yet.
 */
static inline bool fsk_same_reuseport(const struct sock *a,
				      const struct sock *b)
{
	struct sock_reuseport *ra, *rb;
	bool same;

	rcu_read_lock();
	ra = rcu_dereference(a->sk_reuseport_cb);
	rb = rcu_dereference(b->sk_reuseport_cb);
	same = ra && rb && ra->reuseport_id == rb->reuseport_id;
	rcu_read_unlock();
	return same;
}

/* listen_table.c */
void fsk_table_init(struct fsk_net *fn, const struct fsk_net *init_fn);
void fsk_table_exit(struct fsk_net *fn);
bool fsk_table_serves_port(struct fsk_net *fn, u16 port);
/* What fsk_table_pick() found for a SYN. */
enum fsk_pick {
	FSK_PICK_UNSERVED,	/* the kernel's listener is not in a group */
	FSK_PICK_LOCAL,		/* the CPU's local listener */
	FSK_PICK_NO_LOCAL,	/* the CPU has none (*sk: see below) */
	FSK_PICK_PARKED,	/* the CPU's is parked (*sk: see below) */
	FSK_PICK_SKIPPED,	/* a BPF program or filter decides, not us */
	FSK_PICK_UNWATCHED,	/* nobody waits on the CPU's local listener */
};

enum fsk_pick fsk_table_pick(struct fsk_net *fn, const struct sock *listener,
			     unsigned int cpu, struct sock **sk,
			     bool *unwatched);
int fsk_table_park(struct fsk_net *fn, const struct sock *sk, bool park);
struct file *fsk_table_get_file(struct fsk_net *fn, const struct sock *orig,
				unsigned int cpu);
int fsk_table_insert(struct fsk_net *fn, struct sock *sk, unsigned int cpu,
		     bool registered);
void fsk_table_forget(const struct sock *sk);
void fsk_table_load(struct fsk_net *fn, kuid_t uid, unsigned int *load);
void fsk_table_show(struct seq_file *seq, struct fsk_net *fn);
void fsk_table_count_per_cpu(struct fsk_net *fn, unsigned int *count);
void fsk_table_show_quota(struct seq_file *seq, struct fsk_net *fn);

/* close_watch.c: tells the table when a local listener stops listening. */
int fsk_close_watch_start(void);
void fsk_close_watch_stop(void);

/* clone.c */
int fsk_clone_check(const struct sock *orig);
int fsk_clone_listener(struct file *orig_file, struct socket *orig,
		       unsigned int cpu, struct file **clone);

/* cpu.c */
int fsk_resolve_cpu(struct fsk_net *fn, const struct sock *orig, int req,
		    int mode);

/* pin.c: workers the module pinned (FASTSOCKET_CPU_AUTO) keep their CPU. */
int fsk_pin_current(unsigned int cpu);
int fsk_pin_start(void);
void fsk_pin_stop(void);

/* spawn.c, register.c, park.c: the commands, on checked kernel types. */
int fsk_spawn(struct file *file, struct socket *sock, int req, int mode,
	      int *cpu, struct file **local);
int fsk_register(struct socket *sock, int req, int mode);
int fsk_park(struct socket *sock, bool park);

/* steer.c */
int fsk_steer_net_init(struct net *net);
void fsk_steer_net_exit(struct net *net);

/* rfd.c: the netns's RFD port layout; false while there is none. */
bool fsk_rfd_layout(struct net *net, struct fsk_rfd_layout *out);
void fsk_rfd_show(struct seq_file *seq, struct net *net);
int fsk_rfd_owner(struct fsk_net *fn, u16 port);
void fsk_rfd_count(struct fsk_net *fn, u16 port);

/* rfd_steer.c: enable_receive_flow_deliver=1, only when loaded with it. */
int fsk_rfd_steer_start(void);
void fsk_rfd_steer_stop(void);
bool fsk_rfd_steer_available(void);
int fsk_rfd_steer_net_init(struct net *net);
void fsk_rfd_steer_net_exit(struct net *net);
void fsk_rfd_steer_flush(void);

/* proc.c */
int fsk_proc_net_init(struct net *net);
void fsk_proc_net_exit(struct net *net);

/* sysctl.c: net.fastsocket.*, a table per netns. */
int fsk_sysctl_net_init(struct net *net);
void fsk_sysctl_net_exit(struct net *net);

/* ioctl.c */
int fsk_dev_register(void);
void fsk_dev_unregister(void);

#endif /* _FASTSOCKET_FSK_H */
