/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * fastsocket: the contract between the kernel module (kmod/fastsocket.ko)
 * and its users (libshim/libfastsocket.so, tools/, the tests).
 *
 * Rules of this ABI:
 *  - Every struct has a fixed size, explicit padding and reserved fields.
 *    Reserved fields and unknown flag bits must be zero on input; the
 *    module fails the call with EINVAL otherwise, so they can be given a
 *    meaning later without breaking old callers.
 *  - FASTSOCKET_ABI_VERSION changes only when an existing struct or
 *    command changes meaning. New commands and new feature bits do not
 *    change it: callers test FASTSOCKET_IOC_INFO's features instead.
 */
#ifndef _UAPI_LINUX_FASTSOCKET_H
#define _UAPI_LINUX_FASTSOCKET_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define FASTSOCKET_ABI_VERSION		1
#define FASTSOCKET_DEVICE_NAME		"fastsocket"
#define FASTSOCKET_DEVICE_PATH		"/dev/fastsocket"

/* Features the loaded module implements (fastsocket_info.features). */
#define FASTSOCKET_FEAT_SPAWN		(1U << 0)	/* FASTSOCKET_IOC_SPAWN */
#define FASTSOCKET_FEAT_STEER_IPV4	(1U << 1)	/* SYN steering, IPv4 */
#define FASTSOCKET_FEAT_STEER_IPV6	(1U << 2)	/* SYN steering, IPv6 */
#define FASTSOCKET_FEAT_REGISTER	(1U << 3)	/* FASTSOCKET_IOC_REGISTER */
#define FASTSOCKET_FEAT_PARK		(1U << 4)	/* FASTSOCKET_IOC_PARK */
#define FASTSOCKET_FEAT_RFD_PORTS	(1U << 5)	/* fastsocket_info.rfd_* valid */
#define FASTSOCKET_FEAT_RFD_STEER	(1U << 6)	/* the module steers RFD ports */

/*
 * enable_listen_spawn values (module parameter, sysctl
 * net.fastsocket.listen_spawn and FASTSOCKET_MODE).
 */
#define FASTSOCKET_SPAWN_OFF		0	/* no local listeners */
#define FASTSOCKET_SPAWN_APP_PINS	1	/* the worker pins itself */
#define FASTSOCKET_SPAWN_AUTO		2	/* the module picks and pins */

/*
 * enable_receive_flow_deliver values (module parameter).
 */
#define FASTSOCKET_RFD_OFF		0	/* no port blocks */
#define FASTSOCKET_RFD_STEER		1	/* port blocks, the module steers */
#define FASTSOCKET_RFD_PORTS		2	/* port blocks only: the NIC or XDP steers */

/*
 * Receive flow deliver (RFD) port layout. The ports [lo, lo + ncpus *
 * block - 1] are cut into ncpus blocks of block ports each, one per CPU:
 * CPU c owns [lo + c * block, lo + (c + 1) * block - 1]. A connection
 * whose local port is in c's block belongs on c; where its packets are
 * processed follows from the port alone, so the steering (NIC ntuple
 * rules today) needs no flow table. The module, the shim, tools/ and the
 * tests all answer "whose port is this" with this one function, so they
 * cannot disagree about the edges.
 */

/**
 * fastsocket_rfd_owner() - the CPU whose RFD port block holds a port
 * @port: a local TCP port
 * @lo: the first port of CPU 0's block
 * @block: ports per block
 * @ncpus: number of blocks (CPUs 0 .. @ncpus - 1)
 *
 * Return: the owning CPU, or -1 when @port is below @lo, beyond the last
 * whole block (the remainder of a range that does not divide evenly is
 * nobody's), or the layout is empty (@block or @ncpus zero).
 */
static inline int fastsocket_rfd_owner(__u16 port, __u16 lo, __u32 block,
				       __u32 ncpus)
{
	__u32 slot;

	if (block == 0 || ncpus == 0 || port < lo)
		return -1;
	slot = ((__u32)port - lo) / block;
	if (slot >= ncpus)
		return -1;
	return (int)slot;
}

