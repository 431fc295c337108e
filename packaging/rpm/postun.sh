# execwatch %postun ($1: 0 erase, 1 upgrade).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
	# rpm has no purge: the checkpoint goes, the alert log stays (evidence); remove
	# /var/log/execwatch by hand when it is no longer needed.
	rm -rf /var/lib/execwatch
	# rpm has removed /etc/audit/rules.d/execwatch.rules (or saved an edited one as .rpmsave).
	if command -v augenrules >/dev/null 2>&1 && [ -d /etc/audit/rules.d ] \
		&& { pidof auditd || pgrep -x auditd; } >/dev/null 2>&1; then
		augenrules --load >/dev/null 2>&1 || :
	elif command -v auditctl >/dev/null 2>&1; then
		auditctl -D -k execwatch >/dev/null 2>&1 || :
	fi
fi
exit 0
