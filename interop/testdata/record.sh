#!/bin/sh
# record.sh is the interop tests' exec handler. It appends one tab-separated line per run to
# $INTEROP_RECORD: handler key, QCTL_JOB_NAME, QCTL_JOB_QUEUE, QCTL_JOB_ATTEMPTS, QCTL_JOB_UUID,
# the unix second it ran, and the payload it read on stdin (one line of JSON).
# With INTEROP_REFUSE_UNLESS set it fails (exit 3, reason on stderr) until that file exists.
set -eu
if [ -n "${INTEROP_REFUSE_UNLESS:-}" ] && [ ! -e "$INTEROP_REFUSE_UNLESS" ]; then
	echo "record.sh refused job $QCTL_JOB_UUID on purpose" >&2
	exit 3
fi
payload=$(cat)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$INTEROP_HANDLER" "$QCTL_JOB_NAME" "$QCTL_JOB_QUEUE" \
	"$QCTL_JOB_ATTEMPTS" "$QCTL_JOB_UUID" "$(date +%s)" "$payload" >>"$INTEROP_RECORD"
