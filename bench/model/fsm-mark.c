// SPDX-License-Identifier: GPL-2.0
/*
 * fsm-mark - mark a cost-model phase from the guest's shell.
 *
 *   fsm-mark begin ID [NAME]    ID in 0..4095, NAME up to 63 printable bytes
 *   fsm-mark end ID
 *
 * Without the plugin this does nothing visible. A phase begun here also
 * counts this program's own exit and whatever the shell does next; for
 * exact counts, mark from the measured program with fsm-mark.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm-mark.h"

static void usage(void)
{
	fprintf(stderr, "usage: fsm-mark begin ID [NAME] | fsm-mark end ID\n"
			"  ID: 0..%d; NAME: up to %d printable bytes\n",
		FSM_PHASE_ID_MAX, FSM_PHASE_NAME_MAX);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long id;
	char *end;

	if (argc < 3)
		usage();
	id = strtoul(argv[2], &end, 0);
	if (*end || end == argv[2] || id > FSM_PHASE_ID_MAX)
		usage();
	if (!strcmp(argv[1], "begin") && argc <= 4)
		fsm_phase_begin((unsigned int)id, argc == 4 ? argv[3] : "");
	else if (!strcmp(argv[1], "end") && argc == 3)
		fsm_phase_end((unsigned int)id);
	else
		usage();
	return 0;
}
