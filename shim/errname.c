/* SPDX-License-Identifier: MIT */
/* Error names shared by the table, the metrics, the spans and the events. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "errname.h"

static const struct {
	int code;
	const char *name;
} eai[] = {
	{EAI_BADFLAGS, "EAI_BADFLAGS"},	    {EAI_NONAME, "EAI_NONAME"},
	{EAI_AGAIN, "EAI_AGAIN"},	    {EAI_FAIL, "EAI_FAIL"},
	{EAI_NODATA, "EAI_NODATA"},	    {EAI_FAMILY, "EAI_FAMILY"},
	{EAI_SOCKTYPE, "EAI_SOCKTYPE"},	    {EAI_SERVICE, "EAI_SERVICE"},
	{EAI_ADDRFAMILY, "EAI_ADDRFAMILY"}, {EAI_MEMORY, "EAI_MEMORY"},
	{EAI_SYSTEM, "EAI_SYSTEM"},	    {EAI_OVERFLOW, "EAI_OVERFLOW"},
	{EAI_INPROGRESS, "EAI_INPROGRESS"}, {EAI_CANCELED, "EAI_CANCELED"},
	{EAI_NOTCANCELED, "EAI_NOTCANCELED"}, {EAI_ALLDONE, "EAI_ALLDONE"},
	{EAI_INTR, "EAI_INTR"},		    {EAI_IDN_ENCODE, "EAI_IDN_ENCODE"},
};

const char *shim_err_name(int err, char *buf, size_t size)
{
	const char *n;

	if (err < 0) {
		for (size_t i = 0; i < sizeof(eai) / sizeof(eai[0]); i++)
			if (eai[i].code == err)
				return eai[i].name;
	} else if ((n = strerrorname_np(err)) != NULL) {
		return n;
	}
	snprintf(buf, size, "%d", err);
	return buf;
}
