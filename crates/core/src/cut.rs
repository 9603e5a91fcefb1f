//! The cut: per-vgroup TMQ offsets (WAL versions) up to which events have been applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Offsets per vgroup on one topic. Opaque to the engine; capture fills it in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    /// The TMQ topic the offsets belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// vgroup id -> next WAL version to read.
    #[serde(default)]
    pub vgroups: BTreeMap<i32, i64>,
}

impl Cut {
    pub fn new(topic: impl Into<String>) -> Self {
        Cut {
            topic: Some(topic.into()),
            vgroups: BTreeMap::new(),
        }
    }

    pub fn offset(&self, vgroup_id: i32) -> Option<i64> {
        self.vgroups.get(&vgroup_id).copied()
    }

    pub fn set(&mut self, vgroup_id: i32, offset: i64) {
        self.vgroups.insert(vgroup_id, offset);
    }

    /// Whether every vgroup of `other` is at or before this cut.
    pub fn covers(&self, other: &Cut) -> bool {
        other
            .vgroups
            .iter()
            .all(|(vg, off)| self.offset(*vg).is_some_and(|mine| mine >= *off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_compares_per_vgroup() {
        let mut a = Cut::new("t");
        a.set(2, 10);
        a.set(3, 5);
        let mut b = Cut::new("t");
        b.set(2, 9);
        assert!(a.covers(&b));
        b.set(3, 6);
        assert!(!a.covers(&b));
        b.set(3, 5);
        b.set(4, 0);
        assert!(!a.covers(&b));
        assert_eq!(a.offset(2), Some(10));
    }
}
