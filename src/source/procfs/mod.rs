//! PLACEHOLDER: the /proc source (readdir poller, proc connector wake-up).
