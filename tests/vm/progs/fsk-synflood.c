// SPDX-License-Identifier: GPL-2.0
/*
 * fsk-synflood: send TCP SYNs from spoofed sources as fast as one thread
 * can, for at most --count packets and --seconds seconds, then print what
 * it sent. For tests/vm/t-synflood.sh only: it runs in a network
 * namespace the test made, towards the address the test gave it.
 *
 *   fsk-synflood --dst A.B.C.D --port P --src-net A.B.C.D/LEN
 *                [--count N] [--seconds S] [--seed X]
 *
 * Sources are random addresses of --src-net (the server's side routes
 * them nowhere, so no handshake completes) and random ports; sequence
 * numbers are random. The seed is printed, and --seed repeats a run.
 * Output: "sent=N seconds=S rate=R seed=X"; exit 0, or 1 if a send
 * failed for a reason other than a full queue (ENOBUFS), 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct pkt {
	/* IPv4 header, no options (IP_HDRINCL: the kernel fills in the
	 * checksum, and the total length and id where they are 0). */
	uint8_t ver_ihl, tos;
	uint16_t tot_len, id, frag_off;
	uint8_t ttl, protocol;
	uint16_t check;
	uint32_t saddr, daddr;
	/* TCP header, no options. */
	uint16_t sport, dport;
	uint32_t seq, ack_seq;
	uint8_t doff, flags;
	uint16_t window, tcheck, urg;
} __attribute__((packed));

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64*: fast, and the same sequence for the same seed. */
static uint64_t rnd_state;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (uint32_t)((rnd_state * 2685821657736338717ULL) >> 32);
}

static uint32_t sum16(const void *p, size_t len, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)(b[len - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The TCP checksum over the pseudo-header and the 20-byte header. */
static uint16_t tcp_check(const struct pkt *p)
{
	uint8_t pseudo[12];
	uint32_t s;

	memcpy(pseudo, &p->saddr, 4);
	memcpy(pseudo + 4, &p->daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = 20;
	s = sum16(pseudo, sizeof(pseudo), 0);
	s = sum16(&p->sport, 20, s);
	return htons(fold(s));
}

static int parse_net(const char *arg, uint32_t *base, uint32_t *mask)
{
	char buf[32];
	char *slash;
	struct in_addr a;
	long len;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	len = strtol(slash + 1, NULL, 10);
	if (len < 8 || len > 30 || inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*mask = (uint32_t)(0xffffffffULL << (32 - len));
	*base = ntohl(a.s_addr) & *mask;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fsk-synflood --dst A.B.C.D --port P --src-net A.B.C.D/LEN [--count N] [--seconds S] [--seed X]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", 1, 0, 'd' }, { "port", 1, 0, 'p' },
		{ "src-net", 1, 0, 'n' }, { "count", 1, 0, 'c' },
		{ "seconds", 1, 0, 's' }, { "seed", 1, 0, 'S' }, { 0 }
	};
	const char *dst = NULL, *net = NULL;
	long count = 1000000, port = 0;
	double seconds = 10, start, took;
	uint64_t seed = 0;
	uint32_t base = 0, mask = 0;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct pkt p = { 0 };
	long sent = 0, full = 0;
	int fd, o, bad = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dst = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'n': net = optarg; break;
		case 'c': count = strtol(optarg, NULL, 10); break;
		case 's': seconds = strtod(optarg, NULL); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		default: return usage();
		}
	}
	if (!dst || !net || port < 1 || port > 65535 || count < 1 ||
	    seconds <= 0 || inet_pton(AF_INET, dst, &to.sin_addr) != 1 ||
	    parse_net(net, &base, &mask))
		return usage();
	if (!seed)
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)(now() * 1e6);
	rnd_state = seed | 1;

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		fprintf(stderr, "fsk-synflood: raw socket: %s\n", strerror(errno));
		return 1;
	}
	p.ver_ihl = 0x45;
	p.ttl = 64;
	p.protocol = IPPROTO_TCP;
	p.daddr = to.sin_addr.s_addr;
	p.dport = htons((uint16_t)port);
	p.doff = 5 << 4;
	p.flags = 0x02;	/* SYN */
	p.window = htons(64240);

	start = now();
	while (sent < count) {
		/* The clock every 256 packets: bounded in time too. */
		if ((sent & 255) == 0 && now() - start >= seconds)
			break;
		p.saddr = htonl(base | (rnd() & ~mask));
		p.sport = htons((uint16_t)(1024 + rnd() % 64000));
		p.seq = rnd();
		p.tcheck = 0;
		p.tcheck = tcp_check(&p);
		if (sendto(fd, &p, sizeof(p), 0, (struct sockaddr *)&to,
			   sizeof(to)) == (ssize_t)sizeof(p)) {
			sent++;
		} else if (errno == ENOBUFS || errno == EAGAIN) {
			full++;
		} else {
			fprintf(stderr, "fsk-synflood: sendto: %s\n", strerror(errno));
			bad = 1;
			break;
		}
	}
	took = now() - start;
	close(fd);
	printf("sent=%ld\nqueue_full=%ld\nseconds=%.1f\nrate=%.0f\nseed=%#llx\n",
	       sent, full, took, took > 0 ? sent / took : 0.0,
	       (unsigned long long)seed);
	return bad;
}
