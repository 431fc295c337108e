//! User and group names from the host's user database, for logs without auditd's ENRICHED part.
//!
//! Lookups go through NSS (`getpwuid_r`/`getgrgid_r`), so LDAP and sssd users resolve too, and are cached
//! because every exec carries eight ids and the database rarely changes.

use std::collections::HashMap;

/// Ids at which the cache is cleared, so an attacker creating many ids cannot grow it without bound.
const MAX_CACHED: usize = 4096;

/// A cache of uid and gid names.
#[derive(Debug, Default)]
pub struct NameCache {
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

impl NameCache {
    /// An empty cache.
    pub fn new() -> NameCache {
        NameCache::default()
    }

    /// The user name of `uid`, or `None` when the database has none.
    pub fn user(&mut self, uid: u32) -> Option<&str> {
        if self.users.len() >= MAX_CACHED && !self.users.contains_key(&uid) {
            self.users.clear();
        }
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .as_deref()
    }

    /// The group name of `gid`, or `None` when the database has none.
    pub fn group(&mut self, gid: u32) -> Option<&str> {
        if self.groups.len() >= MAX_CACHED && !self.groups.contains_key(&gid) {
            self.groups.clear();
        }
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
                    .ok()
                    .flatten()
                    .map(|g| g.name)
            })
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_and_unknown_ids_do_not() {
        let mut cache = NameCache::new();
        assert_eq!(cache.user(0), Some("root"));
        assert_eq!(cache.group(0), Some("root"));
        assert_eq!(cache.user(4_000_000_123), None);
        assert_eq!(cache.group(4_000_000_123), None);
    }
}
