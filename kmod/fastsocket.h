/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces between the files of the fastsocket module.
 * Each file owns one mechanism; this header is the seam between them.
 */
#ifndef _FASTSOCKET_INTERNAL_H
#define _FASTSOCKET_INTERNAL_H

#include <linux/types.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/in6.h>
#include <net/net_namespace.h>
#include <net/sock.h>

struct socket;
struct file;
struct seq_file;

/* main.c: module parameters, read with READ_ONCE() (writable at runtime). */
extern int fsk_listen_spawn;
extern int fsk_fast_epoll;
extern int fsk_receive_flow_deliver;

/* Counters of one netns on one CPU (proc.c shows them, steer.c bumps them). */
struct fsk_stats {
	u64 steered;	/* SYNs assigned to this CPU's local listener */
	u64 no_local;	/* SYNs for a served address on a CPU without one */
	u64 existing;	/* SYNs of a flow the kernel knows (TIME_WAIT...) */
	u64 parked;	/* SYNs on a CPU whose local listener is parked */
};

#define FSK_PORT_BUCKETS 64

/*
 * Per-netns state (net_generic). Lives exactly as long as the netns:
 * allocated by the pernet core before fsk_net_init(), freed after
 * fsk_net_exit(), which empties the table first.
 */
struct fsk_net {
	spinlock_t lock;	/* serialises table writers; BH-safe */
	struct hlist_head buckets[FSK_PORT_BUCKETS];	/* fsk_group, RCU */
	struct fsk_stats __percpu *stats;
};

struct fsk_net *fsk_net(const struct net *net);

/* An IPv4 or IPv6 TCP socket: the only kind with local listeners. */
static inline bool fsk_sk_is_tcp(const struct sock *sk)
{
	return (sk->sk_family == AF_INET || sk->sk_family == AF_INET6) &&
	       sk->sk_type == SOCK_STREAM && sk->sk_protocol == IPPROTO_TCP;
}

/* listen_table.c */
int fsk_table_init(struct fsk_net *fn);
void fsk_table_exit(struct fsk_net *fn);
bool fsk_table_serves_port(struct fsk_net *fn, u16 port);
/* What fsk_table_pick() found for a SYN. */
enum fsk_pick {
	FSK_PICK_UNSERVED,	/* the kernel's listener is not in a group */
	FSK_PICK_LOCAL,		/* the CPU's local listener */
	FSK_PICK_NO_LOCAL,	/* the CPU has none (*sk: see below) */
	FSK_PICK_PARKED,	/* the CPU's is parked (*sk: see below) */
};

enum fsk_pick fsk_table_pick(struct fsk_net *fn, const struct sock *listener,
			     unsigned int cpu, struct sock **sk);
int fsk_table_park(struct fsk_net *fn, const struct sock *sk, bool park);
struct file *fsk_table_get_file(struct fsk_net *fn, const struct sock *orig,
				unsigned int cpu);
int fsk_table_insert(struct fsk_net *fn, struct sock *sk, unsigned int cpu,
		     bool registered);
void fsk_table_forget(const struct sock *sk);
unsigned int fsk_cpu_load(unsigned int cpu);
void fsk_table_show(struct seq_file *seq, struct fsk_net *fn);
void fsk_table_count_per_cpu(struct fsk_net *fn, unsigned int *count);

/* close_watch.c: tells the table when a local listener stops listening. */
int fsk_close_watch_start(void);
void fsk_close_watch_stop(void);

/* clone.c */
int fsk_clone_listener(struct file *orig_file, struct socket *orig,
		       unsigned int cpu, struct file **clone);

/* spawn.c */
extern struct mutex fsk_spawn_mutex;	/* serialises spawn and register */
struct fd;
int fsk_fdget_listener(int fd, struct fd *f, struct socket **sock);
int fsk_resolve_cpu(int req, int mode);
long fsk_ioctl_spawn(void __user *uarg);

/* register.c */
long fsk_ioctl_register(void __user *uarg);

/* park.c */
long fsk_ioctl_park(void __user *uarg);

/* steer.c */
int fsk_steer_net_init(struct net *net);
void fsk_steer_net_exit(struct net *net);

/* proc.c */
int fsk_proc_net_init(struct net *net);
void fsk_proc_net_exit(struct net *net);

/* ioctl.c */
int fsk_dev_register(void);
void fsk_dev_unregister(void);

#endif /* _FASTSOCKET_INTERNAL_H */
