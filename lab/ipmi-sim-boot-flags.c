/*
 * An ipmi_sim module (lan.conf `loadlib`) that keeps the whole IPMI boot flags (Set/Get System Boot Options,
 * parameter 5) instead of only the boot device.
 *
 * ipmi_sim's own handler passes the device selector to the chassis_control program and drops data byte 1: the
 * "boot flags valid" bit, the "persistent" bit and the BIOS/EFI bit. So a lab BMC could not tell a one-time
 * override from a persistent one, and kept "force PXE" for every later boot, which a real BMC does not. This
 * module hands byte 1 to the same program (environment IPMI_BOOT_FLAGS, two hex digits) with the device
 * (`set boot <device>`, the call ipmi_sim makes), and answers reads from what the program reports
 * (`get boot` prints `boot:<device>` and `flags:<hex>`). The program decides what a power-on does with them
 * (lab/ipmi-bmc.ts: a one-time override is used by the next power-on, then cleared).
 *
 * The init string is the chassis_control program's path. Parameters 0 (set in progress), 3 (valid bit
 * clearing) and 4 (boot info acknowledge) are accepted and remembered, as ipmitool sets them around parameter 5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include <OpenIPMI/serv.h>
#include <OpenIPMI/mcserv.h>
#include <OpenIPMI/ipmi_msgbits.h>
#include <OpenIPMI/ipmi_err.h>

#define PARAM_UNSUPPORTED_CC 0x80

static char *chassis_program;
static unsigned char set_in_progress;
static unsigned char valid_bit_clearing;
static unsigned char boot_info_ack[2];

/* ipmi_sim's names for the device selector (data byte 2, bits 5:2), as its chassis_control program gets them. */
static const char *device_names[16] = {
    [0] = "none", [1] = "pxe", [2] = "default", [3] = "safe", [4] = "diag",
    [5] = "cdrom", [6] = "bios", [15] = "floppy",
};

static int device_code(const char *name)
{
    int i;

    for (i = 0; i < 16; i++)
	if (device_names[i] && strcmp(device_names[i], name) == 0)
	    return i;
    return -1;
}

/* Runs the program with `set boot <device>`, byte 1 in its environment. 0 on success. */
static int set_boot(int device, unsigned char flags)
{
    char cmd[4096], env[8];
    const char *name = device_names[device & 0xf];

    if (!name)
	return EINVAL;
    snprintf(env, sizeof(env), "%02x", flags);
    if (setenv("IPMI_BOOT_FLAGS", env, 1))
	return errno;
    snprintf(cmd, sizeof(cmd), "'%s' set boot %s", chassis_program, name);
    return system(cmd) == 0 ? 0 : EIO;
}

/* Reads `boot:<device>` and `flags:<hex>` from `get boot`. 0 on success. */
static int get_boot(int *device, unsigned char *flags)
{
    char cmd[4096], line[256];
    FILE *f;
    int found = 0;

    *device = 0;
    *flags = 0;
    snprintf(cmd, sizeof(cmd), "'%s' get boot", chassis_program);
    f = popen(cmd, "r");
    if (!f)
	return errno;
    while (fgets(line, sizeof(line), f)) {
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "boot:", 5) == 0) {
	    int d = device_code(line + 5);
	    if (d >= 0) {
		*device = d;
		found = 1;
	    }
	} else if (strncmp(line, "flags:", 6) == 0) {
	    *flags = (unsigned char) strtoul(line + 6, NULL, 16);
	}
    }
    if (pclose(f) != 0 || !found)
	return EIO;
    return 0;
}

static void set_options(lmc_data_t *mc, msg_t *msg, unsigned char *rdata, unsigned int *rdata_len,
			void *cb_data)
{
    rdata[0] = 0;
    *rdata_len = 1;
    if (msg->len < 2) {
	rdata[0] = IPMI_REQUEST_DATA_LENGTH_INVALID_CC;
	return;
    }
    switch (msg->data[0] & 0x7f) {
    case 0:
	set_in_progress = msg->data[1] & 0x3;
	break;
    case 3:
	valid_bit_clearing = msg->data[1] & 0x1f;
	break;
    case 4:
	if (msg->len < 3) {
	    rdata[0] = IPMI_REQUEST_DATA_LENGTH_INVALID_CC;
	    return;
	}
	/* Byte 1 is a write mask for byte 2: only the bits it names change. */
	boot_info_ack[0] = (boot_info_ack[0] & ~msg->data[1]) | (msg->data[2] & msg->data[1]);
	break;
    case 5:
	if (msg->len < 6) {
	    rdata[0] = IPMI_REQUEST_DATA_LENGTH_INVALID_CC;
	    return;
	}
	if (set_boot((msg->data[2] >> 2) & 0xf, msg->data[1] & 0xe0))
	    rdata[0] = IPMI_UNKNOWN_ERR_CC;
	break;
    default:
	rdata[0] = PARAM_UNSUPPORTED_CC;
	break;
    }
}

static void get_options(lmc_data_t *mc, msg_t *msg, unsigned char *rdata, unsigned int *rdata_len,
			void *cb_data)
{
    int device;
    unsigned char flags;

    if (msg->len < 3) {
	rdata[0] = IPMI_REQUEST_DATA_LENGTH_INVALID_CC;
	*rdata_len = 1;
	return;
    }
    rdata[0] = 0;
    rdata[1] = 1; /* parameter version */
    rdata[2] = msg->data[0] & 0x7f;
    switch (msg->data[0] & 0x7f) {
    case 0:
	rdata[3] = set_in_progress;
	*rdata_len = 4;
	break;
    case 3:
	rdata[3] = valid_bit_clearing;
	*rdata_len = 4;
	break;
    case 4:
	rdata[3] = 0x1f; /* every acknowledge bit may be written */
	rdata[4] = boot_info_ack[0];
	*rdata_len = 5;
	break;
    case 5:
	if (get_boot(&device, &flags)) {
	    rdata[0] = IPMI_UNKNOWN_ERR_CC;
	    *rdata_len = 1;
	    return;
	}
	rdata[3] = flags & 0xe0;
	rdata[4] = (unsigned char) (device << 2);
	rdata[5] = 0;
	rdata[6] = 0;
	rdata[7] = 0;
	*rdata_len = 8;
	break;
    default:
	rdata[0] = PARAM_UNSUPPORTED_CC;
	*rdata_len = 1;
	break;
    }
}

int ipmi_sim_module_init(sys_data_t *sys, const char *initstr)
{
    int rv;

    if (!initstr || !*initstr || strchr(initstr, '\''))
	return EINVAL;
    chassis_program = strdup(initstr);
    if (!chassis_program)
	return ENOMEM;
    rv = ipmi_emu_register_cmd_handler(IPMI_CHASSIS_NETFN, IPMI_SET_SYSTEM_BOOT_OPTIONS_CMD, set_options, NULL);
    if (!rv)
	rv = ipmi_emu_register_cmd_handler(IPMI_CHASSIS_NETFN, IPMI_GET_SYSTEM_BOOT_OPTIONS_CMD, get_options, NULL);
    return rv;
}
