//! Users and groups of exec events, shared between events.
//!
//! Every exec carries six identities (effective, real and saved user and group) and they repeat on
//! almost every event, so each is built once and shared through `Arc`. Names come from auditd's
//! ENRICHED translation when the log has one, else from the host's user database through NSS
//! (`getpwuid_r`/`getgrgid_r`, so LDAP and sssd users resolve too).

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::exec::Identity;

/// Ids at which a cache is cleared, so an attacker creating many ids cannot grow it without bound.
const MAX_CACHED: usize = 4096;

/// Whether an id is a user or a group id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A uid.
    User,
    /// A gid.
    Group,
}

/// A cache of identities by id.
#[derive(Debug, Default)]
pub struct IdentityCache {
    users: HashMap<u32, Arc<Identity>>,
    groups: HashMap<u32, Arc<Identity>>,
    /// The identity handed out last, per kind: real, effective and saved ids are usually equal.
    last: [Option<Arc<Identity>>; 2],
}

impl IdentityCache {
    /// An empty cache.
    pub fn new() -> IdentityCache {
        IdentityCache::default()
    }

    /// The identity of `id`, named by `enriched` (auditd's translation) when it is a usable name, else
    /// by the host's database.
    pub fn get(&mut self, kind: IdKind, id: u32, enriched: Option<&str>) -> Arc<Identity> {
        let enriched = enriched.filter(|n| usable_name(n));
        let slot = kind as usize;
        if let Some(last) = &self.last[slot] {
            if last.id_number == id && (enriched.is_none() || last.name.as_deref() == enriched) {
                return Arc::clone(last);
            }
        }
        let identity = self.lookup_cached(kind, id, enriched);
        self.last[slot] = Some(Arc::clone(&identity));
        identity
    }

    fn lookup_cached(&mut self, kind: IdKind, id: u32, enriched: Option<&str>) -> Arc<Identity> {
        let map = match kind {
            IdKind::User => &mut self.users,
            IdKind::Group => &mut self.groups,
        };
        if let Some(known) = map.get(&id) {
            if enriched.is_none() || known.name.as_deref() == enriched {
                return Arc::clone(known);
            }
        }
        let name = enriched.map(str::to_string).or_else(|| lookup(kind, id));
        let identity = Arc::new(Identity {
            id: id.to_string(),
            id_number: id,
            name,
        });
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(id, Arc::clone(&identity));
        identity
    }

    /// The user database's name for `id`, or `None`.
    pub fn name(&mut self, kind: IdKind, id: u32) -> Option<String> {
        self.get(kind, id, None).name.clone()
    }
}

/// A name auditd resolved (it writes `unknown(N)` or `unset` when it could not).
fn usable_name(name: &str) -> bool {
    !name.is_empty() && name != "unset" && !name.starts_with("unknown(")
}

fn lookup(kind: IdKind, id: u32) -> Option<String> {
    match kind {
        IdKind::User => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id))
            .ok()
            .flatten()
            .map(|u| u.name),
        IdKind::Group => nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id))
            .ok()
            .flatten()
            .map(|g| g.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_database_or_auditd_and_shared() {
        let mut cache = IdentityCache::new();
        let root = cache.get(IdKind::User, 0, None);
        assert_eq!(
            (root.id.as_str(), root.name.as_deref()),
            ("0", Some("root"))
        );
        assert!(Arc::ptr_eq(
            &root,
            &cache.get(IdKind::User, 0, Some("root"))
        ));
        assert_eq!(
            cache.get(IdKind::Group, 0, Some("unset")).name.as_deref(),
            Some("root")
        );
        let unknown = cache.get(IdKind::User, 4_000_000_123, Some("unknown(4000000123)"));
        assert_eq!(unknown.name, None);
        let remote = cache.get(IdKind::User, 4_000_000_123, Some("alice"));
        assert_eq!(
            remote.name.as_deref(),
            Some("alice"),
            "an ENRICHED name wins over the local database"
        );
        assert_eq!(cache.name(IdKind::Group, 4_000_000_124), None);
    }
}