/**
 * struct fastsocket_info - what the loaded module is and does
 * @abi_version: FASTSOCKET_ABI_VERSION of the module
 * @features: FASTSOCKET_FEAT_* bits
 * @enable_listen_spawn: net.fastsocket.listen_spawn of the caller's netns
 * @enable_fast_epoll: current value of the module parameter
 * @enable_receive_flow_deliver: current value of the module parameter
 * @nr_cpu_ids: highest possible CPU number + 1
 * @rfd_port_lo: with FASTSOCKET_FEAT_RFD_PORTS, the caller's netns's RFD
 *	port layout (fastsocket_rfd_owner()): the first port of CPU 0's block
 * @rfd_pad: zero
 * @rfd_block: ports per block
 * @rfd_ncpus: number of blocks
 * @reserved: zero on input and output
 *
 * Output only; the caller passes it zeroed. The rfd_* fields are zero
 * unless FASTSOCKET_FEAT_RFD_PORTS is set: the module then has port
 * blocks on (enable_receive_flow_deliver 1 or 2) and a layout for the
 * caller's netns, fixed when first asked for and kept while the netns
 * lives.
 */
struct fastsocket_info {
	__u32 abi_version;
	__u32 features;
	__u32 enable_listen_spawn;
	__u32 enable_fast_epoll;
	__u32 enable_receive_flow_deliver;
	__u32 nr_cpu_ids;
	__u16 rfd_port_lo;
	__u16 rfd_pad;
	__u32 rfd_block;
	__u32 rfd_ncpus;
	__u32 reserved[7];
};

/* fastsocket_spawn.cpu on input: a CPU number >= 0, or one of these. */
#define FASTSOCKET_CPU_CURRENT	(-1)	/* the one CPU the caller is pinned to */
#define FASTSOCKET_CPU_AUTO	(-2)	/* least-loaded allowed CPU; pin caller */

/**
 * struct fastsocket_spawn - get a CPU-local listener for a listening socket
 * @fd: in: a listening TCP socket (IPv4 or IPv6) of the caller, with
 *	SO_REUSEPORT set before bind
 * @cpu: in: CPU number, FASTSOCKET_CPU_CURRENT or FASTSOCKET_CPU_AUTO;
 *	out: the CPU the local listener serves
 * @flags: in: zero (no flags defined yet)
 * @local_fd: out: a new close-on-exec fd of the local listener
 * @reserved: zero
 *
 * The local listener is bound with the credentials of whoever opened @fd,
 * to exactly @fd's address and device, and joins @fd's SO_REUSEPORT group.
 * If the CPU already has a local listener for that group, @local_fd is a
 * new fd of that same socket, resumed if it was parked
 * (FASTSOCKET_IOC_PARK). The local listener carries what accepted
 * connections inherit from @fd (Documentation/limits.md lists it); a
 * listener whose protection a copy could not carry is refused.
 * FASTSOCKET_CPU_AUTO picks the CPU with the fewest local-listener fds of
 * the same owner's listeners in the caller's network namespace, and pins
 * the caller there (again after that CPU goes offline and comes back).
 * Errors (besides the usual EFAULT):
 *	EBADF		@fd is not open
 *	ENOTSOCK	@fd is not a socket
 *	EOPNOTSUPP	not a TCP socket, or the caller's netns has
 *			net.fastsocket.listen_spawn 0, or @fd has
 *			a socket filter (SO_ATTACH_FILTER/SO_ATTACH_BPF), an
 *			IPsec policy (IP_XFRM_POLICY/IPV6_XFRM_POLICY), TCP-MD5
 *			or TCP-AO keys, or a ULP (TCP_ULP)
 *	EINVAL		not listening, bad @cpu value, flags or reserved set,
 *			FASTSOCKET_CPU_CURRENT while not pinned to one CPU,
 *			FASTSOCKET_CPU_AUTO while listen_spawn != 2
 *	ENOPROTOOPT	@fd has no SO_REUSEPORT
 *	ENXIO		@cpu is offline (an explicit @cpu need not be one the
 *			caller may run on), or no allowed CPU is online
 *	EXDEV		@fd belongs to another network namespace
 *	EBUSY		@cpu's slot for @fd's address holds a socket SPAWN may
 *			not hand out: a registered one (FASTSOCKET_IOC_REGISTER)
 *			or one of another SO_REUSEPORT group
 *	ENOMEM		out of memory (charged to the caller's memory cgroup)
 *	EMFILE		the caller's file descriptor limit is reached
 *	ENFILE		no file for the new socket (the system-wide limit, or
 *			an allocation failed where the kernel says so)
 *	ENOBUFS		no memory for the new socket (as socket(2) says it)
 *	EDQUOT		a new local listener would pass the caller's netns's
 *			net.fastsocket.max_local_listeners, or
 *			max_local_listeners_per_user for @fd's owner (the
 *			uid that created @fd's socket); a new fd of the
 *			CPU's existing local listener is never refused so
 *			(Documentation/limits.md)
 *	EINTR		the caller was killed while waiting for another
 *			placement in its network namespace
 */
