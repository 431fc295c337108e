# execwatch %preun ($1: 0 erase, 1 upgrade): stop and disable on erase.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now execwatch.service >/dev/null 2>&1 || :
	else
		systemctl --no-reload disable execwatch.service >/dev/null 2>&1 || :
	fi
fi
exit 0
