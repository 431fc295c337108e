# execwatch %post ($1: 1 install, 2 upgrade): folders, audit rules, the systemd unit.
mkdir -p /var/lib/execwatch /var/log/execwatch
chown root:root /var/lib/execwatch /var/log/execwatch
chmod 0700 /var/lib/execwatch
chmod 0750 /var/log/execwatch
# Loaded now only when auditd runs: with rules and no auditd the kernel would print every exec to its log.
if command -v augenrules >/dev/null 2>&1; then
	if ! { pidof auditd || pgrep -x auditd; } >/dev/null 2>&1; then
		echo "execwatch: auditd is not running: the exec audit rules are loaded when it starts"
	elif augenrules --load >/dev/null 2>&1; then
		echo "execwatch: audit rules loaded (/etc/audit/rules.d/execwatch.rules)"
	else
		echo "execwatch: could not load the audit rules now (not permitted here, or immutable audit configuration); they are loaded when auditd starts"
	fi
else
	echo "execwatch: auditd (package audit) is not installed: the agent watches /proc only and may miss very short-lived processes; install audit for complete coverage"
fi
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	# Works offline too (symlinks only).
	systemctl --no-reload enable execwatch.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -eq 1 ]; then
		systemctl start execwatch.service >/dev/null 2>&1 || :
	else
		systemctl try-restart execwatch.service >/dev/null 2>&1 || :
	fi
else
	echo "execwatch: systemd is not running: the agent was not started"
fi
exit 0