struct fastsocket_spawn {
	__s32 fd;
	__s32 cpu;
	__u32 flags;
	__s32 local_fd;
	__u32 reserved[4];
};

/**
 * struct fastsocket_register - make one of the caller's own listening
 *	sockets the local listener of a CPU
 * @fd: in: a listening TCP socket (IPv4 or IPv6) of the caller, with
 *	SO_REUSEPORT set before bind; typically one of a server's own
 *	per-worker sockets (nginx "listen ... reuseport")
 * @cpu: in: CPU number or FASTSOCKET_CPU_CURRENT (not _AUTO: the caller
 *	places itself)
 * @flags: in: zero (no flags defined yet)
 * @reserved: zero
 *
 * From then on, SYNs that @cpu takes for @fd's address are steered to
 * @fd's socket, as to a spawned local listener, until the socket stops
 * listening. The socket itself is not changed and no fd is created.
 * Registering a socket again for the CPU it serves succeeds and does
 * nothing. A registered socket keeps its own filter and keys: SYNs
 * steered to it meet them. Errors: as for FASTSOCKET_IOC_SPAWN (EINVAL
 * also for FASTSOCKET_CPU_AUTO and for a socket that stopped listening;
 * no EOPNOTSUPP for filters or keys; no EMFILE, ENFILE or ENOBUFS: no
 * socket or fd is made), and
 *	EBUSY		@cpu already has another local listener for @fd's
 *			address, or @fd's socket serves another address group
 *	EEXIST		@fd's socket is already the local listener of
 *			another CPU
 *	EDQUOT		as for SPAWN: registering counts against the same
 *			limits, once per socket (again for the CPU it
 *			serves, it is not counted again)
 */
struct fastsocket_register {
	__s32 fd;
	__s32 cpu;
	__u32 flags;
	__u32 reserved[5];
};

/* fastsocket_park.flags */
#define FASTSOCKET_PARK_ON	(1U << 0)	/* park; without it: resume */

/**
 * struct fastsocket_park - stop or resume steering SYNs to a local listener
 * @fd: in: an fd of a local listener made by FASTSOCKET_IOC_SPAWN
 * @flags: in: FASTSOCKET_PARK_ON to park it, 0 to resume
 * @reserved: zero
 *
 * For a worker that stops accepting for a while without closing (nginx
 * with accept_mutex on, while another worker holds the mutex): closing
 * a listener under load can reset a handshake that completes just then,
 * parking cannot. While parked, the steering hook gives the listener no
 * SYN, neither its CPU's nor one the kernel's own reuseport choice would
 * give it: such SYNs go to another listening member of the group (the
 * original listener or an unparked local one). Connections already queued
 * on it stay there for its worker to accept, or move to the group with
 * net.ipv4.tcp_migrate_req=1 when it closes. A SYN that meets a TIME_WAIT
 * socket is the kernel's (it may still pick a parked listener). Workers
 * sharing a CPU's local listener share its state: the last call wins, and
 * a FASTSOCKET_IOC_SPAWN that returns it resumes it.
 * Errors (besides EFAULT):
 *	EBADF		@fd is not open
 *	ENOTSOCK	@fd is not a socket
 *	ENOENT		not a local listener made by FASTSOCKET_IOC_SPAWN
 *			(registered sockets cannot be parked)
 *	EINVAL		unknown flags or reserved set
 */
struct fastsocket_park {
	__s32 fd;
	__u32 flags;
	__u32 reserved[2];
};

#define FASTSOCKET_IOC_MAGIC	0xFA
#define FASTSOCKET_IOC_INFO	_IOR(FASTSOCKET_IOC_MAGIC, 0x00, struct fastsocket_info)
#define FASTSOCKET_IOC_SPAWN	_IOWR(FASTSOCKET_IOC_MAGIC, 0x01, struct fastsocket_spawn)
#define FASTSOCKET_IOC_REGISTER	_IOW(FASTSOCKET_IOC_MAGIC, 0x02, struct fastsocket_register)
#define FASTSOCKET_IOC_PARK	_IOW(FASTSOCKET_IOC_MAGIC, 0x03, struct fastsocket_park)

#endif /* _UAPI_LINUX_FASTSOCKET_H */
