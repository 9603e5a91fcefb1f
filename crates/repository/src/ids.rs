//! Names of things in a repository: a block's and a pack's content hash, a backup's id.
//! Each is its own type so that a pack id is never taken for a block hash.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RepoError;

macro_rules! hash_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The BLAKE3 hash naming a ", $what, ", shown as 64 hex digits.")]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The hash of `bytes`.
            pub fn of(bytes: &[u8]) -> Self {
                $name(*blake3::hash(bytes).as_bytes())
            }

            pub fn to_hex(&self) -> String {
                blake3::Hash::from(self.0).to_hex().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = RepoError;
            fn from_str(s: &str) -> Result<Self, RepoError> {
                blake3::Hash::from_hex(s)
                    .map(|h| $name(*h.as_bytes()))
                    .map_err(|_| RepoError::BadName {
                        what: $what,
                        name: s.to_string(),
                    })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Borrowed when it can be: a manifest holds two hashes per block.
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash_id!(BlockHash, "block");
hash_id!(PackId, "pack");

/// A backup's id: its start time in UTC and a random suffix, `20261124T221500Z-3fa2c1`.
/// Ids sort by time, which is the order of a chain.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BackupId(String);

impl BackupId {
    /// A new id for a backup starting at `unix_ms`; `salt` makes ids taken in the same
    /// second differ (the process id and a counter are enough).
    pub fn new(unix_ms: i64, salt: &[u8]) -> BackupId {
        let (date, time) = civil_utc(unix_ms.div_euclid(1000));
        let mut h = blake3::Hasher::new();
        h.update(&unix_ms.to_le_bytes());
        h.update(salt);
        let suffix = &h.finalize().to_hex()[..6];
        BackupId(format!("{date}T{time}Z-{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BackupId {
    type Err = RepoError;
    /// Accepts exactly `YYYYMMDDTHHMMSSZ-xxxxxx` (lowercase hex): ids become file names.
    fn from_str(s: &str) -> Result<Self, RepoError> {
        let b = s.as_bytes();
        let ok = b.len() == 23
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'T'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'Z'
            && b[16] == b'-'
            && b[17..]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        if ok {
            Ok(BackupId(s.to_string()))
        } else {
            Err(RepoError::BadName {
                what: "backup",
                name: s.to_string(),
            })
        }
    }
}

impl Serialize for BackupId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BackupId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// (`YYYYMMDD`, `HHMMSS`) of a Unix time in seconds, proleptic Gregorian, UTC
/// (Howard Hinnant's days-to-civil algorithm).
fn civil_utc(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_ids_carry_utc_time_and_sort_by_it() {
        // 2026-11-24T22:15:00Z
        let a = BackupId::new(1_795_558_500_000, b"x");
        assert!(a.as_str().starts_with("20261124T221500Z-"), "{a}");
        let b = BackupId::new(1_795_558_501_000, b"x");
        assert!(a < b);
        assert_eq!(a.as_str().parse::<BackupId>().unwrap(), a);
        assert_eq!(BackupId::new(0, b"").as_str()[..16], *"19700101T000000Z");
        assert_eq!(
            BackupId::new(951_782_400_000, b"").as_str()[..8],
            *"20000229"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for s in [
            "",
            "../etc",
            "20261124T221500Z-3FA2C1",
            "20261124T221500Z-3fa2c",
            "x".repeat(23).as_str(),
        ] {
            assert!(s.parse::<BackupId>().is_err(), "{s}");
        }
        assert!("zz".parse::<BlockHash>().is_err());
    }

    #[test]
    fn hashes_round_trip_through_hex_and_json() {
        let h = BlockHash::of(b"rows");
        assert_eq!(h.to_hex().parse::<BlockHash>().unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<BlockHash>(&json).unwrap(), h);
    }
}
